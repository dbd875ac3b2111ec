/**
 * The embedded IPFS node (Helia) of a repository, as a BlockStore.
 *
 * `openRepoNode(dir)` keeps blocks in an FsBlockstore at `${dir}/blocks`
 * and node state (peer key, pins) in an FsDatastore at `${dir}/datastore`.
 * It does no networking unless `listen` is given; then it runs libp2p (TCP,
 * noise, yamux, identify) and bitswap so that other peers can fetch its
 * blocks. Reads are always local: a repo node never waits for the network
 * to answer `get`. `put` writes each block atomically but does not
 * fsync; `flush(cids)` makes given blocks durable (the publisher calls it
 * before it moves its head). Without networking, `put` writes the block file
 * itself (temporary file, rename: where and how FsBlockstore would, minus
 * its existence check, per-put mkdir and locks, which were most of the cost
 * of `dagtuf add` of many small files); with networking it goes through
 * Helia, so that bitswap hears of new blocks.
 *
 * Every block is checked with checkBlock before it is returned: a block on
 * disk can rot or be edited by hand.
 *
 * Helia caps bitswap messages at 4 MiB each way (its default, kept: it
 * bounds what a peer can make us buffer before our own cap applies), so a
 * block over about 4 MiB cannot travel by bitswap. UnixFS content written by
 * addContent uses 1 MiB blocks; metadata blocks over 4 MiB (snapshot and
 * targets may reach 16 and 64 MiB) must go through the gateway or a CAR.
 */
