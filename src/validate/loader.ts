/**
 * The loader: the only I/O that VALID and the relations do (NOTES section 1,
 * `load(c, k)`).
 *
 * `sourceLoader(source)` guarantees:
 * - every envelope it returns came out of `decodeEnvelope(kind, bytes, cid)`:
 *   hash-checked, canonical, of the kind asked for (a wrong `_type` is a
 *   DecodeError ERR_KIND, i.e. VALID-KIND);
 * - a block is fetched at most once: its bytes (and loads in flight) are
 *   cached by CID and its envelope by CID and kind, so walks over DAGs that
 *   share objects cost in proportion to what differs. A block decodes as
 *   one kind only (its `_type`), so asking for a CID as two kinds fails the
 *   second time with ERR_KIND;
 * - each fetch asks the source for at most the kind's block cap
 *   (BOUND-BLOCK-SIZE) and at most what is left of the byte budget;
 * - at most FETCH_CONCURRENCY fetches are outstanding at once, and what they
 *   may return (each one's cap) sums to at most FETCH_BYTES_IN_FLIGHT, so
 *   what block sources may buffer before their hash checks is bounded
 *   whatever the DAG's shape (a VALID walk asks for every child of a
 *   delegator at once; a catch-up fetches ahead);
 * - at most `maxBlocks` blocks (BOUND-BLOCKS) and `maxBytes` bytes
 *   (BOUND-BYTES) are fetched over the loader's life; cache hits are free.
 *   Exceeding either throws ValidationError with the rule as code.
 *
 * DecodeError and BlockError from the source and the decoder propagate
 * unchanged. Failures that are verdicts on the data (decode errors) stay
 * cached; transient ones (not found, timeout, transport) do not, so a later
 * load may retry.
 */
import { CID } from 'multiformats/cid'
import { decodeEnvelope } from '../model/codec.js'
import { LIMITS, MAX_BLOCK_BYTES, type Kind } from '../model/config.js'
import { BlockError, DecodeError, UsageError, ValidationError, isVerdict } from '../model/errors.js'
import type { Envelope, SignedOf, TargetInfo } from '../model/types.js'
import { MAX_NODE_BYTES, ShardBudget, ShardReader, roleLinkCodec, targetsCodec, type Change, type Entry } from '../shard/index.js'

export interface Loader {
  /**
   * The decoded envelope of kind `kind` addressed by `cid`.
   *
   * @throws {DecodeError} the block is not a well-formed object of `kind` (ERR_KIND for the wrong `_type`)
   * @throws {BlockError} the source failed (not found, hash mismatch, too large, transport...)
   * @throws {ValidationError} BOUND-BLOCKS | BOUND-BYTES
   */
  load: <K extends Kind>(kind: K, cid: CID) => Promise<Envelope<SignedOf<K>>>
  /**
   * Drop what this loader holds for the envelope or shard node `cid` (its
   * bytes and decoded objects), so that a long walk keeps in memory only what
   * it still needs. A later `load` of it fetches (and counts) it again; a map
   * reader may still answer from its own bounded cache of decoded nodes.
   * Optional: a loader without it keeps everything for its life.
   */
  forget?: (cid: CID) => void
  /**
   * Fetch the block `cid` (expected of `kind`) into this loader without
   * decoding it, as a later `load` would, counted against the same budgets:
   * a hint that it will be needed soon (NOTES 5.5, *Work*). Resolves to its
   * bytes, unchecked (the hash is checked when it is loaded), or undefined
   * when it could not be fetched (the later load reports why). Optional.
   */
  prefetch?: (kind: Kind, cid: CID) => Promise<Uint8Array | undefined>
  /**
   * The role-name map (a snapshot's `delegated-targets` or `retired`) whose
   * root is `root`, read whole (at most LIMITS.maxDelegatedRoles entries).
   *
   * @throws {ValidationError} SHARD-* | BOUND-BLOCKS | BOUND-BYTES; ERR_LIMIT (DecodeError) past the entry bound
   * @throws {BlockError} a node could not be fetched (SHARD-MISSING)
   */
  roleMap: (root: CID) => Promise<ReadonlyMap<string, CID>>
  /**
   * The entry for `name` in the role map at `root`: fetches only the nodes on
   * its path. `onRead`, when given, is told the CID of each node read.
   *
   * @throws as `target`
   */
  roleEntry: (root: CID, name: string, onRead?: (cid: CID) => void) => Promise<CID | undefined>
  /**
   * The changes from the role map at `older` to the one at `newer`,
   * descending only where their nodes' CIDs differ (every node read is
   * checked in place; a shared subtree is not read). `onRead`, when given, is
   * told the CID of each node read and whether it is of the newer map (for
   * `forget`).
   *
   * @throws as `target`
   */
  roleDiff: (newer: CID, older: CID, onRead?: (cid: CID, newer: boolean) => void) => AsyncIterable<Change<CID>>
  /**
   * The entry for `path` in the targets map whose root is `root`: fetches
   * only the nodes on the path to it.
   *
   * @throws {ValidationError} SHARD-* | BOUND-BLOCKS | BOUND-BYTES
   * @throws {BlockError} a node could not be fetched (SHARD-MISSING): never "absent"
   */
  target: (root: CID, path: string) => Promise<TargetInfo | undefined>
  /** Every entry of the targets map at `root`, streamed in hash order (same errors as `target`). */
  targetEntries: (root: CID) => AsyncIterable<Entry<TargetInfo>>
}

