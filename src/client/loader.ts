/**
 * The client's loader: the local block cache first, then the (untrusted)
 * block source, within the bounds of one update.
 *
 * Guarantees:
 * - every envelope comes out of `decodeEnvelope` (hash, size cap of its
 *   kind, canonical form, schema, VALID-KIND), whichever side supplied the
 *   bytes; cache bytes are also hash-checked when read (store.ts);
 * - BOUND-BLOCKS and BOUND-BYTES count only blocks fetched from the source:
 *   cache hits are free (NOTES 9); exceeding them is a ValidationError with
 *   the rule as code (from src/validate's sourceLoader);
 * - each CID and kind is decoded once per loader; VALID and the relations
 *   memoize on the loader object, so one loader serves one update.
 */
import type { CID } from 'multiformats/cid'
import { decodeEnvelope } from '../model/codec.js'
import { MAX_BLOCK_BYTES, type Kind } from '../model/config.js'
import { BlockError, isVerdict } from '../model/errors.js'
import type { Envelope, SignedOf } from '../model/types.js'
import { MAX_NODE_BYTES } from '../shard/index.js'
import { mapMethods, sourceLoader, type Loader, type LoaderSource } from '../validate/loader.js'
import type { BlockCache } from './store.js'

export interface ClientLoaderOptions {
  signal?: AbortSignal
  maxBlocks?: number
  maxBytes?: number
}

export interface ClientLoaderStats {
  /** Blocks and bytes fetched from the source. */
  readonly blocks: number
  readonly bytes: number
  /** Blocks read from the local cache. */
  readonly cacheHits: number
}

export interface ClientLoader extends Loader {
  readonly stats: ClientLoaderStats
  /**
   * Shard nodes this loader read, by CID string (`fetched`: from the source,
   * not the cache): an update stores them and keeps them in the cache.
   */
  readonly shards: ReadonlyMap<string, { cid: CID, bytes: Uint8Array, fetched: boolean }>
}

/** A LoaderSource that has nothing: for working from the cache alone. */
export const NO_SOURCE: LoaderSource = {
  async get (cid: CID): Promise<Uint8Array> {
    throw new BlockError('ERR_BLOCK_NOT_FOUND', `block ${cid} is not in the local cache and no block source was given`, { details: { cid: cid.toString() } })
  }
}

/**
 * A loader reading `cache` first and `source` for misses.
 *
 * @throws {UsageError} ERR_ARGUMENT for malformed options
 */
export function clientLoader (cache: BlockCache | undefined, source: LoaderSource, opts: ClientLoaderOptions = {}): ClientLoader {
  const remote = sourceLoader(source, opts)
  const decoded = new Map<string, Promise<Envelope>>()
  let cacheHits = 0
  const stats = {
    get blocks () { return remote.stats.blocks },
    get bytes () { return remote.stats.bytes },
    get cacheHits () { return cacheHits }
  }
  const shards = new Map<string, { cid: CID, bytes: Uint8Array, fetched: boolean }>()
  const fetchShard = async (cid: CID): Promise<Uint8Array> => {
    const cached = await cache?.get(cid, MAX_NODE_BYTES)
    if (cached !== undefined) {
      cacheHits++
      shards.set(cid.toString(), { cid, bytes: cached, fetched: false })
      return cached
    }
    const bytes = await remote.fetchShard(cid)
    shards.set(cid.toString(), { cid, bytes, fetched: true })
    return bytes
  }
  return {
    stats,
    shards,
    ...mapMethods(fetchShard),
    async load<K extends Kind> (kind: K, cid: CID): Promise<Envelope<SignedOf<K>>> {
      const key = `${kind} ${cid.toString()}`
      let p = decoded.get(key)
      if (p === undefined) {
        p = (async () => {
          const bytes = await cache?.get(cid, MAX_BLOCK_BYTES[kind])
          if (bytes !== undefined) {
            cacheHits++
            return decodeEnvelope(kind, bytes, cid)
          }
          return await remote.load(kind, cid)
        })()
        decoded.set(key, p)
        // Verdicts on bytes stay; transient failures may be retried.
        p.catch((e: unknown) => { if (!isVerdict(e) && decoded.get(key) === p) decoded.delete(key) })
      }
      return await (p as Promise<Envelope<SignedOf<K>>>)
    }
  }
}
