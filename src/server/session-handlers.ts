/**
 * Signing sessions over HTTP (`dagtuf serve --sessions`, NOTES 10.2), as
 * plain handlers next to the gateway's and the head registry's; the work is
 * done by src/publish/sessions.ts.
 *
 *   POST   /drafts                    { "ops": [OP...] }   (the staged-file form of
 *                                     add, remove, delegate, undelegate, rotate, refresh)
 *       201  DraftView, Location: /drafts/ID
 *   GET    /drafts                    200 { "drafts": [DraftView...] }
 *   GET    /drafts/ID                 200 DraftView (also once published: state, timestamp)
 *   POST   /drafts/ID/signatures      { "signatures": [{ "role", "keyid", "sig" }] }
 *       200  { "draft": DraftView, "added": n, "published": bool, "publishError"? }
 *            (publishError: the signatures were stored, every threshold is met,
 *            but publishing failed: { code, message, rule? }; retried at start)
 *   DELETE /drafts/ID                 200 { "id", "state": "withdrawn" }
 *
 * A DraftView (src/publish/sessions.ts) gives, per object, the exact bytes
 * to sign (`message`, base64: the signature domain then the signed bytes)
 * and the `signed` part to review; `needs` gives every threshold (a new
 * root: the previous root's and its own), who has signed and who may still.
 *
 * Refusals (nothing stored), { "error": { "code", "message", "rule"? } }:
 *   400 ERR_BAD_REQUEST             not JSON, or not the shape above
 *   400 ERR_SIG_FORMAT              a signature that is not 128 hex characters
 *   403 ERR_KEY_NOT_AUTHORIZED      the key is not one that object waits for (rule SESS-SIG-KEY)
 *   404 ERR_DRAFT_NOT_FOUND | ERR_NOT_FOUND
 *   405 ERR_METHOD_NOT_ALLOWED      (Allow names the methods)
 *   409 ERR_DRAFT_SIGNED            that key already signed that object (rule SESS-SIG-ONCE)
 *   409 ERR_DRAFT_PUBLISHED         replay after publication (rule SESS-ONCE; details.timestamp)
 *   409 ERR_DRAFT_STALE | ERR_HEAD_MOVED   the head moved past the draft
 *   410 ERR_DRAFT_EXPIRED           older than the service keeps drafts (rule SESS-ONCE)
 *   413 ERR_BODY_TOO_LARGE          counted as the body arrives
 *   415 ERR_UNSUPPORTED_MEDIA_TYPE  not application/json
 *   422 ERR_DRAFT_SIGNATURE         does not verify over the object's exact bytes (rule SESS-SIG-BYTES)
 *   422 ERR_DRAFT_MISMATCH          no such role in the draft
 *   422 ERR_DRAFT_EMPTY | a staging error (ERR_ROLE_UNKNOWN, ERR_THRESHOLD...) for a proposal
 *   422 ERR_PUBLISH_INVALID         the publish the last signature triggered broke a rule (rule)
 *   429 ERR_RATE_LIMITED            too many changes from this address (Retry-After)
 *   503 ERR_REPO_LOCKED | ERR_DRAFT_LIMIT | ERR_KEY_MISSING (Retry-After for the first)
 *
 * Like pushes (10.1), proposals and signatures need no account: a draft
 * publishes nothing until the role's own keys sign it, so the signatures are
 * the authentication. Changes are rate limited per remote address and the
 * number of pending drafts is capped.
 */
import { BlockError, DagtufError, ValidationError } from '../model/errors.js'
import { Fields, parseJson } from '../model/strictjson.js'
import type { OfferedSignature } from '../publish/drafts.js'
import { parseOpList } from '../publish/files.js'
import type { DraftView, SigningSessions } from '../publish/sessions.js'
import type { GatewayResponse } from './gateway-handlers.js'
import { Limiter, json, type RateLimit, type RegistryHandler, type RegistryRequest } from './registry-handlers.js'

export interface SessionHandlerOptions {
  readonly sessions: SigningSessions
  /** Largest request body in bytes (default 1 MiB). */
  readonly maxBodyBytes?: number
  /** Proposals, signatures and withdrawals per remote address; false for none (default 120 a minute). */
  readonly rateLimit?: RateLimit | false
  /** Clock of the rate limit, in ms. */
  readonly now?: () => number
}

