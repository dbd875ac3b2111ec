/**
 * The successor relations `<-`, `<-?` and `<-*` between two objects of one
 * kind (NOTES section 5). Pure over a loader: no network beyond it, no clock.
 *
 * Guarantees:
 * - `succ` decides `A <- B` with every premise of its kind's rule: roots
 *   (SUCC-ROOT-LINK, SUCC-ROOT-THRESHOLD), targets (SUCC-TARGETS-LINK),
 *   snapshots (SUCC-SNAP-*), timestamps (SUCC-TS-SNAPSHOT); each premise
 *   `VALID X` is VALID of X's kind (the whole DAG for snapshots and
 *   timestamps, VALID-ROOT-* for a root, decoding for a targets object).
 *   With `premise: 'top'` a snapshot's or timestamp's premise is VALID_top
 *   (NOTES 5.6: the relations `<-ᵗ` a client update checks); the other
 *   premises are the same.
 * - `succOpt` is SUCC-OPT: equal CIDs with VALID A, or `A <- B`.
 * - `succStar` is SUCC-STAR: it walks `previous-version` links from A,
 *   at most `maxChain` steps (BOUND-CHAIN, default LIMITS.maxChainLength),
 *   locating B first and only then checking every step `<-`, so a long
 *   chain that does not lead to B costs block loads, not validations.
 * - On timestamps the three relations coincide (SUCC-TS-SNAPSHOT: `<-*` of
 *   their snapshots, which is reflexive), and the witness is the snapshot
 *   chain (NOTES 5.5). Elsewhere the witness is `[cid(A), ..., cid(B)]`,
 *   each CID the previous-version of the one before; `steps` counts them.
 *   With `witness: 'ends'` it is `[cid(A), cid(B)]` and a snapshot walk
 *   under the top premise holds nothing per step it has checked (NOTES 5.5,
 *   *Memory*).
 * - When a relation holds, `violations` is empty; when it does not, they say
 *   why, with rule IDs (the failing premise, then what caused it).
 * - Results of VALID and of `<-` steps are memoized per loader, keyed by CIDs
 *   (they are pure); failures that are not verdicts (block not found...)
 *   propagate as errors and are not memoized.
 */
import { CID } from 'multiformats/cid'
import type { Kind } from '../model/config.js'
import type { RuleId } from '../model/rules.js'
import { DecodeError, UsageError } from '../model/errors.js'
import type { Envelope, SignedOf } from '../model/types.js'
import { cidKey, type Loader } from '../validate/loader.js'
import { Collector, ruleOfLoadError, type Violation } from '../validate/report.js'
import { LIMITS } from '../model/config.js'
import { ladder, rung, type ChainPlace } from '../model/ladder.js'
import { ChainPrefetch } from './prefetch.js'
import { checkRoot, loadOrReport, meetsThreshold, resolveLimits, snapshotTopWithoutMaps, validateSnapshot, validateSnapshotTop, validateTimestamp, validateTimestampTop, type LimitOverrides, type ValidateOptions } from '../validate/valid.js'

export type { Violation }

export interface Relation {
  holds: boolean
  violations: Violation[]
  /**
   * When it holds: CIDs from A back to B (for timestamps, of their
   * snapshots); with `witness: 'ends'`, only A's and B's. Else empty.
   */
  witness: string[]
  /** When it holds: the number of `<-` steps from A back to B (for timestamps, of their snapshots). Else 0. */
  steps: number
}

export interface RelationOptions {
  /** Steps a `<-*` walk may take (BOUND-CHAIN). Default LIMITS.maxChainLength. */
  maxChain?: number
  /** Overrides of LIMITS for the VALID checks the relations make. */
  limits?: LimitOverrides
  /**
   * The premise `VALID X` for snapshots and timestamps: the whole DAG
   * (`'full'`, the default, NOTES 5) or its top (`'top'`, the relations
   * `<-ᵗ` a client update checks, NOTES 5.6 and CLIENT-VALID-TOP).
   */
  premise?: 'full' | 'top'
  /**
   * A snapshot whose VALID_top the caller established before (a client's
   * trusted snapshot, checked when it was accepted): as the far end of a
   * walk under the top premise its role maps are not read whole again.
   */
  established?: CID
  /**
   * Fetch a lagging snapshot chain ahead through its skips (NOTES 5.5,
   * *Work*). Default true; false fetches one snapshot at a time, as the walk
   * reaches it (the same relation; for comparison and measurement).
   */
  fetchAhead?: boolean
  /**
   * What a `<-*` that holds keeps of its chain: every CID (`'chain'`, the
   * default), or only its two ends, with `steps` still counting every step
   * (`'ends'`: a walk of K steps then holds nothing that grows with K, NOTES
   * 5.5, *Memory*).
   */
  witness?: 'chain' | 'ends'
}

