/**
 * The Updater's events (issue 17 item 1): one plain, JSON-serialisable
 * object per outcome of an `init`, `refresh` or `downloadTarget`, handed to
 * the `onEvent` listener of `Updater.create` after the outcome is decided
 * (for an accepted update: after the new state was written).
 *
 * Every event has a stable `type` and the version `v` of its shape
 * (EVENT_VERSION; a change that removes or renames a field raises it), the
 * wall-clock `time` it was emitted, the client folder `dir` and the
 * `operation` (init | refresh | download). Types:
 *
 * - `init`: a root was trusted (`root`, `changed`).
 * - `update.accepted`: `from` (the root and timestamp trusted before; the
 *   timestamp null before a first update), `to` (timestamp, snapshot,
 *   root), `continuity`, `referenceTime`, `rules` (the rule IDs the update
 *   checked, NOTES 7.2), `changed` (roles whose CID changed), `rootSteps`,
 *   `fetched` (blocks and bytes per source, and cache hits), and `ipns`
 *   (name and sequence) when the candidate came from an IPNS record.
 * - `download`: `path`, `cid`, `length`, the answering `role`, and the
 *   blocks and bytes fetched for the content per source.
 * - `refused`: a verdict on the data (a ValidationError): `rule` (the rule
 *   ID), `cid` (the object at fault, or null), `source`, `path` for a
 *   download, `violations` of a relation (each rule and CID), `message`.
 * - `failed`: anything else (a source that timed out, a locked folder, a
 *   full disk): `code`, `cid` when the error names one, `source`, `message`.
 *
 * Bounds and secrets: lists (changed roles, violations) keep at most
 * EVENT_LIMITS.maxListed entries with the full `count` beside them; every
 * string that can come from untrusted data (role names, paths, messages)
 * is cut to EVENT_LIMITS.maxText characters (with a trailing `…`); source
 * labels and messages lose the user-info and query of any URL they contain
 * (where gateway credentials would sit). Events carry no key material: only
 * CIDs, names, sizes, rule IDs and codes.
 *
 * No Node built-in is imported here: the browser build reuses it.
 */
import type { RuleId } from '../model/rules.js'

/** The version of the event shapes. */
export const EVENT_VERSION = 1 as const

export const EVENT_LIMITS: { readonly maxListed: number, readonly maxText: number } = Object.freeze({
  /** Entries kept of a list (changed roles, violations). */
  maxListed: 32,
  /** Characters kept of a string from untrusted data. */
  maxText: 512
})

export type UpdaterOperation = 'init' | 'refresh' | 'download'

interface EventBase {
  readonly v: typeof EVENT_VERSION
  /** When the event was emitted (wall clock, ISO 8601). */
  readonly time: string
  /** The client folder. */
  readonly dir: string
  readonly operation: UpdaterOperation
}

/** A capped list: the first `EVENT_LIMITS.maxListed` items and how many there were. */
export interface Capped<T> {
  readonly items: readonly T[]
  readonly count: number
}

/** What one source gave: blocks and bytes. */
export interface SourceUse {
  readonly source: string
  readonly blocks: number
  readonly bytes: number
}

export interface InitEvent extends EventBase {
  readonly type: 'init'
  readonly root: string
  readonly changed: boolean
}

export interface UpdateAcceptedEvent extends EventBase {
  readonly type: 'update.accepted'
  readonly from: { readonly root: string, readonly timestamp: string | null }
  readonly to: { readonly root: string, readonly timestamp: string, readonly snapshot: string }
  readonly continuity: string
  readonly referenceTime: string
  readonly rules: readonly RuleId[]
  readonly changed: Capped<string>
  readonly rootSteps: number
  readonly fetched: { readonly sources: readonly SourceUse[], readonly cacheHits: number }
  readonly ipns?: { readonly name: string, readonly sequence: string }
}

export interface DownloadEvent extends EventBase {
  readonly type: 'download'
  readonly path: string
  readonly cid: string
  readonly length: number
  readonly role: string
  readonly fetched: { readonly sources: readonly SourceUse[] }
}

export interface RefusedEvent extends EventBase {
  readonly type: 'refused'
  readonly rule: string
  readonly cid: string | null
  readonly source: string
  readonly path?: string
  readonly violations: Capped<{ readonly rule: string, readonly cid: string | null }>
  readonly message: string
}

export interface FailedEvent extends EventBase {
  readonly type: 'failed'
  readonly code: string
  readonly cid: string | null
  readonly source: string
  readonly path?: string
  readonly message: string
}

