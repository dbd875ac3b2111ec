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
import { GlobBudget, PathMatcher } from './delegation.js'
import type { Loader } from './loader.js'
import { Collector, Stop, ruleOfLoadError, violationError, type Violation } from './report.js'

export type { Violation }

/**
 * The objects of a VALID DAG. `delegated` holds the object of every entry of
 * `delegated-targets`; `roles` and `retired` are the snapshot's two role maps
 * read from their shards. The targets maps stay in their shards (read them
 * through the loader).
 */
export interface Dag {
  timestamp?: TimestampEnvelope
  snapshot: SnapshotEnvelope
  root: RootEnvelope
  targets: TargetsEnvelope
  delegated: ReadonlyMap<string, TargetsEnvelope>
  roles: ReadonlyMap<string, CID>
  retired: ReadonlyMap<string, CID>
  /** The targets maps of this DAG, read through the loader that validated it. */
  maps: Pick<Loader, 'target' | 'targetEntries'>
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

export interface ValidReport {
  valid: boolean
  violations: Violation[]
  /** Present exactly when `valid`. */
  dag?: Dag
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
  return { ...LIMITS, ...overrides }
}

// ---------------------------------------------------------------------------
// Signatures

/** Verified counts per envelope and authorized key set (pure, so cached forever). */
const sigCounts = new WeakMap<object, Map<string, number>>()

/**
 * SIG-THRESHOLD-DISTINCT: whether `env` carries valid signatures from at
 * least `role.threshold` distinct keys among `role.keyids` resolved in
 * `keys`. Keyids missing from `keys` authorize nothing (their absence is
 * reported by VALID-ROOT-ROLES / VALID-DELEG-KEYS). Malformed signatures
 * count as none (SIG-MALFORMED).
 */
export function meetsThreshold (env: Envelope, keys: ReadonlyMap<KeyId, PublicKey>, role: RoleKeys): boolean {
  const authorized = new Map<KeyId, PublicKey>()
  for (const id of role.keyids) {
    const k = keys.get(id)
    if (k !== undefined) authorized.set(id, k)
  }
  // A decoded keys map holds each key under its own keyid (SIG-KEYID), so
  // the public keys name the set.
  const label = [...authorized.values()].map((k) => k.public).sort().join(',')
  let counts = sigCounts.get(env)
  if (counts === undefined) {
    counts = new Map()
    sigCounts.set(env, counts)
  }
  let n = counts.get(label)
  if (n === undefined) {
    n = countValidSignatures(env.signedBytes, env.signatures, authorized)
    counts.set(label, n)
  }
  return n >= role.threshold
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

async function walkSnapshot (loader: Loader, snapCid: CID, c: Collector, limits: ResolvedLimits, ts?: TimestampEnvelope): Promise<Dag | undefined> {
  const snap = await loadOrReport(loader, 'snapshot', snapCid, c, ts === undefined ? 'snapshot' : 'timestamp.snapshot')
  if (snap === undefined) return undefined
  const meta = snap.signed.meta

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
  const dt = await roleMapOrReport(loader, meta.delegatedTargets, c, 'meta.delegated-targets')
  const retired = await roleMapOrReport(loader, meta.retired, c, 'meta.retired')
  if (dt === undefined || retired === undefined) return undefined
  for (const name of retired.keys()) {
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
  return { snapshot: snap, root, targets, delegated, roles: dt, retired, maps: loader }
}

// ---------------------------------------------------------------------------
// Entry points

async function run (opts: ValidateOptions, body: (c: Collector, limits: ResolvedLimits) => Promise<Dag | undefined>): Promise<ValidReport & { cause?: unknown }> {
  const c = new Collector(opts.failFast === true)
  const limits = resolveLimits(opts.limits)
  let dag: Dag | undefined
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
const reportCache = new WeakMap<Loader, Map<string, Promise<ValidReport>>>()

function cached (loader: Loader, key: string, opts: ValidateOptions, compute: () => Promise<ValidReport>): Promise<ValidReport> {
  if (opts.failFast === true || opts.limits !== undefined) return compute()
  let m = reportCache.get(loader)
  if (m === undefined) reportCache.set(loader, m = new Map())
  let p = m.get(key)
  if (p === undefined) {
    p = compute()
    m.set(key, p)
    const mm = m
    p.catch(() => { if (mm.get(key) === p) mm.delete(key) })
  }
  return p.then((r) => r.dag === undefined ? { valid: r.valid, violations: [...r.violations] } : { valid: r.valid, violations: [...r.violations], dag: r.dag })
}

function strip (r: ValidReport & { cause?: unknown }): ValidReport {
  return r.dag === undefined ? { valid: r.valid, violations: r.violations } : { valid: r.valid, violations: r.violations, dag: r.dag }
}

/**
 * VALID of the DAG of timestamp `cid` (NOTES section 4).
 *
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 * @throws {UsageError} for malformed options
 */
export async function validateTimestamp (loader: Loader, cid: CID, opts: ValidateOptions = {}): Promise<ValidReport> {
  return await cached(loader, `timestamp ${cid.toString()}`, opts, async () => strip(await run(opts, async (c, limits) => {
    const ts = await loadOrReport(loader, 'timestamp', cid, c, 'timestamp')
    if (ts === undefined) return undefined
    const dag = await walkSnapshot(loader, ts.signed.snapshot, c, limits, ts)
    return dag === undefined ? undefined : { ...dag, timestamp: ts }
  })))
}

/**
 * VALID of the DAG of snapshot `cid`: every rule of section 4 but VALID-TS-SIG.
 *
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 * @throws {UsageError} for malformed options
 */
export async function validateSnapshot (loader: Loader, cid: CID, opts: ValidateOptions = {}): Promise<ValidReport> {
  return await cached(loader, `snapshot ${cid.toString()}`, opts, async () => strip(await run(opts, async (c, limits) => await walkSnapshot(loader, cid, c, limits))))
}

/**
 * Fail-fast VALID of a timestamp's DAG, for clients.
 *
 * @returns the DAG when VALID holds
 * @throws {ValidationError} code = the first rule violated, details.cid = the object at fault
 * @throws {BlockError} when a block cannot be fetched
 */
export async function assertValidTimestamp (loader: Loader, cid: CID, opts: Omit<ValidateOptions, 'failFast'> = {}): Promise<Dag> {
  const r = await run({ ...opts, failFast: true }, async (c, limits) => {
    const ts = await loadOrReport(loader, 'timestamp', cid, c, 'timestamp')
    if (ts === undefined) return undefined
    const dag = await walkSnapshot(loader, ts.signed.snapshot, c, limits, ts)
    return dag === undefined ? undefined : { ...dag, timestamp: ts }
  })
  if (r.valid && r.dag !== undefined) return r.dag
  throw violationError(r.violations[0]!, r.cause)
}

/**
 * Fail-fast VALID of a snapshot's DAG.
 *
 * @throws {ValidationError} code = the first rule violated
 * @throws {BlockError} when a block cannot be fetched
 */
export async function assertValidSnapshot (loader: Loader, cid: CID, opts: Omit<ValidateOptions, 'failFast'> = {}): Promise<Dag> {
  const r = await run({ ...opts, failFast: true }, async (c, limits) => await walkSnapshot(loader, cid, c, limits))
  if (r.valid && r.dag !== undefined) return r.dag
  throw violationError(r.violations[0]!, r.cause)
}