const KINDS: ReadonlySet<string> = new Set(['root', 'targets', 'snapshot', 'timestamp'])

/** The rule broken when A's previous-version chain does not lead to B. */
const LINK_RULE: Readonly<Record<Exclude<Kind, 'timestamp'>, RuleId>> = Object.freeze({
  root: 'SUCC-ROOT-LINK',
  targets: 'SUCC-TARGETS-LINK',
  snapshot: 'SUCC-SNAP-LINK'
})

interface Ctx {
  readonly loader: Loader
  readonly top: boolean
  readonly vopts: ValidateOptions
  readonly valid: Map<string, Promise<Violation[]>>
  readonly steps: Map<string, Promise<Relation>>
}

const contexts = new WeakMap<Loader, Ctx>()
const topContexts = new WeakMap<Loader, Ctx>()

function contextOf (loader: Loader, opts: RelationOptions): Ctx {
  if (loader === null || typeof loader !== 'object' || typeof loader.load !== 'function') {
    throw new UsageError('ERR_ARGUMENT', 'expected a Loader')
  }
  const premise = opts.premise ?? 'full'
  if (premise !== 'full' && premise !== 'top') throw new UsageError('ERR_ARGUMENT', "premise: expected 'full' or 'top'")
  const top = premise === 'top'
  if (opts.limits !== undefined) {
    resolveLimits(opts.limits) // checks the overrides
    return { loader, top, vopts: { limits: opts.limits }, valid: new Map(), steps: new Map() }
  }
  const m = top ? topContexts : contexts
  let ctx = m.get(loader)
  if (ctx === undefined) m.set(loader, ctx = { loader, top, vopts: {}, valid: new Map(), steps: new Map() })
  return ctx
}

function checkArgs (kind: unknown, a: unknown, b: unknown): [CID, CID] {
  if (typeof kind !== 'string' || !KINDS.has(kind)) throw new UsageError('ERR_ARGUMENT', 'kind must be root, targets, snapshot or timestamp')
  const ca = CID.asCID(a)
  const cb = CID.asCID(b)
  if (ca === null || cb === null) throw new UsageError('ERR_ARGUMENT', 'a and b must be CIDs')
  return [ca, cb]
}

function maxChainOf (opts: RelationOptions): number {
  const m = opts.maxChain ?? resolveLimits(opts.limits).maxChainLength
  if (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0) throw new UsageError('ERR_ARGUMENT', 'maxChain: expected a non-negative integer')
  return m
}

/** RelationOptions.witness: true for `'ends'`. */
function endsOf (opts: RelationOptions): boolean {
  const w = opts.witness ?? 'chain'
  if (w !== 'chain' && w !== 'ends') throw new UsageError('ERR_ARGUMENT', "witness: expected 'chain' or 'ends'")
  return w === 'ends'
}

function v (rule: RuleId, cid: CID | string, message: string): Violation {
  return Object.freeze({ rule, cid: cid.toString(), message })
}

function dedupe (vs: readonly Violation[]): Violation[] {
  const seen = new Set<string>()
  const out: Violation[] = []
  for (const x of vs) {
    const k = `${x.rule}\u0000${x.cid}\u0000${x.message}`
    if (!seen.has(k)) {
      seen.add(k)
      out.push(x)
    }
  }
  return out
}

/** The relation: holds with `witness` (of `steps` steps, by default its length less one) when there are no violations. */
function result (violations: readonly Violation[], witness: readonly CID[], steps = witness.length - 1): Relation {
  const vs = dedupe(violations)
  return vs.length === 0
    ? { holds: true, violations: [], witness: witness.map(cidKey), steps }
    : { holds: false, violations: vs, witness: [], steps: 0 }
}

function copy (r: Relation): Relation {
  return { holds: r.holds, violations: [...r.violations], witness: [...r.witness], steps: r.steps }
}

function memo<T> (m: Map<string, Promise<T>>, key: string, compute: () => Promise<T>): Promise<T> {
  let p = m.get(key)
  if (p === undefined) {
    p = compute()
    m.set(key, p)
    p.catch(() => { if (m.get(key) === p) m.delete(key) })
  }
  return p
}

/**
 * VALID of one object of `kind` (NOTES section 5: the premise `VALID X`);
 * for snapshots and timestamps under the top premise, VALID_top read whole.
 */
