/**
 * The verified-block cache of `dagtuf serve`: the blocks served most
 * recently, by multihash, up to a byte budget (least recently used evicted
 * first).
 *
 * Why: the profile of `npm run bench:serve` showed the server's time in
 * hashing every block served (a repository node checks each block it reads,
 * src/blocks/repo-node.ts), opening, stat-ing, reading and closing its file,
 * and collecting the garbage of one fresh buffer per request. A block is
 * immutable (its bytes are what its CID names), so bytes the source has
 * checked once can be served again without reading or hashing them again.
 *
 * What it holds is only what the wrapped BlockSource returned, and a
 * BlockSource returns only bytes that hash to the CID (checked there): the
 * cache never holds, so never serves, a byte that failed its hash. Entries
 * are keyed by multihash (the same bytes under any codec), never copied
 * in or out, and never written to (the server only hands them to sockets
 * and decoders). A block larger than `maxEntryBytes` (default a quarter of
 * the budget) is not kept, so one large block cannot empty the cache.
 *
 * Admission: while there is room, every block is kept; once full, a block
 * displaces the least recently used one only if it was asked for more often
 * (a count per multihash of the lookups, bounded: past SEEN_MAX keys every
 * count is halved and the zeros dropped). Without it, requests spread over
 * more blocks than the cache holds (512 blocks of 1 MiB in a cycle, the
 * bench's cache-miss scenario) replaced a block at every request: each
 * kept buffer lived long enough to be promoted to V8's old space, freed only
 * by full collections, and the garbage collector's share of the server's
 * CPU tripled (177 against 450 MB/s with no cache at all).
 *
 * Memory: at most `maxBytes` of block bytes (`dagtuf serve --block-cache-mib`,
 * default 32), counted in the server's stats and in /metrics
 * (dagtuf_block_cache_bytes, _hits_total, _misses_total). A block that was
 * removed from the store (nothing removes blocks today) could still be
 * served from the cache until evicted: it is still the right bytes.
 */
import type { CID } from 'multiformats/cid'
import type { BlockSource, GetOptions } from '../blocks/types.js'

export interface BlockCacheStats {
  /** Blocks and bytes held now, and the budget. */
  entries: number
  bytes: number
  maxBytes: number
  /** Lookups answered from the cache, and not. */
  hits: number
  misses: number
  /** Blocks dropped to make room. */
  evictions: number
  /** Blocks not kept because the full cache's least recently used one was asked for as often. */
  rejected: number
}

/** Multihashes whose lookups are counted (about 100 bytes each); past it the counts are halved. */
export const SEEN_MAX = 16_384

/** The cache's key of `cid`: its multihash bytes as a string. */
function keyOf (cid: CID): string {
  const mh = cid.multihash.bytes
  return Buffer.from(mh.buffer, mh.byteOffset, mh.byteLength).toString('latin1')
}

export class BlockCache {
  // A Map keeps insertion order: the first entry is the least recently used.
  readonly #blocks = new Map<string, Uint8Array>()
  #bytes = 0
  #hits = 0
  #misses = 0
  #evictions = 0
  #rejected = 0
  /** Lookups per multihash (hits and misses), aged by halving. */
  readonly #seen = new Map<string, number>()
  readonly maxEntryBytes: number

  /** `maxBytes` 0: nothing is ever kept (every lookup is a miss). */
  constructor (readonly maxBytes: number, maxEntryBytes?: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxBytes: expected an integer >= 0')
    this.maxEntryBytes = Math.min(maxBytes, maxEntryBytes ?? Math.floor(maxBytes / 4))
  }

  stats (): BlockCacheStats {
    return { entries: this.#blocks.size, bytes: this.#bytes, maxBytes: this.maxBytes, hits: this.#hits, misses: this.#misses, evictions: this.#evictions, rejected: this.#rejected }
  }

  /** The bytes of `cid` when held (it becomes the most recently used), counted as a hit or a miss. */
  get (cid: CID): Uint8Array | undefined {
    const key = keyOf(cid)
    this.#count(key)
    const bytes = this.#blocks.get(key)
    if (bytes === undefined) {
      this.#misses++
      return undefined
    }
    this.#hits++
    this.#blocks.delete(key)
    this.#blocks.set(key, bytes)
    return bytes
  }

  #count (key: string): void {
    if (this.maxBytes === 0) return
    if (this.#seen.size >= SEEN_MAX && !this.#seen.has(key)) {
      for (const [k, n] of this.#seen) {
        if (n <= 1) this.#seen.delete(k)
        else this.#seen.set(k, n >> 1)
      }
    }
    this.#seen.set(key, (this.#seen.get(key) ?? 0) + 1)
  }

  /**
   * Keep `bytes` (checked to hash to `cid` by the caller's source): at once
   * while there is room, else in place of the least recently used blocks if
   * `cid` was asked for more often than the first of them.
   */
  put (cid: CID, bytes: Uint8Array): void {
    if (bytes.byteLength > this.maxEntryBytes) return
    const key = keyOf(cid)
    const old = this.#blocks.get(key)
    if (old !== undefined) {
      this.#blocks.delete(key)
      this.#bytes -= old.byteLength
    }
    if (this.#bytes + bytes.byteLength > this.maxBytes) {
      const victim = this.#blocks.keys().next().value as string
      if ((this.#seen.get(key) ?? 0) <= (this.#seen.get(victim) ?? 0)) {
        this.#rejected++
        return
      }
    }
    while (this.#bytes + bytes.byteLength > this.maxBytes) {
      const first = this.#blocks.entries().next().value as [string, Uint8Array]
      this.#blocks.delete(first[0])
      this.#bytes -= first[1].byteLength
      this.#evictions++
    }
    this.#blocks.set(key, bytes)
    this.#bytes += bytes.byteLength
  }

  /** Drop everything (the counters stay). */
  clear (): void {
    this.#blocks.clear()
    this.#bytes = 0
  }
}

/**
 * `source` with `cache` in front: a block held is returned at once (if it
 * is within the caller's maxBytes; else the source answers, with its own
 * error), and a block the source returned is kept.
 */
export function cachedSource (source: BlockSource, cache: BlockCache): BlockSource {
  const cached: BlockSource = {
    get: async (cid: CID, options?: GetOptions): Promise<Uint8Array> => {
      const hit = cache.get(cid)
      if (hit !== undefined && (options?.maxBytes === undefined || hit.byteLength <= options.maxBytes)) return hit
      const bytes = await source.get(cid, options)
      cache.put(cid, bytes)
      return bytes
    }
  }
  if (source.ipnsRecord !== undefined) {
    const ipnsRecord = source.ipnsRecord.bind(source)
    cached.ipnsRecord = async (name, options) => await ipnsRecord(name, options)
  }
  return cached
}
