/**
 * Delegation matching and the target search (NOTES section 8). Pure: no I/O,
 * no clock (a reference time, when wanted, is an argument).
 *
 * Guarantees:
 * - `globMatch` is DELEG-GLOB: `*` matches any run of code points other than
 *   `/`, `?` exactly one code point other than `/`, everything else itself;
 *   the whole path must match the whole pattern. It never builds a regular
 *   expression from its input, works segment by segment in linear space and
 *   takes at most O(|pattern| x |path|) steps, each counted against a
 *   GlobBudget (BOUND-GLOB) when one is given.
 * - `roleMatchesPath` is DELEG-GLOB for `paths` entries and DELEG-HASH-PREFIX
 *   for `path_hash_prefixes` entries.
 * - `findTarget` is the preorder depth-first search of NOTES section 8
 *   (DELEG-ORDER, DELEG-TERMINATING, DELEG-VISITED), bounded by
 *   BOUND-DELEGATIONS, BOUND-DELEGATION-DEPTH and BOUND-GLOB (one budget of
 *   `maxGlobSteps` per search): exceeding a bound throws a
 *   ValidationError with that rule as code, it never answers "not found".
 * - `findTarget` judges each delegated role when it visits it
 *   (CLIENT-VALID-TOP): the delegator's entry (VALID-DELEG-KEYS), the
 *   listing (VALID-DELEG-LISTED), the object's decoding (ENC-*, VALID-KIND)
 *   and its signatures under the edge followed (VALID-DELEG-SIG). A role the
 *   search does not visit is never read.
 */
import { binOfHash, binRole } from '../model/delegations.js'
import { LIMITS } from '../model/config.js'
import { UsageError, ValidationError } from '../model/errors.js'
import { sha256, toHex } from '../model/hash.js'
import type { DelegatedRole, KeyId, PublicKey, TargetInfo, TargetsEnvelope } from '../model/types.js'
import { meetsThreshold } from './threshold.js'
import type { Dag, LimitOverrides, ResolvedLimits } from './valid.js'

const utf8 = new TextEncoder()

/** Code point standing for `?` in a compiled pattern (no path code point is negative). */
const ANY = -1

/** One `/`-free pattern segment: its `*`-separated pieces, `?` as ANY. */
interface PatternSegment {
  readonly pieces: ReadonlyArray<readonly number[]>
  /** Code points the segment needs at least (the pieces' total length). */
  readonly min: number
}

/** A pattern prepared for matching: one entry per `/`-separated segment. */
type CompiledPattern = readonly PatternSegment[]
/** A path prepared for matching: the code points of each segment. */
type CompiledPath = ReadonlyArray<readonly number[]>

/** The code points of `s` (a lone surrogate is one), with `?` as ANY when `wild`. */
function codePoints (s: string, wild: boolean): number[] {
  const out: number[] = []
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      }
    }
    out.push(wild && c === 0x3f ? ANY : c)
  }
  return out
}

function compilePattern (pattern: string): CompiledPattern {
  return pattern.split('/').map((seg) => {
    const pieces = seg.split('*').map((piece) => codePoints(piece, true))
    let min = 0
    for (const p of pieces) min += p.length
    return { pieces, min }
  })
}

function compilePath (path: string): CompiledPath {
  return path.split('/').map((seg) => codePoints(seg, false))
}

/**
 * Compiled patterns of decoded (frozen, hence immutable) pattern lists,
 * made once per list on first use: their cost is bounded by the size of
 * the metadata itself. Other lists are compiled on every use, at a charge.
 */
const compiled = new WeakMap<readonly string[], Array<CompiledPattern | undefined>>()

function patternAt (paths: readonly string[], k: number, b: GlobBudget): CompiledPattern {
  if (!Object.isFrozen(paths)) {
    b.charge(paths[k]!.length)
    return compilePattern(paths[k]!)
  }
  let list = compiled.get(paths)
  if (list === undefined) compiled.set(paths, list = new Array<CompiledPattern | undefined>(paths.length))
  return (list[k] ??= compilePattern(paths[k]!))
}