function validOf (ctx: Ctx, kind: Kind, cid: CID): Promise<Violation[]> {
  return memo(ctx.valid, `${kind} ${cidKey(cid)}`, async () => {
    switch (kind) {
      case 'timestamp': return (await (ctx.top ? validateTimestampTop : validateTimestamp)(ctx.loader, cid, ctx.vopts)).violations
      case 'snapshot': return (await (ctx.top ? validateSnapshotTop : validateSnapshot)(ctx.loader, cid, ctx.vopts)).violations
      case 'root': {
        const c = new Collector()
        const env = await loadOrReport(ctx.loader, 'root', cid, c, 'root')
        if (env !== undefined) checkRoot(env, c)
        return c.violations
      }
      case 'targets': {
        const c = new Collector()
        await loadOrReport(ctx.loader, 'targets', cid, c, 'targets')
        return c.violations
      }
    }
  })
}

/**
 * The premise `VALID X` as a step checks it. Under the top premise a
 * snapshot's role maps are not read whole here: the step checks them on
 * their difference from the predecessor's (`mapStep`), and the walk's far
 * end, whose maps are the base of that induction, is checked whole
 * (`validOf`) by the entry points.
 */
function stepValidOf (ctx: Ctx, kind: Exclude<Kind, 'timestamp'>, cid: CID): Promise<Violation[]> {
  if (!(ctx.top && kind === 'snapshot')) return validOf(ctx, kind, cid)
  return memo(ctx.valid, `light ${cidKey(cid)}`, async () => await snapshotTopWithoutMaps(ctx.loader, cid, ctx.vopts))
}

/** The envelope, or undefined when it failed to load (already reported by validOf). */
async function envOf<K extends Kind> (ctx: Ctx, kind: K, cid: CID): Promise<Envelope<SignedOf<K>> | undefined> {
  try {
    return await ctx.loader.load(kind, cid)
  } catch {
    return undefined
  }
}

/**
 * A delegated object read by a snapshot step: undefined when it could not
 * be read for a reason that is a verdict (the data, or a work bound such as
 * BOUND-BLOCKS), which is added to `out` under its own rule so that a bound
 * is reported as a bound (BOUND-REPORTED); a failure to fetch propagates.
 */
async function roleObjectOf (ctx: Ctx, cid: CID, out: Violation[], read?: CID[]): Promise<Envelope<SignedOf<'targets'>> | undefined> {
  try {
    const env = await ctx.loader.load('targets', cid)
    read?.push(cid)
    return env
  } catch (e) {
    const rule = ruleOfLoadError(e)
    if (rule === undefined) throw e
    out.push(v(rule, cid, `targets ${cid}: ${e instanceof Error ? e.message : String(e)}`))
    return undefined
  }
}

function sameCid (a: CID | null, b: CID): boolean {
  return a !== null && a.equals(b)
}

function placeOf (e: Envelope<SignedOf<'snapshot'>>): ChainPlace {
  return { cid: e.cid, height: e.signed.height, previousVersion: e.signed.previousVersion, skips: e.signed.skips }
}

/**
 * `TargetsA <-? TargetsB` inside a snapshot step, where A is listed in
 * SnapA (NOTES 5.2 and 5.3): equal CIDs, or A decodes (VALID A for a
 * targets object) and names B. Only B's CID is needed. Returns why it
 * fails, or null.
 */
async function targetsOptReason (ctx: Ctx, a: CID, b: CID, out: Violation[], read?: CID[]): Promise<string | null> {
  if (a.equals(b)) return null
  const A = await roleObjectOf(ctx, a, out, read)
  if (A === undefined) return `${a} is not a targets object`
  if (sameCid(A.signed.previousVersion, b)) return null
  return `${a} has previous-version ${A.signed.previousVersion?.toString() ?? 'null'}, not ${b}`
}

/**
 * What a snapshot step `A <- B` read (for `forget`): the delegated objects it
 * loaded (all listed by A) and the role-map nodes of A's maps (`newer`), and
 * the nodes of B's maps (`older`).
 */
interface StepReads {
  readonly newer: CID[]
  readonly older: CID[]
}

/**
 * `A <- B` for roots, targets and snapshots, memoized by CID pair. `read`,
 * when given, collects what a snapshot step read.
 */
function step (ctx: Ctx, kind: Exclude<Kind, 'timestamp'>, a: CID, b: CID, read?: StepReads): Promise<Relation> {
  return memo(ctx.steps, `${kind} ${cidKey(a)} ${cidKey(b)}`, async () => {
    const out: Violation[] = [...await stepValidOf(ctx, kind, a)]
    if (!a.equals(b)) out.push(...await stepValidOf(ctx, kind, b))
    const A = await envOf(ctx, kind, a)
    const B = await envOf(ctx, kind, b)
    if (A !== undefined && !sameCid(A.signed.previousVersion, b)) {
      out.push(v(LINK_RULE[kind], a, `previous-version is ${A.signed.previousVersion?.toString() ?? 'null'}, not ${b}`))
    }
    if (kind === 'root' && A !== undefined && B !== undefined) {
      const rb = (B as Envelope<SignedOf<'root'>>).signed
      // SUCC-ROOT-THRESHOLD: the old root keys consent to the new root.
      if (!meetsThreshold(A, rb.keys, rb.roles.root)) {
        out.push(v('SUCC-ROOT-THRESHOLD', a, `not signed by ${rb.roles.root.threshold} of the root keys of ${b}`))
      }
    }
    if (kind === 'snapshot' && A !== undefined && B !== undefined) {
      out.push(...await snapshotPremises(ctx, A as Envelope<SignedOf<'snapshot'>>, B as Envelope<SignedOf<'snapshot'>>, read))
    }
    return result(out, [a, b])
  })
}