import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { createUnsafe } from 'multiformats/block'
import * as raw from 'multiformats/codecs/raw'
import { multiaddr } from '@multiformats/multiaddr'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import { FsDatastore } from 'datastore-fs'
import { NotFoundError } from 'interface-store'
import { LIMITS, MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { BlockError, UsageError, diskFull } from '../model/errors.js'
import { checkBlock, checkBlockAsync } from '../model/hash.js'
import { fsyncDir, fsyncFile, isCode, readFileCapped, writeFileAtomic } from '../util/durable-fs.js'
import { errorName, libp2pOptions, loadHelia, loadNetworking } from './helia-runtime.js'
import { aborted, closed, isOurs, maxBytesOf, normalizeCid, notFound, readCapped, throwIfAborted, tooLarge } from './util.js'
import type { GetOptions, PinOptions, RepoNode, RepoNodeOptions } from './types.js'
import type { Helia } from 'helia'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import type { ServiceMap } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** Blocks fsynced at once by `flush`. */
const FLUSH_CONCURRENCY = 16

/** Codecs a repository node decodes (to pin DAGs): Helia's light default is dag-pb and raw only. */
const CODECS = [dagJson, dagPb, raw] as const

class HeliaRepoNode implements RepoNode {
  readonly helia: Helia
  readonly dir: string
  readonly #blockstore: FsBlockstore
  readonly #sharding: NextToLast
  readonly #datastore: FsDatastore
  readonly #networked: boolean
  /** Shard folders known to exist (the direct put creates each once). */
  readonly #shardDirs = new Set<string>()
  #closing: Promise<void> | undefined

  constructor (dir: string, helia: Helia, blockstore: FsBlockstore, sharding: NextToLast, datastore: FsDatastore, networked: boolean) {
    this.dir = dir
    this.helia = helia
    this.#blockstore = blockstore
    this.#sharding = sharding
    this.#datastore = datastore
    this.#networked = networked
  }

  #assertOpen (): void {
    if (this.#closing !== undefined) throw closed(`repo node ${this.dir}`)
  }

  multiaddrs (): string[] {
    if (!this.#networked || this.#closing !== undefined) return []
    return (this.helia as HeliaWithLibp2p<ServiceMap>).libp2p.getMultiaddrs().map((m) => m.toString())
  }

  peerId (): string | null {
    if (!this.#networked) return null
    return (this.helia as HeliaWithLibp2p<ServiceMap>).libp2p.peerId.toString()
  }

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const max = maxBytesOf(options)
    const key = normalizeCid(cid)
    this.#assertOpen()
    throwIfAborted(options.signal, key)
    let bytes: Uint8Array
    try {
      if (!this.#networked) {
        // The block's file, read at once (size checked on the open handle
        // first): FsBlockstore's stream of 64 KiB chunks, joined after, cost
        // `dagtuf serve` several reads and a copy per block.
        bytes = await this.#readFile(key, max)
      } else {
        if (!await this.helia.blockstore.has(key, { signal: options.signal })) throw notFound(key)
        // offline: a repo node answers from its own disk only.
        bytes = await readCapped(this.helia.blockstore.get(key, { signal: options.signal, offline: true }), max, key)
      }
    } catch (e) {
      throw storageError(e, key, options.signal)
    }
    // A block on disk can rot or be edited by hand: check it like any other
    // (a large one hashed off the event loop: checkBlockAsync).
    await checkBlockAsync(key, bytes, max)
    return bytes
  }

  async put (cid: CID, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    throwIfAborted(options.signal, key)
    checkBlock(key, bytes, MAX_ANY_BLOCK_BYTES)
    try {
      if (this.#networked) await this.helia.blockstore.put(key, bytes, { signal: options.signal })
      else await this.#putFile(key, bytes)
    } catch (e) {
      throw storageError(e, key, options.signal)
    }
  }

  /**
   * The block's file, where FsBlockstore keeps it (its own sharding
   * strategy), written to a temporary name and renamed: a reader sees no
   * file or the whole block. An existing file is replaced by the same bytes.
   */
  async #putFile (key: CID, bytes: Uint8Array): Promise<void> {
    const { dir, file } = this.#sharding.encode(key)
    const shard = join(this.#blockstore.path, dir)
    if (!this.#shardDirs.has(shard)) {
      await mkdir(shard, { recursive: true })
      this.#shardDirs.add(shard)
    }
    const path = join(shard, file)
    await writeFileAtomic(path, bytes, { sync: 'none', onError: (e) => diskFull(e, path) ?? (e as Error) })
  }

  /** The bytes of the block file of `key` (where #putFile writes it), at most `max`. */
  async #readFile (key: CID, max: number): Promise<Uint8Array> {
    const { dir, file } = this.#sharding.encode(key)
    const bytes = await readFileCapped(join(this.#blockstore.path, dir, file), max, {
      refused: (reason) => reason === 'too-large'
        ? tooLarge(key, max + 1, max)
        : new BlockError('ERR_TRANSPORT', `block file of ${key} is not a regular file`, { details: { cid: key.toString() } }),
      io: (_what, cause) => cause instanceof Error ? cause : new Error(String(cause))
    })
    if (bytes === undefined) throw notFound(key)
    return bytes
  }

  async has (cid: CID, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    try {
      return await this.helia.blockstore.has(key, { signal: options.signal })
    } catch (e) {
      throw storageError(e, key, options.signal)
    }
  }

  async flush (cids: Iterable<CID>, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#assertOpen()
    // Where FsBlockstore keeps each block: asked of the very sharding
    // strategy it was built with (blocks/<shard>/<name>.data), not rebuilt here.
    const root = this.#blockstore.path
    const files = new Map<string, CID>()
    const shards = new Set<string>()
    for (const cid of cids) {
      const key = normalizeCid(cid)
      const { dir, file } = this.#sharding.encode(key)
      files.set(join(root, dir, file), key)
      shards.add(join(root, dir))
    }
    const queue = [...files]
    const worker = async (): Promise<void> => {
      for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
        const [path, key] = next
        throwIfAborted(options.signal, key)
        this.#assertOpen()
        try {
          await fsyncFile(path)
        } catch (e) {
          queue.length = 0 // the other workers stop too
          if (isCode(e, 'ENOENT')) throw notFound(key, e)
          throw diskFull(e, path) ?? new BlockError('ERR_TRANSPORT', `could not make block ${key} durable`, { cause: e, details: { cid: key.toString(), path } })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, queue.length) }, worker))
    // Then the directories: each shard names its files, the store names new shards.
    for (const dir of [...shards, root]) {
      throwIfAborted(options.signal)
      try {
        await fsyncDir(dir)
      } catch (e) {
        throw new BlockError('ERR_TRANSPORT', `could not make the block directory ${dir} durable`, { cause: e, details: { path: dir } })
      }
    }
  }

  async pin (cid: CID, options: PinOptions = {}): Promise<void> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    throwIfAborted(options.signal, key)
    // Helia's pin walker records the pin even when a block is missing (the
    // error escapes as an unhandled rejection), so check the DAG is complete
    // here first.
    await this.#assertComplete(key, options.signal)
    try {
      // pins.add walks the DAG and must be iterated to do anything; offline so
      // that a missing block fails instead of waiting for a peer to send it.
      for await (const _ of this.helia.pins.add(key, { signal: options.signal, offline: true } as Parameters<Helia['pins']['add']>[1])) { /* walk */ }
    } catch (e) {
      if (errorName(e) === 'AlreadyPinnedError') return
      if (options.signal?.aborted === true) throw aborted(key, e)
      throw new BlockError('ERR_PIN', `could not pin ${key}: ${errorName(e) || 'error'}`, { cause: e, details: { cid: key.toString() } })
    }
  }

  /** Every block reachable from `root` is local (bounded walk). @throws {BlockError} ERR_PIN | ERR_ABORTED */
  async #assertComplete (root: CID, signal: AbortSignal | undefined): Promise<void> {
    const seen = new Set<string>([root.toString()])
    const queue: CID[] = [root]
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      throwIfAborted(signal, root)
      let bytes: Uint8Array
      try {
        bytes = await this.get(next, { signal })
      } catch (e) {
        if (isOurs(e) && (e as BlockError).code === 'ERR_ABORTED') throw e
        throw new BlockError('ERR_PIN', `cannot pin ${root}: block ${next} is not available locally`, { cause: e, details: { cid: root.toString(), missing: next.toString() } })
      }
      for (const link of linksOf(next, bytes, root)) {
        const child = link.version === 0 ? link.toV1() : link
        if (seen.has(child.toString())) continue
        if (seen.size >= LIMITS.maxBlocksPerUpdate) {
          throw new BlockError('ERR_PIN', `cannot pin ${root}: more than ${LIMITS.maxBlocksPerUpdate} blocks`, { details: { cid: root.toString() } })
        }
        seen.add(child.toString())
        queue.push(child)
      }
    }
  }

  async unpin (cid: CID, options: PinOptions = {}): Promise<void> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    try {
      for await (const _ of this.helia.pins.rm(key, { signal: options.signal, offline: true } as Parameters<Helia['pins']['rm']>[1])) { /* walk */ }
    } catch (e) {
      if (e instanceof NotFoundError || errorName(e) === 'NotFoundError') return
      if (options.signal?.aborted === true) throw aborted(key, e)
      throw new BlockError('ERR_PIN', `could not unpin ${key}`, { cause: e, details: { cid: key.toString() } })
    }
  }

  async isPinned (cid: CID, options: PinOptions = {}): Promise<boolean> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    return this.helia.pins.isPinned(key, { signal: options.signal })
  }

  async close (): Promise<void> {
    this.#closing ??= shutdown(this.helia, this.#blockstore, this.#datastore)
    return this.#closing
  }
}

