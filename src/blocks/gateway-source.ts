/**
 * A lean trustless-gateway client: blocks by HTTP from any gateway that
 * speaks the IPFS Trustless Gateway protocol (`dagtuf serve`, or a public
 * gateway such as https://trustless-gateway.link), using only node:http(s)
 * (or a `fetch` given as an option) and multiformats.
 *
 * Why not the global fetch by default: a client process makes a handful of
 * small GETs, and loading undici for them cost more than the rest of a cold
 * update (about 30 ms and 30 MB of peak RSS per process, measured in
 * bench/results/client-cost-2026-11-29.md). The node:http(s) path below has the
 * same bounds: one time limit per attempt covering the request and the body,
 * the caller's signal, at most MAX_REDIRECTS redirects (http and https only),
 * no content decoding (no Accept-Encoding is sent), and the body read under
 * its cap and torn down as soon as the cap is passed.
 *
 * The gateway is not trusted: each body is read under a size cap (the
 * announced Content-Length is checked first, then every chunk is counted)
 * and hash-checked against the CID. A wrong body is a hostile or broken
 * gateway and fails at once with ERR_HASH_MISMATCH — never retried, since
 * retrying would only give it another try. Network errors, per-attempt
 * timeouts and 5xx answers are retried with exponential backoff and jitter;
 * 404/410 is ERR_BLOCK_NOT_FOUND; other answers are ERR_TRANSPORT with
 * details.status. The caller's AbortSignal stops everything (ERR_ABORTED).
 * A network failure is ERR_TRANSPORT in plain words (`could not connect to
 * http://127.0.0.1:1 (connection refused)`), its code in details.network and
 * the original error as the cause.
 *
 * It also fetches a name's signed IPNS record (GET /ipns/{name}?format=ipns-record,
 * at most 10 KiB), unverified: src/client/ipns.ts checks it.
 */
import { CID } from 'multiformats/cid'
import { BlockError, UsageError } from '../model/errors.js'
import { checkBlockAsync, HASH_SHA2_256, parseCid } from '../model/hash.js'
import { IPNS_RECORD_MEDIA_TYPE, MAX_IPNS_RECORD_BYTES, parseIpnsName } from '../model/ipns.js'
import { aborted, deadline, isOurs, maxBytesOf, nonNegativeInt, normalizeCid, notFound, positiveInt, readCapped, sleep, throwIfAborted, timedOut, tooLarge } from './util.js'
import type { BlockSource, GetOptions } from './types.js'
import { hasNodeHttp, loadNodeHttp, loadNodeHttps } from '../util/node-builtins.js'

type Fetch = typeof globalThis.fetch

/** Redirects followed by one attempt of the node:http(s) transport (fetch's own limit is 20). */
export const MAX_REDIRECTS = 5

/** What one GET attempt gives back, whichever transport made it. */
interface HttpAnswer {
  status: number
  /** The Content-Length header as sent, or null. */
  contentLength: string | null
  body: AsyncIterable<Uint8Array>
  /** Drop the rest of the body (and the connection, for node:http). */
  cancel: () => void
}

/** One GET (redirects followed); rejects on network errors and on `signal`. */
type Transport = (url: string, accept: string, signal: AbortSignal) => Promise<HttpAnswer>

function fetchTransport (f: Fetch): Transport {
  return async (url, accept, signal) => {
    const res = await f(url, { method: 'GET', headers: { accept }, redirect: 'follow', signal })
    const body = res.body
    return {
      status: res.status,
      contentLength: res.headers.get('content-length'),
      body: body === null ? [] as unknown as AsyncIterable<Uint8Array> : body as unknown as AsyncIterable<Uint8Array>,
      cancel: () => { body?.cancel().catch(() => {}) }
    }
  }
}

