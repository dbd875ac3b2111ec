/**
 * Reading sharded maps over an untrusted block source: lookups that fetch only
 * the path to a key, streaming iteration, a full check, and a structural diff
 * that descends only where two maps differ (spec/NOTES.md §11).
 *
 * Every node is fetched through one `ShardBudget` (blocks and bytes, counted
 * once per fetch: BOUND-BLOCKS, BOUND-BYTES), decoded strictly and checked in
 * place (`decodeNode`, `checkPlacement`) before anything in it is used. A
 * block that cannot be fetched fails the operation with the source's
 * BlockError (SHARD-MISSING): a lookup never answers "absent" for a key it
 * could not look for.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { LIMITS } from '../model/config.js'
import { BlockError, UsageError, ValidationError } from '../model/errors.js'
import { equalBytes } from '../model/hash.js'
import { MAX_NODE_BYTES, checkPlacement, decodeNode, hashKey, isShardLink, slotAt, type Entry, type ShardNode, type ValueCodec } from './node.js'

/** What the reader needs from a block source (src/blocks BlockSource fits). */
export interface ShardSource {
  get: (cid: CID, options?: { signal?: AbortSignal, maxBytes?: number }) => Promise<Uint8Array>
}

/**
 * Blocks and bytes one operation (one client update) may fetch. Share one
 * budget between every reader and loader of an update.
 */
export class ShardBudget {
  blocks = 0
  bytes = 0
  constructor (readonly maxBlocks: number = LIMITS.maxBlocksPerUpdate, readonly maxBytes: number = LIMITS.maxBytesPerUpdate) {}

  /** Count one fetch before it starts; the cap for its size. @throws {ValidationError} BOUND-BLOCKS | BOUND-BYTES */
  start (cid: CID, cap: number): number {
    if (this.blocks >= this.maxBlocks) {
      throw new ValidationError('BOUND-BLOCKS', `more than ${this.maxBlocks} metadata blocks fetched`, { details: { cid: cid.toString(), max: this.maxBlocks } })
    }
    const left = this.maxBytes - this.bytes
    if (left <= 0) throw this.overBytes(cid)
    this.blocks++
    return Math.min(cap, left)
  }

  /** Count the bytes a fetch brought. @throws {ValidationError} BOUND-BYTES */
  done (cid: CID, n: number): void {
    this.bytes += n
    if (this.bytes > this.maxBytes) throw this.overBytes(cid)
  }

  overBytes (cid: CID): ValidationError {
    return new ValidationError('BOUND-BYTES', `more than ${this.maxBytes} bytes of metadata fetched`, { details: { cid: cid.toString(), max: this.maxBytes } })
  }
}

export interface ShardReaderOptions {
  budget?: ShardBudget
  signal?: AbortSignal
  /** Decoded nodes kept in memory at most (least recently used dropped first). Default 4096. */
  cacheNodes?: number
  /**
   * Bytes of the blocks of the decoded nodes kept, at most (least recently
   * used dropped first; a node decoded is larger than its block, about 20
   * times for a node of CIDs). Default DEFAULT_CACHE_BYTES.
   */
  cacheBytes?: number
}

/** One change between two versions of a map, found by `diff`. */
export interface Change<V> {
  readonly key: string
  /** The value in the older map, absent when the key is new. */
  readonly before?: V
  /** The value in the newer map, absent when the key was removed. */
  readonly after?: V
}

/** ShardReaderOptions.cacheBytes by default: 4,096 nodes of up to 1 MiB each would be 4 GiB. */
export const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024

type Side<V> = { readonly link: CID } | { readonly entries: ReadonlyArray<Entry<V>> }

export class ShardReader<V> {
  readonly budget: ShardBudget
  readonly #source: ShardSource
  readonly #signal: AbortSignal | undefined
  readonly #cacheNodes: number
  readonly #cacheBytes: number
  /** Decoded nodes by CID, least recently used first. */
  readonly #nodes = new Map<string, Promise<ShardNode<V>>>()
  /** The block size of each fetched node in #nodes, and their sum. */
  readonly #sizes = new Map<string, number>()
  #cachedBytes = 0

  constructor (source: ShardSource, readonly codec: ValueCodec<V>, options: ShardReaderOptions = {}) {
    if (source === null || typeof source !== 'object' || typeof source.get !== 'function') {
      throw new UsageError('ERR_ARGUMENT', 'ShardReader: source must have a get(cid, options) method')
    }
    this.#source = source
    this.budget = options.budget ?? new ShardBudget()
    this.#signal = options.signal
    this.#cacheNodes = options.cacheNodes ?? 4096
    this.#cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES
  }