/** The SUCC-SNAP-* premises other than VALID and the link (NOTES 5.3). Both DAGs are VALID (or VALID_top) here. */
async function snapshotPremises (ctx: Ctx, A: Envelope<SignedOf<'snapshot'>>, B: Envelope<SignedOf<'snapshot'>>, read?: StepReads): Promise<Violation[]> {
  const out: Violation[] = []
  const a = A.cid
  const ma = A.signed.meta
  const mb = B.signed.meta

  // SUCC-SNAP-HEIGHT and SUCC-SNAP-SKIPS: A's place on the chain follows from
  // B's (judged only when A names B: otherwise SUCC-SNAP-LINK says it all).
  if (!sameCid(A.signed.previousVersion, B.cid)) {
    // nothing more to say about the place
  } else if (A.signed.height !== B.signed.height + 1) {
    out.push(v('SUCC-SNAP-HEIGHT', a, `height ${A.signed.height} does not follow ${B.cid} at height ${B.signed.height}`))
  } else {
    const want = ladder(A.signed.height).map((g) => rung(placeOf(B), g))
    const bad = want.findIndex((w, i) => w === undefined || !sameCid(A.signed.skips[i] ?? null, w))
    if (bad >= 0 || A.signed.skips.length !== want.length) {
      const i = bad >= 0 ? bad : want.length
      out.push(v('SUCC-SNAP-SKIPS', a, `skip ${i} is ${A.signed.skips[i]?.toString() ?? 'missing'}, not the ancestor ${want[i]?.toString() ?? '(none)'} that ${B.cid} names at height ${ladder(A.signed.height)[i] ?? '?'}`))
    }
  }

  // SUCC-SNAP-ROOT: A.root <-? B.root
  if (!ma.root.equals(mb.root)) {
    const r = await step(ctx, 'root', ma.root, mb.root)
    if (!r.holds) out.push(v('SUCC-SNAP-ROOT', a, `root ${ma.root} is neither ${mb.root} nor its successor`), ...r.violations)
  }
  // SUCC-SNAP-TARGETS: A.targets <-? B.targets
  const tr = await targetsOptReason(ctx, ma.targets, mb.targets, out, read?.newer)
  if (tr !== null) out.push(v('SUCC-SNAP-TARGETS', a, `targets is neither the previous one nor its successor: ${tr}`))

  out.push(...await mapStep(ctx, A, B, read))
  return out
}

/** The changes between two role maps, at most LIMITS.maxDelegatedRoles of them. */
async function changesOf (ctx: Ctx, newer: CID, older: CID, onRead?: (cid: CID, newer: boolean) => void): Promise<Array<{ key: string, before?: CID, after?: CID }>> {
  const out: Array<{ key: string, before?: CID, after?: CID }> = []
  for await (const ch of ctx.loader.roleDiff(newer, older, onRead)) {
    if (out.length >= 2 * LIMITS.maxDelegatedRoles) {
      throw new DecodeError('ERR_LIMIT', `role maps ${newer} and ${older} differ in more than ${2 * LIMITS.maxDelegatedRoles} names`, { details: { cid: newer.toString() } })
    }
    out.push(ch)
  }
  return out
}

/**
 * The SUCC-SNAP-* premises on the role maps (NOTES 5.3), computed on their
 * structural difference: only names whose entry differs are looked at, and
 * only the map nodes on the paths that differ are read. Equal to the rules
 * over whole maps when B's maps are disjoint (VALID B), which the step
 * requires. Under the top premise it also checks what VALID_top A says of
 * A's maps, given that it holds for B: every node read is checked in place
 * (the others are B's, at the same place), and VALID-RETIRED-DISJOINT for
 * the names that changed (the others were disjoint in B).
 */
