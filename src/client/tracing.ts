/**
 * OpenTelemetry spans of the Updater (issue 17 item 1), through
 * `@opentelemetry/api`: a span per `init`, `refresh` and `downloadTarget`
 * (`dagtuf.init`, `dagtuf.refresh`, `dagtuf.download`), children for the
 * main steps (SPAN names below), and on a failure the status ERROR with
 * the rule ID (`dagtuf.rule`) or the error code (`dagtuf.error.code`) and
 * the CID at fault (`dagtuf.cid`) as attributes, on the step's span and
 * on the operation's. A span's parent is the application's active span.
 *
 * No-op unless the application installs an SDK. The API package is loaded
 * only once something has registered with the OpenTelemetry API in this
 * process (a tracer provider, a context manager: the API keeps them under
 * the global `Symbol.for('opentelemetry.js.api.1')`), so a process without
 * OpenTelemetry pays nothing for it, not even the import; an application
 * that installs an SDK has loaded the API already.
 *
 * No Node built-in is imported here: the browser build reuses it.
 */
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api'

/** The key under which @opentelemetry/api 1.x keeps what was registered with it. */
const OTEL_API_KEY = Symbol.for('opentelemetry.js.api.1')

/** Span names of the steps. */
export const SPAN = Object.freeze({
  init: 'dagtuf.init',
  refresh: 'dagtuf.refresh',
  download: 'dagtuf.download',
  /** Where the candidate timestamp CID comes from (head source or IPNS record). */
  head: 'dagtuf.head',
  /** Loading the candidate timestamp, its snapshot and root. */
  timestamp: 'dagtuf.timestamp',
  rootChain: 'dagtuf.root_chain',
  validTop: 'dagtuf.valid_top',
  expires: 'dagtuf.expires',
  /** The continuity check: T <-* T0 over the snapshots, or the floors of a recovery. */
  snapshotWalk: 'dagtuf.snapshot_walk',
  /** The blocks and the state written (CLIENT-STATE-ATOMIC). */
  persist: 'dagtuf.persist',
  targetsSearch: 'dagtuf.targets_search',
  contentFetch: 'dagtuf.content_fetch'
})

export type Attrs = Record<string, string | number | boolean>

/** One operation's span and how to make its children. */
export interface Trace {
  /** Run `fn` inside a child span `name`; a throw ends the child with status ERROR. */
  step: <T>(name: string, fn: () => Promise<T>) => Promise<T>
  /** Attributes on the operation's span. */
  set: (attrs: Attrs) => void
  /** End the operation's span: OK, or ERROR with the error's rule or code. */
  end: (error?: unknown) => void
}

const NOOP: Trace = {
  step: async (_name, fn) => await fn(),
  set: () => {},
  end: () => {}
}

type Api = typeof import('@opentelemetry/api')
let api: Promise<Api | null> | undefined

async function otel (): Promise<Api | null> {
  if (!(OTEL_API_KEY in globalThis)) return null
  api ??= import('@opentelemetry/api').catch(() => null)
  return await api
}

const VERSION = '0.1.0'

/** The attributes of an error: its rule ID or code, and the CID at fault. */
export function errorAttributes (e: unknown): Attrs {
  const err = (typeof e === 'object' && e !== null ? e : {}) as { name?: unknown, code?: unknown, details?: { cid?: unknown } }
  const out: Attrs = {}
  if (typeof err.code === 'string') out[err.name === 'ValidationError' ? 'dagtuf.rule' : 'dagtuf.error.code'] = err.code
  if (typeof err.details?.cid === 'string') out['dagtuf.cid'] = err.details.cid
  return out
}

function fail (a: Api, span: Span, e: unknown): void {
  span.setAttributes(errorAttributes(e) as Attributes)
  const message = e instanceof Error ? e.message.slice(0, 512) : String(e).slice(0, 512)
  const code = (e as { code?: unknown })?.code
  span.setStatus({ code: a.SpanStatusCode.ERROR, message: typeof code === 'string' ? `${code}: ${message}` : message })
}

/** Run `f`, ignoring what it throws: a broken SDK never changes an outcome. */
function quietly (f: () => void): void {
  try { f() } catch { /* the telemetry's failure, not the operation's */ }
}

/**
 * Start the span of one operation (`SPAN.refresh`...); a no-op Trace
 * without OpenTelemetry, or when the installed SDK throws while starting it.
 * Whatever the SDK throws later (ending a span, setting attributes) is
 * ignored: tracing never changes an operation's outcome.
 */
export async function startTrace (name: string, attrs: Attrs = {}): Promise<Trace> {
  const a = await otel()
  if (a === null) return NOOP
  let tracer: Tracer
  let span: Span
  let ctx: Context
  try {
    tracer = a.trace.getTracer('dagtuf', VERSION)
    const parent: Context = a.context.active()
    span = tracer.startSpan(name, { attributes: attrs }, parent)
    ctx = a.trace.setSpan(parent, span)
  } catch {
    return NOOP
  }
  let ended = false
  return {
    async step (child, fn) {
      let s: Span
      let inner: Context
      try {
        s = tracer.startSpan(child, {}, ctx)
        inner = a.trace.setSpan(ctx, s)
      } catch {
        return await fn()
      }
      try {
        const out = await a.context.with(inner, fn)
        quietly(() => s.setStatus({ code: a.SpanStatusCode.OK }))
        return out
      } catch (e) {
        quietly(() => { fail(a, s, e) })
        throw e
      } finally {
        quietly(() => { s.end() })
      }
    },
    set (more) { quietly(() => span.setAttributes(more)) },
    end (error) {
      if (ended) return
      ended = true
      quietly(() => {
        if (error === undefined) span.setStatus({ code: a.SpanStatusCode.OK })
        else fail(a, span, error)
      })
      quietly(() => { span.end() })
    }
  }
}