/**
 * A work budget for DELEG-GLOB and DELEG-HASH-PREFIX matching (BOUND-GLOB).
 * One step is one pattern or hash prefix tried against a path, one pattern
 * piece placed, one code point compared, or one character of a path (or of
 * a pattern not taken from decoded metadata) prepared for matching.
 * Exceeding `max` throws ValidationError BOUND-GLOB.
 */
export class GlobBudget {
  /** Steps taken so far. */
  used = 0

  constructor (readonly max: number, readonly what: string = 'matching') {
    if (!(typeof max === 'number' && max >= 0)) throw new UsageError('ERR_ARGUMENT', 'GlobBudget: max must be a non-negative number')
  }

  /** Count `n` steps. @throws {ValidationError} BOUND-GLOB past `max` */
  charge (n: number): void {
    if ((this.used += n) > this.max) this.exceeded()
  }

  /** @throws {ValidationError} BOUND-GLOB, always */
  exceeded (): never {
    throw new ValidationError('BOUND-GLOB', `${this.what} took more than ${this.max} glob steps`, { details: { max: this.max } })
  }
}

/**
 * Does `piece` match `s` at offset `at` (in bounds)? One step per code point
 * compared, charged when the attempt ends (so a budget is overrun by less
 * than one piece's length at most).
 */
function pieceAt (piece: readonly number[], s: readonly number[], at: number, b: GlobBudget): boolean {
  const n = piece.length
  let t = 0
  while (t < n) {
    const c = piece[t]!
    if (c !== ANY && c !== s[at + t]) break
    t++
  }
  b.charge(t < n ? t + 1 : n)
  return t === n
}

/**
 * One segment. Without `*` the lengths must agree and the code points match
 * in place. With `*`, the first piece is anchored at the start, the last at
 * the end, and each middle piece is placed leftmost after the previous one:
 * pieces have fixed lengths, so leftmost placement never loses a match.
 * Linear space; at most |pattern segment| x |path segment| comparisons.
 */
function segmentMatch (seg: PatternSegment, s: readonly number[], b: GlobBudget): boolean {
  const { pieces, min } = seg
  if (pieces.length === 1) return pieces[0]!.length === s.length && pieceAt(pieces[0]!, s, 0, b)
  if (min > s.length) return false
  const first = pieces[0]!
  const last = pieces[pieces.length - 1]!
  if (!pieceAt(first, s, 0, b) || !pieceAt(last, s, s.length - last.length, b)) return false
  let pos = first.length
  // Room left for the middle pieces, and how much of it the ones after the current one need.
  const end = s.length - last.length
  let need = min - first.length - last.length
  for (let k = 1; k < pieces.length - 1; k++) {
    const piece = pieces[k]!
    need -= piece.length
    b.charge(1)
    let at = pos
    for (; at + piece.length + need <= end; at++) if (pieceAt(piece, s, at, b)) break
    if (at + piece.length + need > end) return false
    pos = at + piece.length
  }
  return true
}

function compiledMatch (p: CompiledPattern, s: CompiledPath, b: GlobBudget): boolean {
  b.charge(1)
  if (p.length !== s.length) return false
  for (let k = 0; k < p.length; k++) if (!segmentMatch(p[k]!, s[k]!, b)) return false
  return true
}

/**
 * DELEG-GLOB: whether `path` matches `pattern` as a whole. Wildcards never
 * match `/`, so the two must have the same number of segments and match
 * segment by segment. Unbounded unless a budget is given.
 *
 * @throws {UsageError} ERR_ARGUMENT when either argument is not a string
 * @throws {ValidationError} BOUND-GLOB when `budget` runs out
 */
export function globMatch (pattern: string, path: string, budget?: GlobBudget): boolean {
  if (typeof pattern !== 'string' || typeof path !== 'string') throw new UsageError('ERR_ARGUMENT', 'globMatch(pattern: string, path: string)')
  const b = budget ?? new GlobBudget(Infinity)
  b.charge(pattern.length + path.length)
  return compiledMatch(compilePattern(pattern), compilePath(path), b)
}

/** The lowercase hex SHA-256 of the UTF-8 bytes of a path (DELEG-HASH-PREFIX). */
export function pathHash (path: string): string {
  return toHex(sha256(utf8.encode(path)))
}

