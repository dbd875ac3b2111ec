/**
 * The head registry of `dagtuf serve --allow-push` as plain handlers (no
 * sockets; src/server/http-server.ts puts them behind node:http next to the
 * gateway's). NOTES section 10.1, REG-CAS and REG-ACCEPT.
 *
 *   PUT /head   body: a CARv1/v2 (Content-Type application/vnd.ipld.car)
 *               whose one root is the new timestamp and whose blocks are
 *               every block the new head needs that the server may lack
 *               (`dagtuf export --since <server head>` makes one);
 *               If-Match: "<current head CID>"
 *       200  { head, previous, blocks, stored }, ETag: "<new head>"
 *   GET /config
 *       200  { pushes, maxBodyBytes, maxBlocks, specVersionMajor, head, root, rateLimit }
 *
 * A push is checked in this order, and refused at the first failure with
 * nothing stored:
 *   405 ERR_PUSH_DISABLED       pushes are off (a read-only mirror)
 *   429 ERR_RATE_LIMITED        too many pushes from this remote address (Retry-After)
 *   415 ERR_UNSUPPORTED_MEDIA_TYPE  the body is not declared as a CAR
 *   428 ERR_PRECONDITION_REQUIRED   no If-Match
 *   400 ERR_BAD_PRECONDITION    If-Match is not one quoted CID
 *   409 ERR_NO_HEAD             the repository has no head yet (nothing to replace)
 *   413 ERR_BODY_TOO_LARGE      Content-Length over the cap, or the body
 *                               grew past it while streaming (counted as the
 *                               bytes arrive; nothing past the cap is read)
 *   412 ERR_HEAD_MOVED          If-Match is not the current head (ETag: the current one);
 *                               checked again after waiting for a slot (below)
 *   503 ERR_BUSY                more pushes waiting for a slot than the queue holds
 *   400 ERR_BAD_CAR             not a CAR, truncated, not exactly one root
 *   400 ERR_BLOCK_HASH          a block whose bytes do not hash to its CID
 *   413 ERR_TOO_MANY_BLOCKS     more blocks than the cap
 *   422 ERR_INVALID             the new timestamp breaks VALID (error.rule)
 *   422 ERR_INCOMPLETE          a block the new DAG needs is neither stored nor in the CAR
 *   422 ERR_NOT_SUCCESSOR       the new timestamp is not `<-*` the current head (error.rule)
 *   412 ERR_HEAD_MOVED          another push won while this one was checked
 *   503 ERR_BUSY                the repository is locked by a local publish (Retry-After)
 * Error bodies are the gateway's: { "error": { "code", "message", "rule"? } }.
 *
 * Authentication is the TUF signatures: a push is accepted from anyone when
 * the new DAG is VALID and descends from the head, so no tokens. Pushes
 * (only they) are rate limited per remote address, a token bucket.
 * At most `maxConcurrentPushes` bodies are read and checked at once, the
 * rest wait before their bodies are read. Commits are serialized in this
 * process; the store re-checks the head under its own lock, so a publish in
 * another process cannot be lost either.
 */
import type { CID } from 'multiformats/cid'
import { readCar, type CarSource } from '../blocks/car.js'
import type { BlockSource, GetOptions } from '../blocks/types.js'
import { isOurs, nonNegativeInt, normalizeCid, positiveInt } from '../blocks/util.js'
import { SPEC_VERSION } from '../model/config.js'
import { DagtufError, UsageError, ValidationError } from '../model/errors.js'
import { parseCid } from '../model/hash.js'
import { succStar } from '../relations/index.js'
import { sourceLoader } from '../validate/loader.js'
import { assertValidTimestamp } from '../validate/valid.js'
import type { GatewayRequest, GatewayResponse } from './gateway-handlers.js'

/** What the registry needs from a repository. */
export interface HeadStore {
  /** The stored blocks (hash-checked there). */
  readonly source: BlockSource
  /** The current head, or null when there is none. */
  head: () => Promise<CID | null>
  /**
   * Store `blocks` durably and move the head from `expected` to `timestamp`,
   * atomically, if the head is still `expected`; otherwise store nothing and
   * answer `moved`. Throws a DagtufError with code ERR_REPO_LOCKED when
   * another writer holds the repository for now.
   */
  commit: (input: { expected: CID, timestamp: CID, blocks: ReadonlyArray<{ cid: CID, bytes: Uint8Array }> }) =>
  Promise<{ kind: 'accepted', stored: number } | { kind: 'moved', current: CID }>
}

export interface RateLimit {
  /** Pushes a client may make at once (bucket size). */
  burst: number
  /** Pushes per minute added back to the bucket. */
  perMinute: number
}

