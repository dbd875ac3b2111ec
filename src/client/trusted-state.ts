/**
 * TrustedState: the one object that decides whether a client may move from
 * what it trusts to a candidate timestamp (NOTES 7.2). Modelled on
 * python-tuf's TrustedMetadataSet: every client-side check lives here, in a
 * fixed order, with one reference time fixed at construction.
 *
 * The steps, each a method that must be called in this order:
 *
 *   1. constructor         fix the reference time (truncated to seconds)
 *   2. loadCandidate(T)    load and decode T, S = T.snapshot, R = S.meta.root
 *                          within the loader's bounds (BOUND-BLOCK-SIZE,
 *                          BOUND-BLOCKS, BOUND-BYTES); until steps 3 and 4
 *                          pass these are untrusted data
 *   3. verifyRootChain()   CLIENT-ROOT-CHAIN: R <-* R0, every step checked
 *                          (VALID-ROOT-*, SUCC-ROOT-LINK, SUCC-ROOT-THRESHOLD),
 *                          at most maxRootSteps steps (BOUND-ROOT-STEPS)
 *   4. verifyValid()       VALID_top T, fail-fast (CLIENT-VALID-TOP: the
 *                          timestamp, snapshot, root, top-level targets and
 *                          role maps; the delegated roles are judged by the
 *                          searches that visit them)
 *   5. verifyFresh()       CLIENT-EXPIRES for R, T, S and the top-level targets
 *   6. verifyContinuity()  when T0 exists: CLIENT-TS-DESCENDS (T <-* T0) if
 *                          R kept the snapshot and timestamp key sets of
 *                          Rt = load(S0.meta.root); otherwise CLIENT-RECOVER
 *                          with the per-object floors of CLIENT-FLOOR
 *   7. accepted()          the new state record, for the store to persist
 *                          atomically (CLIENT-STATE-ATOMIC, store.ts)
 *
 * Errors:
 * - a check that fails throws ValidationError whose `code` is the rule ID
 *   and whose `details.cid` is the offending object (`details.reason` holds
 *   the decoder's or block source's own code when one caused it). Client rules that rest
 *   on a relation (CLIENT-ROOT-CHAIN, CLIENT-TS-DESCENDS, CLIENT-FLOOR) carry
 *   the relation's own violations (SUCC-*, VALID-*, each with the CID at
 *   fault) in `details.violations`, `details.cid` being the candidate;
 *   a walk that ran out of steps is BOUND-ROOT-STEPS or BOUND-CHAIN;
 * - a block that could not be fetched (not a verdict on the data) propagates
 *   as the BlockError it is, and the update may be retried;
 * - trusted state that breaks the invariant of NOTES 7.1 (R0 = S0.meta.root)
 *   is StateError ERR_STATE_CORRUPT;
 * - calling a step out of order, or again after a failure, is a programming
 *   error: UsageError ERR_CALL_ORDER. A TrustedState serves one update.
 *
 * No clock is read here: `now` is an argument. Nothing here writes anything.
 */
import { entriesOf } from '../model/delegations.js'
import type { CID } from 'multiformats/cid'
import type { Kind } from '../model/config.js'
import { StateError, UsageError, ValidationError } from '../model/errors.js'
import type { RuleId } from '../model/rules.js'
import type { Envelope, KeyId, PublicKey, RoleKeys, RootEnvelope, SignedOf, SnapshotEnvelope, TargetsEnvelope, TimestampEnvelope } from '../model/types.js'
import { succStar, type Relation, type RelationOptions } from '../relations/index.js'
import type { Loader } from '../validate/loader.js'
import { ruleOfLoadError, type Violation } from '../validate/report.js'
import { assertValidSnapshotTop, assertValidTimestamp, assertValidTimestampTop, meetsThreshold, resolveLimits, type Dag, type LimitOverrides, type ResolvedLimits } from '../validate/valid.js'
import type { StateRecord, TrustedSnapshot } from './statefile.js'

/** A DAG accepted by an update: its top VALID (CLIENT-VALID-TOP), with its timestamp. */
export type TrustedDag = Dag & { readonly timestamp: TimestampEnvelope }

