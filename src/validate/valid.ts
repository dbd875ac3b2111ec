/**
 * VALID: spatial consistency of one timestamp- or snapshot-rooted DAG
 * (NOTES section 4). Pure over a loader: no network beyond it, no clock
 * (expiry is not part of VALID, NOTES section 6).
 *
 * Guarantees:
 * - Every rule of section 4 is checked, each under its rule ID, in the
 *   fail-fast order NOTES gives: kind and root, VALID-TS-SIG, VALID-SNAP-SIG,
 *   VALID-RETIRED-DISJOINT, VALID-SNAP-FIRST-RETIRED, VALID-TARGETS-SIG, then per delegator in
 *   breadth-first order VALID-DELEG-KEYS / -LISTED / -SIG, then
 *   VALID-DELEG-REACHABLE, then VALID-DELEG-PATHS.
 * - Report mode lists every violation it can find, skipping only checks
 *   that depend on an object that failed to load (that failure is itself a
 *   violation under its ENC-*, BOUND-* or VALID-KIND rule; see report.ts).
 *   Fail-fast mode stops at the first. Both agree on whether VALID holds.
 * - Failures that are not verdicts on the data (block not found, timeout,
 *   transport, abort) propagate as the BlockError they are.
 * - The delegation walk visits each role once, breadth-first from
 *   `targets` in list order, within BOUND-DELEGATIONS and
 *   BOUND-DELEGATION-DEPTH (depth = shortest chain from `targets`).
 * - VALID-DELEG-PATHS matches patterns within one BOUND-GLOB budget of
 *   `maxGlobSteps` per walk; running out is a BOUND-GLOB violation (at the
 *   role whose path was being checked), never a hang.
 * - Thresholds count distinct keys (SIG-THRESHOLD-DISTINCT, via
 *   countValidSignatures); each (object, key set) pair is verified once.
 * - A `dag` is returned only when VALID holds.
 */
import { entriesOf } from '../model/delegations.js'
import type { CID } from 'multiformats/cid'
import { LIMITS, type Kind, type Limits } from '../model/config.js'
import { UsageError, ValidationError } from '../model/errors.js'
import { countValidSignatures } from '../model/keys.js'
import {
  TOP_ROLES,
  type DelegatedRole, type Envelope, type KeyId, type PublicKey, type RoleKeys, type RootEnvelope,
  type SignedOf, type SnapshotEnvelope, type TargetsEnvelope, type TimestampEnvelope
} from '../model/types.js'
import { GlobBudget, PathMatcher, withOverrides } from './delegation.js'
import { meetsThreshold } from './threshold.js'
import { ladder } from '../model/ladder.js'
import { emptyMap } from '../shard/index.js'

/** The root of the empty role map (canonical, so the same for every empty map). */
const EMPTY_MAP_ROOT = emptyMap().cid
export { meetsThreshold }
import type { Loader } from './loader.js'
import { Collector, Stop, ruleOfLoadError, violationError, type Violation } from './report.js'

export type { Violation }

/**
 * The objects of a DAG whose top is VALID (`VALID_top`, NOTES 4.1): the
 * timestamp, snapshot, root and top-level targets, checked; `roles` and
 * `retired` are the snapshot's two role maps read from their shards. The
 * objects of the delegated roles are loaded on demand by `role`, decoded but
 * not judged: who may sign one depends on the edge a search follows into it
 * (CLIENT-VALID-TOP, NOTES 8). The targets maps stay in their shards (read
 * them through `maps`).
 */
export interface Dag {
  timestamp?: TimestampEnvelope
  snapshot: SnapshotEnvelope
  root: RootEnvelope
  targets: TargetsEnvelope
  roles: ReadonlyMap<string, CID>
  retired: ReadonlyMap<string, CID>
  /** The targets maps of this DAG, read through the loader that validated it. */
  maps: Pick<Loader, 'target' | 'targetEntries'>
  /**
   * The object listed for delegated role `name`, decoded (ENC-*, VALID-KIND)
   * through the loader that read this DAG; memoized.
   *
   * @throws {ValidationError} VALID-DELEG-LISTED when `name` is not listed; the decoder's rule (ENC-*, VALID-KIND) or BOUND-BLOCKS/BYTES
   * @throws {BlockError} when the block cannot be fetched (not a verdict)
   */
  role: (name: string) => Promise<TargetsEnvelope>
  /** The delegated objects `role` has loaded so far, by name. */
  readonly loadedRoles: ReadonlyMap<string, TargetsEnvelope>
}

