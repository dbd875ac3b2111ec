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
}

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
  readonly maxEntryBytes: number

  /** `maxBytes` 0: nothing is ever kept (every lookup is a miss). */
  constructor (readonly maxBytes: number, maxEntryBytes?: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxBytes: expected an integer >= 0')
    this.maxEntryBytes = Math.min(maxBytes, maxEntryBytes ?? Math.floor(maxBytes / 4))
  }

  stats (): BlockCacheStats {
    return { entries: this.#blocks.size, bytes: this.#bytes, maxBytes: this.maxBytes, hits: this.#hits, misses: this.#misses, evictions: this.#evictions }
  }

  /** The bytes of `cid` when held (it becomes the most recently used), counted as a hit or a miss. */
  get (cid: CID): Uint8Array | undefined {
    const key = keyOf(cid)
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

  /** Keep `bytes` (checked to hash to `cid` by the caller's source), evicting the least recently used. */
  put (cid: CID, bytes: Uint8Array): void {
    if (bytes.byteLength > this.maxEntryBytes) return
    const key = keyOf(cid)
    const old = this.#blocks.get(key)
    if (old !== undefined) {
      this.#blocks.delete(key)
      this.#bytes -= old.byteLength
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