type NodeHttp = typeof import('node:http')
/** node:http and node:https, loaded on first use (https only for https URLs). */
const nodeModules: { http?: Promise<NodeHttp>, https?: Promise<typeof import('node:https')> } = {}
/**
 * Keep-alive agents: free sockets are unref'd by node, so they never hold a
 * process open. At most GATEWAY_SOCKETS connections per gateway: a catch-up
 * asks for hundreds of blocks at once (NOTES 5.5), and a gateway caps the
 * connections it takes (`dagtuf serve`: 256 by default, then 503); the
 * requests beyond wait their turn in the agent.
 */
export const GATEWAY_SOCKETS = 64
const agents: { http?: import('node:http').Agent, https?: import('node:https').Agent } = {}

async function nodeGet (url: URL, accept: string, signal: AbortSignal): Promise<import('node:http').IncomingMessage> {
  let get: NodeHttp['get']
  let agent: import('node:http').Agent
  if (url.protocol === 'https:') {
    const https = await (nodeModules.https ??= loadNodeHttps())
    agent = agents.https ??= new https.Agent({ keepAlive: true, maxSockets: GATEWAY_SOCKETS })
    get = https.get
  } else {
    const http = await (nodeModules.http ??= loadNodeHttp())
    agent = agents.http ??= new http.Agent({ keepAlive: true, maxSockets: GATEWAY_SOCKETS })
    get = http.get
  }
  return await new Promise((resolve, reject) => {
    const req = get(url, { agent, headers: { accept }, signal }, resolve)
    req.on('error', reject)
  })
}

const REDIRECT = new Set([301, 302, 303, 307, 308])