/**
 * A DAG that is VALID as a whole (NOTES 4): `delegated` holds the object of
 * every entry of `delegated-targets`, each checked under every edge into it.
 */
export interface FullDag extends Dag {
  delegated: ReadonlyMap<string, TargetsEnvelope>
}

/**
 * Read a role map of a snapshot; a failure that is a verdict on the data
 * becomes a violation (and undefined), anything else propagates.
 */
export async function roleMapOrReport (loader: Loader, root: CID, c: Collector, what: string): Promise<ReadonlyMap<string, CID> | undefined> {
  try {
    return await loader.roleMap(root)
  } catch (e) {
    const rule = ruleOfLoadError(e)
    if (rule === undefined) throw e
    c.add(rule, root, `${what}: ${messageOf(e)}`, e)
    return undefined
  }
}

export interface ValidReport<D extends Dag = FullDag> {
  valid: boolean
  violations: Violation[]
  /** Present exactly when `valid`. */
  dag?: D
}

/**
 * Overrides of LIMITS. (`Limits` is the type of a frozen literal, so its
 * fields are literal types; overrides are any numbers.)
 */
export type LimitOverrides = { readonly [K in keyof Limits]?: number }
/** LIMITS as numbers. */
export type ResolvedLimits = { readonly [K in keyof Limits]: number }

export interface ValidateOptions {
  /** Stop at the first violation (clients). Default: report every violation. */
  failFast?: boolean
  /** Overrides of LIMITS (BOUND-DELEGATIONS, BOUND-DELEGATION-DEPTH, BOUND-GLOB). */
  limits?: LimitOverrides
}

/**
 * LIMITS with overrides.
 *
 * @throws {UsageError} ERR_ARGUMENT for an override that is not a non-negative integer
 */
export function resolveLimits (overrides: LimitOverrides | undefined): ResolvedLimits {
  if (overrides === undefined) return LIMITS
  for (const [k, v] of Object.entries(overrides)) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) {
      throw new UsageError('ERR_ARGUMENT', `limits.${k}: expected a non-negative integer`)
    }
  }
  return withOverrides(overrides)
}

// ---------------------------------------------------------------------------
// Loading with verdicts

function messageOf (e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/**
 * Load `cid` as `kind`; a failure that is a verdict on the data becomes a
 * violation (and undefined), anything else propagates.
 */
export async function loadOrReport<K extends Kind> (loader: Loader, kind: K, cid: CID, c: Collector, what: string): Promise<Envelope<SignedOf<K>> | undefined> {
  try {
    return await loader.load(kind, cid)
  } catch (e) {
    const rule = ruleOfLoadError(e)
    if (rule === undefined) throw e
    c.add(rule, cid, `${what}: ${messageOf(e)}`, e)
    return undefined
  }
}

type Settled<T> = { ok: true, value: T } | { ok: false, error: unknown }

async function settle<T> (p: Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await p }
  } catch (error) {
    return { ok: false, error }
  }
}

// ---------------------------------------------------------------------------
// Roots

/** VALID-ROOT-ROLES and VALID-ROOT-SELF for one root object. */
export function checkRoot (root: RootEnvelope, c: Collector): void {
  const { keys, roles } = root.signed
  for (const name of TOP_ROLES) {
    const role = roles[name] as RoleKeys | undefined
    if (role === undefined) {
      c.add('VALID-ROOT-ROLES', root.cid, `root has no ${name} role`)
      continue
    }
    for (const id of role.keyids) {
      if (!keys.has(id)) c.add('VALID-ROOT-ROLES', root.cid, `${name} lists keyid ${id}, which is not in root.keys`)
    }
    if (!(role.threshold >= 1 && role.threshold <= role.keyids.length)) {
      c.add('VALID-ROOT-ROLES', root.cid, `${name} threshold ${role.threshold} is not within 1..${role.keyids.length}`)
    }
  }
  const self = roles.root as RoleKeys | undefined
  if (self !== undefined && !meetsThreshold(root, keys, self)) {
    c.add('VALID-ROOT-SELF', root.cid, `root is not signed by ${self.threshold} of its own root keys`)
  }
}

