/**
 * `GET /metrics` of `dagtuf serve` (issue 17.3): the Prometheus text
 * exposition format (version 0.0.4), written here (it is small: counters,
 * gauges and histograms with label sets).
 *
 *   dagtuf_http_requests_total{route,method,status}        counter
 *   dagtuf_http_response_bytes_total{route,method,status}  counter (body bytes written)
 *   dagtuf_refusals_total{rule,code}                       counter (answers >= 400 with a JSON error)
 *   dagtuf_publish_seconds{action}                         histogram (publishes made by the service)
 *   dagtuf_signing_session_seconds                         histogram (draft created -> published)
 *   dagtuf_head_age_seconds                                gauge (now - the head's `published`)
 *   dagtuf_head_verified                                   gauge (1 when the head's DAG is VALID)
 *   dagtuf_role_expiry_seconds{role}                       gauge (seconds until the role expires)
 *   dagtuf_audit_append_failures_total                     counter
 *   dagtuf_http_connections                                gauge (open now)
 *   dagtuf_http_refused_connections_total, dagtuf_http_busy_requests_total,
 *   dagtuf_http_write_timeouts_total, dagtuf_http_pipeline_overflows_total
 *                                                          counters (http-server.ts stats: load refused before a handler ran)
 *   dagtuf_block_cache_bytes, dagtuf_block_cache_max_bytes  gauges (the verified-block cache, block-cache.ts)
 *   dagtuf_block_cache_hits_total, dagtuf_block_cache_misses_total, dagtuf_block_cache_evictions_total  counters
 *
 * Label values are bounded (NOTES METRICS-BOUNDED; no secrets, AUDIT-NO-SECRETS):
 * routes are templates from a fixed list (`routeOf`), never paths or CIDs; methods from a fixed list; statuses are three digits; rules are the
 * rule IDs of NOTES (else "none"); codes match ERR_[A-Z_]+ and at most
 * MAX_CODES distinct ones are kept (then "other"); roles are the four top
 * roles and at most MAX_ROLES delegated ones (the soonest to expire), the
 * rest folded into role="other" with the soonest expiry among them.
 */
import { RULE_IDS } from '../model/rules.js'
import type { HeadStatus } from '../publish/horizon.js'
import type { GatewayRequest, GatewayResponse } from './gateway-handlers.js'

/** Delegated roles given a series of their own; beyond, "other". */
export const MAX_ROLES = 16
/** Distinct error codes kept as label values; beyond, "other". */
export const MAX_CODES = 64

const ROUTES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^\/ipfs\/[^/]+\/?$/, '/ipfs/{cid}'],
  [/^\/ipfs\/[^/]+\/.+$/, '/ipfs/{cid}/{path}'],
  [/^\/ipns\/[^/]+/, '/ipns/{name}'],
  [/^\/head$/, '/head'],
  [/^\/config$/, '/config'],
  [/^\/drafts$/, '/drafts'],
  [/^\/drafts\/[^/]+$/, '/drafts/{id}'],
  [/^\/drafts\/[^/]+\/signatures$/, '/drafts/{id}/signatures'],
  [/^\/routing\/v1\/providers\/[^/]+$/, '/routing/v1/providers/{cid}'],
  [/^\/routing\/v1\/ipns\/[^/]+$/, '/routing/v1/ipns/{name}'],
  [/^\/routing\/v1\/peers\/[^/]+$/, '/routing/v1/peers/{id}'],
  [/^\/routing\/v1\//, '/routing/v1/other'],
  [/^\/openapi\.json$/, '/openapi.json'],
  [/^\/metrics$/, '/metrics'],
  [/^\/healthz$/, '/healthz'],
  [/^\/readyz$/, '/readyz'],
  [/^\/ui(\/|$)/, '/ui/'],
  [/^\/$/, '/']
]
const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'])
const RULES: ReadonlySet<string> = new Set(RULE_IDS)