export interface RegistryOptions {
  store: HeadStore
  /** Accept pushes (default false: GET /config only, PUT /head is 405). */
  pushes?: boolean
  /** Largest request body, in bytes (default 64 MiB). */
  maxBodyBytes?: number
  /** Most blocks in one push (default 100 000). */
  maxBlocks?: number
  /**
   * Pushes read and checked at once (default 4); more wait, before their
   * bodies are read, in a queue of at most `maxQueuedPushes` (default 64;
   * beyond it 503). Bounds the memory of pushes to about
   * maxConcurrentPushes x maxBodyBytes.
   */
  maxConcurrentPushes?: number
  maxQueuedPushes?: number
  /** Per remote address; false turns it off (default { burst: 60, perMinute: 60 }). */
  rateLimit?: RateLimit | false
  /** Clock for the rate limit, in ms (default Date.now). */
  now?: () => number
  /**
   * Told of every refused push (code, status, rule), before the refusal is
   * answered: the audit log counts them (AUDIT-REFUSALS-BOUNDED). A failure
   * of it does not change the answer.
   */
  onRefusal?: (refusal: { code: RegistryErrorCode, status: number, rule?: string }) => Promise<void> | void
}

export interface RegistryRequest extends GatewayRequest {
  /** The request body as it arrives (node:http's IncomingMessage is one). */
  readonly body?: AsyncIterable<Uint8Array>
  /** The client's address, the key of the rate limit. */
  readonly remoteAddress?: string
}

export type RegistryErrorCode =
  | 'ERR_PUSH_DISABLED' | 'ERR_RATE_LIMITED' | 'ERR_UNSUPPORTED_MEDIA_TYPE' | 'ERR_PRECONDITION_REQUIRED'
  | 'ERR_BAD_PRECONDITION' | 'ERR_BODY_TOO_LARGE' | 'ERR_HEAD_MOVED' | 'ERR_BAD_CAR' | 'ERR_BLOCK_HASH'
  | 'ERR_TOO_MANY_BLOCKS' | 'ERR_INVALID' | 'ERR_INCOMPLETE' | 'ERR_NOT_SUCCESSOR' | 'ERR_BUSY'
  | 'ERR_NO_HEAD' | 'ERR_METHOD_NOT_ALLOWED' | 'ERR_INTERNAL'

export type RegistryHandler = (req: RegistryRequest, options?: { signal?: AbortSignal }) => Promise<GatewayResponse>

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_BLOCKS = 100_000
export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 60, perMinute: 60 }
const CAR = 'application/vnd.ipld.car'
/** Rate-limit buckets kept before full ones are dropped. */
const MAX_BUCKETS = 10_000

/** Whether the registry answers this request (the gateway answers the rest). */
export function isRegistryRoute (req: Pick<GatewayRequest, 'method' | 'url'>): boolean {
  const path = req.url.split('?')[0]
  return path === '/config' || (path === '/head' && req.method !== 'GET' && req.method !== 'HEAD')
}

class PushError extends Error {
  constructor (readonly status: number, readonly code: RegistryErrorCode, message: string,
    readonly extra: { rule?: string, headers?: Record<string, string>, details?: Record<string, unknown> } = {}) {
    super(message)
  }
}

/** A JSON answer (no-store, nosniff; no body for HEAD): the registry's and the signing sessions'. */
export function json (method: string, status: number, value: unknown, headers: Record<string, string> = {}): GatewayResponse {
  const body = new TextEncoder().encode(JSON.stringify(value))
  const h = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.byteLength,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers
  }
  return method === 'HEAD' ? { status, headers: h } : { status, headers: h, body }
}

function header (req: GatewayRequest, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v.join(', ') : v
}

/** The CAR's blocks first, then the store. */
class Overlay implements BlockSource {
  constructor (readonly car: CarSource, readonly base: BlockSource) {}
  async get (cid: CID, options?: GetOptions): Promise<Uint8Array> {
    if (await this.car.has(cid)) return await this.car.get(cid, options)
    return await this.base.get(cid, options)
  }
}

/** Token buckets per remote address. */
export class Limiter {
  readonly #buckets = new Map<string, { tokens: number, at: number }>()
  constructor (readonly limit: RateLimit, readonly now: () => number) {}