/** The violations of VALID for a single root (VALID-ROOT-ROLES, VALID-ROOT-SELF). */
export function rootViolations (root: RootEnvelope): Violation[] {
  const c = new Collector()
  checkRoot(root, c)
  return c.violations
}

// ---------------------------------------------------------------------------
// The walk

interface Edge {
  readonly from: string
  readonly entry: DelegatedRole
}

interface DelegationWalk {
  /** Reached role names -> object (undefined when it failed to load). Includes `targets`. */
  readonly objs: Map<string, TargetsEnvelope | undefined>
  /** Edges into each reached role, from delegators that were processed. */
  readonly into: Map<string, Edge[]>
  /** False when a bound cut the walk short. */
  readonly complete: boolean
}

async function walkDelegations (loader: Loader, snap: SnapshotEnvelope, dt: ReadonlyMap<string, CID>, targets: TargetsEnvelope, c: Collector, limits: ResolvedLimits): Promise<DelegationWalk> {
  const objs = new Map<string, TargetsEnvelope | undefined>([['targets', targets]])
  const depth = new Map<string, number>([['targets', 0]])
  const into = new Map<string, Edge[]>()
  const tooDeep = new Set<string>()
  const queue: string[] = ['targets']
  // BOUND-DELEGATIONS counts every role visited, the top-level targets
  // included, as the search does (NOTES 9).
  let visited = 1
  let complete = true

  walk: for (let qi = 0; qi < queue.length; qi++) {
    const name = queue[qi]!
    const obj = objs.get(name)
    const dels = obj?.signed.delegations
    if (obj === undefined || dels === undefined) continue
    const d = depth.get(name)!

    // VALID-DELEG-KEYS: every label's keyids exist and its threshold is reachable.
    for (const entry of entriesOf(dels)) {
      for (const id of entry.keyids) {
        if (!dels.keys.has(id)) c.add('VALID-DELEG-KEYS', obj.cid, `${name} delegates ${entry.name} to keyid ${id}, which is not in its delegations.keys`)
      }
      if (!(entry.threshold >= 1 && entry.threshold <= entry.keyids.length)) {
        c.add('VALID-DELEG-KEYS', obj.cid, `${name} delegates ${entry.name} with threshold ${entry.threshold} over ${entry.keyids.length} keyids`)
      }
    }

    // Decide which children are visited now (bounds), and fetch them concurrently.
    // Child name -> its pending load (a Map: a delegator lists up to maxDelegationsPerRole children).
    const fresh = new Map<string, Promise<Settled<TargetsEnvelope>>>()
    for (const entry of entriesOf(dels)) {
      const n = entry.name
      const childCid = dt.get(n)
      if (childCid === undefined || objs.has(n) || fresh.has(n) || tooDeep.has(n)) continue
      if (d + 1 > limits.maxDelegationDepth) continue // reported below, in order
      if (visited + fresh.size >= limits.maxDelegationsVisited) continue
      fresh.set(n, settle(loader.load('targets', childCid)))
    }

    for (const entry of entriesOf(dels)) {
      const n = entry.name
      const childCid = dt.get(n)
      if (childCid === undefined) {
        c.add('VALID-DELEG-LISTED', obj.cid, `${name} delegates to ${n}, which delegated-targets does not list`)
        continue
      }
      if (!objs.has(n)) {
        if (tooDeep.has(n)) continue
        if (d + 1 > limits.maxDelegationDepth) {
          tooDeep.add(n)
          complete = false
          c.add('BOUND-DELEGATION-DEPTH', childCid, `${n} is first reached at delegation depth ${d + 1}, over ${limits.maxDelegationDepth}`)
          continue
        }
        const pending = fresh.get(n)
        if (pending === undefined) {
          complete = false
          c.add('BOUND-DELEGATIONS', snap.cid, `the walk would visit more than ${limits.maxDelegationsVisited} delegated roles`)
          break walk
        }
        visited++
        const got = await pending
        let child: TargetsEnvelope | undefined
        if (got.ok) child = got.value
        else {
          const rule = ruleOfLoadError(got.error)
          if (rule === undefined) throw got.error
          c.add(rule, childCid, `delegated-targets.${n}: ${messageOf(got.error)}`, got.error)
        }
        objs.set(n, child)
        depth.set(n, d + 1)
        queue.push(n)
      }
      let edges = into.get(n)
      if (edges === undefined) into.set(n, edges = [])
      edges.push({ from: name, entry })
      // VALID-DELEG-SIG: every edge into a role, diamonds included.
      const child = objs.get(n)
      if (child !== undefined && !meetsThreshold(child, dels.keys, entry)) {
        c.add('VALID-DELEG-SIG', child.cid, `${n} is not signed by ${entry.threshold} of the keys ${name} assigns to it`)
      }
    }
  }
  return { objs, into, complete }
}