/** The route template of a request target (its path only; "other" for anything else). */
export function routeOf (url: string): string {
  const path = url.split(/[?#]/)[0]!
  for (const [re, name] of ROUTES) if (re.test(path)) return name
  return 'other'
}

/** The server's own counts (http-server.ts `stats()`), what /metrics shows of them. */
export interface ServerLoad {
  readonly connections: number
  readonly refusedConnections: number
  readonly busyRequests: number
  readonly writeTimeouts: number
  readonly pipelineOverflows: number
  /** The verified-block cache (block-cache.ts), when the server has one. */
  readonly cache?: { readonly bytes: number, readonly maxBytes: number, readonly hits: number, readonly misses: number, readonly evictions: number }
}

/** What http-server.ts reports of each answered request. */
export interface ResponseRecord {
  readonly method: string
  readonly url: string
  readonly status: number
  /** Body bytes written. */
  readonly bytes: number
  /** The body of an error answer (status >= 400) when it is small JSON: its `error.code` and `error.rule` are counted. */
  readonly errorBody?: Uint8Array
}

/** Label values: text escaped as the format says (backslash, quote, newline). */
function esc (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function labels (l: Readonly<Record<string, string>>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

function num (n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Infinity) return '+Inf'
  if (n === -Infinity) return '-Inf'
  return String(n)
}

class Counter {
  readonly #values = new Map<string, { labels: Record<string, string>, value: number }>()
  constructor (readonly name: string, readonly help: string) {}
  inc (l: Record<string, string>, by = 1): void {
    const key = JSON.stringify(l)
    const v = this.#values.get(key)
    if (v === undefined) this.#values.set(key, { labels: l, value: by })
    else v.value += by
  }

  render (out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`)
    for (const v of [...this.#values.values()].sort((a, b) => labels(a.labels) < labels(b.labels) ? -1 : 1)) out.push(`${this.name}${labels(v.labels)} ${num(v.value)}`)
  }
}

class Histogram {
  readonly #series = new Map<string, { labels: Record<string, string>, counts: number[], sum: number, count: number }>()
  constructor (readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe (l: Record<string, string>, value: number): void {
    const key = JSON.stringify(l)
    let s = this.#series.get(key)
    if (s === undefined) {
      s = { labels: l, counts: this.buckets.map(() => 0), sum: 0, count: 0 }
      this.#series.set(key, s)
    }
    for (const [i, b] of this.buckets.entries()) if (value <= b) s.counts[i]!++
    s.sum += value
    s.count++
  }

  render (out: string[], always: Array<Record<string, string>> = []): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`)
    for (const l of always) if (!this.#series.has(JSON.stringify(l))) this.#series.set(JSON.stringify(l), { labels: l, counts: this.buckets.map(() => 0), sum: 0, count: 0 })
    for (const s of this.#series.values()) {
      for (const [i, b] of this.buckets.entries()) out.push(`${this.name}_bucket${labels({ ...s.labels, le: num(b) })} ${s.counts[i]!}`)
      out.push(`${this.name}_bucket${labels({ ...s.labels, le: '+Inf' })} ${s.count}`)
      out.push(`${this.name}_sum${labels(s.labels)} ${num(s.sum)}`, `${this.name}_count${labels(s.labels)} ${s.count}`)
    }
  }
}

export interface MetricsOptions {
  /** The head's status (cached by the caller per head); undefined when there is no head. */
  readonly head?: () => Promise<HeadStatus | undefined>
  readonly now?: () => Date
}

/** The service's metrics: fed by http-server.ts (requests) and the publishing services, read by GET /metrics. */
export class Metrics {
  readonly #requests = new Counter('dagtuf_http_requests_total', 'HTTP requests answered, by route template, method and status.')
  readonly #bytes = new Counter('dagtuf_http_response_bytes_total', 'Response body bytes written, by route template, method and status.')
  readonly #refusals = new Counter('dagtuf_refusals_total', 'Requests refused with a JSON error, by the rule of spec/NOTES.md it names ("none" when it names none) and its code.')
  readonly #publish = new Histogram('dagtuf_publish_seconds', 'Time to publish (plan, sign, commit) for publishes made by the service, by action.', [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
  readonly #session = new Histogram('dagtuf_signing_session_seconds', 'Time from a draft\'s creation to its publication, for drafts published by the service.', [60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400])
  readonly #auditFailures = new Counter('dagtuf_audit_append_failures_total', 'Audit entries the service could not write (the action was refused, or a refusal went uncounted).')
  readonly #codes = new Set<string>()
  readonly #head: MetricsOptions['head']
  readonly #now: () => Date
  #stats: (() => ServerLoad) | undefined

  constructor (options: MetricsOptions = {}) {
    this.#head = options.head
    this.#now = options.now ?? (() => new Date())
    this.#auditFailures.inc({}, 0)
  }

  /** One answered request (http-server.ts). */
  request (r: ResponseRecord): void {
    const l = { route: routeOf(r.url), method: METHODS.has(r.method) ? r.method : 'other', status: /^[1-5]\d\d$/.test(String(r.status)) ? String(r.status) : 'other' }
    this.#requests.inc(l)
    this.#bytes.inc(l, Math.max(0, r.bytes))
    if (r.status >= 400) {
      const { code, rule } = errorOf(r.errorBody)
      this.#refusals.inc({ rule: rule !== undefined && RULES.has(rule) ? rule : 'none', code: this.#code(code) })
    }
  }

  /** A publish made by the service (an online re-sign, a draft completed), and for a draft its age. */
  published (p: { action: 'online-resign' | 'session', seconds: number, draftAgeSeconds?: number }): void {
    this.#publish.observe({ action: p.action }, p.seconds)
    if (p.draftAgeSeconds !== undefined) this.#session.observe({}, Math.max(0, p.draftAgeSeconds))
  }

  auditFailed (): void { this.#auditFailures.inc({}) }

  /** Where the server's own counts come from (set once it listens). */
  serverStats (stats: () => ServerLoad): void { this.#stats = stats }

  #code (code: string | undefined): string {
    if (code === undefined || !/^ERR_[A-Z0-9_]{1,40}$/.test(code)) return 'none'
    if (this.#codes.has(code)) return code
    if (this.#codes.size >= MAX_CODES) return 'other'
    this.#codes.add(code)
    return code
  }

  /** The exposition text. */
  async render (): Promise<string> {
    const out: string[] = []
    this.#requests.render(out)
    this.#bytes.render(out)
    this.#refusals.render(out)
    this.#publish.render(out, [{ action: 'online-resign' }, { action: 'session' }])
    this.#session.render(out, [{}])
    this.#auditFailures.render(out)
    const load = this.#stats?.()
    if (load !== undefined) {
      out.push('# HELP dagtuf_http_connections Connections open now.', '# TYPE dagtuf_http_connections gauge', `dagtuf_http_connections ${load.connections}`)
      const counters: Array<[string, number, string]> = [
        ['dagtuf_http_refused_connections_total', load.refusedConnections, 'Connections answered 503 ERR_BUSY for being over --max-connections.'],
        ['dagtuf_http_busy_requests_total', load.busyRequests, 'Requests answered 503 ERR_BUSY after waiting for a block slot, or over --max-car-streams.'],
        ['dagtuf_http_write_timeouts_total', load.writeTimeouts, 'Connections cut because their socket took nothing for --write-timeout.'],
        ['dagtuf_http_pipeline_overflows_total', load.pipelineOverflows, 'Connections closed for pipelining too many requests.']
      ]
      for (const [name, value, help] of counters) out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`)
      const cache = load.cache
      if (cache !== undefined) {
        out.push('# HELP dagtuf_block_cache_bytes Bytes of verified blocks held by the block cache now.', '# TYPE dagtuf_block_cache_bytes gauge', `dagtuf_block_cache_bytes ${cache.bytes}`)
        out.push('# HELP dagtuf_block_cache_max_bytes The block cache\'s budget (--block-cache-mib).', '# TYPE dagtuf_block_cache_max_bytes gauge', `dagtuf_block_cache_max_bytes ${cache.maxBytes}`)
        const cacheCounters: Array<[string, number, string]> = [
          ['dagtuf_block_cache_hits_total', cache.hits, 'Block lookups answered from the block cache (not read or hashed again).'],
          ['dagtuf_block_cache_misses_total', cache.misses, 'Block lookups the block cache did not hold (read from the store and hash-checked).'],
          ['dagtuf_block_cache_evictions_total', cache.evictions, 'Blocks dropped from the block cache to make room.']
        ]
        for (const [name, value, help] of cacheCounters) out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`)
      }
    }
    // The head's gauges are left out while it cannot be read (the counters still answer).
    const status = await this.#head?.().catch(() => undefined)
    const now = this.#now()
    if (status !== undefined) {
      out.push('# HELP dagtuf_head_verified 1 when the head\'s DAG is VALID (NOTES 4), else 0.', '# TYPE dagtuf_head_verified gauge', `dagtuf_head_verified ${status.verified ? 1 : 0}`)
      out.push('# HELP dagtuf_head_age_seconds Seconds since the head was published.', '# TYPE dagtuf_head_age_seconds gauge', `dagtuf_head_age_seconds ${Math.floor((now.getTime() - Date.parse(status.published)) / 1000)}`)
      out.push('# HELP dagtuf_role_expiry_seconds Seconds until the role expires in the head (negative: expired); delegated roles beyond the soonest 16 are folded into role="other".', '# TYPE dagtuf_role_expiry_seconds gauge')
      for (const [role, seconds] of roleSeries(status.expires, now)) out.push(`dagtuf_role_expiry_seconds${labels({ role })} ${seconds}`)
    }
    return out.join('\n') + '\n'
  }
}

/** Per role, the seconds left: top roles, the MAX_ROLES delegated ones expiring soonest, then "other". */
export function roleSeries (expires: Readonly<Record<string, string>>, now: Date): Array<[string, number]> {
  const left = (e: string): number => Math.floor((Date.parse(e) - now.getTime()) / 1000)
  const top = ['root', 'targets', 'snapshot', 'timestamp']
  const out: Array<[string, number]> = top.filter((r) => expires[r] !== undefined).map((r) => [r, left(expires[r]!)])
  const delegated = Object.entries(expires).filter(([n]) => !top.includes(n)).map(([n, e]): [string, number] => [n, left(e)]).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
  out.push(...delegated.slice(0, MAX_ROLES))
  const rest = delegated.slice(MAX_ROLES)
  if (rest.length > 0) out.push(['other', Math.min(...rest.map(([, s]) => s))])
  return out
}

function errorOf (body: Uint8Array | undefined): { code?: string, rule?: string } {
  if (body === undefined || body.byteLength > 16 * 1024) return {}
  try {
    const e = (JSON.parse(new TextDecoder().decode(body)) as { error?: { code?: unknown, rule?: unknown } }).error
    return { ...(typeof e?.code === 'string' ? { code: e.code } : {}), ...(typeof e?.rule === 'string' ? { rule: e.rule } : {}) }
  } catch {
    return {}
  }
}

/** Whether GET /metrics is this request. */
export function isMetricsRoute (req: Pick<GatewayRequest, 'url'>): boolean {
  return req.url.split('?')[0] === '/metrics'
}

/** GET|HEAD /metrics: 200 text/plain; version=0.0.4; other methods 405. */
export async function metricsResponse (metrics: Metrics, req: GatewayRequest): Promise<GatewayResponse> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    const body = new TextEncoder().encode(JSON.stringify({ error: { code: 'ERR_METHOD_NOT_ALLOWED', message: 'only GET and HEAD are allowed' } }))
    return { status: 405, headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': body.byteLength, allow: 'GET, HEAD', 'cache-control': 'no-store' }, body }
  }
  const body = new TextEncoder().encode(await metrics.render())
  const headers = { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': body.byteLength, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }
  return req.method === 'HEAD' ? { status: 200, headers } : { status: 200, headers, body }
}
