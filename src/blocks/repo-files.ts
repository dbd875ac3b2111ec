/**
 * A repository's blocks read straight from its block files, without opening
 * the embedded node: for the commands that only read (`dagtuf status`,
 * `drafts`, `draft show`), which started Helia and its stores for nothing
 * (about 1 s and 130 MB; issue 14 item 7).
 *
 * The files are where the repository node keeps them (`DIR/blocks`,
 * FsBlockstore's default NextToLast layout, src/blocks/repo-node.ts), each
 * written whole by a rename, so a reader sees a block or nothing. Every block
 * is checked against its CID before it is returned, as the node does: a
 * block on disk can rot or be edited by hand. Nothing is ever written here.
 */
import { join } from 'node:path'
import { base32upper } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'
import { BlockError, diskFull } from '../model/errors.js'
import { checkBlock } from '../model/hash.js'
import { isCode, readFileCapped } from '../util/durable-fs.js'
import type { BlockSource, GetOptions } from './types.js'
import { aborted, isOurs, maxBytesOf, normalizeCid, notFound, throwIfAborted, tooLarge } from './util.js'
import { stat } from 'node:fs/promises'

export class RepoBlockFiles implements BlockSource {
  readonly #blocks: string

  /** `dir` is the repository folder (its blocks are in `dir/blocks`). */
  constructor (readonly dir: string) {
    this.#blocks = join(dir, 'blocks')
  }

  /**
   * FsBlockstore's NextToLast layout (its defaults, which the node uses):
   * the multihash in upper-case base32 with its multibase prefix (`B`), in a folder named by
   * its last two characters, with `.data`. test/blocks/repo-files.test.ts
   * reads blocks the node wrote.
   */
  #path (key: CID): string {
    const name = base32upper.encoder.encode(key.multihash.bytes)
    return join(this.#blocks, name.slice(-2), `${name}.data`)
  }

  /** @throws {BlockError} ERR_BLOCK_NOT_FOUND | ERR_HASH_MISMATCH | ERR_BLOCK_TOO_LARGE | ERR_TRANSPORT | ERR_ABORTED */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const max = maxBytesOf(options)
    const key = normalizeCid(cid)
    throwIfAborted(options.signal, key)
    let bytes: Uint8Array | undefined
    try {
      bytes = await readFileCapped(this.#path(key), max, {
        refused: (reason) => reason === 'too-large'
          ? tooLarge(key, max + 1, max)
          : new BlockError('ERR_TRANSPORT', `block file of ${key} is not a regular file`, { details: { cid: key.toString() } }),
        io: (_what, cause) => cause instanceof Error ? cause : new Error(String(cause))
      })
    } catch (e) {
      if (isOurs(e)) throw e
      if (options.signal?.aborted === true) throw aborted(key, e)
      throw diskFull(e) ?? new BlockError('ERR_TRANSPORT', `block store failed on ${key}`, { cause: e, details: { cid: key.toString() } })
    }
    if (bytes === undefined) throw notFound(key)
    checkBlock(key, bytes, max)
    return bytes
  }

  /** Whether the block's file is there (its content is checked only by `get`). */
  async has (cid: CID): Promise<boolean> {
    try {
      return (await stat(this.#path(normalizeCid(cid)))).isFile()
    } catch (e) {
      if (isCode(e, 'ENOENT') || isCode(e, 'ENOTDIR')) return false
      throw new BlockError('ERR_TRANSPORT', `block store failed on ${String(cid)}`, { cause: e })
    }
  }
}