  /** 0 when allowed (a token is taken), else the seconds to wait. */
  take (key: string): number {
    const t = this.now()
    const rate = this.limit.perMinute / 60_000
    const b = this.#buckets.get(key) ?? { tokens: this.limit.burst, at: t }
    b.tokens = Math.min(this.limit.burst, b.tokens + Math.max(0, t - b.at) * rate)
    b.at = t
    this.#buckets.delete(key)
    this.#buckets.set(key, b)
    if (this.#buckets.size > MAX_BUCKETS) {
      // Oldest first (Map order is last use): a dropped bucket was idle longest.
      for (const k of this.#buckets.keys()) { this.#buckets.delete(k); if (this.#buckets.size <= MAX_BUCKETS / 2) break }
    }
    if (b.tokens >= 1) { b.tokens -= 1; return 0 }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000))
  }
}

/** At most `size` holders at once; at most `queue` waiting. */
class Slots {
  #free: number
  readonly #waiting: Array<() => void> = []
  constructor (size: number, readonly queue: number) { this.#free = size }

  /** Resolves with a release function; false when the queue is full. */
  async acquire (): Promise<(() => void) | false> {
    if (this.#free > 0) this.#free--
    else {
      if (this.#waiting.length >= this.queue) return false
      await new Promise<void>((resolve) => { this.#waiting.push(resolve) })
    }
    let done = false
    return () => {
      if (done) return
      done = true
      // The slot passes straight to the next waiter, if any.
      const next = this.#waiting.shift()
      if (next !== undefined) next()
      else this.#free++
    }
  }
}

/**
 * A body cut off at `max` bytes: it throws on the chunk that crosses the
 * cap, before passing it on, and says so in `over` (the CAR reader wraps
 * what its input throws).
 */
function capped (body: AsyncIterable<Uint8Array>, max: number): { chunks: AsyncIterable<Uint8Array>, over: () => boolean } {
  let over = false
  async function * chunks (): AsyncGenerator<Uint8Array> {
    let total = 0
    for await (const chunk of body) {
      total += chunk.byteLength
      if (total > max) { over = true; throw new Error('over the body cap') }
      yield chunk
    }
  }
  return { chunks: chunks(), over: () => over }
}

/** The one CID of an If-Match header: `"<cid>"` (a strong entity tag). */
function ifMatchCid (value: string): CID {
  const m = /^\s*"([^"]{1,200})"\s*$/.exec(value)
  if (m === null) throw new PushError(400, 'ERR_BAD_PRECONDITION', 'If-Match must be one quoted head CID, e.g. If-Match: "bagu..."')
  try {
    return normalizeCid(parseCid(m[1]!))
  } catch {
    throw new PushError(400, 'ERR_BAD_PRECONDITION', 'If-Match does not hold a CID')
  }
}

/**
 * The registry's handler over `options`.
 *
 * @throws {UsageError} ERR_ARGUMENT for bad options
 */
export function registryHandler (options: RegistryOptions): RegistryHandler {
  const { store } = options
  if (store == null || typeof store.head !== 'function' || typeof store.commit !== 'function' || typeof store.source?.get !== 'function') {
    throw new UsageError('ERR_ARGUMENT', 'store: expected a HeadStore')
  }
  const pushes = options.pushes === true
  const maxBodyBytes = positiveInt(options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 'maxBodyBytes')
  const maxBlocks = positiveInt(options.maxBlocks, DEFAULT_MAX_BLOCKS, 'maxBlocks')
  const rate = options.rateLimit === false ? false : (options.rateLimit ?? DEFAULT_RATE_LIMIT)
  if (rate !== false) {
    positiveInt(rate.burst, 1, 'rateLimit.burst')
    positiveInt(rate.perMinute, 1, 'rateLimit.perMinute')
  }
  const limiter = rate === false ? undefined : new Limiter(rate, options.now ?? Date.now)
  const slots = new Slots(positiveInt(options.maxConcurrentPushes, 4, 'maxConcurrentPushes'), nonNegativeInt(options.maxQueuedPushes, 64, 'maxQueuedPushes'))
  // Commits one at a time in this process.
  let commits: Promise<unknown> = Promise.resolve()
  let rootCache: { head: string, root: string } | undefined

  async function currentHead (): Promise<CID | null> {
    try {
      return await store.head()
    } catch {
      throw new PushError(500, 'ERR_INTERNAL', 'the head could not be read')
    }
  }

  async function config (req: RegistryRequest): Promise<GatewayResponse> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new PushError(405, 'ERR_METHOD_NOT_ALLOWED', 'only GET and HEAD are allowed', { headers: { allow: 'GET, HEAD' } })
    }
    const head = await currentHead()
    let root: string | null = null
    if (head !== null) {
      if (rootCache?.head !== head.toString()) {
        try {
          const loader = sourceLoader(store.source)
          const ts = await loader.load('timestamp', head)
          const snap = await loader.load('snapshot', ts.signed.snapshot)
          rootCache = { head: head.toString(), root: snap.signed.meta.root.toString() }
        } catch {
          throw new PushError(500, 'ERR_INTERNAL', 'the head\'s root could not be read')
        }
      }
      root = rootCache.root
    }
    return json(req.method, 200, {
      pushes,
      maxBodyBytes,
      maxBlocks,
      specVersionMajor: Number(SPEC_VERSION.split('.')[0]),
      head: head?.toString() ?? null,
      root,
      rateLimit: rate === false ? null : { ...rate }
    })
  }

  async function push (req: RegistryRequest, signal: AbortSignal | undefined): Promise<GatewayResponse> {
    if (!pushes) throw new PushError(405, 'ERR_PUSH_DISABLED', 'this server is a read-only mirror: pushes are not enabled', { headers: { allow: 'GET, HEAD', connection: 'close' } })
    if (req.method !== 'PUT' && req.method !== 'POST') {
      throw new PushError(405, 'ERR_METHOD_NOT_ALLOWED', 'use PUT /head (or POST) to push, GET /head to read', { headers: { allow: 'GET, HEAD, PUT, POST', connection: 'close' } })
    }
    if (limiter !== undefined) {
      const wait = limiter.take(req.remoteAddress ?? 'unknown')
      if (wait > 0) throw new PushError(429, 'ERR_RATE_LIMITED', `too many pushes from this address: retry in ${wait} s`, { headers: { 'retry-after': String(wait), connection: 'close' } })
    }
    const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== CAR) throw new PushError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `the body must be a CAR (Content-Type: ${CAR})`, { headers: { connection: 'close' } })
    const ifMatch = header(req, 'if-match')
    if (ifMatch === undefined) throw new PushError(428, 'ERR_PRECONDITION_REQUIRED', 'If-Match: "<current head CID>" is required (GET /head gives it)', { headers: { connection: 'close' } })
    const expected = ifMatchCid(ifMatch)
    const length = header(req, 'content-length')
    if (length !== undefined && !(/^\d{1,16}$/.test(length) && Number(length) <= maxBodyBytes)) {
      throw new PushError(413, 'ERR_BODY_TOO_LARGE', `the body is larger than ${maxBodyBytes} bytes`, { headers: { connection: 'close' }, details: { max: maxBodyBytes } })
    }
    const before = await currentHead()
    if (before === null) throw new PushError(409, 'ERR_NO_HEAD', 'this repository has no head to replace')
    if (!before.equals(expected)) throw moved(before)
    const release = await slots.acquire()
    if (release === false) throw new PushError(503, 'ERR_BUSY', 'too many pushes are being checked: retry', { headers: { 'retry-after': '1' } })
    try {
      return await checkAndCommit(req, expected, signal)
    } finally {
      release()
    }
  }

  async function checkAndCommit (req: RegistryRequest, expected: CID, signal: AbortSignal | undefined): Promise<GatewayResponse> {
    // The head may have moved while this push waited for a slot: then its body is never read.
    const now = await currentHead()
    if (now === null || !now.equals(expected)) throw moved(now ?? expected)

    // Hash-checked while it streams in, within both caps.
    let car: CarSource
    const body = capped(req.body ?? (async function * () {})(), maxBodyBytes)
    try {
      car = await readCar(body.chunks, { maxBytes: maxBodyBytes + 1, maxBlocks, signal })
    } catch (e) {
      if (body.over()) throw new PushError(413, 'ERR_BODY_TOO_LARGE', `the body is larger than ${maxBodyBytes} bytes`, { details: { max: maxBodyBytes } })
      const code = (e as { code?: string }).code
      const details = (e as { details?: Record<string, unknown> }).details ?? {}
      if (code === 'ERR_CAR_BLOCK') throw new PushError(400, 'ERR_BLOCK_HASH', `block ${String(details.cid)} does not hash to its CID`, { details: { cid: details.cid } })
      if (code === 'ERR_CAR' && details.limit === 'maxBlocks') throw new PushError(413, 'ERR_TOO_MANY_BLOCKS', `the CAR has more than ${maxBlocks} blocks`, { details: { max: maxBlocks } })
      if (code === 'ERR_CAR') throw new PushError(400, 'ERR_BAD_CAR', (e as Error).message)
      if (code === 'ERR_ABORTED') throw new PushError(400, 'ERR_BAD_CAR', 'the request was cancelled')
      if (isOurs(e)) throw new PushError(400, 'ERR_BAD_CAR', (e as Error).message)
      throw new PushError(400, 'ERR_BAD_CAR', 'the body could not be read')
    }
    if (car.roots.length !== 1) throw new PushError(400, 'ERR_BAD_CAR', `the CAR must have exactly one root, the new timestamp (it has ${car.roots.length})`)
    const timestamp = normalizeCid(car.roots[0])
    if (timestamp.toString() === expected.toString()) {
      return json(req.method, 200, { head: timestamp.toString(), previous: expected.toString(), blocks: car.size, stored: 0 }, { etag: `"${timestamp}"` })
    }

    // REG-ACCEPT: VALID, then `<-*` the head named by If-Match.
    const loader = sourceLoader(new Overlay(car, store.source))
    try {
      await assertValidTimestamp(loader, timestamp)
    } catch (e) {
      throw checkFailure(e, 'ERR_INVALID', 'the new timestamp is not VALID')
    }
    let rel
    try {
      // The new DAG passed full VALID above and the current head did when it
      // was accepted; the chain between needs the top premises (NOTES 5.6).
      rel = await succStar(loader, 'timestamp', timestamp, expected, { premise: 'top', witness: 'ends' })
    } catch (e) {
      throw checkFailure(e, 'ERR_NOT_SUCCESSOR', 'the new timestamp does not descend from the head')
    }
    if (!rel.holds) {
      const v = rel.violations[0]
      const rule = v?.rule ?? 'SUCC-TS-SNAPSHOT'
      throw new PushError(422, 'ERR_NOT_SUCCESSOR', `the new timestamp does not descend from the head ${expected} (${rule}${v?.message !== undefined ? `: ${v.message}` : ''})`, { rule })
    }

    // REG-CAS: one commit at a time; the store checks the head again under its lock.
    const blocks: Array<{ cid: CID, bytes: Uint8Array }> = []
    for (const cid of car.cids()) blocks.push({ cid, bytes: await car.get(cid) })
    const run = commits.then(async () => await store.commit({ expected, timestamp, blocks }))
    commits = run.catch(() => {})
    let result
    try {
      result = await run
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_REPO_LOCKED') throw new PushError(503, 'ERR_BUSY', 'the repository is being published to locally: retry', { headers: { 'retry-after': '1' } })
      throw new PushError(500, 'ERR_INTERNAL', 'the push could not be stored')
    }
    if (result.kind === 'moved') throw moved(result.current)
    return json(req.method, 200, { head: timestamp.toString(), previous: expected.toString(), blocks: car.size, stored: result.stored }, { etag: `"${timestamp}"` })
  }

  return async (req, opts = {}) => {
    const path = req.url.split('?')[0]
    try {
      return path === '/config' ? await config(req) : await push(req, opts.signal)
    } catch (e) {
      const err = e instanceof PushError ? e : new PushError(500, 'ERR_INTERNAL', 'internal error')
      if (path !== '/config' && options.onRefusal !== undefined) {
        try {
          await options.onRefusal({ code: err.code, status: err.status, ...(err.extra.rule !== undefined ? { rule: err.extra.rule } : {}) })
        } catch {}
      }
      const error = { code: err.code, message: err.message, ...(err.extra.rule !== undefined ? { rule: err.extra.rule } : {}), ...err.extra.details }
      // A body may be left unread: do not keep the connection.
      return json(req.method, err.status, { error }, { ...err.extra.headers, ...(path === '/head' ? { connection: 'close' } : {}) })
    }
  }
}

function moved (current: CID): PushError {
  return new PushError(412, 'ERR_HEAD_MOVED', `If-Match does not name the current head ${current}: fetch it and push a successor of it`,
    { headers: { etag: `"${current}"`, connection: 'close' }, details: { head: current.toString() } })
}

/** A failed VALID or `<-*` check as a 422 naming its rule; a missing block as ERR_INCOMPLETE. */
function checkFailure (e: unknown, code: 'ERR_INVALID' | 'ERR_NOT_SUCCESSOR', what: string): PushError {
  if (e instanceof ValidationError) return new PushError(422, code, `${what}: ${e.code} (${e.message})`, { rule: e.code })
  const c = (e as { code?: string }).code
  if (c === 'ERR_BLOCK_NOT_FOUND') {
    const cid = (e as { details?: { cid?: unknown } }).details?.cid
    return new PushError(422, 'ERR_INCOMPLETE', `block ${String(cid)} is needed but is neither stored here nor in the CAR`, { details: { cid } })
  }
  if (e instanceof DagtufError) return new PushError(422, code, `${what}: ${e.code} (${e.message})`, { details: { reason: e.code } })
  return new PushError(500, 'ERR_INTERNAL', 'the push could not be checked')
}