/**
 * `cid.toString()`, flattened. multiformats builds the string a character at
 * a time, a rope of some fifty string nodes (about 1.5 KiB) that lives as
 * long as the CID's cache or a map keyed by it; reading a character makes V8
 * flatten it in place. For keys that are kept (caches, memos, witnesses).
 */
export function cidKey (cid: CID): string {
  const s = cid.toString()
  if (s.length > 0) s.charCodeAt(s.length - 1)
  return s
}

/** Nodes of one level of a role map read level by level, at most (a map of the largest allowed size, 100,000 names, has about 9,000 nodes in all). */
const ROLE_MAP_LEVEL_WIDTH = 65_536
/** Nodes of a level asked for together. */
const ROLE_MAP_CHUNK = 128

/**
 * Bytes of shard-node blocks a loader's map readers keep decoded, each (about
 * 1.3 MB of decoded nodes of CIDs): see ShardReaderOptions.cacheBytes. A
 * bins catch-up of 3,000 snapshots peaked at 83 MiB with it, 89 with 256 KiB
 * and 96 with 512 KiB, fetching 13 %, 9 % and 5 % more blocks than with
 * 4,096 nodes kept (a node read by two steps far apart is fetched again;
 * bench:catchup --bins-only 10 3000 --process, library runner, 2026-11-30).
 */
export const READER_CACHE_BYTES = 64 * 1024

/** Fetches the bytes of a shard node, within the caller's caps and budget. */
export type ShardFetch = (cid: CID) => Promise<Uint8Array>

/**
 * The map methods of a Loader over one way of fetching shard nodes (which
 * counts them against the update's budget). Role maps are cached by root.
 */