/**
 * A path prepared for matching against many delegation entries: its hash
 * and segments are computed once, on first use, and all matching is counted
 * against one budget (BOUND-GLOB).
 */
export class PathMatcher {
  #hash: string | undefined
  #segments: CompiledPath | undefined

  constructor (readonly path: string, readonly budget: GlobBudget) {
    if (typeof path !== 'string') throw new UsageError('ERR_ARGUMENT', 'PathMatcher: path must be a string')
  }

  /** Whether `role` matches the path (DELEG-GLOB / DELEG-HASH-PREFIX). @throws {ValidationError} BOUND-GLOB */
  matches (role: DelegatedRole): boolean {
    const b = this.budget
    if (role.paths !== undefined) {
      if (role.paths.length === 0) return false
      if (this.#segments === undefined) {
        b.charge(this.path.length)
        this.#segments = compilePath(this.path)
      }
      for (let k = 0; k < role.paths.length; k++) if (compiledMatch(patternAt(role.paths, k, b), this.#segments, b)) return true
      return false
    }
    const h = this.#hash ??= pathHash(this.path)
    for (const prefix of role.pathHashPrefixes) {
      b.charge(1)
      if (h.startsWith(prefix)) return true
    }
    return false
  }
}

/**
 * Whether a delegation entry matches `path`: any of its patterns
 * (DELEG-GLOB) or any of its hash prefixes (DELEG-HASH-PREFIX). An empty
 * list matches nothing. `hash` may be given to avoid recomputing it;
 * `budget` bounds the work (BOUND-GLOB), unbounded without it.
 */
export function roleMatchesPath (role: DelegatedRole, path: string, hash?: string, budget?: GlobBudget): boolean {
  if (role.paths !== undefined) return role.paths.some((p) => globMatch(p, path, budget))
  const h = hash ?? pathHash(path)
  return role.pathHashPrefixes.some((prefix) => { budget?.charge(1); return h.startsWith(prefix) })
}

/**
 * LIMITS with the overrides that are given: an override whose value is
 * undefined is absent (it never unsets a bound). Checks nothing else.
 */
export function withOverrides (overrides: LimitOverrides | undefined): ResolvedLimits {
  const out: Record<string, number> = { ...LIMITS }
  for (const [k, v] of Object.entries(overrides ?? {})) if (v !== undefined) out[k] = v
  return out as ResolvedLimits
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
  /**
   * The BOUND-GLOB budget to count this search's matching against. Default:
   * a fresh one of `maxGlobSteps` for this search. Pass one budget to
   * several searches to bound them together.
   */
  budget?: GlobBudget
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

/** The edge a search followed into a role: the delegator, its keys and the entry. */
interface Via {
  readonly from: TargetsEnvelope
  readonly fromName: string
  readonly keys: ReadonlyMap<KeyId, PublicKey>
  readonly entry: DelegatedRole
}

/**
 * The object of the delegated role the search reaches through `via`,
 * judged under that edge (CLIENT-VALID-TOP, NOTES 8): the entry's keys
 * (VALID-DELEG-KEYS), the listing (VALID-DELEG-LISTED), the decoding, and a
 * threshold of the entry's keys (VALID-DELEG-SIG).
 */
async function visit (dag: Dag, name: string, via: Via): Promise<TargetsEnvelope> {
  const { entry, keys, from, fromName } = via
  for (const id of entry.keyids) {
    if (!keys.has(id)) {
      throw new ValidationError('VALID-DELEG-KEYS', `${fromName} delegates ${name} to keyid ${id}, which is not in its delegations.keys`, { details: { cid: from.cid.toString(), role: name } })
    }
  }
  if (!(entry.threshold >= 1 && entry.threshold <= entry.keyids.length)) {
    throw new ValidationError('VALID-DELEG-KEYS', `${fromName} delegates ${name} with threshold ${entry.threshold} over ${entry.keyids.length} keyids`, { details: { cid: from.cid.toString(), role: name } })
  }
  const obj = await dag.role(name)
  if (!meetsThreshold(obj, keys, entry)) {
    throw new ValidationError('VALID-DELEG-SIG', `${name} is not signed by ${entry.threshold} of the keys ${fromName} assigns to it`, { details: { cid: obj.cid.toString(), role: name, delegator: fromName } })
  }
  return obj
}

/**
 * Search a DAG whose top is VALID for `path` (NOTES section 8).
 *
 * Roles are tried in preorder, each role's own targets first, then its
 * matching delegations in listed order (DELEG-ORDER); a matching terminating
 * entry drops every pending alternative after the entries chosen up to it
 * (DELEG-TERMINATING); a role is visited once (DELEG-VISITED), and judged
 * under the edge that reached it when it is (CLIENT-VALID-TOP).
 *
 * @returns the entry and the role that answered, or null when no role does
 * @throws {BlockError} a shard node or a role's object on the path could not be fetched (SHARD-MISSING)
 * @throws {ValidationError} BOUND-DELEGATIONS | BOUND-DELEGATION-DEPTH |
 *   BOUND-GLOB when a bound is exceeded; VALID-DELEG-KEYS | VALID-DELEG-LISTED |
 *   VALID-DELEG-SIG | ENC-* | VALID-KIND for a visited role that fails its edge; CLIENT-EXPIRES with `now`
 */
export async function findTarget (dag: Dag, path: string, opts: FindOptions = {}): Promise<Found | null> {
  if (typeof path !== 'string') throw new UsageError('ERR_ARGUMENT', 'findTarget: path must be a string')
  const limits = withOverrides(opts.limits)
  const ref = opts.now === undefined ? undefined : referenceTime(opts.now)
  const matcher = new PathMatcher(path, opts.budget ?? new GlobBudget(limits.maxGlobSteps, `search for ${JSON.stringify(path.slice(0, 64))}`))

  interface Frame { readonly name: string, readonly depth: number, readonly chain: readonly string[], readonly via?: Via }
  let stack: Frame[] = [{ name: 'targets', depth: 0, chain: ['targets'] }]
  const visited = new Set<string>()
  while (stack.length > 0) {
    const { name, depth, chain, via } = stack.pop()!
    if (visited.has(name)) continue // DELEG-VISITED
    if (visited.size >= limits.maxDelegationsVisited) {
      throw new ValidationError('BOUND-DELEGATIONS', `search for ${JSON.stringify(path.slice(0, 64))} visited ${visited.size} roles`, { details: { max: limits.maxDelegationsVisited } })
    }
    if (depth > limits.maxDelegationDepth) {
      throw new ValidationError('BOUND-DELEGATION-DEPTH', `role ${name} is at delegation depth ${depth}`, { details: { role: name, max: limits.maxDelegationDepth } })
    }
    visited.add(name)
    const obj: TargetsEnvelope = via === undefined ? dag.targets : await visit(dag, name, via)
    if (ref !== undefined && !(obj.signed.expires > ref)) {
      throw new ValidationError('CLIENT-EXPIRES', `role ${name} expired at ${obj.signed.expires}`, { details: { cid: obj.cid.toString(), role: name, expires: obj.signed.expires } })
    }
    // Only the shard nodes on the path to `path` are fetched (NOTES 11).
    const info = await dag.maps.target(obj.signed.targets, path)
    if (info !== undefined) return { info, role: name, chain: [...chain] }
    const chosen: Frame[] = []
    const dels = obj.signed.delegations
    const succinct = dels?.succinct
    if (succinct !== undefined) {
      // DELEG-SUCCINCT: exactly one bin matches, found from the path's hash
      // (the same answer as trying the bins in order, at the cost of one).
      const bin = binRole(succinct, binOfHash(succinct.bitLength, pathHash(path)))
      if (matcher.matches(bin)) chosen.push({ name: bin.name, depth: depth + 1, chain: [...chain, bin.name], via: { from: obj, fromName: name, keys: dels!.keys, entry: bin } })
    }
    for (const entry of dels?.roles ?? []) { // DELEG-ORDER
      if (!matcher.matches(entry)) continue // BOUND-GLOB
      chosen.push({ name: entry.name, depth: depth + 1, chain: [...chain, entry.name], via: { from: obj, fromName: name, keys: dels!.keys, entry } })
      if (entry.terminating) { // DELEG-TERMINATING
        stack = []
        break
      }
    }
    for (let k = chosen.length - 1; k >= 0; k--) stack.push(chosen[k]!)
  }
  return null
}
