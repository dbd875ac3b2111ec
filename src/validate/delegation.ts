/**
 * Delegation matching and the target search (NOTES section 8). Pure: no I/O,
 * no clock (a reference time, when wanted, is an argument).
 *
 * Guarantees:
 * - `globMatch` is DELEG-GLOB: `*` matches any run of code points other than
 *   `/`, `?` exactly one code point other than `/`, everything else itself;
 *   the whole path must match the whole pattern. It never builds a regular
 *   expression from its input and runs in O(|pattern| x |path|).
 * - `roleMatchesPath` is DELEG-GLOB for `paths` entries and DELEG-HASH-PREFIX
 *   for `path_hash_prefixes` entries.
 * - `findTarget` is the preorder depth-first search of NOTES section 8
 *   (DELEG-ORDER, DELEG-TERMINATING, DELEG-VISITED), bounded by
 *   BOUND-DELEGATIONS and BOUND-DELEGATION-DEPTH: exceeding a bound throws a
 *   ValidationError with that rule as code, it never answers "not found".
 */
import { LIMITS } from '../model/config.js'
import { UsageError, ValidationError } from '../model/errors.js'
import { sha256, toHex } from '../model/hash.js'
import type { DelegatedRole, TargetInfo, TargetsEnvelope } from '../model/types.js'
import type { Dag, LimitOverrides } from './valid.js'

const utf8 = new TextEncoder()

/** Does one `/`-free segment match one pattern segment? Greedy two-pointer, O(|p| x |s|). */
function segmentMatch (p: readonly string[], s: readonly string[]): boolean {
  let i = 0
  let j = 0
  let star = -1
  let mark = 0
  while (j < s.length) {
    if (i < p.length && p[i] === '*') {
      star = i++
      mark = j
    } else if (i < p.length && (p[i] === '?' || p[i] === s[j])) {
      i++
      j++
    } else if (star !== -1) {
      // Let the last `*` absorb one more code point and retry from there.
      i = star + 1
      j = ++mark
    } else {
      return false
    }
  }
  while (i < p.length && p[i] === '*') i++
  return i === p.length
}

/**
 * DELEG-GLOB: whether `path` matches `pattern` as a whole. Wildcards never
 * match `/`, so the two must have the same number of segments and match
 * segment by segment.
 *
 * @throws {UsageError} ERR_ARGUMENT when either argument is not a string
 */
export function globMatch (pattern: string, path: string): boolean {
  if (typeof pattern !== 'string' || typeof path !== 'string') throw new UsageError('ERR_ARGUMENT', 'globMatch(pattern: string, path: string)')
  const ps = pattern.split('/')
  const ss = path.split('/')
  if (ps.length !== ss.length) return false
  for (let k = 0; k < ps.length; k++) {
    // Code points, not UTF-16 units: `?` matches one character.
    if (!segmentMatch(Array.from(ps[k]!), Array.from(ss[k]!))) return false
  }
  return true
}

/** The lowercase hex SHA-256 of the UTF-8 bytes of a path (DELEG-HASH-PREFIX). */
export function pathHash (path: string): string {
  return toHex(sha256(utf8.encode(path)))
}

/**
 * Whether a delegation entry matches `path`: any of its patterns
 * (DELEG-GLOB) or any of its hash prefixes (DELEG-HASH-PREFIX). An empty
 * list matches nothing. `hash` may be given to avoid recomputing it.
 */
export function roleMatchesPath (role: DelegatedRole, path: string, hash?: string): boolean {
  if (role.paths !== undefined) return role.paths.some((p) => globMatch(p, path))
  const h = hash ?? pathHash(path)
  return role.pathHashPrefixes.some((prefix) => h.startsWith(prefix))
}

export interface FindOptions {
  limits?: LimitOverrides
  /**
   * Reference time of the update whose DAG is searched. When given, every
   * visited role must be fresh (`expires` strictly later than it, truncated
   * to seconds), else the search ends with ValidationError CLIENT-EXPIRES
   * (NOTES section 8: an expired role is an error, never skipped).
   */
  now?: Date | string
}