export function mapMethods (fetch: ShardFetch): Omit<Loader, 'load'> {
  // The fetch counts blocks and bytes; these readers only check and decode.
  const source = { get: async (cid: CID) => await fetch(cid) }
  const unbounded = (): ShardBudget => new ShardBudget(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
  // Small caches: a walk re-reads a node within a few steps (a diff's older
  // side is the next step's newer side), a search re-reads the top of a map;
  // what is older is fetched again, and a catch-up's memory stays flat in K.
  const targets = new ShardReader(source, targetsCodec, { budget: unbounded(), cacheBytes: READER_CACHE_BYTES })
  const roles = new ShardReader(source, roleLinkCodec, { budget: unbounded(), cacheBytes: READER_CACHE_BYTES })
  const roleMaps = new Map<string, Promise<ReadonlyMap<string, CID>>>()
  return {
    async roleMap (root: CID): Promise<ReadonlyMap<string, CID>> {
      const key = root.toString()
      let p = roleMaps.get(key)
      if (p === undefined) {
        p = (async () => {
          const out = new Map<string, CID>()
          const add = (e: Entry<CID>): void => {
            if (out.size >= LIMITS.maxDelegatedRoles) throw new DecodeError('ERR_LIMIT', `a role map has more than ${LIMITS.maxDelegatedRoles} entries`, { details: { cid: key } })
            out.set(e.key, e.value)
          }
          // Level by level, each level's nodes asked for at once (the loader
          // bounds what is in flight): a map of 16,384 names is a few rounds
          // of requests, not one per node. Every node is checked in place.
          let level: Array<{ cid: CID, path: number[] }> = [{ cid: root, path: [] }]
          for (let depth = 0; level.length > 0; depth++) {
            if (level.length > ROLE_MAP_LEVEL_WIDTH) {
              // No map within the entry bound has a level this wide (SHARD-COLLAPSE keeps nodes full).
              throw new DecodeError('ERR_LIMIT', `a role map has more than ${ROLE_MAP_LEVEL_WIDTH} nodes at depth ${depth}`, { details: { cid: key } })
            }
            const next: Array<{ cid: CID, path: number[] }> = []
            // In chunks, so that what is held decoded at once stays bounded
            // (the loader keeps at most 64 nodes in flight anyway).
            for (let at = 0; at < level.length; at += ROLE_MAP_CHUNK) {
              const chunk = level.slice(at, at + ROLE_MAP_CHUNK)
              const nodes = await Promise.all(chunk.map(async ({ cid, path }) => await roles.node(cid, depth, path)))
              nodes.forEach((node, i) => {
                for (const el of node.elements) {
                  if (el.bucket !== undefined) for (const e of el.bucket) add(e)
                  else next.push({ cid: el.link, path: [...chunk[i]!.path, el.slot] })
                }
              })
            }
            level = next
          }
          // Names in code-unit order (the order format 1 listed them in),
          // not hash order: walks and reports stay in a stable, readable order.
          return new Map([...out].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        })()
        roleMaps.set(key, p)
        p.catch(() => { if (roleMaps.get(key) === p) roleMaps.delete(key) })
      }
      return await p
    },
    async roleEntry (root: CID, name: string, onRead?: (cid: CID) => void): Promise<CID | undefined> {
      return await roles.get(root, name, onRead)
    },
    roleDiff (newer: CID, older: CID, onRead?: (cid: CID, newer: boolean) => void): AsyncIterable<Change<CID>> {
      return roles.diff(newer, older, onRead)
    },
    async target (root: CID, path: string): Promise<TargetInfo | undefined> {
      return await targets.get(root, path)
    },
    targetEntries (root: CID): AsyncIterable<Entry<TargetInfo>> {
      return targets.entries(root)
    }
  }
}

/** What a loader needs from a block source (src/blocks BlockSource fits). */
export interface LoaderSource {
  get: (cid: CID, options?: { signal?: AbortSignal, maxBytes?: number }) => Promise<Uint8Array>
}

export interface LoaderOptions {
  signal?: AbortSignal
  /** Blocks fetched at most (BOUND-BLOCKS). Default LIMITS.maxBlocksPerUpdate. */
  maxBlocks?: number
  /** Bytes fetched at most (BOUND-BYTES). Default LIMITS.maxBytesPerUpdate. */
  maxBytes?: number
}

export interface LoaderStats {
  /** Blocks fetched from the source (cache hits excluded). */
  blocks: number
  /** Bytes fetched from the source. */
  bytes: number
}

export type SourceLoader = Loader & {
  readonly stats: Readonly<LoaderStats>
  /** Fetch a shard node's bytes, counted like any other block (for loaders layered on this one). */
  readonly fetchShard: ShardFetch
}

/** Fetches one loader keeps outstanding at most; the rest wait their turn. */
export const FETCH_CONCURRENCY = 512

/**
 * Bytes one loader lets its outstanding fetches promise at most: each fetch
 * reserves the most its source may hand back (the kind's cap, or what is left
 * of the byte budget), so what sources may buffer before their hash checks
 * is bounded whatever the DAG's shape. 64 MiB is 512 snapshots or 64 targets
 * objects or shard nodes at their caps: enough in flight for a catch-up to
 * fetch ahead (NOTES 5.5, *Work*), bounded against a hostile source.
 */
export const FETCH_BYTES_IN_FLIGHT = 64 * 1024 * 1024

/**
 * A semaphore over a count and a weight: `run(w, f)` starts f once fewer than
 * `max` are running and `w` more fits under `weight`; waiters start in order.
 */
class Slots {
  #running = 0
  #weight = 0
  readonly #waiting: Array<{ w: number, go: () => void }> = []
  constructor (readonly max: number, readonly weight: number) {}

  #fits (w: number): boolean {
    return this.#running < this.max && this.#weight + w <= this.weight
  }

  async run<T> (w: number, f: () => Promise<T>): Promise<T> {
    const need = Math.min(w, this.weight)
    if (this.#waiting.length > 0 || !this.#fits(need)) {
      await new Promise<void>((resolve) => { this.#waiting.push({ w: need, go: resolve }) })
    } else {
      this.#running++
      this.#weight += need
    }
    try {
      return await f()
    } finally {
      this.#running--
      this.#weight -= need
      // Start waiters in order while the first fits (it holds its place: no starving a large one).
      while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.w)) {
        const next = this.#waiting.shift()!
        this.#running++
        this.#weight += next.w
        next.go()
      }
    }
  }
}

function limitOption (value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new UsageError('ERR_ARGUMENT', `${name}: expected a non-negative integer`)
  }
  return value
}

