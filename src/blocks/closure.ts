/**
 * Copying the whole DAG below a CID from one place to another, children
 * first (src/server/mirror.ts, and the Redis backend's seeding).
 *
 * - Every block reachable from the root is fetched from `from` (hash-checked
 *   there) and put into `to`, a block only after every block below it: so a
 *   block found in `to` has its whole DAG there, and is not walked again. An
 *   interrupted copy leaves complete sub-DAGs, and the next one resumes.
 * - With `content: false`, links to raw and dag-pb blocks (target content:
 *   metadata is dag-json and dag-cbor) are not followed.
 * - Bounded: at most `maxBlocks` blocks visited and `maxBytes` fetched
 *   (RepoError ERR_REPO_LIMIT), each block under MAX_ANY_BLOCK_BYTES, at most
 *   MAX_LINKS_PER_BLOCK links in one block; 32 fetches at once. On the first
 *   failure the copies still running are stopped and awaited before the
 *   error is thrown, so nothing is written after it.
 */
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { BlockError, RepoError } from '../model/errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_JSON } from '../model/hash.js'
import type { BlockSource } from './types.js'

const CODEC_RAW = 0x55
const CODEC_DAG_PB = 0x70
/** Blocks fetched at once. */
const CONCURRENCY = 32
/** Links followed below one block at most (a dag-pb node has at most a few thousand). */
export const MAX_LINKS_PER_BLOCK = 65_536

/** Where a copy puts blocks. */
export interface ClosureTarget {
  has: (cid: CID) => Promise<boolean>
  put: (cid: CID, bytes: Uint8Array) => Promise<void>
  /** Make blocks durable (called for each block before its parents are put). */
  flush?: (cids: CID[]) => Promise<void>
}

export interface ClosureOptions {
  readonly content: boolean
  readonly maxBlocks: number
  readonly maxBytes: number
  readonly signal?: AbortSignal
}

/**
 * Copy the DAG of `root` from `from` into `to` (see the module comment).
 * Returns what was fetched.
 *
 * @throws {RepoError} ERR_REPO_LIMIT; {BlockError} a block could not be fetched or decoded
 */
export async function copyClosure (root: CID, from: BlockSource, to: ClosureTarget, options: ClosureOptions): Promise<{ blocks: number, bytes: number }> {
  const copy = new ClosureCopy(to, from, options)
  await copy.run(root)
  return { blocks: copy.blocks, bytes: copy.bytes }
}

class ClosureCopy {
  blocks = 0
  bytes = 0
  readonly #to: ClosureTarget
  readonly #source: BlockSource
  readonly #content: boolean
  readonly #maxBlocks: number
  readonly #maxBytes: number
  readonly #signal: AbortSignal | undefined
  readonly #done = new Map<string, Promise<void>>()
  /** Stops the copies still running once one failed. */
  readonly #stop = new AbortController()
  #slots = CONCURRENCY
  readonly #waiting: Array<() => void> = []

  constructor (to: ClosureTarget, source: BlockSource, o: ClosureOptions) {
    this.#to = to
    this.#source = source
    this.#content = o.content
    this.#maxBlocks = o.maxBlocks
    this.#maxBytes = o.maxBytes
    this.#signal = o.signal
  }