async function mapStep (ctx: Ctx, A: Envelope<SignedOf<'snapshot'>>, B: Envelope<SignedOf<'snapshot'>>, read?: StepReads): Promise<Violation[]> {
  const out: Violation[] = []
  const a = A.cid
  const ma = A.signed.meta
  const mb = B.signed.meta
  /** Records a map node this step read, as A's (`newer`) or B's. */
  const note = read === undefined ? undefined : (c: CID, newer: boolean): void => { (newer ? read.newer : read.older).push(c) }
  let dt: Array<{ key: string, before?: CID, after?: CID }>
  let ret: Array<{ key: string, before?: CID, after?: CID }>
  try {
    dt = await changesOf(ctx, ma.delegatedTargets, mb.delegatedTargets, note)
    ret = await changesOf(ctx, ma.retired, mb.retired, note)
  } catch (e) {
    const rule = ruleOfLoadError(e)
    if (rule === undefined) throw e
    return [v(rule, a, `the role maps of ${a} and ${B.cid}: ${e instanceof Error ? e.message : String(e)}`)]
  }
  // An entry of one of A's maps (`newer`) or of B's.
  const entry = async (root: CID, name: string, newer: boolean): Promise<CID | undefined> =>
    await ctx.loader.roleEntry(root, name, note === undefined ? undefined : (c) => { note(c, newer) })

  for (const { key: n, before, after } of dt) {
    if (after !== undefined && before !== undefined) {
      // SUCC-SNAP-DELEG: names in both maps step by <-?
      const r = await targetsOptReason(ctx, after, before, out, read?.newer)
      if (r !== null) out.push(v('SUCC-SNAP-DELEG', a, `delegated role ${n} is neither the previous object nor its successor: ${r}`))
    } else if (after !== undefined) {
      // A name new to A.dt: re-added from a tombstone of B, or new.
      if (ctx.top && await entry(ma.retired, n, true) !== undefined) c0(out, a, n)
      const tomb = await entry(mb.retired, n, false)
      if (tomb !== undefined) {
        // SUCC-SNAP-RETIRED: a re-added role continues from its tombstone.
        const r = await targetsOptReason(ctx, after, tomb, out, read?.newer)
        if (r !== null) out.push(v('SUCC-SNAP-RETIRED', a, `re-added delegated role ${n} does not continue from its tombstone ${tomb}: ${r}`))
      } else {
        // SUCC-SNAP-NEW: a new name starts a new chain.
        const obj = await roleObjectOf(ctx, after, out, read?.newer)
        if (obj === undefined) {
          out.push(v('SUCC-SNAP-NEW', a, `new delegated role ${n} lists ${after}, which is not a targets object`))
        } else if (obj.signed.previousVersion !== null) {
          out.push(v('SUCC-SNAP-NEW', a, `new delegated role ${n} lists ${after}, whose previous-version is ${obj.signed.previousVersion} instead of null`))
        }
      }
    } else if (before !== undefined) {
      // SUCC-SNAP-REMOVED: a removed name leaves a tombstone with its last CID.
      const t = await entry(ma.retired, n, true)
      if (t === undefined || !t.equals(before)) {
        out.push(v('SUCC-SNAP-REMOVED', a, `removed delegated role ${n} must be retired with ${before}, found ${t?.toString() ?? 'no tombstone'}`))
      }
    }
  }
  for (const { key: n, before, after } of ret) {
    if (after !== undefined && ctx.top && await entry(ma.delegatedTargets, n, true) !== undefined) c0(out, a, n)
    if (before !== undefined) {
      // SUCC-SNAP-RETIRED: tombstones are permanent. A name re-added to A.dt
      // is checked above, as a name new to A.dt (B's maps are disjoint).
      if (await entry(ma.delegatedTargets, n, true) === undefined) {
        out.push(v('SUCC-SNAP-RETIRED', a, `tombstone of ${n} changed from ${before} to ${after?.toString() ?? 'nothing'}`))
      }
    } else if (after !== undefined && await entry(mb.delegatedTargets, n, false) === undefined) {
      // SUCC-SNAP-RETIRED: no invented tombstones.
      out.push(v('SUCC-SNAP-RETIRED', a, `tombstone of ${n} was neither listed nor retired by the previous snapshot`))
    }
  }
  return out
}

/** VALID-RETIRED-DISJOINT for a name that changed in A's maps. */
function c0 (out: Violation[], a: CID, n: string): void {
  out.push(v('VALID-RETIRED-DISJOINT', a, `${n} is both listed and retired`))
}

/**
 * One link back on a walk from `a` towards `b`: the `previous-version` of
 * `cur` (`steps` links already taken), or the relation that fails here
 * (BOUND-CHAIN, a load verdict, a chain that ends without reaching b, or, on
 * snapshots, one that reaches b's height elsewhere: NOTES 5.5, *Heights*).
 * `walk` hears of each snapshot passed (its prefetcher).
 */