/** How the candidate relates to what was trusted (step 6). */
export type Continuity =
  | 'first' // no T0 yet: nothing to descend from
  | 'same' // T = T0 (reflexivity)
  | 'descends' // CLIENT-TS-DESCENDS held
  | 'recovered' // CLIENT-RECOVER: key sets changed, CLIENT-FLOOR held

export interface Floors {
  /** Roles whose floor was checked (`targets` and delegated names). */
  readonly kept: readonly string[]
  /**
   * Roles whose floor was dropped: the keys that now sign the role do not
   * vouch for the trusted object, or a name the new snapshot does not have
   * whose every delegator in the trusted DAG was released (CLIENT-FLOOR-RETIRED).
   */
  readonly dropped: readonly string[]
  /** Roles whose trusted object was overtaken by the role's own chain (CLIENT-FLOOR-OVERTAKE). */
  readonly overtaken: readonly string[]
}

export interface Accepted {
  readonly record: StateRecord
  readonly dag: TrustedDag
  /** Role names whose object changed: root, timestamp, snapshot, targets, delegated names. */
  readonly changed: readonly string[]
  readonly continuity: Continuity
  /** CIDs from R0 to R (R0 alone when the root did not change). */
  readonly rootChain: readonly string[]
  /** Present when continuity is 'recovered'. */
  readonly floors?: Floors
}

export type { LimitOverrides }

export interface TrustedStateOptions {
  /** The only way to blocks: cache and source, bounded for this update. */
  loader: Loader
  /** The reference time; truncated to whole seconds (NOTES 6). */
  now: Date
  /** Overrides of LIMITS (tests, small devices). */
  limits?: LimitOverrides
}

/** `YYYY-MM-DDTHH:MM:SSZ` of a date, truncated to whole seconds. */
export function referenceTimeOf (now: Date): string {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new UsageError('ERR_ARGUMENT', 'now: expected a valid Date')
  return now.toISOString().slice(0, 19) + 'Z'
}

/** NOTES 6: fresh when `expires` is strictly later than the reference time (strings compare as times). */
export function isFresh (expires: string, referenceTime: string): boolean {
  return expires > referenceTime
}

/**
 * CLIENT-EXPIRES for the objects every use of a DAG relies on: its root,
 * timestamp, snapshot and top-level targets are fresh at `referenceTime`.
 * Run by an update (step 5) and again by each use of the trusted state.
 *
 * @throws {ValidationError} CLIENT-EXPIRES, details { cid, role, expires, referenceTime }
 */
export function assertFresh (dag: TrustedDag, referenceTime: string, hint = ''): void {
  const used: Array<[string, { cid: CID, signed: { expires: string } }]> = [['root', dag.root], ['timestamp', dag.timestamp], ['snapshot', dag.snapshot], ['targets', dag.targets]]
  for (const [role, env] of used) {
    if (!isFresh(env.signed.expires, referenceTime)) {
      throw new ValidationError('CLIENT-EXPIRES', `${role} ${env.cid} expired at ${env.signed.expires} (reference time ${referenceTime})${hint}`, { details: { cid: env.cid.toString(), role, expires: env.signed.expires, referenceTime } })
    }
  }
}

/** Equal sets of keyids and equal thresholds (CLIENT-TS-DESCENDS, CLIENT-FLOOR). */
export function sameKeySet (a: RoleKeys, b: RoleKeys): boolean {
  if (a.threshold !== b.threshold) return false
  const x = new Set(a.keyids)
  const y = new Set(b.keyids)
  if (x.size !== y.size) return false
  for (const k of x) if (!y.has(k)) return false
  return true
}

/** One label as a comparable string: threshold and the sorted set of keyids. */
function labelKey (role: RoleKeys): string {
  return `${role.threshold}:${[...new Set(role.keyids)].sort().join(',')}`
}

/** Delegation edges of a DAG: delegator -> delegated names, and each name's incoming labels. */
export interface Edges {
  /** D -> names N such that D -> N is an edge (D in Reach, N listed). */
  readonly out: ReadonlyMap<string, readonly string[]>
  /** N -> its authorization: the set of (keyids, threshold) over all edges into N, as one string. */
  readonly authorization: ReadonlyMap<string, string>
  /** N -> every label of an edge into N (for `targets`: the root's targets role). */
  readonly labels: ReadonlyMap<string, Label[]>
}