/**
 * VALID-DELEG-PATHS for one path: is there a chain of edges from `targets`
 * to `role` whose every label matches `path`? Backward reachability in the
 * graph of matching edges; each role is expanded once, each edge's label
 * tried at most once. Matching is counted against the walk's `budget`.
 *
 * @throws {ValidationError} BOUND-GLOB when the budget runs out
 */
function pathAllowed (path: string, role: string, into: ReadonlyMap<string, Edge[]>, budget: GlobBudget): boolean {
  const matcher = new PathMatcher(path, budget)
  const seen = new Set<string>([role])
  const stack = [role]
  while (stack.length > 0) {
    const x = stack.pop()!
    for (const e of into.get(x) ?? []) {
      if (!matcher.matches(e.entry)) continue
      if (e.from === 'targets') return true
      if (!seen.has(e.from)) {
        seen.add(e.from)
        stack.push(e.from)
      }
    }
  }
  return false
}

/** What the top of VALID read: everything but the delegated roles. */
interface Top {
  readonly snap: SnapshotEnvelope
  /** Undefined (with a violation) when meta.root failed to load. */
  readonly root: RootEnvelope | undefined
  readonly targets: TargetsEnvelope
  readonly dt: ReadonlyMap<string, CID>
  readonly retired: ReadonlyMap<string, CID>
}

/**
 * The rules of VALID_top (NOTES 4.1) for the snapshot `snapCid` (and its
 * timestamp `ts`), in fail-fast order. Returns what it read, or undefined
 * when a load failed (the failure is a violation).
 */
