/**
 * An update from several untrusted head sources at once (gateways, mirrors:
 * issue 12 item 4). Each source announces a head; none is believed:
 *
 * - Every source is asked for its head at the same time, each within its
 *   own time limit; a source that fails to answer is "unreachable".
 * - The distinct candidates are then tried one after the other, in the
 *   sources' order, each through the Updater's one refresh (NOTES 7.2:
 *   every check, the state written only when all pass). A candidate that
 *   passes moves the trusted state forward; one that is refused leaves the
 *   state as it was (the Updater guarantees it) and is reported with its
 *   rule. Since every accepted candidate must descend from the state before
 *   it (CLIENT-TS-DESCENDS), trying them all ends at the newest head among
 *   those that form one history, whatever order they come in: a mirror that
 *   is behind is refused as a rollback after the newer head was taken, or
 *   taken first and then overtaken. A frozen or tampering mirror therefore
 *   cannot hold the client back while one honest source is reachable.
 * - The update fails only when no candidate was accepted (nor was already
 *   the trusted head): with the refusal of the first source that was
 *   refused, else the failure of the first that was unreachable. Errors that
 *   are not about a source (the state folder locked or broken, misuse) end
 *   the update at once.
 */
import type { CID } from 'multiformats/cid'
import { BlockError, DagtufError, ValidationError } from '../model/errors.js'
import type { HeadSource, RefreshResult, Updater } from './updater.js'

export interface NamedHead {
  /** The source's name in reports (its URL...). */
  readonly label: string
  readonly head: HeadSource
  /** Time limit for announcing the head, in ms (default 30,000). */
  readonly timeoutMs?: number
}

export type HeadOutcome =
  /** Its head was accepted: the trusted state moved to it. */
  | 'accepted'
  /** Its head was already the trusted one. */
  | 'same'
  /** Its head was refused (`rule`): invalid, a rollback, a fork, or older than a head accepted before. */
  | 'refused'
  /** It did not announce a head, or its head's blocks could not be fetched. */
  | 'unreachable'

export interface SourceReport {
  readonly source: string
  readonly head?: string
  readonly outcome: HeadOutcome
  /** The error code (a rule ID for refusals). */
  readonly code?: string
  readonly message?: string
}

export interface AnyHeadResult {
  /** The last refresh that succeeded: the trusted state now. */
  readonly result: RefreshResult
  /** One report per source, in the sources' order. */
  readonly sources: SourceReport[]
}

/** Errors that are about the client, not a source: they end the update. */
function aboutTheClient (e: unknown): boolean {
  if (!(e instanceof DagtufError)) return true
  return !(e instanceof ValidationError || e instanceof BlockError)
}

/**
 * Refresh `updater` from the heads of `sources` (see the module comment).
 *
 * @throws the refusal of the first refused source, else the failure of the first unreachable one
 * @throws {StateError|UsageError} at once, for a state folder that cannot be used
 */
export async function refreshFromHeads (updater: Updater, sources: readonly NamedHead[], options: { signal?: AbortSignal, onReport?: (r: SourceReport) => void } = {}): Promise<AnyHeadResult> {
  const asked = await Promise.all(sources.map(async (s) => {
    const timer = AbortSignal.timeout(s.timeoutMs ?? 30_000)
    const signal = options.signal === undefined ? timer : AbortSignal.any([options.signal, timer])
    try {
      return { source: s, cid: await s.head({ signal }) }
    } catch (e) {
      if (timer.aborted && options.signal?.aborted !== true) {
        const ms = s.timeoutMs ?? 30_000
        return { source: s, error: new BlockError('ERR_TIMEOUT', `${s.label} did not announce a head within ${ms} ms`, { cause: e, details: { source: s.label, timeoutMs: ms } }) }
      }
      return { source: s, error: e }
    }
  }))
  if (options.signal?.aborted === true) throw new BlockError('ERR_ABORTED', 'the update was aborted')
  const reports = new Map<NamedHead, SourceReport>()
  const tried = new Map<string, { outcome: HeadOutcome, error?: unknown }>()
  let last: RefreshResult | undefined
  let firstRefusal: unknown
  let firstUnreachable: unknown
  for (const a of asked) {
    if (a.cid === undefined) {
      const error = a.error
      if (aboutTheClient(error) && !(error instanceof DagtufError)) firstUnreachable ??= new BlockError('ERR_TRANSPORT', `${a.source.label}: ${(error as Error)?.message ?? String(error)}`, { cause: error })
      else firstUnreachable ??= error
      reports.set(a.source, { source: a.source.label, outcome: 'unreachable', ...codeOf(error) })
      continue
    }
    const key = (a.cid as CID).toString()
    let t = tried.get(key)
    if (t === undefined) {
      try {
        const r = await updater.refresh(a.cid)
        last = r
        t = { outcome: r.continuity === 'same' ? 'same' : 'accepted' }
      } catch (e) {
        if (aboutTheClient(e)) throw e
        t = { outcome: e instanceof ValidationError ? 'refused' : 'unreachable', error: e }
        if (t.outcome === 'refused') firstRefusal ??= e
        else firstUnreachable ??= e
      }
      tried.set(key, t)
    }
    reports.set(a.source, { source: a.source.label, head: key, outcome: t.outcome, ...(t.error === undefined ? {} : codeOf(t.error)) })
  }
  const out = sources.map((s) => reports.get(s)!)
  for (const r of out) options.onReport?.(r)
  if (last === undefined) throw firstRefusal ?? firstUnreachable ?? new BlockError('ERR_BLOCK_NOT_FOUND', 'no source announced a head')
  return { result: last, sources: out }
}

function codeOf (e: unknown): { code?: string, message?: string } {
  const code = (e as { code?: unknown })?.code
  const message = (e as { message?: unknown })?.message
  return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message: message.slice(0, 300) } : {}) }
}