async function linkBack (ctx: Ctx, kind: Exclude<Kind, 'timestamp'>, a: CID, b: CID, cur: CID, steps: number, maxChain: number, walk?: Walk): Promise<CID | Relation> {
  if (steps >= maxChain) {
    return result([v('BOUND-CHAIN', a, `${b} is not within ${maxChain} previous-version steps of ${a}`)], [])
  }
  const c = new Collector()
  const env = await loadOrReport(ctx.loader, kind, cur, c, `${kind} on the chain from ${a}`)
  if (env === undefined) return result(c.violations, [])
  if (walk !== undefined && kind === 'snapshot') {
    const h = (env as Envelope<SignedOf<'snapshot'>>).signed.height
    walk.prefetch?.passed(h)
    if (h <= walk.floor) {
      return result([v('SUCC-SNAP-LINK', cur, `the chain from ${a} reaches height ${h} at ${cur}, not at ${b} (height ${walk.floor})`)], [])
    }
  }
  const prev = env.signed.previousVersion
  if (prev === null) {
    return result([v(LINK_RULE[kind], cur, `the previous-version chain from ${a} ends at ${cur} without reaching ${b}`)], [])
  }
  return prev
}

/** A snapshot walk's far end height and its fetching ahead. */
interface Walk {
  readonly floor: number
  readonly prefetch?: ChainPrefetch
}

/**
 * Before walking from snapshot `a` to `b`: the relation's verdict when the
 * heights alone settle it (NOTES 5.5, *Heights*), else the walk's floor and a
 * prefetcher. Undefined when either end does not load (the walk reports that).
 */
async function snapshotWalk (ctx: Ctx, a: CID, b: CID, maxChain: number, fetchAhead: boolean): Promise<Walk | Relation | undefined> {
  const A = await envOf(ctx, 'snapshot', a)
  const B = await envOf(ctx, 'snapshot', b)
  if (A === undefined || B === undefined) return undefined
  const ha = A.signed.height
  const hb = B.signed.height
  if (ha <= hb) {
    return result([v('SUCC-SNAP-LINK', a, `${a} at height ${ha} cannot descend from ${b} at height ${hb}: its previous-version chain cannot lead there`)], [])
  }
  if (ha - hb > maxChain) {
    return result([v('BOUND-CHAIN', a, `${b} is not within ${maxChain} previous-version steps of ${a}: their heights differ by ${ha - hb}`)], [])
  }
  return { floor: hb, prefetch: fetchAhead && ha - hb > 1 ? new ChainPrefetch(ctx.loader, A.signed, hb) : undefined }
}

/** `<-*` for roots, targets and snapshots: walk, locate B, then check every step. */
async function star (ctx: Ctx, kind: Exclude<Kind, 'timestamp'>, a: CID, b: CID, maxChain: number, established: CID | undefined, fetchAhead: boolean, ends: boolean): Promise<Relation> {
  if (a.equals(b)) return result(await validOf(ctx, kind, a), [a])
  let walk: Walk | undefined
  if (kind === 'snapshot') {
    const w = await snapshotWalk(ctx, a, b, maxChain, fetchAhead)
    if (w !== undefined && 'holds' in w) return w
    walk = w
  }
  try {
    if (ctx.top && kind === 'snapshot' && ctx.loader.forget !== undefined) return await streamSnapshots(ctx, a, b, maxChain, ends, established, walk)
    if (kind === 'targets' && ends && ctx.loader.forget !== undefined) return await streamTargets(ctx, a, b, maxChain)
    const chain: CID[] = [a]
    for (let cur = a; ;) {
      const prev = await linkBack(ctx, kind, a, b, cur, chain.length - 1, maxChain, walk)
      if ('holds' in prev) return prev
      chain.push(prev)
      if (prev.equals(b)) break
      cur = prev
    }
    walk?.prefetch?.stop()
    const base = await anchor(ctx, kind, b, established)
    if (base.length > 0) return result(base, [])
    for (let i = 0; i + 1 < chain.length; i++) {
      const r = await step(ctx, kind, chain[i]!, chain[i + 1]!)
      if (!r.holds) return copy(r)
    }
    return ends ? result([], [a, b], chain.length - 1) : result([], chain)
  } finally {
    walk?.prefetch?.stop()
  }
}

/**
 * `<-*` on targets objects in one pass, keeping only the chain's ends: a
 * step `X <- Y` of a targets chain is VALID X and VALID Y (each decodes) and
 * the link, so once the walk has loaded Y from X's `previous-version`, X's
 * step holds but for Y's own check, made when the walk loads Y (or, for B,
 * at the end). Each object between A and B is dropped from the loader as the
 * walk leaves it. Same verdict as the two-pass walk.
 */