export interface Found {
  readonly info: TargetInfo
  /** The role that answered: `targets` or a delegated role name. */
  readonly role: string
  /** Role names from `targets` to `role`, along the edges the search followed. */
  readonly chain: string[]
}

function referenceTime (now: Date | string): string {
  const d = typeof now === 'string' ? new Date(now) : now
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new UsageError('ERR_ARGUMENT', 'findTarget: now must be a valid date')
  return d.toISOString().slice(0, 19) + 'Z'
}

/**
 * Search a VALID DAG for `path` (NOTES section 8).
 *
 * Roles are tried in preorder, each role's own targets first, then its
 * matching delegations in listed order (DELEG-ORDER); a matching terminating
 * entry drops every pending alternative after the entries chosen up to it
 * (DELEG-TERMINATING); a role is visited once (DELEG-VISITED).
 *
 * @returns the entry and the role that answered, or null when no role does
 * @throws {ValidationError} BOUND-DELEGATIONS | BOUND-DELEGATION-DEPTH when a
 *   bound is exceeded; VALID-DELEG-LISTED when an edge names a role missing
 *   from the DAG (impossible in a VALID DAG); CLIENT-EXPIRES with `now`
 */
export function findTarget (dag: Dag, path: string, opts: FindOptions = {}): Found | null {
  if (typeof path !== 'string') throw new UsageError('ERR_ARGUMENT', 'findTarget: path must be a string')
  const limits = { ...LIMITS, ...opts.limits }
  const ref = opts.now === undefined ? undefined : referenceTime(opts.now)
  let hash: string | undefined
  const hashOf = (): string => (hash ??= pathHash(path))

  interface Frame { readonly name: string, readonly depth: number, readonly chain: readonly string[] }
  let stack: Frame[] = [{ name: 'targets', depth: 0, chain: ['targets'] }]
  const visited = new Set<string>()
  while (stack.length > 0) {
    const { name, depth, chain } = stack.pop()!
    if (visited.has(name)) continue // DELEG-VISITED
    if (visited.size >= limits.maxDelegationsVisited) {
      throw new ValidationError('BOUND-DELEGATIONS', `search for ${JSON.stringify(path.slice(0, 64))} visited ${visited.size} roles`, { details: { max: limits.maxDelegationsVisited } })
    }
    if (depth > limits.maxDelegationDepth) {
      throw new ValidationError('BOUND-DELEGATION-DEPTH', `role ${name} is at delegation depth ${depth}`, { details: { role: name, max: limits.maxDelegationDepth } })
    }
    visited.add(name)
    const obj: TargetsEnvelope | undefined = name === 'targets' ? dag.targets : dag.delegated.get(name)
    if (obj === undefined) {
      throw new ValidationError('VALID-DELEG-LISTED', `role ${name} is delegated but not in the snapshot`, { details: { role: name } })
    }
    if (ref !== undefined && !(obj.signed.expires > ref)) {
      throw new ValidationError('CLIENT-EXPIRES', `role ${name} expired at ${obj.signed.expires}`, { details: { cid: obj.cid.toString(), role: name, expires: obj.signed.expires } })
    }
    const info = obj.signed.targets.get(path)
    if (info !== undefined) return { info, role: name, chain: [...chain] }
    const chosen: Frame[] = []
    for (const entry of obj.signed.delegations?.roles ?? []) { // DELEG-ORDER
      if (!roleMatchesPath(entry, path, entry.paths === undefined ? hashOf() : undefined)) continue
      chosen.push({ name: entry.name, depth: depth + 1, chain: [...chain, entry.name] })
      if (entry.terminating) { // DELEG-TERMINATING
        stack = []
        break
      }
    }
    for (let k = chosen.length - 1; k >= 0; k--) stack.push(chosen[k]!)
  }
  return null
}