async function walkTop (loader: Loader, snapCid: CID, c: Collector, ts?: TimestampEnvelope, maps: 'read' | 'skip' = 'read'): Promise<Top | undefined> {
  const snap = await loadOrReport(loader, 'snapshot', snapCid, c, ts === undefined ? 'snapshot' : 'timestamp.snapshot')
  if (snap === undefined) return undefined
  const meta = snap.signed.meta
  const skipMaps = maps === 'skip'

  // VALID-SNAP-ROOT first: everything else is judged with this root's keys.
  const root = await loadOrReport(loader, 'root', meta.root, c, 'meta.root')
  if (root === undefined) {
    c.add('VALID-SNAP-ROOT', snap.cid, 'meta.root does not resolve to a root')
  } else {
    const before = c.violations.length
    checkRoot(root, c)
    if (c.violations.length > before) c.add('VALID-SNAP-ROOT', snap.cid, 'meta.root is not a VALID root')
  }
  const roles = root?.signed.roles

  if (ts !== undefined && root !== undefined && !meetsThreshold(ts, root.signed.keys, roles!.timestamp)) {
    c.add('VALID-TS-SIG', ts.cid, `timestamp is not signed by ${roles!.timestamp.threshold} of the root's timestamp keys`)
  }
  if (root !== undefined && !meetsThreshold(snap, root.signed.keys, roles!.snapshot)) {
    c.add('VALID-SNAP-SIG', snap.cid, `snapshot is not signed by ${roles!.snapshot.threshold} of the root's snapshot keys`)
  }
  // VALID-SNAP-HEIGHT: the base of the chain's heights and the length of its skips.
  const sh = snap.signed
  if ((sh.height === 1) !== (sh.previousVersion === null)) {
    c.add('VALID-SNAP-HEIGHT', snap.cid, sh.previousVersion === null ? `a first snapshot (previous-version null) has height ${sh.height}, not 1` : 'a snapshot with a previous-version has height 1')
  } else if (sh.skips.length !== ladder(sh.height).length) {
    c.add('VALID-SNAP-HEIGHT', snap.cid, `a snapshot at height ${sh.height} has ${ladder(sh.height).length} skips, not ${sh.skips.length}`)
  }
  const none = new Map<string, CID>()
  const dt = skipMaps ? none : await roleMapOrReport(loader, meta.delegatedTargets, c, 'meta.delegated-targets')
  // Skipping the maps, a first snapshot's retired map is still read unless it
  // is the empty map's (canonical, so unique) root: VALID-SNAP-FIRST-RETIRED.
  const firstRetired = snap.signed.previousVersion === null && !meta.retired.equals(EMPTY_MAP_ROOT)
  const retired = skipMaps && !firstRetired ? none : await roleMapOrReport(loader, meta.retired, c, 'meta.retired')
  if (dt === undefined || retired === undefined) return undefined
  for (const name of skipMaps ? [] : retired.keys()) {
    if (dt.has(name)) c.add('VALID-RETIRED-DISJOINT', snap.cid, `${name} is both listed and retired`)
  }
  // A first snapshot has no predecessor whose roles it could have retired.
  if (snap.signed.previousVersion === null && retired.size > 0) {
    c.add('VALID-SNAP-FIRST-RETIRED', snap.cid, `a first snapshot (previous-version null) retires ${[...retired.keys()].slice(0, 5).join(', ')}${retired.size > 5 ? ', ...' : ''}: no snapshot before it listed them`)
  }

  const targets = await loadOrReport(loader, 'targets', meta.targets, c, 'meta.targets')
  if (targets === undefined) return undefined
  if (root !== undefined && !meetsThreshold(targets, root.signed.keys, roles!.targets)) {
    c.add('VALID-TARGETS-SIG', targets.cid, `targets is not signed by ${roles!.targets.threshold} of the root's targets keys`)
  }
  return { snap, root, targets, dt, retired }
}

/** The parts of a Dag (NOTES 4.1) other than its loading methods. */
export interface DagParts {
  snapshot: SnapshotEnvelope
  root: RootEnvelope
  targets: TargetsEnvelope
  roles: ReadonlyMap<string, CID>
  retired: ReadonlyMap<string, CID>
}

/**
 * A Dag over `parts` whose delegated objects `loader` loads on demand (or,
 * with `delegated`, a FullDag whose objects are those). It checks nothing:
 * callers build one from what VALID or VALID_top checked, or from what they
 * published themselves.
 */
export function dagOf (loader: Pick<Loader, 'load' | 'target' | 'targetEntries'>, parts: DagParts): Dag
export function dagOf (loader: Pick<Loader, 'load' | 'target' | 'targetEntries'>, parts: DagParts, delegated: ReadonlyMap<string, TargetsEnvelope>): FullDag
export function dagOf (loader: Pick<Loader, 'load' | 'target' | 'targetEntries'>, parts: DagParts, delegated?: ReadonlyMap<string, TargetsEnvelope>): Dag {
  const { snapshot, roles } = parts
  const loaded = new Map<string, TargetsEnvelope>(delegated ?? [])
  const pending = new Map<string, Promise<TargetsEnvelope>>()
  const dag: Dag = {
    ...parts,
    maps: loader,
    loadedRoles: loaded,
    role: async (name: string): Promise<TargetsEnvelope> => {
      const have = loaded.get(name)
      if (have !== undefined) return have
      let p = pending.get(name)
      if (p === undefined) {
        p = (async () => {
          const cid = roles.get(name)
          if (cid === undefined) {
            throw new ValidationError('VALID-DELEG-LISTED', `role ${name} is delegated but not listed in the snapshot's delegated-targets`, { details: { cid: snapshot.cid.toString(), role: name } })
          }
          try {
            const env = await loader.load('targets', cid)
            loaded.set(name, env)
            return env
          } catch (e) {
            const rule = ruleOfLoadError(e)
            if (rule === undefined || e instanceof ValidationError) throw e
            throw new ValidationError(rule, `delegated-targets.${name} ${cid}: ${messageOf(e)}`, { cause: e, details: { cid: cid.toString(), role: name, reason: (e as { code?: string }).code } })
          }
        })()
        pending.set(name, p)
        const pp = p
        p.catch(() => { if (pending.get(name) === pp) pending.delete(name) })
      }
      return await p
    }
  }
  return delegated === undefined ? dag : { ...dag, delegated } as FullDag
}

