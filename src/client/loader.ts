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
 *   memoize on the loader object, so one loader serves one update;
 * - shard nodes fetched from the source are held in memory (within the
 *   update's BOUND-BYTES) until the caller vouches for them with
 *   `writeShards` (an update whose checks all passed, or the DAG of the
 *   trusted state): a refused update leaves nothing in the cache, so a
 *   hostile source cannot fill the disk through updates it knows will fail.
 *   From then on the loader writes them to the cache (ClientBlockCache.write, no
 *   fsync) as they arrive and keeps only their CIDs, so reading a map of any
 *   size holds no more of it than the shard readers' bounded caches;
 *   `settleShards` waits for those writes (an update then fsyncs them with
 *   its blocks).
 */
import type { CID } from 'multiformats/cid'
import { decodeEnvelope } from '../model/codec.js'
import { MAX_BLOCK_BYTES, type Kind } from '../model/config.js'
import { BlockError, isVerdict } from '../model/errors.js'
import { hasAsyncVerifier, preverifyEnvelope } from '../model/keys.js'
import type { Envelope, SignedOf } from '../model/types.js'
import { MAX_NODE_BYTES } from '../shard/index.js'
import { cidKey, mapMethods, sourceLoader, type Loader, type LoaderSource } from '../validate/loader.js'
import type { ClientBlockCache } from './storage.js'

export interface ClientLoaderOptions {
  signal?: AbortSignal
  maxBlocks?: number
  maxBytes?: number
  /**
   * When a snapshot is loaded, start loading the top-level targets object it
   * lists (NOTES 5.5, *Work*): every check that reads a snapshot reads that
   * object next, after the snapshot's root and maps, so its fetch need not
   * wait for them. It is a fetch ahead, nothing more: counted against the
   * bounds like any load, judged only when a check reads it, and its failure
   * is the failure of that later load (a verdict on its bytes is kept, a
   * transient error is retried then).
   */
  targetsAhead?: boolean
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
   * The CIDs (as strings) of the shard nodes this loader read, from the cache
   * or the source: an update keeps them in the cache (ClientBlockCache.retain).
   * A node fetched and then let go of (`forget`, before `writeShards`) is not
   * among them: a catch-up's intermediate snapshots leave none behind.
   */
  readonly shards: ReadonlySet<string>
  /**
   * Write the shard nodes fetched so far to the cache, and from now on each
   * one as it arrives (see the module comment). Without a cache, nothing.
   */
  writeShards: () => void
  /**
   * Wait until every shard node fetched so far is written to the cache
   * (after `writeShards`; before it, nothing is written).
   *
   * @returns the CIDs (strings) written since the last call
   * @throws {StateError} ERR_STATE_IO the first write that failed since the last call
   */
  settleShards: () => Promise<string[]>
}

/**
 * Public keys (keyid -> hex) seen in roots and delegations this process
 * decoded: with an asynchronous verifier registered (the browser's WebCrypto,
 * model/keys.ts `useAsyncVerifier`), each decoded envelope's signatures by a
 * known key are verified ahead, so the synchronous checks of VALID find the
 * verdicts. Only a speed-up: a key not seen yet (or a verdict evicted) is
 * verified synchronously as always, and a verdict is keyed by the public key
 * itself and the message's hash, so a wrong entry here cannot make any
 * signature count. Bounded (oldest out).
 */
const knownKeys = new Map<string, string>()
const MAX_KNOWN_KEYS = 1024

function noteKeys (env: Envelope): void {
  const signed = env.signed as { type?: string, keys?: ReadonlyMap<string, { public: string }>, delegations?: { keys?: ReadonlyMap<string, { public: string }> } }
  const keys = signed.type === 'root' ? signed.keys : signed.delegations?.keys
  if (keys === undefined) return
  for (const [id, k] of keys) {
    if (knownKeys.has(id)) continue
    if (knownKeys.size >= MAX_KNOWN_KEYS) knownKeys.delete(knownKeys.keys().next().value!)
    knownKeys.set(id, k.public)
  }
}

async function preverified (env: Envelope): Promise<Envelope> {
  noteKeys(env)
  await preverifyEnvelope(env, knownKeys)
  return env
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
export function clientLoader (cache: ClientBlockCache | undefined, source: LoaderSource, opts: ClientLoaderOptions = {}): ClientLoader {
  const remote = sourceLoader(source, opts)
  const decoded = new Map<string, Promise<Envelope>>()
  let cacheHits = 0
  const stats = {
    get blocks () { return remote.stats.blocks },
    get bytes () { return remote.stats.bytes },
    get cacheHits () { return cacheHits }
  }
  const shards = new Set<string>()
  // Write-through of fetched shard nodes: pending writes, what they wrote, the first failure.
  const writes = new Set<Promise<void>>()
  let written: string[] = []
  let failed: { e: unknown } | undefined
  /** Fetched nodes not written yet (before writeShards); null once writing. */
  let held: Map<string, { cid: CID, bytes: Uint8Array }> | null = new Map()
  const write = (key: string, cid: CID, bytes: Uint8Array): void => {
    if (cache === undefined) return
    const w = cache.write(cid, bytes).then(() => { written.push(key) }, (e: unknown) => { failed ??= { e } })
    writes.add(w)
    void w.finally(() => writes.delete(w))
  }
  const fetchShard = async (cid: CID): Promise<Uint8Array> => {
    const key = cid.toString()
    const cached = await cache?.get(cid, MAX_NODE_BYTES)
    if (cached !== undefined) {
      cacheHits++
      shards.add(key)
      return cached
    }
    const bytes = await remote.fetchShard(cid)
    if (!shards.has(key)) {
      if (held !== null) held.set(key, { cid, bytes })
      else write(key, cid, bytes)
    }
    shards.add(key)
    return bytes
  }
  return {
    stats,
    shards,
    writeShards (): void {
      if (held === null) return
      const pending = held
      held = null
      for (const [key, { cid, bytes }] of pending) write(key, cid, bytes)
    },
    async settleShards (): Promise<string[]> {
      while (writes.size > 0) await Promise.all([...writes])
      const out = written
      written = []
      const f = failed
      failed = undefined
      if (f !== undefined) throw f.e
      return out
    },
    ...mapMethods(fetchShard),
    forget (cid: CID): void {
      const key = cidKey(cid)
      for (const kind of Object.keys(MAX_BLOCK_BYTES)) decoded.delete(`${kind} ${key}`)
      // A shard node a walk let go of before the update passed: not kept for the cache.
      if (held !== null && held.delete(key)) shards.delete(key)
      remote.forget?.(cid)
    },
    async prefetch (kind: Kind, cid: CID): Promise<Uint8Array | undefined> {
      if (decoded.has(`${kind} ${cidKey(cid)}`)) return undefined
      const cached = await cache?.get(cid, MAX_BLOCK_BYTES[kind]).catch(() => undefined)
      return cached ?? await remote.prefetch?.(kind, cid)
    },
    load
  }
  async function load<K extends Kind> (kind: K, cid: CID): Promise<Envelope<SignedOf<K>>> {
    const key = `${kind} ${cidKey(cid)}`
    let p = decoded.get(key)
    if (p === undefined) {
      p = (async () => {
        const bytes = await cache?.get(cid, MAX_BLOCK_BYTES[kind])
        let env: Envelope
        if (bytes !== undefined) {
          cacheHits++
          env = decodeEnvelope(kind, bytes, cid)
        } else env = await remote.load(kind, cid)
        if (opts.targetsAhead === true && kind === 'snapshot') {
          // Settled by the load that reads it (or never awaited, when no check does).
          load('targets', (env as Envelope<SignedOf<'snapshot'>>).signed.meta.targets).catch(() => {})
        }
        return hasAsyncVerifier() ? await preverified(env) : env
      })()
      decoded.set(key, p)
      // Verdicts on bytes stay; transient failures may be retried.
      p.catch((e: unknown) => { if (!isVerdict(e) && decoded.get(key) === p) decoded.delete(key) })
    }
    return await (p as Promise<Envelope<SignedOf<K>>>)
  }
}
