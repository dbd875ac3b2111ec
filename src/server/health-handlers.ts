/**
 * `GET /healthz` and `GET /readyz` of `dagtuf serve` (issue 17.4).
 *
 *   /healthz  200 { "status": "ok" } whenever the process answers at all.
 *   /readyz   200 { "ready": true, head, warningSeconds, roles }
 *             503 { "ready": false, "reasons": [...], head?, warningSeconds, roles? }
 *             not ready when: there is no head (reason code ERR_NO_HEAD);
 *             the head's DAG does not load or is not VALID (the code or
 *             rule of the failure); a role is inside the warning horizon
 *             before it expires, or expired (ERR_EXPIRY_HORIZON, naming the
 *             role and its seconds left). A role's horizon is the warning
 *             horizon, or a quarter of its expiry period when shorter
 *             (`horizonOf`: a daily timestamp is never a week from expiry). `roles` is `horizonOf` of
 *             src/publish/horizon.ts, what `dagtuf status --json` reports.
 * Other methods: 405. Bodies are JSON, no-store.
 */
import { horizonOf, type HeadStatus } from '../publish/horizon.js'
import type { GatewayRequest, GatewayResponse } from './gateway-handlers.js'

export interface HealthOptions {
  /** The head's status, cached by the caller per head (undefined: no head). */
  readonly head: () => Promise<HeadStatus | undefined>
  /** Warning horizon before a role expires, in seconds (`serve --expiry-warning`). */
  readonly warningSeconds: number
  readonly now?: () => Date
}

/** The codes of /readyz's reasons (and of a refused method). */
export type HealthReasonCode = 'ERR_NO_HEAD' | 'ERR_EXPIRY_HORIZON' | 'ERR_INTERNAL' | 'ERR_METHOD_NOT_ALLOWED'

export function isHealthRoute (req: Pick<GatewayRequest, 'url'>): boolean {
  const path = req.url.split('?')[0]
  return path === '/healthz' || path === '/readyz'
}

function answer (method: string, status: number, value: unknown, headers: Record<string, string> = {}): GatewayResponse {
  const body = new TextEncoder().encode(JSON.stringify(value))
  const h = { 'content-type': 'application/json; charset=utf-8', 'content-length': body.byteLength, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers }
  return method === 'HEAD' ? { status, headers: h } : { status, headers: h, body }
}

export function healthHandler (options: HealthOptions): (req: GatewayRequest) => Promise<GatewayResponse> {
  const now = options.now ?? (() => new Date())
  return async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(req.method, 405, { error: { code: 'ERR_METHOD_NOT_ALLOWED', message: 'only GET and HEAD are allowed' } }, { allow: 'GET, HEAD' })
    if (req.url.split('?')[0] === '/healthz') return answer(req.method, 200, { status: 'ok' })
    let status
    try {
      status = await options.head()
    } catch (e) {
      return answer(req.method, 503, { ready: false, reasons: [{ code: 'ERR_INTERNAL', message: `the head could not be checked: ${e instanceof Error ? e.message : String(e)}` }], warningSeconds: options.warningSeconds })
    }
    if (status === undefined) {
      return answer(req.method, 503, { ready: false, reasons: [{ code: 'ERR_NO_HEAD', message: 'the repository has no head' }], warningSeconds: options.warningSeconds })
    }
    if (!status.verified) {
      return answer(req.method, 503, { ready: false, reasons: [{ code: status.error?.code ?? 'ERR_INVALID', message: `the head does not verify: ${status.error?.message ?? ''}` }], head: status.head, warningSeconds: options.warningSeconds })
    }
    const h = horizonOf(status.expires, now(), options.warningSeconds, status.periods)
    const reasons = h.warnings.map((role) => {
      const r = h.roles.find((x) => x.role === role)!
      return { code: 'ERR_EXPIRY_HORIZON', role, seconds: r.seconds, expires: r.expires, message: r.expired ? `${role} expired at ${r.expires}` : `${role} expires in ${r.seconds} s (${r.expires}), inside its warning horizon of ${r.horizon} s` }
    })
    return answer(req.method, reasons.length === 0 ? 200 : 503, { ready: reasons.length === 0, ...(reasons.length > 0 ? { reasons } : {}), head: status.head, warningSeconds: options.warningSeconds, roles: h.roles })
  }
}