async function streamTargets (ctx: Ctx, a: CID, b: CID, maxChain: number): Promise<Relation> {
  let steps = 0
  for (let cur = a; ;) {
    const prev = await linkBack(ctx, 'targets', a, b, cur, steps, maxChain)
    if ('holds' in prev) return prev
    steps++
    if (!cur.equals(a)) ctx.loader.forget!(cur)
    if (prev.equals(b)) break
    cur = prev
  }
  return result(await validOf(ctx, 'targets', b), [a, b], steps)
}

/** Steps of a one-pass snapshot walk checked at once, at most. */
const STEP_CONCURRENCY = 64

/**
 * `<-*ᵗ` on snapshots in one pass and in memory independent of the chain's
 * length: each step is checked as the walk reaches it (a top-premise step
 * is light: one snapshot, its signature and the maps' difference), up to
 * STEP_CONCURRENCY steps at once, and settled in chain order; then the
 * newer snapshot and the role objects the step read are dropped from the
 * loader (`forget`), the walk's start excepted. The far end is checked last
 * (`anchor`). Same verdict as the two-pass walk; when a chain both breaks a
 * step and misses B, the step is what is reported (the first broken step in
 * chain order, whatever order the checks finish in). What a step read is
 * dropped too: its delegated objects and its newer snapshot's map nodes at
 * once, its older snapshot's map nodes when the next step (which reads them
 * as its newer side) has settled; except what the first step read of A's
 * maps and objects, which an update keeps. With `ends` the witness is [A, B]
 * and nothing is kept per step.
 */
async function streamSnapshots (ctx: Ctx, a: CID, b: CID, maxChain: number, ends: boolean, established?: CID, walk?: Walk): Promise<Relation> {
  const chain: string[] | undefined = ends ? undefined : [cidKey(a)]
  let steps = 0
  const queue: Array<{ cur: CID, prev: CID, read: StepReads, p: Promise<Relation> }> = []
  /** What the first step read of A's side: kept (at most one step's worth). */
  const first = new Set<string>()
  const drop = (xs: readonly CID[]): void => {
    for (const x of xs) if (!first.has(cidKey(x))) ctx.loader.forget!(x)
  }
  /**
   * The older side of the last settled step, dropped when the next one
   * settles: those map nodes are the next step's newer side, so they stay
   * until that step is done (not fetched twice).
   */
  let pending: CID[] = []
  const release = (): void => {
    drop(pending)
    pending = []
  }
  /** Settle the oldest queued step: its failure, or undefined after dropping what it read. */
  const settle = async (): Promise<Relation | undefined> => {
    const s = queue.shift()!
    const r = await s.p
    if (!r.holds) return copy(r)
    release()
    if (s.cur.equals(a)) {
      for (const x of s.read.newer) first.add(cidKey(x))
    } else {
      ctx.loader.forget!(s.cur)
      drop(s.read.newer)
      ctx.steps.delete(`snapshot ${cidKey(s.cur)} ${cidKey(s.prev)}`)
      ctx.valid.delete(`light ${cidKey(s.cur)}`)
    }
    pending = s.read.older
    return undefined
  }
  /** Settle every queued step in order: the first failure, if any (the rest are awaited, not reported). */
  const drain = async (): Promise<Relation | undefined> => {
    try {
      while (queue.length > 0) {
        const f = await settle()
        if (f !== undefined) return f
      }
      return undefined
    } finally {
      await Promise.allSettled(queue.map((q) => q.p))
    }
  }
  for (let cur = a; ;) {
    let prev: CID | Relation
    try {
      prev = await linkBack(ctx, 'snapshot', a, b, cur, steps, maxChain, walk)
    } catch (e) {
      // A step already queued may hold the verdict that comes first in chain order.
      const f = await drain()
      if (f !== undefined) return f
      throw e
    }
    if ('holds' in prev) return (await drain()) ?? prev
    const read: StepReads = { newer: [], older: [] }
    const p = step(ctx, 'snapshot', cur, prev, read)
    p.catch(() => {}) // awaited in order by settle; never unhandled meanwhile
    queue.push({ cur, prev, read, p })
    steps++
    chain?.push(cidKey(prev))
    if (queue.length >= STEP_CONCURRENCY) {
      let f: Relation | undefined
      try {
        f = await settle()
      } catch (e) {
        await Promise.allSettled(queue.map((q) => q.p))
        throw e
      }
      if (f !== undefined) {
        await Promise.allSettled(queue.map((q) => q.p))
        return f
      }
    }
    if (prev.equals(b)) break
    cur = prev
  }
  const f = await drain()
  if (f !== undefined) return f
  release()
  walk?.prefetch?.stop()
  const base = await anchor(ctx, 'snapshot', b, established)
  if (base.length > 0) return result(base, [])
  return { holds: true, violations: [], witness: chain ?? [cidKey(a), cidKey(b)], steps }
}