export const DEFAULT_SESSION_BODY_BYTES = 1024 * 1024
export const DEFAULT_SESSION_RATE: RateLimit = { burst: 120, perMinute: 120 }

/** Whether the sessions answer this request. */
export function isSessionRoute (req: { url: string }): boolean {
  const path = req.url.split('?')[0]!
  return path === '/drafts' || path.startsWith('/drafts/')
}

class HttpError extends Error {
  constructor (readonly status: number, readonly code: string, message: string,
    readonly extra: { rule?: string, headers?: Record<string, string>, details?: Record<string, unknown> } = {}) {
    super(message)
  }
}

const STATUS: Readonly<Record<string, number>> = {
  ERR_SIG_FORMAT: 400,
  ERR_KEY_NOT_AUTHORIZED: 403,
  ERR_DRAFT_NOT_FOUND: 404,
  ERR_DRAFT_SIGNED: 409,
  ERR_DRAFT_PUBLISHED: 409,
  ERR_DRAFT_STALE: 409,
  ERR_HEAD_MOVED: 409,
  ERR_DRAFT_EXPIRED: 410,
  ERR_DRAFT_SIGNATURE: 422,
  ERR_DRAFT_MISMATCH: 422,
  ERR_DRAFT_EMPTY: 422,
  ERR_PUBLISH_INVALID: 422,
  ERR_REPO_LIMIT: 422,
  ERR_TARGET_EXISTS: 422,
  ERR_TARGET_NOT_FOUND: 422,
  ERR_TARGET_NOT_DELEGATED: 422,
  ERR_TARGET_PATH_UNSAFE: 422,
  ERR_ROLE_NAME_UNSAFE: 422,
  ERR_ROLE_UNKNOWN: 422,
  ERR_THRESHOLD: 422,
  ERR_DELEGATION_PATTERNS: 422,
  ERR_DELEGATION_SELF: 422,
  ERR_REPO_LOCKED: 503,
  ERR_DRAFT_LIMIT: 503,
  ERR_KEY_MISSING: 503,
  ERR_DRAFT_FORMAT: 500
}

/** A library error as an HTTP refusal (its code kept); anything unexpected is 500 ERR_INTERNAL. */
function fromError (e: unknown): HttpError {
  if (e instanceof HttpError) return e
  if (e instanceof ValidationError) return new HttpError(422, 'ERR_PUBLISH_INVALID', e.message, { rule: e.code })
  if (e instanceof DagtufError) {
    // Unlisted codes: the repository's own faults are 500, anything else a refusal of this input (422); the code is kept.
    const status = STATUS[e.code] ?? (e instanceof BlockError || e.code === 'ERR_REPO_CORRUPT' || e.code === 'ERR_REPO_IO' ? 500 : 422)
    {
      const d = (e.details ?? {}) as Record<string, unknown>
      const rule = typeof d.rule === 'string' ? d.rule : undefined
      const details: Record<string, unknown> = {}
      for (const k of ['role', 'keyid', 'draft', 'timestamp'] as const) if (typeof d[k] === 'string') details[k] = d[k]
      return new HttpError(status, e.code, e.message, { ...(rule !== undefined ? { rule } : {}), details, ...(status === 503 ? { headers: { 'retry-after': '1' } } : {}) })
    }
  }
  return new HttpError(500, 'ERR_INTERNAL', 'internal error')
}