function partsOf (top: Top & { root: RootEnvelope }): DagParts {
  return { snapshot: top.snap, root: top.root, targets: top.targets, roles: top.dt, retired: top.retired }
}

async function walkSnapshot (loader: Loader, snapCid: CID, c: Collector, limits: ResolvedLimits, ts?: TimestampEnvelope): Promise<FullDag | undefined> {
  const top = await walkTop(loader, snapCid, c, ts)
  if (top === undefined) return undefined
  const { snap, root, targets, dt } = top

  const { objs, into, complete } = await walkDelegations(loader, snap, dt, targets, c, limits)
  if (complete) {
    for (const name of dt.keys()) {
      if (!objs.has(name)) c.add('VALID-DELEG-REACHABLE', snap.cid, `${name} is listed but no delegation chain from targets reaches it`)
    }
    // BOUND-GLOB: one budget for all the matching of this walk.
    const budget = new GlobBudget(limits.maxGlobSteps, 'VALID-DELEG-PATHS')
    paths: for (const [name, obj] of objs) {
      if (name === 'targets' || obj === undefined) continue
      let entries: AsyncIterable<{ key: string }>
      try {
        entries = loader.targetEntries(obj.signed.targets)
      } catch (e) {
        const rule = ruleOfLoadError(e)
        if (rule === undefined) throw e
        c.add(rule, obj.cid, `${name}.targets: ${messageOf(e)}`, e)
        continue
      }
      const iterator = entries[Symbol.asyncIterator]()
      for (;;) {
        let next: IteratorResult<{ key: string }>
        try {
          next = await iterator.next()
        } catch (e) {
          const rule = ruleOfLoadError(e)
          if (rule === undefined) throw e
          c.add(rule, obj.cid, `${name}.targets: ${messageOf(e)}`, e)
          break
        }
        if (next.done === true) break
        const path = next.value.key
        let allowed: boolean
        try {
          allowed = pathAllowed(path, name, into, budget)
        } catch (e) {
          if (!(e instanceof ValidationError) || e.code !== 'BOUND-GLOB') throw e
          // Nothing more can be matched: report the bound once and stop checking paths.
          c.add('BOUND-GLOB', obj.cid, `checking the paths of ${name} (${JSON.stringify(path.slice(0, 128))}) took more than ${limits.maxGlobSteps} glob steps`, e)
          break paths
        }
        if (!allowed) {
          c.add('VALID-DELEG-PATHS', obj.cid, `${name} lists ${JSON.stringify(path.slice(0, 128))}, which no delegation chain from targets allows`)
        }
      }
    }
  }

  if (!c.ok || root === undefined) return undefined
  const delegated = new Map<string, TargetsEnvelope>()
  for (const name of dt.keys()) delegated.set(name, objs.get(name)!)
  return dagOf(loader, partsOf({ ...top, root }), delegated)
}

// ---------------------------------------------------------------------------
// Entry points

/** How much of VALID to check: all of it (NOTES 4), or its top (NOTES 4.1). */
type Scope = 'full' | 'top'
type DagOf<S extends Scope> = S extends 'full' ? FullDag : Dag