/** GET over node:http(s), following at most MAX_REDIRECTS redirects to http(s) URLs. */
const nodeTransport: Transport = async (url, accept, signal) => {
  let current = new URL(url)
  for (let hop = 0; ; hop++) {
    const res = await nodeGet(current, accept, signal)
    const location = res.headers.location
    if (REDIRECT.has(res.statusCode ?? 0) && location !== undefined) {
      res.destroy()
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`)
      const next = new URL(location, current)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new Error(`redirect to a ${next.protocol} URL refused`)
      current = next
      continue
    }
    // The body stops with the caller's signal or the attempt's time limit.
    const onAbort = (): void => { res.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
    if (signal.aborted) onAbort()
    else {
      signal.addEventListener('abort', onAbort, { once: true })
      res.once('close', () => { signal.removeEventListener('abort', onAbort) })
    }
    return {
      status: res.statusCode ?? 0,
      contentLength: res.headers['content-length'] ?? null,
      body: res,
      cancel: () => { res.destroy() }
    }
  }
}

export interface GatewayOptions {
  /** Time limit of one attempt (request and body), in ms (default 30 000). */
  timeoutMs?: number
  /** Further attempts after a network error, timeout or 5xx (default 2). */
  retries?: number
  /** First backoff delay in ms, doubled each retry, plus jitter (default 250). */
  backoffMs?: number
  /**
   * A fetch implementation to use instead of node:http(s) (default: none;
   * pass `globalThis.fetch` for undici, e.g. to go through its proxy settings).
   * In the browser build, where node:http(s) does not exist, the default is
   * the global fetch.
   */
  fetch?: Fetch
}

interface Resolved { timeoutMs: number, retries: number, backoffMs: number, get: Transport }

function resolveOptions (options: GatewayOptions): Resolved {
  const f = options.fetch
  if (f !== undefined && typeof f !== 'function') throw new UsageError('ERR_ARGUMENT', 'fetch: expected a function')
  return {
    timeoutMs: positiveInt(options.timeoutMs, 30_000, 'timeoutMs'),
    retries: nonNegativeInt(options.retries, 2, 'retries'),
    backoffMs: nonNegativeInt(options.backoffMs, 250, 'backoffMs'),
    // Without node:http(s) (the browser build), the platform's fetch.
    get: f !== undefined ? fetchTransport(f) : hasNodeHttp ? nodeTransport : fetchTransport(globalThis.fetch.bind(globalThis))
  }
}

/**
 * The gateway's base URL without a trailing slash.
 *
 * @throws {UsageError} ERR_ARGUMENT unless an http(s) URL without credentials, query or fragment
 */
export function normalizeBaseUrl (baseUrl: string | URL): string {
  let url: URL
  try {
    url = new URL(baseUrl.toString())
  } catch (cause) {
    throw new UsageError('ERR_ARGUMENT', 'baseUrl: not a URL', { cause })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('ERR_ARGUMENT', 'baseUrl: expected http: or https:')
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new UsageError('ERR_ARGUMENT', 'baseUrl: credentials, query and fragment are not allowed')
  }
  return url.toString().replace(/\/+$/, '')
}

interface Answer { status: number, body?: Uint8Array }

/** Network error codes (node:net, node:dns) in plain words: [words, whether the connection was never made]. */
const NETWORK_ERRORS: Readonly<Record<string, readonly [string, boolean]>> = {
  ECONNREFUSED: ['connection refused', true],
  ENOTFOUND: ['host not found', true],
  EAI_AGAIN: ['host name lookup failed for now', true],
  ETIMEDOUT: ['connection timed out', true],
  EHOSTUNREACH: ['host unreachable', true],
  ENETUNREACH: ['network unreachable', true],
  ECONNRESET: ['connection reset by the gateway', false],
  EPIPE: ['connection closed by the gateway', false],
  // undici's (the fetch option's) own codes
  UND_ERR_CONNECT_TIMEOUT: ['connection timed out', true],
  UND_ERR_SOCKET: ['connection closed by the gateway', false]
}

/** The first network error code along `e`'s cause chain (fetch wraps it; a dual-stack dial may give an AggregateError). */
function networkCode (e: unknown): string | undefined {
  for (let x: unknown = e, i = 0; x !== null && typeof x === 'object' && i < 5; i++) {
    const code = (x as { code?: unknown }).code
    if (typeof code === 'string' && Object.hasOwn(NETWORK_ERRORS, code)) return code
    const inner = (x as { errors?: unknown }).errors
    if (Array.isArray(inner)) {
      for (const y of inner) { const c = networkCode(y); if (c !== undefined) return c }
    }
    x = (x as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * ERR_TRANSPORT for a failed attempt, saying what failed in plain words when
 * the cause is a known network error: `could not connect to
 * http://127.0.0.1:1 (connection refused)`. The cause is kept.
 */
function networkError (url: string, e: unknown): BlockError {
  const code = networkCode(e)
  if (code === undefined) return new BlockError('ERR_TRANSPORT', `request to ${url} failed`, { cause: e, details: { url } })
  const [words, noConnection] = NETWORK_ERRORS[code]!
  const message = noConnection ? `could not connect to ${new URL(url).origin} (${words})` : `request to ${url} failed (${words})`
  return new BlockError('ERR_TRANSPORT', message, { cause: e, details: { url, network: code } })
}

/**
 * At most GATEWAY_SOCKETS requests to one origin at once. The others wait
 * here, as a callback each, before their attempt's time limit starts: not
 * in node's agent, where each would already be a whole request (a catch-up
 * asks for up to 512 blocks at once: 448 request objects, their timers and
 * listeners, about 1 MB, in a client's peak memory) and its time limit
 * would run while it waits for a socket.
 */
class Slots {
  #free: number
  readonly #waiting = new Set<() => void>()
  constructor (n: number) { this.#free = n }

  async take (signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal)
    if (this.#free > 0) { this.#free--; return }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => { signal?.removeEventListener('abort', onAbort); resolve() }
      const onAbort = (): void => { this.#waiting.delete(go); reject(aborted(undefined, signal?.reason)) }
      this.#waiting.add(go)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  give (): void {
    for (const next of this.#waiting) {
      this.#waiting.delete(next)
      next() // the slot passes to it
      return
    }
    this.#free++
  }
}
const slotsByOrigin = new Map<string, Slots>()

function slotsOf (url: string): Slots {
  const origin = new URL(url).origin
  let s = slotsByOrigin.get(origin)
  if (s === undefined) slotsByOrigin.set(origin, s = new Slots(GATEWAY_SOCKETS))
  return s
}

/**
 * GET `url` with retries. Returns a 200 body (read under `maxBytes`) or a
 * non-retryable status; throws when the retries are exhausted.
 */
async function request (opts: Resolved, url: string, accept: string, maxBytes: number, what: CID | string, signal: AbortSignal | undefined): Promise<Answer> {
  let last: BlockError | undefined
  const slots = slotsOf(url)
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (attempt > 0) {
      const base = opts.backoffMs * 2 ** (attempt - 1)
      await sleep(Math.min(base + Math.random() * opts.backoffMs, 30_000), signal)
    }
    throwIfAborted(signal)
    try {
      await slots.take(signal)
    } catch (e) {
      throw aborted(typeof what === 'string' ? undefined : what, e)
    }
    const d = deadline(opts.timeoutMs, signal)
    try {
      const res = await opts.get(url, accept, d.signal)
      if (res.status === 200) {
        const announced = res.contentLength
        if (announced !== null && /^\d+$/.test(announced) && Number(announced) > maxBytes) {
          res.cancel()
          throw tooLarge(what, Number(announced), maxBytes)
        }
        const body = await readCapped(res.body, maxBytes, what)
        return { status: 200, body }
      }
      res.cancel()
      if (res.status >= 500) {
        last = new BlockError('ERR_TRANSPORT', `${url} answered ${res.status}`, { details: { status: res.status, url } })
        continue
      }
      return { status: res.status }
    } catch (e) {
      if (isOurs(e)) throw e
      if (signal?.aborted === true) throw aborted(typeof what === 'string' ? undefined : what, e)
      last = d.timedOut()
        ? timedOut(typeof what === 'string' ? undefined : what, opts.timeoutMs, e)
        : networkError(url, e)
    } finally {
      d.clear()
      slots.give()
    }
  }
  throw last ?? new BlockError('ERR_TRANSPORT', `request to ${url} failed`, { details: { url } })
}

/** Blocks from a trustless gateway, each checked against its CID. */
export class GatewaySource implements BlockSource {
  readonly baseUrl: string
  readonly #opts: Resolved

  /** @throws {UsageError} ERR_ARGUMENT for a bad URL or option */
  constructor (baseUrl: string | URL, options: GatewayOptions = {}) {
    this.baseUrl = normalizeBaseUrl(baseUrl)
    this.#opts = resolveOptions(options)
  }

  /**
   * GET {base}/ipfs/{cid}?format=raw with Accept: application/vnd.ipld.raw.
   *
   * @throws {BlockError} ERR_BLOCK_NOT_FOUND | ERR_HASH_MISMATCH | ERR_BLOCK_TOO_LARGE | ERR_UNSUPPORTED_HASH | ERR_TIMEOUT | ERR_TRANSPORT | ERR_ABORTED
   */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const max = maxBytesOf(options)
    const key = normalizeCid(cid)
    throwIfAborted(options.signal, key)
    const url = `${this.baseUrl}/ipfs/${key.toString()}?format=raw`
    const answer = await request(this.#opts, url, 'application/vnd.ipld.raw', max, key, options.signal)
    if (answer.status === 404 || answer.status === 410) throw notFound(key)
    if (answer.status !== 200 || answer.body === undefined) {
      throw new BlockError('ERR_TRANSPORT', `${url} answered ${answer.status}`, { details: { status: answer.status, cid: key.toString() } })
    }
    await checkBlockAsync(key, answer.body, max)
    return answer.body
  }

  /**
   * The signed IPNS record this gateway holds for `name`, unverified (see
   * fetchIpnsRecord), with this source's timeouts and retries.
   */
  async ipnsRecord (name: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return await ipnsRecordWith(this.#opts, this.baseUrl, name, options.signal)
  }
}

export interface FetchHeadOptions extends GatewayOptions {
  signal?: AbortSignal
}

/** Longest /head body accepted: a CID string and a newline. */
const MAX_HEAD_BYTES = 256

/**
 * The current head (timestamp CID) announced at GET {base}/head, or null when
 * the server has none (404). The body must be exactly one canonical CIDv1
 * string (base32, sha2-256), optionally followed by one newline. The head is
 * only a hint: the client verifies what it points to.
 *
 * @throws {BlockError} ERR_BAD_CID | ERR_TRANSPORT | ERR_TIMEOUT | ERR_ABORTED | ERR_BLOCK_TOO_LARGE
 */
export async function fetchHead (baseUrl: string | URL, options: FetchHeadOptions = {}): Promise<CID | null> {
  const base = normalizeBaseUrl(baseUrl)
  const opts = resolveOptions(options)
  const url = `${base}/head`
  const answer = await request(opts, url, 'text/plain', MAX_HEAD_BYTES, url, options.signal)
  if (answer.status === 404) return null
  if (answer.status !== 200 || answer.body === undefined) {
    throw new BlockError('ERR_TRANSPORT', `${url} answered ${answer.status}`, { details: { status: answer.status } })
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(answer.body)
  } catch (cause) {
    throw new BlockError('ERR_BAD_CID', 'the head is not UTF-8', { cause })
  }
  if (text.endsWith('\n')) text = text.slice(0, -1)
  const parsed = parseCid(text)
  // Rebuilt from its parts: CID.parse keeps the input string (and base32
  // parsing ignores case), so only a fresh CID's toString() is canonical.
  const cid = CID.createV1(parsed.code, parsed.multihash)
  if (parsed.version !== 1 || parsed.multihash.code !== HASH_SHA2_256 || cid.toString() !== text) {
    throw new BlockError('ERR_BAD_CID', 'the head is not a canonical CIDv1 with a sha2-256 multihash', { details: { head: text.slice(0, 100) } })
  }
  return cid
}

export interface FetchIpnsRecordOptions extends GatewayOptions {
  signal?: AbortSignal
}

async function ipnsRecordWith (opts: Resolved, base: string, nameText: string, signal: AbortSignal | undefined, routing = false): Promise<Uint8Array> {
  const { name } = parseIpnsName(nameText)
  const url = routing ? `${base}/routing/v1/ipns/${name}` : `${base}/ipns/${name}?format=ipns-record`
  let answer: Answer
  try {
    answer = await request(opts, url, IPNS_RECORD_MEDIA_TYPE, MAX_IPNS_RECORD_BYTES, url, signal)
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ERR_BLOCK_TOO_LARGE') {
      throw new BlockError('ERR_IPNS_RECORD', `the IPNS record at ${url} is larger than ${MAX_IPNS_RECORD_BYTES} bytes`, { cause: e, details: { name, reason: 'too-large' } })
    }
    throw e
  }
  if (answer.status === 404 || answer.status === 410) {
    throw new BlockError('ERR_IPNS_NOT_FOUND', `${base} has no IPNS record for /ipns/${name}`, { details: { name, url } })
  }
  if (answer.status !== 200 || answer.body === undefined) {
    throw new BlockError('ERR_TRANSPORT', `${url} answered ${answer.status}`, { details: { status: answer.status, name } })
  }
  return answer.body
}

/**
 * The signed IPNS record for `name` from GET {base}/ipns/{name}?format=ipns-record
 * (Accept: application/vnd.ipfs.ipns-record), read under a 10 KiB cap. The
 * bytes are NOT verified here: they are untrusted input for
 * verifyIpnsRecord (src/client/ipns.ts), which checks the signature against
 * the key in the name, the validity and the value.
 *
 * @throws {UsageError} ERR_IPNS_NAME for a name that is not an Ed25519 IPNS name
 * @throws {BlockError} ERR_IPNS_NOT_FOUND (404) | ERR_IPNS_RECORD (too large) | ERR_TRANSPORT | ERR_TIMEOUT | ERR_ABORTED
 */
export async function fetchIpnsRecord (baseUrl: string | URL, name: string, options: FetchIpnsRecordOptions = {}): Promise<Uint8Array> {
  return await ipnsRecordWith(resolveOptions(options), normalizeBaseUrl(baseUrl), name, options.signal)
}

/**
 * The signed IPNS record for `name` from a Delegated Routing V1 endpoint:
 * GET {routing}/routing/v1/ipns/{name} (Accept: application/vnd.ipfs.ipns-record),
 * under the same 10 KiB cap and with the same errors as fetchIpnsRecord. Not
 * verified here either.
 */
export async function fetchRoutingIpnsRecord (routingUrl: string | URL, name: string, options: FetchIpnsRecordOptions = {}): Promise<Uint8Array> {
  return await ipnsRecordWith(resolveOptions(options), normalizeBaseUrl(routingUrl), name, options.signal, true)
}

/** Largest providers answer read (a routing service is untrusted). */
export const MAX_PROVIDERS_BYTES = 1024 * 1024

/** A provider of a Delegated Routing V1 answer, as far as it was well formed. */
export interface Provider {
  readonly id: string
  readonly addrs: readonly string[]
  readonly protocols: readonly string[]
}

/**
 * The providers a Delegated Routing V1 endpoint names for `cid`:
 * GET {routing}/routing/v1/providers/{cid} (Accept: application/json), at
 * most MAX_PROVIDERS_BYTES. Entries that are not well-formed peer records are
 * skipped; 404 is no providers. Untrusted: what a provider serves is
 * hash-checked like any other source's.
 *
 * @throws {BlockError} ERR_TRANSPORT (not JSON, other statuses) | ERR_TIMEOUT | ERR_ABORTED
 */
export async function fetchProviders (routingUrl: string | URL, cid: CID, options: FetchIpnsRecordOptions = {}): Promise<Provider[]> {
  const opts = resolveOptions(options)
  const url = `${normalizeBaseUrl(routingUrl)}/routing/v1/providers/${cid.toString()}`
  const answer = await request(opts, url, 'application/json', MAX_PROVIDERS_BYTES, url, options.signal)
  if (answer.status === 404) return []
  if (answer.status !== 200 || answer.body === undefined) {
    throw new BlockError('ERR_TRANSPORT', `${url} answered ${answer.status}`, { details: { status: answer.status, url } })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(answer.body))
  } catch (cause) {
    throw new BlockError('ERR_TRANSPORT', `${url} did not answer JSON`, { cause, details: { url } })
  }
  const list = (parsed as { Providers?: unknown } | null)?.Providers
  if (list === null) return []
  if (!Array.isArray(list)) throw new BlockError('ERR_TRANSPORT', `${url} did not answer a Providers list`, { details: { url } })
  const strings = (v: unknown): string[] => Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length <= 1024).slice(0, 64) : []
  const out: Provider[] = []
  for (const p of list.slice(0, 256)) {
    const r = p as { Schema?: unknown, ID?: unknown, Addrs?: unknown, Protocols?: unknown } | null
    if (r === null || typeof r !== 'object' || r.Schema !== 'peer' || typeof r.ID !== 'string') continue
    out.push({ id: r.ID.slice(0, 256), addrs: strings(r.Addrs), protocols: strings(r.Protocols) })
  }
  return out
}

/**
 * The HTTP base URL of a gateway multiaddr (/ip4/H/tcp/P/http,
 * /dns4/H/tcp/443/https, /ip6/…/tcp/P/tls/http), or null for anything else.
 */
export function gatewayUrlOf (addr: string): string | null {
  const m = /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)\/tcp\/(\d{1,5})\/(http|https|tls\/http)$/.exec(addr)
  if (m === null) return null
  const port = Number(m[3])
  if (port < 1 || port > 65535) return null
  const host = m[1] === 'ip6' ? `[${m[2]!}]` : m[2]!
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(host)) return null
  return `${m[4] === 'http' ? 'http' : 'https'}://${host}:${port}`
}