/** The request body, refused while streaming once over `max` bytes. */
async function readBody (req: RegistryRequest, max: number): Promise<Uint8Array> {
  const type = (headerOf(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') throw new HttpError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON (Content-Type: application/json)', { headers: { connection: 'close' } })
  const length = headerOf(req, 'content-length')
  if (length !== undefined && !(/^\d{1,16}$/.test(length) && Number(length) <= max)) {
    throw new HttpError(413, 'ERR_BODY_TOO_LARGE', `the body is larger than ${max} bytes`, { headers: { connection: 'close' } })
  }
  const parts: Uint8Array[] = []
  let total = 0
  for await (const chunk of req.body ?? []) {
    total += chunk.byteLength
    if (total > max) throw new HttpError(413, 'ERR_BODY_TOO_LARGE', `the body is larger than ${max} bytes`, { headers: { connection: 'close' } })
    parts.push(chunk)
  }
  return new Uint8Array(Buffer.concat(parts))
}

function headerOf (req: RegistryRequest, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v.join(', ') : v
}

// The strict JSON readers throw what this makes; it is answered as 400 by fromError.
const badRequest = (message: string): DagtufError => new HttpError(400, 'ERR_BAD_REQUEST', message) as unknown as DagtufError

function parseBody (bytes: Uint8Array, max: number): Fields {
  return Fields.of(parseJson(bytes, { maxBytes: max, maxDepth: 12, onError: badRequest }), 'body', badRequest)
}

function parseSignatures (f: Fields): OfferedSignature[] {
  const list = f.arr('signatures', 1000)
  f.done()
  if (list.length === 0) throw new HttpError(400, 'ERR_BAD_REQUEST', 'body.signatures: give at least one signature')
  return list.map((raw, i) => {
    const s = Fields.of(raw, `body.signatures[${i}]`, badRequest)
    const out = { role: s.str('role', undefined, 255), keyid: s.str('keyid', /^[0-9a-f]{64}$/), sig: s.str('sig', undefined, 256) }
    s.done()
    return out
  })
}

/**
 * The handler of the /drafts routes.
 */
export function sessionHandler (options: SessionHandlerOptions): RegistryHandler {
  const { sessions } = options
  const max = options.maxBodyBytes ?? DEFAULT_SESSION_BODY_BYTES
  const rate = options.rateLimit === false ? false : (options.rateLimit ?? DEFAULT_SESSION_RATE)
  const limiter = rate === false ? undefined : new Limiter(rate, options.now ?? Date.now)

  const limit = (req: RegistryRequest): void => {
    if (limiter === undefined) return
    const wait = limiter.take(req.remoteAddress ?? 'unknown')
    if (wait > 0) throw new HttpError(429, 'ERR_RATE_LIMITED', `too many changes from this address: retry in ${wait} s`, { headers: { 'retry-after': String(wait), connection: 'close' } })
  }
  const notAllowed = (allow: string): HttpError =>
    new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', `allowed here: ${allow}`, { headers: { allow, connection: 'close' } })

  async function route (req: RegistryRequest): Promise<GatewayResponse> {
    const path = req.url.split('?')[0]!
    const m = req.method
    if (path === '/drafts') {
      if (m === 'GET' || m === 'HEAD') return json(m, 200, { drafts: await sessions.list() })
      if (m !== 'POST') throw notAllowed('GET, HEAD, POST')
      limit(req)
      const f = parseBody(await readBody(req, max), max)
      const ops = parseOpList(f.req('ops'), 'body.ops', badRequest)
      f.done()
      const view: DraftView = await sessions.propose(ops)
      return json(m, 201, view, { location: `/drafts/${view.id}` })
    }
    const parts = path.slice('/drafts/'.length).split('/')
    const id = decodeURIComponent(parts[0] ?? '')
    if (parts.length === 1) {
      if (m === 'GET' || m === 'HEAD') return json(m, 200, await sessions.get(id))
      if (m !== 'DELETE') throw notAllowed('GET, HEAD, DELETE')
      limit(req)
      await sessions.withdraw(id)
      return json(m, 200, { id, state: 'withdrawn' })
    }
    if (parts.length === 2 && parts[1] === 'signatures') {
      if (m !== 'POST') throw notAllowed('POST')
      limit(req)
      const offered = parseSignatures(parseBody(await readBody(req, max), max))
      const r = await sessions.sign(id, offered)
      return json(m, 200, { draft: r.view, added: r.added, published: r.published, ...(r.publishError !== undefined ? { publishError: r.publishError } : {}) })
    }
    throw new HttpError(404, 'ERR_NOT_FOUND', 'no such route')
  }

  return async (req) => {
    try {
      return await route(req)
    } catch (e) {
      const err = fromError(e)
      const error = { code: err.code, message: err.message, ...(err.extra.rule !== undefined ? { rule: err.extra.rule } : {}), ...err.extra.details }
      return json(req.method, err.status, { error }, { ...err.extra.headers, ...(req.method !== 'GET' && req.method !== 'HEAD' ? { connection: 'close' } : {}) })
    }
  }
}