/** One label under which a DAG authorizes a role: the (keyids, threshold) and the keys they name. */
export interface Label {
  readonly keys: ReadonlyMap<KeyId, PublicKey>
  readonly role: RoleKeys
}

/**
 * The edges of a DAG whose top is VALID (NOTES 1 and CLIENT-FLOOR): from
 * `targets`, breadth-first through listed names, every entry `D -> N` of a
 * reached delegator D whose N is listed. A listed object that does not
 * decode delegates nothing (its own use fails when a search visits it).
 * Loads every reached object: used under recovery only.
 *
 * @throws {ValidationError} BOUND-DELEGATIONS past `maxDelegationsVisited` delegators
 * @throws {BlockError} when an object cannot be fetched
 */
export async function edgesOf (dag: Dag, limits: ResolvedLimits = resolveLimits(undefined)): Promise<Edges> {
  const listed = dag.roles
  const out = new Map<string, string[]>()
  const sets = new Map<string, Set<string>>()
  const labels = new Map<string, Label[]>([['targets', [{ keys: dag.root.signed.keys, role: dag.root.signed.roles.targets }]]])
  const queue: string[] = ['targets']
  const seen = new Set<string>(queue)
  for (let qi = 0; qi < queue.length; qi++) {
    const from = queue[qi]!
    if (qi >= limits.maxDelegationsVisited) {
      throw new ValidationError('BOUND-DELEGATIONS', `the delegation graph of ${dag.snapshot.cid} has more than ${limits.maxDelegationsVisited} reachable roles`, { details: { cid: dag.snapshot.cid.toString() } })
    }
    let obj: TargetsEnvelope
    if (from === 'targets') obj = dag.targets
    else {
      try {
        obj = await dag.role(from)
      } catch (e) {
        if (ruleOfLoadError(e) === undefined || (e instanceof ValidationError && WORK_BOUNDS.has(e.code))) throw e
        out.set(from, [])
        continue
      }
    }
    const children: string[] = []
    const d = obj.signed.delegations
    for (const e of d === undefined ? [] : entriesOf(d)) {
      if (!listed.has(e.name)) continue
      children.push(e.name)
      let set = sets.get(e.name)
      if (set === undefined) sets.set(e.name, set = new Set())
      set.add(labelKey(e))
      let l = labels.get(e.name)
      if (l === undefined) labels.set(e.name, l = [])
      l.push({ keys: d!.keys, role: e })
      if (!seen.has(e.name)) {
        seen.add(e.name)
        queue.push(e.name)
      }
    }
    out.set(from, children)
  }
  const authorization = new Map<string, string>()
  for (const [n, set] of sets) authorization.set(n, [...set].sort().join('|'))
  return { out, authorization, labels }
}

type Phase = 'new' | 'loaded' | 'rootChain' | 'valid' | 'fresh' | 'continuity' | 'failed'
const ORDER: readonly Phase[] = ['new', 'loaded', 'rootChain', 'valid', 'fresh', 'continuity']

/**
 * A client rule that failed because a relation does not hold. `details.cid`
 * is the candidate object the client was offered (the timestamp, the root,
 * the role's object); the relation's violations, each with the CID of the
 * object at fault, are in `details.violations`, the first also in the message.
 */
/**
 * Bounds on the work of one update. Running out of one says nothing about
 * the data: it is reported under the bound's own rule, never as the client
 * rule whose check it interrupted (a BOUND-BYTES in the middle of a `<-*`
 * walk is not a rollback, NOTES 9).
 */
const WORK_BOUNDS: ReadonlySet<string> = new Set(['BOUND-CHAIN', 'BOUND-BLOCKS', 'BOUND-BYTES', 'BOUND-GLOB', 'BOUND-DELEGATIONS', 'BOUND-DELEGATION-DEPTH'])

/** The ValidationError for a relation that does not hold: its work bound if one ran out, else `rule`. */
function chainError (rule: RuleId, rel: Relation, cid: CID, message: string): ValidationError {
  const bound = rel.violations.find((v) => WORK_BOUNDS.has(v.rule))
  if (bound !== undefined) return new ValidationError(bound.rule as RuleId, `${message}: ${bound.message}`, { details: { cid: bound.cid, check: rule } })
  return relationError(rule, rel, cid, message)
}