/**
 * Under the top premise, VALID_top of a snapshot walk's far end, maps read
 * whole: the base from which each step checks the next snapshot's maps on
 * their difference (`mapStep`). Nothing to add otherwise.
 */
async function anchor (ctx: Ctx, kind: Exclude<Kind, 'timestamp'>, b: CID, established?: CID): Promise<Violation[]> {
  if (!ctx.top || kind !== 'snapshot' || established?.equals(b) === true) return []
  return await validOf(ctx, kind, b)
}

/** One step `A <- B` from an entry point: the step, on its anchor. */
async function anchoredStep (ctx: Ctx, kind: Exclude<Kind, 'timestamp'>, a: CID, b: CID): Promise<Relation> {
  const base = await anchor(ctx, kind, b)
  if (base.length > 0) return result(base, [])
  return copy(await step(ctx, kind, a, b))
}

/** Timestamps: `<-`, `<-?` and `<-*` coincide (SUCC-TS-SNAPSHOT). */
async function timestamps (ctx: Ctx, a: CID, b: CID, maxChain: number, fetchAhead: boolean, ends: boolean): Promise<Relation> {
  const out: Violation[] = [...await validOf(ctx, 'timestamp', a)]
  if (!a.equals(b)) out.push(...await validOf(ctx, 'timestamp', b))
  const A = await envOf(ctx, 'timestamp', a)
  const B = await envOf(ctx, 'timestamp', b)
  if (A === undefined || B === undefined) return result(out, [])
  const inner = await star(ctx, 'snapshot', A.signed.snapshot, B.signed.snapshot, maxChain, undefined, fetchAhead, ends)
  if (!inner.holds) {
    out.push(v('SUCC-TS-SNAPSHOT', a, `snapshot ${A.signed.snapshot} does not descend from ${B.signed.snapshot}`), ...inner.violations)
  }
  return out.length === 0 ? { holds: true, violations: [], witness: [...inner.witness], steps: inner.steps } : result(out, [])
}

/**
 * `A <- B`: A is the immediate successor of B (NOTES 5.1-5.4).
 *
 * @throws {UsageError} for a wrong kind, non-CID arguments or bad options
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 */
export async function succ (loader: Loader, kind: Kind, a: CID, b: CID, opts: RelationOptions = {}): Promise<Relation> {
  const [ca, cb] = checkArgs(kind, a, b)
  const ctx = contextOf(loader, opts)
  const ends = endsOf(opts)
  if (kind === 'timestamp') return await timestamps(ctx, ca, cb, maxChainOf(opts), true, ends)
  return await anchoredStep(ctx, kind, ca, cb)
}

/**
 * `A <-? B` (SUCC-OPT): A is B (and VALID), or A <- B.
 *
 * @throws {UsageError} for a wrong kind, non-CID arguments or bad options
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 */
export async function succOpt (loader: Loader, kind: Kind, a: CID, b: CID, opts: RelationOptions = {}): Promise<Relation> {
  const [ca, cb] = checkArgs(kind, a, b)
  const ctx = contextOf(loader, opts)
  const ends = endsOf(opts)
  if (kind === 'timestamp') return await timestamps(ctx, ca, cb, maxChainOf(opts), true, ends)
  if (ca.equals(cb)) return result(await validOf(ctx, kind, ca), [ca])
  return await anchoredStep(ctx, kind, ca, cb)
}

/**
 * `A <-* B` (SUCC-STAR): A descends from B in zero or more `<-` steps,
 * within `maxChain` steps (BOUND-CHAIN).
 *
 * @throws {UsageError} for a wrong kind, non-CID arguments or bad options
 * @throws {BlockError} when a block cannot be fetched (not a verdict)
 */
export async function succStar (loader: Loader, kind: Kind, a: CID, b: CID, opts: RelationOptions = {}): Promise<Relation> {
  const [ca, cb] = checkArgs(kind, a, b)
  const ctx = contextOf(loader, opts)
  const maxChain = maxChainOf(opts)
  const fetchAhead = opts.fetchAhead ?? true
  if (typeof fetchAhead !== 'boolean') throw new UsageError('ERR_ARGUMENT', 'fetchAhead: expected a boolean')
  const ends = endsOf(opts)
  if (kind === 'timestamp') return await timestamps(ctx, ca, cb, maxChain, fetchAhead, ends)
  const established = opts.established === undefined ? undefined : CID.asCID(opts.established)
  if (established === null) throw new UsageError('ERR_ARGUMENT', 'established: expected a CID')
  return await star(ctx, kind, ca, cb, maxChain, established, fetchAhead, ends)
}