  /** Copy the DAG of `root`; on a failure, every copy still running is stopped and awaited first. */
  async run (root: CID): Promise<void> {
    try {
      await this.#visit(root)
    } catch (e) {
      this.#stop.abort()
      await Promise.allSettled(this.#done.values())
      throw e
    }
  }

  #visit (cid: CID): Promise<void> {
    const key = cid.toString()
    let p = this.#done.get(key)
    if (p === undefined) {
      if (this.#done.size >= this.#maxBlocks) {
        return Promise.reject(new RepoError('ERR_REPO_LIMIT', `the DAG has more than ${this.#maxBlocks} blocks (--max-blocks)`, { details: { limit: this.#maxBlocks } }))
      }
      p = this.#copy(cid)
      // Failures are reported by the first visitor; the others see the same promise.
      p.catch(() => {})
      this.#done.set(key, p)
    }
    return p
  }

  async #copy (cid: CID): Promise<void> {
    if (this.#stop.signal.aborted) throw new BlockError('ERR_ABORTED', 'the copy stopped')
    if (await this.#to.has(cid)) return
    const bytes = await this.#fetch(cid)
    const links = linksOf(cid, bytes).filter((l) => this.#content || (l.code !== CODEC_RAW && l.code !== CODEC_DAG_PB))
    await Promise.all(links.map(async (l) => { await this.#visit(l) }))
    // Children first: this block is stored only once everything below it is.
    if (this.#stop.signal.aborted) throw new BlockError('ERR_ABORTED', 'the copy stopped')
    await this.#to.put(cid, bytes)
    await this.#to.flush?.([cid])
  }

  async #fetch (cid: CID): Promise<Uint8Array> {
    if (this.#slots === 0) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    else this.#slots--
    try {
      if (this.#signal?.aborted === true || this.#stop.signal.aborted) throw new BlockError('ERR_ABORTED', 'the copy was aborted')
      const signal = this.#signal === undefined ? this.#stop.signal : AbortSignal.any([this.#signal, this.#stop.signal])
      const bytes = await this.#source.get(cid, { maxBytes: MAX_ANY_BLOCK_BYTES, signal })
      this.blocks++
      this.bytes += bytes.byteLength
      if (this.bytes > this.#maxBytes) {
        throw new RepoError('ERR_REPO_LIMIT', `the DAG is larger than ${this.#maxBytes} bytes (--max-bytes)`, { details: { limit: this.#maxBytes } })
      }
      return bytes
    } finally {
      const next = this.#waiting.shift()
      if (next !== undefined) next()
      else this.#slots++
    }
  }
}

/**
 * The CIDs a block links to. The block's bytes were hash-checked, but its
 * history below the trusted head was not validated: decoding failures are
 * typed, and the links are bounded.
 *
 * @throws {BlockError} ERR_TRANSPORT for a block its codec cannot decode (the DAG is broken)
 */
export function linksOf (cid: CID, bytes: Uint8Array): CID[] {
  let value: unknown
  try {
    switch (cid.code) {
      case CODEC_RAW: return []
      case CODEC_DAG_JSON: value = dagJson.decode(bytes); break
      case CODEC_DAG_CBOR: value = dagCbor.decode(bytes); break
      case CODEC_DAG_PB: return boundedLinks(cid, dagPb.decode(bytes).Links.map((l) => l.Hash))
      default: return []
    }
  } catch (cause) {
    throw new BlockError('ERR_TRANSPORT', `block ${cid} does not decode with its codec`, { cause, details: { cid: cid.toString() } })
  }
  const out: CID[] = []
  const stack: unknown[] = [value]
  let seen = 0
  while (stack.length > 0) {
    const v = stack.pop()
    if (++seen > 4 * MAX_LINKS_PER_BLOCK) {
      throw new RepoError('ERR_REPO_LIMIT', `block ${cid} has more than ${4 * MAX_LINKS_PER_BLOCK} values`, { details: { cid: cid.toString(), limit: 4 * MAX_LINKS_PER_BLOCK } })
    }
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) continue
    const link = CID.asCID(v)
    if (link !== null) { out.push(link); continue }
    if (Array.isArray(v)) { for (const x of v) stack.push(x); continue }
    for (const x of Object.values(v)) stack.push(x)
  }
  return boundedLinks(cid, out)
}

function boundedLinks (cid: CID, links: CID[]): CID[] {
  if (links.length > MAX_LINKS_PER_BLOCK) {
    throw new RepoError('ERR_REPO_LIMIT', `block ${cid} has more than ${MAX_LINKS_PER_BLOCK} links`, { details: { cid: cid.toString(), limit: MAX_LINKS_PER_BLOCK } })
  }
  return links
}