function relationError (rule: RuleId, rel: Relation, cid: CID, message: string): ValidationError {
  const first = rel.violations[0]
  const why = first === undefined ? '' : ` (${first.rule} at ${first.cid}: ${first.message})`
  return new ValidationError(rule, `${message}${why}`, { details: { cid: cid.toString(), violations: rel.violations.map((v: Violation) => ({ rule: v.rule, cid: v.cid, message: v.message })) } })
}

export class TrustedState {
  readonly referenceTime: string
  readonly trusted: StateRecord
  readonly #loader: Loader
  readonly #limits: ResolvedLimits
  readonly #relOpts: RelationOptions
  readonly #validOpts: { limits?: LimitOverrides }
  #phase: Phase = 'new'

  #timestamp: TimestampEnvelope | undefined
  #snapshot: SnapshotEnvelope | undefined
  #root: RootEnvelope | undefined
  #rootChain: string[] = []
  #dag: TrustedDag | undefined
  #continuity: Continuity | undefined
  #changed: string[] = []
  #floors: Floors | undefined

  /**
   * @param trusted what the client trusts now (R0, and T0... after a first update)
   * @throws {UsageError} ERR_ARGUMENT for a bad `now`, loader or limits
   */
  constructor (trusted: StateRecord, options: TrustedStateOptions) {
    if (trusted === null || typeof trusted !== 'object' || trusted.root === undefined) throw new UsageError('ERR_ARGUMENT', 'trusted: expected a state record')
    if (options?.loader === undefined || typeof options.loader.load !== 'function') throw new UsageError('ERR_ARGUMENT', 'loader: expected a Loader')
    this.trusted = trusted
    this.referenceTime = referenceTimeOf(options.now)
    this.#loader = options.loader
    const overrides = options.limits
    this.#limits = resolveLimits(overrides)
    this.#relOpts = overrides === undefined ? {} : { limits: overrides }
    this.#validOpts = overrides === undefined ? {} : { limits: overrides }
  }

  /** The phase reached so far (for diagnostics). */
  get phase (): string { return this.#phase }

  #enter (from: Phase, to: string): void {
    if (this.#phase !== from) {
      throw new UsageError('ERR_CALL_ORDER', `TrustedState: ${to} requires the ${from} step first (now at ${this.#phase}); the order is ${ORDER.join(' -> ')}`)
    }
  }