export type UpdaterEvent = InitEvent | UpdateAcceptedEvent | DownloadEvent | RefusedEvent | FailedEvent

/**
 * The listener of `Updater.create({ onEvent })`. Called synchronously once
 * per outcome; what it throws (or a promise it returns rejects with) is
 * ignored: a listener never changes an outcome.
 */
export type UpdaterEventListener = (event: UpdaterEvent) => unknown

/** A string from untrusted data, cut to EVENT_LIMITS.maxText characters. */
export function boundedText (s: string, max: number = EVENT_LIMITS.maxText): string {
  if (s.length <= max) return s
  // Do not split a surrogate pair: the result must stay well-formed text.
  let end = max - 1
  const c = s.charCodeAt(end - 1)
  if (c >= 0xd800 && c <= 0xdbff) end--
  return s.slice(0, end) + '…'
}

/** The first EVENT_LIMITS.maxListed items and the count. */
export function capped<T> (items: readonly T[], map: (t: T) => T = (t) => t): Capped<T> {
  return { items: items.slice(0, EVENT_LIMITS.maxListed).map(map), count: items.length }
}

/** Text with the user-info (`user:pass@`) and the query/fragment of every URL in it removed. */
export function withoutCredentials (s: string): string {
  return s.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*@)?([^\s?#]*)([?#][^\s]*)?/gi, (_m, scheme: string, _user: string | undefined, rest: string) => `${scheme}${rest}`)
}

/** A source label for events: credentials removed, bounded. */
export function sourceLabel (label: string): string {
  return boundedText(withoutCredentials(label), 256)
}

function stringOr (v: unknown): string | null {
  return typeof v === 'string' ? boundedText(v) : null
}

/**
 * The `refused` or `failed` event for an error thrown by `operation`:
 * `refused` when it is a verdict under a rule (a ValidationError: its code
 * is the rule ID), `failed` otherwise.
 */
export function errorEvent (base: Omit<EventBase, 'time'> & { source: string, path?: string }, e: unknown): RefusedEvent | FailedEvent {
  const err = (typeof e === 'object' && e !== null ? e : {}) as { name?: unknown, code?: unknown, message?: unknown, details?: unknown }
  const details = (typeof err.details === 'object' && err.details !== null ? err.details : {}) as Record<string, unknown>
  const message = boundedText(withoutCredentials(typeof err.message === 'string' ? err.message : String(e)))
  const cid = stringOr(details.cid)
  const common = {
    v: EVENT_VERSION,
    time: new Date().toISOString(),
    dir: base.dir,
    operation: base.operation,
    cid,
    source: base.source,
    ...(base.path === undefined ? {} : { path: boundedText(base.path) })
  }
  const code = typeof err.code === 'string' ? err.code : 'ERR_INTERNAL'
  if (err.name === 'ValidationError') {
    const vs = Array.isArray(details.violations) ? details.violations as Array<{ rule?: unknown, cid?: unknown }> : []
    const list = vs.map((v) => ({ rule: typeof v?.rule === 'string' ? boundedText(v.rule, 64) : '?', cid: stringOr(v?.cid) }))
    return { type: 'refused', ...common, rule: code, violations: capped(list), message }
  }
  return { type: 'failed', ...common, code: boundedText(code, 64), message }
}

/** Call `listener` with `event`, ignoring whatever it throws or rejects with. */
export function emitTo (listener: UpdaterEventListener | undefined, event: UpdaterEvent): void {
  if (listener === undefined) return
  try {
    const r = listener(event)
    if (typeof (r as { then?: unknown })?.then === 'function') (r as Promise<unknown>).then(undefined, () => {})
  } catch {
    // A listener never changes an outcome.
  }
}

/**
 * The rule IDs an accepted update checked (NOTES 7.2): the root chain,
 * VALID_top, freshness, the continuity that applied, the work bounds, and
 * the atomic write of the state.
 */
export function rulesChecked (continuity: string, rootChanged: boolean): RuleId[] {
  const out: RuleId[] = ['CLIENT-ROOT-CHAIN']
  if (rootChanged) out.push('BOUND-ROOT-STEPS')
  out.push('CLIENT-VALID-TOP', 'CLIENT-EXPIRES')
  if (continuity === 'descends') out.push('CLIENT-TS-DESCENDS')
  if (continuity === 'recovered') out.push('CLIENT-RECOVER', 'CLIENT-FLOOR', 'CLIENT-FLOOR-RETIRED', 'CLIENT-FLOOR-OVERTAKE')
  out.push('BOUND-BLOCKS', 'BOUND-BYTES', 'CLIENT-STATE-ATOMIC')
  return out
}