/** Stop the node (libp2p with it) and close both stores, whatever fails. */
async function shutdown (helia: Helia | undefined, blockstore: FsBlockstore, datastore: FsDatastore): Promise<void> {
  const failures: unknown[] = []
  if (helia !== undefined) {
    try { await helia.stop() } catch (e) { failures.push(e) }
  }
  try { await datastore.close() } catch (e) { failures.push(e) }
  try { await blockstore.close() } catch (e) { failures.push(e) }
  if (failures.length > 0) {
    throw new BlockError('ERR_TRANSPORT', 'the node did not close cleanly', { cause: failures[0], details: { failures: failures.length } })
  }
}

/** The CIDs a block links to, for the codecs a repository holds. @throws {BlockError} ERR_PIN */
function linksOf (cid: CID, bytes: Uint8Array, root: CID): CID[] {
  const codec = CODECS.find((c) => c.code === cid.code)
  if (codec === undefined) {
    throw new BlockError('ERR_PIN', `cannot pin ${root}: block ${cid} has codec 0x${cid.code.toString(16)}, which this node does not walk`, { details: { cid: root.toString(), block: cid.toString() } })
  }
  try {
    return [...createUnsafe({ cid, bytes, codec }).links()].map(([, link]) => link)
  } catch (cause) {
    throw new BlockError('ERR_PIN', `cannot pin ${root}: block ${cid} does not decode`, { cause, details: { cid: root.toString(), block: cid.toString() } })
  }
}