/**
 * A caching, bounded loader over a block source.
 *
 * @throws {UsageError} ERR_ARGUMENT for malformed options
 */
export function sourceLoader (source: LoaderSource, opts: LoaderOptions = {}): SourceLoader {
  if (source === null || typeof source !== 'object' || typeof source.get !== 'function') {
    throw new UsageError('ERR_ARGUMENT', 'sourceLoader: source must have a get(cid, options) method')
  }
  const maxBlocks = limitOption(opts.maxBlocks, LIMITS.maxBlocksPerUpdate, 'maxBlocks')
  const maxBytes = limitOption(opts.maxBytes, LIMITS.maxBytesPerUpdate, 'maxBytes')
  const signal = opts.signal
  const stats: LoaderStats = { blocks: 0, bytes: 0 }
  /** Block bytes by CID; decoded envelopes by kind and CID. */
  const blocks = new Map<string, Promise<Uint8Array>>()
  const decoded = new Map<string, Promise<Envelope>>()
  const slots = new Slots(FETCH_CONCURRENCY, FETCH_BYTES_IN_FLIGHT)

  async function fetch (kind: Kind | 'shard', cid: CID, key: string): Promise<Uint8Array> {
    const kindCap = kind === 'shard' ? MAX_NODE_BYTES : MAX_BLOCK_BYTES[kind]
    return await slots.run(Math.min(kindCap, Math.max(0, maxBytes - stats.bytes)), async () => await fetchNow(kind, cid, key))
  }

  async function fetchNow (kind: Kind | 'shard', cid: CID, key: string): Promise<Uint8Array> {
    if (signal?.aborted === true) {
      throw new BlockError('ERR_ABORTED', `loading ${key} was aborted`, { cause: signal.reason, details: { cid: key } })
    }
    // BOUND-BLOCKS: counted when the fetch starts, so concurrent loads
    // cannot overrun the budget.
    if (stats.blocks >= maxBlocks) {
      throw new ValidationError('BOUND-BLOCKS', `more than ${maxBlocks} metadata blocks fetched`, { details: { cid: key, max: maxBlocks } })
    }
    stats.blocks++
    const kindCap = kind === 'shard' ? MAX_NODE_BYTES : MAX_BLOCK_BYTES[kind]
    const left = Math.max(0, maxBytes - stats.bytes)
    const cap = Math.min(kindCap, left)
    const overBudget = (): ValidationError => new ValidationError('BOUND-BYTES', `more than ${maxBytes} bytes of metadata fetched`, { details: { cid: key, max: maxBytes } })
    let bytes: Uint8Array
    try {
      bytes = await source.get(cid, signal === undefined ? { maxBytes: cap } : { signal, maxBytes: cap })
    } catch (e) {
      // The byte budget, not the kind's cap, refused the block.
      if (e instanceof BlockError && e.code === 'ERR_BLOCK_TOO_LARGE' && cap < kindCap) throw overBudget()
      throw e
    }
    if (!(bytes instanceof Uint8Array)) throw new BlockError('ERR_TRANSPORT', `source returned no bytes for ${key}`, { details: { cid: key } })
    stats.bytes += bytes.byteLength
    // A source that ignored maxBytes is caught here.
    if (bytes.byteLength > kindCap) {
      throw new BlockError('ERR_BLOCK_TOO_LARGE', `block ${key} is ${bytes.byteLength} bytes, over the ${kind} cap of ${kindCap}`, { details: { cid: key, size: bytes.byteLength, max: kindCap } })
    }
    if (stats.bytes > maxBytes) throw overBudget()
    return bytes
  }

  async function fetchOnce (kind: Kind | 'shard', cid: CID, key: string): Promise<Uint8Array> {
    let p = blocks.get(key)
    if (p === undefined) {
      p = fetch(kind, cid, key)
      blocks.set(key, p)
      // A failed fetch is forgotten, so a later load may retry it.
      p.catch(() => { if (blocks.get(key) === p) blocks.delete(key) })
    }
    return await p
  }

  const fetchShard: ShardFetch = async (cid) => await fetchOnce('shard', cid, cidKey(cid))
  const loader: SourceLoader = {
    stats,
    fetchShard,
    forget (cid: CID): void {
      const key = cidKey(cid)
      blocks.delete(key)
      for (const kind of Object.keys(MAX_BLOCK_BYTES)) decoded.delete(`${kind} ${key}`)
    },
    ...mapMethods(fetchShard),
    async prefetch (kind: Kind, cid: CID): Promise<Uint8Array | undefined> {
      if (typeof kind !== 'string' || !Object.hasOwn(MAX_BLOCK_BYTES, kind)) throw new UsageError('ERR_ARGUMENT', 'prefetch: unknown kind')
      try {
        return await fetchOnce(kind, cid, cidKey(cid))
      } catch {
        return undefined
      }
    },
    async load<K extends Kind> (kind: K, cidIn: CID): Promise<Envelope<SignedOf<K>>> {
      const cid = CID.asCID(cidIn)
      if (cid === null) throw new UsageError('ERR_ARGUMENT', 'load: expected a CID')
      if (typeof kind !== 'string' || !Object.hasOwn(MAX_BLOCK_BYTES, kind)) {
        throw new UsageError('ERR_ARGUMENT', 'load: unknown kind')
      }
      const key = cidKey(cid)
      const dkey = `${kind} ${key}`
      let p = decoded.get(dkey)
      if (p === undefined) {
        // decodeEnvelope checks `_type`, so a block decodes as one kind only
        // (VALID-KIND): asking for the same CID as another kind is ERR_KIND.
        p = fetchOnce(kind, cid, key).then((bytes) => decodeEnvelope(kind, bytes, cid))
        decoded.set(dkey, p)
        // Verdicts on immutable bytes (isVerdict: decode failures, hash and
        // size refusals, exceeded bounds) stay cached; fetch failures may be retried.
        p.catch((e: unknown) => { if (!isVerdict(e) && decoded.get(dkey) === p) decoded.delete(dkey) })
      }
      return await (p as Promise<Envelope<SignedOf<K>>>)
    }
  }
  return loader
}