async function walkScope<S extends Scope> (scope: S, loader: Loader, snapCid: CID, c: Collector, limits: ResolvedLimits, ts?: TimestampEnvelope): Promise<DagOf<S> | undefined> {
  if (scope === 'full') return await walkSnapshot(loader, snapCid, c, limits, ts) as DagOf<S> | undefined
  const top = await walkTop(loader, snapCid, c, ts)
  if (top === undefined || !c.ok || top.root === undefined) return undefined
  return dagOf(loader, partsOf({ ...top, root: top.root })) as DagOf<S>
}

/** The body of VALID (or VALID_top) of a timestamp's DAG. */
function ofTimestamp<S extends Scope> (scope: S, loader: Loader, cid: CID) {
  return async (c: Collector, limits: ResolvedLimits): Promise<DagOf<S> | undefined> => {
    const ts = await loadOrReport(loader, 'timestamp', cid, c, 'timestamp')
    if (ts === undefined) return undefined
    const dag = await walkScope(scope, loader, ts.signed.snapshot, c, limits, ts)
    return dag === undefined ? undefined : { ...dag, timestamp: ts }
  }
}

async function run<D extends Dag> (opts: ValidateOptions, body: (c: Collector, limits: ResolvedLimits) => Promise<D | undefined>): Promise<ValidReport<D> & { cause?: unknown }> {
  const c = new Collector(opts.failFast === true)
  const limits = resolveLimits(opts.limits)
  let dag: D | undefined
  let cause: unknown
  try {
    dag = await body(c, limits)
  } catch (e) {
    if (!(e instanceof Stop)) throw e
    cause = e.cause
  }
  if (c.ok && dag !== undefined) return { valid: true, violations: [], dag }
  return { valid: false, violations: [...c.violations], cause }
}

/** Per-loader caches of complete reports (default limits, report mode): VALID is pure. */
const reportCache = new WeakMap<Loader, Map<string, Promise<ValidReport<Dag>>>>()

function cached<D extends Dag> (loader: Loader, key: string, opts: ValidateOptions, compute: () => Promise<ValidReport<D>>): Promise<ValidReport<D>> {
  if (opts.failFast === true || opts.limits !== undefined) return compute()
  let m = reportCache.get(loader)
  if (m === undefined) reportCache.set(loader, m = new Map())
  let p = m.get(key) as Promise<ValidReport<D>> | undefined
  if (p === undefined) {
    const q = compute()
    p = q
    m.set(key, q)
    const mm = m
    q.catch(() => { if (mm.get(key) === q) mm.delete(key) })
  }
  return p.then((r) => r.dag === undefined ? { valid: r.valid, violations: [...r.violations] } : { valid: r.valid, violations: [...r.violations], dag: r.dag })
}

function strip<D extends Dag> (r: ValidReport<D> & { cause?: unknown }): ValidReport<D> {
  return r.dag === undefined ? { valid: r.valid, violations: r.violations } : { valid: r.valid, violations: r.violations, dag: r.dag }
}

async function assertRun<D extends Dag> (opts: Omit<ValidateOptions, 'failFast'>, body: (c: Collector, limits: ResolvedLimits) => Promise<D | undefined>): Promise<D> {
  const r = await run({ ...opts, failFast: true }, body)
  if (r.valid && r.dag !== undefined) return r.dag
  throw violationError(r.violations[0]!, r.cause)
}

/**
 * VALID of the DAG of timestamp `cid` (NOTES section 4).
 *
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 * @throws {UsageError} for malformed options
 */
export async function validateTimestamp (loader: Loader, cid: CID, opts: ValidateOptions = {}): Promise<ValidReport> {
  return await cached(loader, `timestamp ${cid.toString()}`, opts, async () => strip(await run(opts, ofTimestamp('full', loader, cid))))
}

/**
 * VALID of the DAG of snapshot `cid`: every rule of section 4 but VALID-TS-SIG.
 *
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 * @throws {UsageError} for malformed options
 */