function storageError (e: unknown, cid: CID, signal: AbortSignal | undefined): unknown {
  if (isOurs(e)) return e
  if (signal?.aborted === true || errorName(e) === 'AbortError') return aborted(cid, e)
  if (e instanceof NotFoundError || errorName(e) === 'NotFoundError') return notFound(cid, e)
  // A full disk is named as such (and where), not as a transport failure.
  return diskFull(e) ?? new BlockError('ERR_TRANSPORT', `block store failed on ${cid}`, { cause: e, details: { cid: cid.toString() } })
}

function checkListen (listen: unknown): string[] | undefined {
  if (listen === undefined) return undefined
  if (!Array.isArray(listen) || listen.length === 0 || !listen.every((a) => typeof a === 'string')) {
    throw new UsageError('ERR_ARGUMENT', 'listen: expected a non-empty array of multiaddr strings')
  }
  for (const a of listen as string[]) {
    try { multiaddr(a) } catch (cause) { throw new UsageError('ERR_ARGUMENT', `listen: not a multiaddr: ${JSON.stringify(a)}`, { cause }) }
  }
  return listen as string[]
}

/**
 * Open (creating if needed) the repository node kept in `dir`.
 *
 * @throws {UsageError} ERR_ARGUMENT for a bad listen address
 * @throws {BlockError} ERR_NODE_START when the stores or the node cannot start
 */
export async function openRepoNode (dir: string, options: RepoNodeOptions = {}): Promise<RepoNode> {
  if (typeof dir !== 'string' || dir.length === 0) throw new UsageError('ERR_ARGUMENT', 'dir: expected a directory path')
  const listen = checkListen(options.listen)
  // The default strategy of FsBlockstore, given explicitly so that flush()
  // can ask it where a block's file is.
  const sharding = new NextToLast()
  const blockstore = new FsBlockstore(join(dir, 'blocks'), { shardingStrategy: sharding })
  const datastore = new FsDatastore(join(dir, 'datastore'))
  let helia: Helia | undefined
  try {
    await blockstore.open()
    await datastore.open()
    // FsBlockstore.open accepts a plain file where its directory should be.
    for (const sub of ['blocks', 'datastore']) {
      if (!(await stat(join(dir, sub))).isDirectory()) throw new Error(`${join(dir, sub)} is not a directory`)
    }
    const { createHeliaLight } = await loadHelia()
    let node: Helia = createHeliaLight({ blockstore, datastore, codecs: [dagJson] })
    if (listen !== undefined) {
      const net = await loadNetworking()
      node = net.withBitswap(net.withLibp2pLight(node, libp2pOptions(net, listen)))
    }
    helia = node
    await node.start()
    return new HeliaRepoNode(dir, node, blockstore, sharding, datastore, listen !== undefined)
  } catch (e) {
    await shutdown(helia, blockstore, datastore).catch(() => {})
    throw new BlockError('ERR_NODE_START', `could not open the node in ${dir}: ${errorName(e) || 'error'}`, { cause: e, details: { dir } })
  }
}

export type { PinOptions, RepoNode, RepoNodeOptions } from './types.js'