  async #step<T> (from: Phase, to: Phase, body: () => Promise<T> | T): Promise<T> {
    this.#enter(from, to)
    this.#phase = 'failed'
    const out = await body()
    this.#phase = to
    return out
  }

  /** Load with verdicts turned into rule-coded errors; fetch failures propagate. */
  async #load<K extends Kind> (kind: K, cid: CID, what: string): Promise<Envelope<SignedOf<K>>> {
    try {
      return await this.#loader.load(kind, cid)
    } catch (e) {
      const rule = ruleOfLoadError(e)
      if (rule === undefined || e instanceof ValidationError) throw e
      const code = (e as { code?: string }).code
      throw new ValidationError(rule, `${what} ${cid}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { cid: cid.toString(), reason: code } })
    }
  }

  /**
   * Step 2: load and decode the candidate timestamp, its snapshot and root.
   *
   * @throws {ValidationError} ENC-* / VALID-KIND / BOUND-* for blocks that are not what they must be
   * @throws {BlockError} when a block cannot be fetched
   */
  async loadCandidate (timestamp: CID): Promise<void> {
    await this.#step('new', 'loaded', async () => {
      this.#timestamp = await this.#load('timestamp', timestamp, 'timestamp')
      this.#snapshot = await this.#load('snapshot', this.#timestamp.signed.snapshot, 'snapshot')
      this.#root = await this.#load('root', this.#snapshot.signed.meta.root, 'root')
    })
  }

  /**
   * Step 3, CLIENT-ROOT-CHAIN: R <-* R0 within BOUND-ROOT-STEPS.
   *
   * @throws {ValidationError} CLIENT-ROOT-CHAIN | BOUND-ROOT-STEPS
   */
  async verifyRootChain (): Promise<readonly string[]> {
    return await this.#step('loaded', 'rootChain', async () => {
      const r = this.#root!
      const r0 = this.trusted.root
      if (r.cid.equals(r0)) {
        this.#rootChain = [r0.toString()]
        return this.#rootChain
      }
      const rel = await succStar(this.#loader, 'root', r.cid, r0, { ...this.#relOpts, maxChain: this.#limits.maxRootSteps })
      if (!rel.holds) {
        if (rel.violations.some((v) => v.rule === 'BOUND-CHAIN')) {
          throw new ValidationError('BOUND-ROOT-STEPS', `root ${r.cid} is not within ${this.#limits.maxRootSteps} root steps of the trusted root ${r0}`, { details: { cid: r.cid.toString(), max: this.#limits.maxRootSteps } })
        }
        throw chainError('CLIENT-ROOT-CHAIN', rel, r.cid, `root ${r.cid} does not descend from the trusted root ${r0}`)
      }
      // The witness runs from R back to R0; people read chains forwards.
      this.#rootChain = [...rel.witness].reverse()
      return this.#rootChain
    })
  }

  /**
   * Step 4: VALID_top T, fail-fast (CLIENT-VALID-TOP).
   *
   * @throws {ValidationError} the first VALID-* (or ENC-*, BOUND-*) rule violated
   */
  async verifyValid (): Promise<TrustedDag> {
    return await this.#step('rootChain', 'valid', async () => {
      const dag = await assertValidTimestampTop(this.#loader, this.#timestamp!.cid, this.#validOpts)
      if (dag.timestamp === undefined || !dag.root.cid.equals(this.#root!.cid) || !dag.snapshot.cid.equals(this.#snapshot!.cid)) {
        // assertValidTimestamp walks the same links; anything else is a bug.
        throw new Error('VALID returned a DAG other than the candidate')
      }
      this.#dag = dag as TrustedDag
      return this.#dag
    })
  }

  /**
   * Step 5, CLIENT-EXPIRES: the root, timestamp, snapshot and top-level
   * targets of the candidate are fresh at the reference time.
   *
   * @throws {ValidationError} CLIENT-EXPIRES
   */
  async verifyFresh (): Promise<void> {
    await this.#step('valid', 'fresh', () => { assertFresh(this.#dag!, this.referenceTime) })
  }

  /**
   * Step 6: CLIENT-TS-DESCENDS, or CLIENT-RECOVER with CLIENT-FLOOR.
   *
   * @throws {ValidationError} CLIENT-TS-DESCENDS | CLIENT-FLOOR | BOUND-CHAIN
   * @throws {StateError} ERR_STATE_CORRUPT when the trusted state breaks R0 = S0.meta.root
   */
  async verifyContinuity (): Promise<Continuity> {
    return await this.#step('fresh', 'continuity', async () => {
      this.#continuity = await this.#continuityOf()
      this.#changed = await changedRoles(this.#loader, this.trusted, this.#dag!)
      return this.#continuity
    })
  }

  async #continuityOf (): Promise<Continuity> {
    const t0 = this.trusted.trusted
    if (t0 === null) return 'first'
    const dag = this.#dag!
    if (dag.timestamp.cid.equals(t0.timestamp)) return 'same'
    const s0 = await this.#load('snapshot', t0.snapshot, 'trusted snapshot')
    if (!s0.signed.meta.root.equals(this.trusted.root)) {
      throw new StateError('ERR_STATE_CORRUPT', `trusted snapshot ${t0.snapshot} names root ${s0.signed.meta.root}, not the trusted root ${this.trusted.root}`, { details: { cid: t0.snapshot.toString() } })
    }
    const rt = await this.#load('root', s0.signed.meta.root, 'trusted root')
    const roles = dag.root.signed.roles
    const same = sameKeySet(roles.snapshot, rt.signed.roles.snapshot) && sameKeySet(roles.timestamp, rt.signed.roles.timestamp)
    if (same) {
      // CLIENT-TS-DESCENDS: T <-* T0, i.e. S <-* S0 with every step <- (VALID_top premises, NOTES 5.6).
      if (dag.snapshot.cid.equals(t0.snapshot)) return 'descends'
      // S0's VALID_top was checked when it was accepted: its maps are the
      // base from which each step checks the next on their difference. Only
      // the verdict is used: the walk keeps no CID per step (witness: 'ends').
      const rel = await succStar(this.#loader, 'snapshot', dag.snapshot.cid, t0.snapshot, { ...this.#relOpts, premise: 'top', established: t0.snapshot, witness: 'ends' })
      if (!rel.holds) throw chainError('CLIENT-TS-DESCENDS', rel, dag.timestamp.cid, `timestamp ${dag.timestamp.cid} does not descend from the trusted timestamp ${t0.timestamp}`)
      return 'descends'
    }
    // CLIENT-RECOVER: the snapshot or timestamp keys changed; keep the floors
    // whose authority did not (CLIENT-FLOOR).
    this.#floors = await this.#checkFloors(t0)
    return 'recovered'
  }

  async #checkFloors (t0: TrustedSnapshot): Promise<Floors> {
    const dag = this.#dag!
    // S0 was accepted with its top VALID (CLIENT-VALID-TOP); it still is.
    const old = await assertValidSnapshotTop(this.#loader, t0.snapshot, this.#validOpts)
    // The role maps of both snapshots, as VALID_top read them from their shards.
    const m0 = { delegatedTargets: old.roles, retired: old.retired }
    const m = { delegatedTargets: dag.roles, retired: dag.retired }
    // Under recovery the new DAG must be VALID as a whole: the floors are
    // judged by every label it gives each role (CLIENT-FLOOR), so every edge
    // must be one its delegator signed for.
    const full = await assertValidTimestamp(this.#loader, dag.timestamp.cid, this.#validOpts)
    const edgesNow = await edgesOf(full, this.#limits)
    const edgesThen = await edgesOf(old, this.#limits)
    const labelsNow = edgesNow.labels
    const labelsThen = edgesThen.labels
    const kept: string[] = []
    const dropped: string[] = []
    const overtaken: string[] = []
    /** Roles whose trusted object no longer binds them: their delegations in S0 speak for no one. */
    const released = new Set<string>()
    const absent: string[] = []
    const roles = ['targets', ...m0.delegatedTargets.keys(), ...m0.retired.keys()]
    for (const n of roles) {
      const floor = n === 'targets' ? old.targets.cid : (m0.delegatedTargets.get(n) ?? m0.retired.get(n)!)
      const listed = n === 'targets' || m.delegatedTargets.has(n)
      const pos = n === 'targets' ? dag.targets.cid : (m.delegatedTargets.get(n) ?? m.retired.get(n))
      if (pos === undefined) {
        absent.push(n)
        continue
      }
      // CLIENT-FLOOR: the floor binds while the authority now in force vouches for it.
      const floorObj = await this.#load('targets', floor, `trusted ${n}`)
      const now = listed ? labelsNow.get(n) ?? [] : []
      if (!now.every((l) => meetsThreshold(floorObj, l.keys, l.role))) {
        dropped.push(n)
        released.add(n)
        continue
      }
      // CLIENT-FLOOR-RETIRED: a tombstone the new snapshot names is checked like
      // a listed object, and must be signed by the authority that signed the floor.
      let signedByThen = listed
      const same = pos.equals(floor)
      if (!listed && !same) {
        const then = m0.delegatedTargets.has(n) ? labelsThen.get(n) ?? [] : []
        const tomb = await this.#load('targets', pos, `tombstone of ${n}`)
        signedByThen = then.length > 0 && then.every((l) => meetsThreshold(tomb, l.keys, l.role))
        if (!signedByThen) {
          throw new ValidationError('CLIENT-FLOOR-RETIRED', `the new snapshot retires ${n} at ${pos}, which is not its trusted ${String(floor)} and is not signed by the keys that signed it`, { details: { cid: pos.toString(), role: n, floor: String(floor) } })
        }
      }
      if (same) {
        kept.push(n)
        continue
      }
      // Only the verdict is used: a one-pass walk that drops each object as it leaves it.
      const rel = await succStar(this.#loader, 'targets', pos, floor, { ...this.#relOpts, witness: 'ends' })
      if (rel.holds) {
        kept.push(n)
        continue
      }
      const bounded = rel.violations.some((v) => v.rule === 'BOUND-CHAIN')
      if (!bounded && signedByThen && await this.#overtakes(pos, floorObj)) {
        overtaken.push(n)
        released.add(n)
        continue
      }
      throw chainError('CLIENT-FLOOR', rel, pos, `${n} ${pos} neither descends from the trusted ${floor} nor overtakes it`)
    }
    // CLIENT-FLOOR-RETIRED: a name with a floor may vanish only when every
    // delegation that listed it in S0 came from a released role.
    const into = new Map<string, string[]>()
    for (const [from, children] of edgesThen.out) {
      for (const c of children) {
        let l = into.get(c)
        if (l === undefined) into.set(c, l = [])
        l.push(from)
      }
    }
    const absentSet = new Set(absent)
    const memo = new Map<string, boolean>()
    const mayVanish = (n: string): boolean => {
      const known = memo.get(n)
      if (known !== undefined) return known
      memo.set(n, false) // a cycle of absent names supports itself: not released
      // A tombstone of S0 never vanishes; a name S0 lists may, when every
      // delegator it had in S0 was released (none: a listing VALID_top let
      // through that no delegation vouched for).
      const listedThen = m0.delegatedTargets.has(n)
      const from = listedThen ? into.get(n) ?? [] : []
      const ok = listedThen && from.every((d) => released.has(d) || (absentSet.has(d) && mayVanish(d)))
      memo.set(n, ok)
      return ok
    }
    for (const n of absent) {
      if (!mayVanish(n)) {
        throw new ValidationError('CLIENT-FLOOR-RETIRED', `the new snapshot ${dag.snapshot.cid} neither lists nor retires ${n}, which the trusted snapshot ${t0.snapshot} has`, { details: { cid: dag.snapshot.cid.toString(), role: n } })
      }
      dropped.push(n)
    }
    return { kept, dropped: dropped.sort(), overtaken: overtaken.sort() }
  }

  /**
   * CLIENT-FLOOR-OVERTAKE: `pos` overtakes the floor object when the floor's
   * predecessor A is not null and pos's chain reaches A in two steps or more
   * (so not through the floor, which pos does not descend from).
   */
  async #overtakes (pos: CID, floor: TargetsEnvelope): Promise<boolean> {
    const a = floor.signed.previousVersion
    if (a === null || pos.equals(a)) return false
    const rel = await succStar(this.#loader, 'targets', pos, a, { ...this.#relOpts, witness: 'ends' })
    return rel.holds && rel.steps >= 2
  }

  /**
   * Step 7: the state record to persist, and what changed.
   *
   * @throws {UsageError} ERR_CALL_ORDER before verifyContinuity
   */
  accepted (): Accepted {
    this.#enter('continuity', 'accepted')
    const dag = this.#dag!
    const trusted: TrustedSnapshot = {
      timestamp: dag.timestamp.cid,
      snapshot: dag.snapshot.cid,
      targets: dag.targets.cid,
      roles: dag.snapshot.signed.meta.delegatedTargets,
      referenceTime: this.referenceTime
    }
    const record: StateRecord = { root: dag.root.cid, trusted }
    const out: Accepted = {
      record,
      dag,
      changed: [...this.#changed],
      continuity: this.#continuity!,
      rootChain: this.#rootChain
    }
    return this.#floors === undefined ? out : { ...out, floors: this.#floors }
  }

  /**
   * Run steps 2 to 7 in order.
   *
   * @throws whatever the steps throw
   */
  async update (timestamp: CID): Promise<Accepted> {
    await this.loadCandidate(timestamp)
    await this.verifyRootChain()
    await this.verifyValid()
    await this.verifyFresh()
    await this.verifyContinuity()
    return this.accepted()
  }
}

/**
 * The roles whose object differs between what `before` trusts and `dag`:
 * `root`, `timestamp`, `snapshot`, `targets`, then delegated names in
 * code-unit order. Delegated names come from the difference of the two role
 * maps (only the nodes that differ are read); after a first update, every
 * listed name.
 */
export async function changedRoles (loader: Loader, before: StateRecord, dag: TrustedDag): Promise<string[]> {
  const out: string[] = []
  if (!before.root.equals(dag.root.cid)) out.push('root')
  const a = before.trusted
  if (a === null || !a.timestamp.equals(dag.timestamp.cid)) out.push('timestamp')
  if (a === null || !a.snapshot.equals(dag.snapshot.cid)) out.push('snapshot')
  if (a === null || !a.targets.equals(dag.targets.cid)) out.push('targets')
  const names: string[] = []
  if (a === null) names.push(...dag.roles.keys())
  else for await (const ch of loader.roleDiff(dag.snapshot.signed.meta.delegatedTargets, a.roles)) names.push(ch.key)
  return [...out, ...names.sort()]
}