export async function validateSnapshot (loader: Loader, cid: CID, opts: ValidateOptions = {}): Promise<ValidReport> {
  return await cached(loader, `snapshot ${cid.toString()}`, opts, async () => strip(await run(opts, async (c, limits) => await walkScope('full', loader, cid, c, limits))))
}

/**
 * VALID_top of the DAG of timestamp `cid` (NOTES 4.1): the timestamp,
 * snapshot, root, top-level targets and role maps; not the delegated roles.
 *
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 * @throws {UsageError} for malformed options
 */
export async function validateTimestampTop (loader: Loader, cid: CID, opts: ValidateOptions = {}): Promise<ValidReport<Dag>> {
  return await cached(loader, `top timestamp ${cid.toString()}`, opts, async () => strip(await run(opts, ofTimestamp('top', loader, cid))))
}

/**
 * VALID_top of the DAG of snapshot `cid`: VALID_top but VALID-TS-SIG.
 *
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 * @throws {UsageError} for malformed options
 */
export async function validateSnapshotTop (loader: Loader, cid: CID, opts: ValidateOptions = {}): Promise<ValidReport<Dag>> {
  return await cached(loader, `top snapshot ${cid.toString()}`, opts, async () => strip(await run(opts, async (c, limits) => await walkScope('top', loader, cid, c, limits))))
}

/**
 * Fail-fast VALID of a timestamp's DAG (publishers, verifiers, client recovery).
 *
 * @returns the DAG when VALID holds
 * @throws {ValidationError} code = the first rule violated, details.cid = the object at fault
 * @throws {BlockError} when a block cannot be fetched
 */
export async function assertValidTimestamp (loader: Loader, cid: CID, opts: Omit<ValidateOptions, 'failFast'> = {}): Promise<FullDag> {
  return await assertRun(opts, ofTimestamp('full', loader, cid))
}

/**
 * Fail-fast VALID of a snapshot's DAG.
 *
 * @throws {ValidationError} code = the first rule violated
 * @throws {BlockError} when a block cannot be fetched
 */
export async function assertValidSnapshot (loader: Loader, cid: CID, opts: Omit<ValidateOptions, 'failFast'> = {}): Promise<FullDag> {
  return await assertRun(opts, async (c, limits) => await walkScope('full', loader, cid, c, limits))
}

/**
 * Fail-fast VALID_top of a timestamp's DAG: what a client update checks
 * (CLIENT-VALID-TOP); the delegated roles are checked by the searches that
 * visit them.
 *
 * @throws {ValidationError} code = the first rule violated, details.cid = the object at fault
 * @throws {BlockError} when a block cannot be fetched
 */
export async function assertValidTimestampTop (loader: Loader, cid: CID, opts: Omit<ValidateOptions, 'failFast'> = {}): Promise<Dag> {
  return await assertRun(opts, ofTimestamp('top', loader, cid))
}

/**
 * The violations of VALID_top of snapshot `cid` other than those of its role
 * maps (their shards and VALID-RETIRED-DISJOINT), which the caller checks
 * on the maps' difference from a predecessor whose VALID_top it knows
 * (the relations `<-ᵗ`, NOTES 5.6). For a first snapshot (previous-version
 * null) VALID-SNAP-FIRST-RETIRED is still checked: its retired map must be
 * the empty map, whose root is unique (canonical), else it is read.
 *
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 */
export async function snapshotTopWithoutMaps (loader: Loader, cid: CID, opts: ValidateOptions = {}): Promise<Violation[]> {
  const r = await run(opts, async (c) => {
    const top = await walkTop(loader, cid, c, undefined, 'skip')
    return top === undefined || top.root === undefined ? undefined : dagOf(loader, partsOf({ ...top, root: top.root }))
  })
  return r.violations
}

/**
 * Fail-fast VALID_top of a snapshot's DAG.
 *
 * @throws {ValidationError} code = the first rule violated
 * @throws {BlockError} when a block cannot be fetched
 */
export async function assertValidSnapshotTop (loader: Loader, cid: CID, opts: Omit<ValidateOptions, 'failFast'> = {}): Promise<Dag> {
  return await assertRun(opts, async (c, limits) => await walkScope('top', loader, cid, c, limits))
}