  #drop (key: string): void {
    this.#nodes.delete(key)
    const size = this.#sizes.get(key)
    if (size !== undefined) {
      this.#sizes.delete(key)
      this.#cachedBytes -= size
    }
  }

  /** Drop the least recently used nodes while over either cap (`keep` stays). */
  #evict (keep: string): void {
    for (const k of this.#nodes.keys()) {
      if (this.#nodes.size <= this.#cacheNodes && this.#cachedBytes <= this.#cacheBytes) return
      if (k !== keep) this.#drop(k)
    }
  }

  async #fetch (cid: CID, key: string): Promise<ShardNode<V>> {
    if (this.#signal?.aborted === true) throw new BlockError('ERR_ABORTED', 'shard read aborted', { cause: this.#signal.reason })
    const cap = this.budget.start(cid, MAX_NODE_BYTES)
    let bytes: Uint8Array
    try {
      bytes = await this.#source.get(cid, this.#signal === undefined ? { maxBytes: cap } : { signal: this.#signal, maxBytes: cap })
    } catch (e) {
      if (e instanceof BlockError && e.code === 'ERR_BLOCK_TOO_LARGE') {
        if (cap < MAX_NODE_BYTES) throw this.budget.overBytes(cid)
        throw new ValidationError('SHARD-SIZE', `shard node ${cid.toString()} is over ${MAX_NODE_BYTES} bytes`, { cause: e, details: { cid: cid.toString() } })
      }
      throw e
    }
    this.budget.done(cid, bytes.byteLength)
    const node = decodeNode(bytes, cid, this.codec)
    if (this.#nodes.has(key) && !this.#sizes.has(key)) {
      this.#sizes.set(key, bytes.byteLength)
      this.#cachedBytes += bytes.byteLength
      this.#evict(key)
    }
    return node
  }

  /**
   * The node `cid` checked in place at `depth` below `path`.
   *
   * @throws {ValidationError} SHARD-* | BOUND-BLOCKS | BOUND-BYTES
   * @throws {BlockError} the block could not be fetched (SHARD-MISSING)
   */
  async node (cid: CID, depth: number, path: readonly number[]): Promise<ShardNode<V>> {
    if (!isShardLink(cid)) throw new ValidationError('SHARD-LINK', `not a shard link: ${cid.toString()}`, { details: { cid: cid.toString() } })
    const key = cid.toString()
    let p = this.#nodes.get(key)
    if (p !== undefined) {
      // Now the most recently used.
      this.#nodes.delete(key)
      this.#nodes.set(key, p)
    } else {
      p = this.#fetch(cid, key)
      this.#nodes.set(key, p)
      this.#evict(key)
      // Fetch failures may be retried; verdicts on the bytes stay cached.
      p.catch((e: unknown) => { if (!(e instanceof ValidationError) && this.#nodes.get(key) === p) this.#drop(key) })
    }
    const node = await p
    checkPlacement(node, cid, depth, path)
    return node
  }

  /**
   * The value of `key` in the map at `root`, or undefined when it is absent.
   * Fetches only the path; `onRead`, when given, is told each node it read.
   */
  async get (root: CID, key: string, onRead?: (cid: CID) => void): Promise<V | undefined> {
    const hash = hashKey(key)
    const path: number[] = []
    let cid = root
    for (let depth = 0; ; depth++) {
      const node = await this.node(cid, depth, path)
      onRead?.(cid)
      const slot = slotAt(hash, depth)
      const el = node.elements.find((e) => e.slot === slot)
      if (el === undefined) return undefined
      if (el.bucket !== undefined) return el.bucket.find((e) => e.key === key)?.value
      path.push(slot)
      cid = el.link
    }
  }

  /** Every entry of the map at `root`, in hash order, checking every node; streams. */
  async * entries (root: CID): AsyncGenerator<Entry<V>> {
    yield * this.#walk(root, 0, [])
  }

  async * #walk (cid: CID, depth: number, path: number[], onRead?: (cid: CID) => void): AsyncGenerator<Entry<V>> {
    const node = await this.node(cid, depth, path)
    onRead?.(cid)
    for (const el of node.elements) {
      if (el.bucket !== undefined) yield * el.bucket
      else yield * this.#walk(el.link, depth + 1, [...path, el.slot], onRead)
    }
  }

  /**
   * The CID of every node of the map at `root` (checked as read), parents
   * first. A node for which `skip` returns true is not read, nor anything
   * under it (for walks over many versions that share subtrees).
   */
  async * nodes (root: CID, skip: (cid: CID) => boolean = () => false): AsyncGenerator<CID> {
    const stack: Array<{ cid: CID, depth: number, path: number[] }> = [{ cid: root, depth: 0, path: [] }]
    while (stack.length > 0) {
      const { cid, depth, path } = stack.pop()!
      if (skip(cid)) continue
      const node = await this.node(cid, depth, path)
      yield cid
      for (let i = node.elements.length - 1; i >= 0; i--) {
        const el = node.elements[i]!
        if (el.link !== undefined) stack.push({ cid: el.link, depth: depth + 1, path: [...path, el.slot] })
      }
    }
  }

  /** Check every node of the map; the number of entries and nodes. */
  async verify (root: CID): Promise<{ entries: number, nodes: number }> {
    let entries = 0
    const before = this.budget.blocks
    for await (const _ of this.entries(root)) entries++
    return { entries, nodes: this.budget.blocks - before }
  }

  /**
   * The changes from the map at `older` to the map at `newer`, descending only
   * into subtrees whose CIDs differ (equal CIDs are equal content). Costs
   * O(changes × depth) nodes; every node it reads is checked in place.
   * `onRead`, when given, is told the CID of every node it read, and whether
   * it is of the newer map (so that a walk over many versions can let go of
   * them once done).
   */
  async * diff (newer: CID, older: CID, onRead?: (cid: CID, newer: boolean) => void): AsyncGenerator<Change<V>> {
    if (newer.equals(older)) return
    yield * this.#diffNodes(newer, older, 0, [], onRead)
  }

  async * #diffNodes (newer: CID, older: CID, depth: number, path: number[], onRead?: (cid: CID, newer: boolean) => void): AsyncGenerator<Change<V>> {
    const [a, b] = await Promise.all([this.node(newer, depth, path), this.node(older, depth, path)])
    onRead?.(newer, true)
    onRead?.(older, false)
    const sideOf = (n: ShardNode<V>): Map<number, Side<V>> => new Map(n.elements.map((el) => [el.slot, el.link !== undefined ? { link: el.link } : { entries: el.bucket }]))
    const sa = sideOf(a)
    const sb = sideOf(b)
    for (let slot = 0; slot < 16; slot++) {
      const x = sa.get(slot)
      const y = sb.get(slot)
      if (x === undefined && y === undefined) continue
      const sub = [...path, slot]
      if (x !== undefined && y !== undefined && 'link' in x && 'link' in y) {
        if (!x.link.equals(y.link)) yield * this.#diffNodes(x.link, y.link, depth + 1, sub, onRead)
        continue
      }
      const after = await this.#collect(x, depth + 1, sub, onRead === undefined ? undefined : (c) => { onRead(c, true) })
      const before = await this.#collect(y, depth + 1, sub, onRead === undefined ? undefined : (c) => { onRead(c, false) })
      yield * this.#compare(after, before)
    }
  }

  async #collect (side: Side<V> | undefined, depth: number, path: number[], onRead?: (cid: CID) => void): Promise<Map<string, V>> {
    const out = new Map<string, V>()
    if (side === undefined) return out
    if ('entries' in side) {
      for (const e of side.entries) out.set(e.key, e.value)
      return out
    }
    for await (const e of this.#walk(side.link, depth, path, onRead)) out.set(e.key, e.value)
    return out
  }

  * #compare (after: Map<string, V>, before: Map<string, V>): Generator<Change<V>> {
    const keys = [...new Set([...after.keys(), ...before.keys()])]
    for (const key of keys) {
      const x = after.get(key)
      const y = before.get(key)
      if (x === undefined) yield { key, before: y as V }
      else if (y === undefined) yield { key, after: x }
      else if (!this.sameValue(x, y)) yield { key, before: y, after: x }
    }
  }

  /** Equal wire encodings. */
  sameValue (x: V, y: V): boolean {
    return equalBytes(dagCbor.encode(this.codec.toWire(x)), dagCbor.encode(this.codec.toWire(y)))
  }
}

/** A CID that names a shard node, or a usage error. */
export function asShardRoot (v: unknown): CID {
  const cid = CID.asCID(v)
  if (cid === null || !isShardLink(cid)) throw new UsageError('ERR_ARGUMENT', 'expected a shard root CID (CIDv1 dag-cbor sha2-256)')
  return cid
}
