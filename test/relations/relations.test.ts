import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { BlockError, UsageError } from '../../src/model/errors.js'
import type { TargetsEnvelope } from '../../src/model/types.js'
import { succ, succOpt, succStar, type Relation } from '../../src/relations/index.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

/** The rules of `r`'s violations; each violation must also say what is wrong (its message is never empty). */
const rules = (r: Relation): string[] => r.violations.map((v) => { expect(v.message, v.rule).not.toBe(''); return v.rule })
const s = (c: { cid: CID } | CID): string => ('cid' in c ? c.cid : c).toString()

/**
 * A small world: roots R1 <- R2 <- R3 (same keys), top targets T1 <- T2 <- T3
 * delegating `r` (r/*) whose objects are A1 <- A2 <- A3, and a top targets
 * without the delegation, U2 <- ... for removals.
 */
async function world () {
  const b = new DagBuilder()
  const R1 = await b.root()
  const R2 = await b.root({ previousVersion: R1.cid })
  const R3 = await b.root({ previousVersion: R2.cid })
  const A1 = await b.targets('r', { targets: ['r/1'] })
  const A2 = await b.targets('r', { targets: ['r/1', 'r/2'], previousVersion: A1.cid })
  const A3 = await b.targets('r', { targets: ['r/3'], previousVersion: A2.cid })
  const withR = [b.deleg('r', ['r/*'])]
  const T1 = await b.targets('targets', { targets: ['t1'], delegations: withR })
  const T2 = await b.targets('targets', { targets: ['t2'], delegations: withR, previousVersion: T1.cid })
  const T3 = await b.targets('targets', { targets: ['t3'], delegations: withR, previousVersion: T2.cid })
  const U2 = await b.targets('targets', { targets: ['t2'], previousVersion: T1.cid })
  const S1 = await b.snapshot({ root: R1, targets: T1, delegated: { r: A1 } })
  const S2 = await b.snapshot({ root: R2, targets: T2, delegated: { r: A2 }, previousVersion: S1.cid })
  const S3 = await b.snapshot({ root: R3, targets: T3, delegated: { r: A3 }, previousVersion: S2.cid })
  return { b, R1, R2, R3, A1, A2, A3, T1, T2, T3, U2, S1, S2, S3, withR }
}

describe('roots', () => {
  it('SUCC-ROOT-LINK: a root whose previous-version is the other root is its successor', async () => {
    const { b, R1, R2, R3 } = await world()
    const l = b.loader()
    const ok = await succ(l, 'root', R2.cid, R1.cid)
    expect(ok).toEqual({ holds: true, violations: [], witness: [s(R2), s(R1)], steps: 1 })
    expect(rules(await succ(l, 'root', R1.cid, R2.cid))).toEqual(['SUCC-ROOT-LINK'])
    // Roots never skip: R3 is not an immediate successor of R1.
    expect(rules(await succ(l, 'root', R3.cid, R1.cid))).toEqual(['SUCC-ROOT-LINK'])
    expect((await succStar(l, 'root', R3.cid, R1.cid)).witness).toEqual([s(R3), s(R2), s(R1)])
  })

  it('SUCC-ROOT-THRESHOLD: a new root signed only by the new root keys is not a successor', async () => {
    const b = new DagBuilder()
    const R1 = await b.root()
    const roles = { root: { keys: [b.key('root-new')] } }
    const onlyNew = await b.root({ previousVersion: R1.cid, roles, signers: [b.key('root-new')] })
    const l = b.loader()
    const r = await succ(l, 'root', onlyNew.cid, R1.cid)
    expect(rules(r)).toEqual(['SUCC-ROOT-THRESHOLD'])
    expect(r.violations[0]!.cid).toBe(s(onlyNew))
    const both = await b.root({ previousVersion: R1.cid, roles, signers: [b.key('root-new'), b.key('root')] })
    expect((await succ(l, 'root', both.cid, R1.cid)).holds).toBe(true)
    // Signed only by the old keys: SUCC-ROOT-THRESHOLD holds but VALID-ROOT-SELF does not.
    const onlyOld = await b.root({ previousVersion: R1.cid, roles, signers: [b.key('root')] })
    expect(rules(await succ(l, 'root', onlyOld.cid, R1.cid))).toEqual(['VALID-ROOT-SELF'])
  })

  it('SUCC-ROOT-THRESHOLD: an old threshold of two needs two distinct old keys', async () => {
    const b = new DagBuilder()
    const old = [b.key('o1'), b.key('o2')]
    const R1 = await b.root({ roles: { root: { keys: old, threshold: 2 } }, signers: old })
    const roles = { root: { keys: [b.key('n1')] } }
    const one = await b.root({ previousVersion: R1.cid, roles, signers: [b.key('n1'), old[0]!] })
    expect(rules(await succ(b.loader(), 'root', one.cid, R1.cid))).toEqual(['SUCC-ROOT-THRESHOLD'])
    const two = await b.root({ previousVersion: R1.cid, roles, signers: [b.key('n1'), ...old] })
    expect((await succ(b.loader(), 'root', two.cid, R1.cid)).holds).toBe(true)
  })

  it('SUCC-ROOT-LINK: an invalid root relates to nothing, not even itself', async () => {
    const b = new DagBuilder()
    const bad = await b.root({ signers: [] })
    expect(rules(await succOpt(b.loader(), 'root', bad.cid, bad.cid))).toEqual(['VALID-ROOT-SELF'])
    expect(rules(await succStar(b.loader(), 'root', bad.cid, bad.cid))).toEqual(['VALID-ROOT-SELF'])
  })
})

describe('targets', () => {
  it('SUCC-TARGETS-LINK: previous-version decides targets succession; signatures are spatial', async () => {
    const { b, T1, T2, T3, A1 } = await world()
    const l = b.loader()
    expect((await succ(l, 'targets', T2.cid, T1.cid)).witness).toEqual([s(T2), s(T1)])
    expect(rules(await succ(l, 'targets', T1.cid, T2.cid))).toEqual(['SUCC-TARGETS-LINK'])
    expect(rules(await succ(l, 'targets', T3.cid, T1.cid))).toEqual(['SUCC-TARGETS-LINK'])
    expect(rules(await succStar(l, 'targets', T1.cid, A1.cid))).toEqual(['SUCC-TARGETS-LINK'])
    // An unsigned targets object still steps: who may sign it is decided by a snapshot's VALID.
    const unsigned = await b.targets('targets', { previousVersion: T3.cid, signers: [] })
    expect((await succ(l, 'targets', unsigned.cid, T3.cid)).holds).toBe(true)
  })
})

describe('snapshots', () => {
  it('SUCC-SNAP-LINK: a snapshot names its predecessor', async () => {
    const { b, S1, S2, R2, T2, A2 } = await world()
    const l = b.loader()
    expect(await succ(l, 'snapshot', S2.cid, S1.cid)).toEqual({ holds: true, violations: [], witness: [s(S2), s(S1)], steps: 1 })
    const orphan = await b.snapshot({ root: R2, targets: T2, delegated: { r: A2 } })
    expect(rules(await succ(l, 'snapshot', orphan.cid, S1.cid))).toEqual(['SUCC-SNAP-LINK'])
    expect(rules(await succ(l, 'snapshot', S1.cid, S2.cid))).toContain('SUCC-SNAP-LINK')
  })

  it('SUCC-SNAP-LINK: both snapshot DAGs must be VALID', async () => {
    const { b, S1, R2, T2, A2 } = await world()
    const badSig = await b.snapshot({ root: R2, targets: T2, delegated: { r: A2 }, previousVersion: S1.cid, signers: [] })
    expect(rules(await succ(b.loader(), 'snapshot', badSig.cid, S1.cid))).toEqual(['VALID-SNAP-SIG'])
  })

  it('SUCC-SNAP-ROOT: a snapshot keeps its root or advances it one step', async () => {
    const { b, S1, R1, R3, T2, A2 } = await world()
    const l = b.loader()
    const same = await b.snapshot({ root: R1, targets: T2, delegated: { r: A2 }, previousVersion: S1.cid })
    expect((await succ(l, 'snapshot', same.cid, S1.cid)).holds).toBe(true)
    const skip = await b.snapshot({ root: R3, targets: T2, delegated: { r: A2 }, previousVersion: S1.cid })
    const r = await succ(l, 'snapshot', skip.cid, S1.cid)
    expect(rules(r)).toEqual(['SUCC-SNAP-ROOT', 'SUCC-ROOT-LINK'])
    expect(r.violations[0]!.cid).toBe(s(skip))
  })

  it('SUCC-SNAP-TARGETS: a snapshot keeps its targets or advances them one step', async () => {
    const { b, S1, R2, T1, T3, A2 } = await world()
    const l = b.loader()
    const same = await b.snapshot({ root: R2, targets: T1, delegated: { r: A2 }, previousVersion: S1.cid })
    expect((await succ(l, 'snapshot', same.cid, S1.cid)).holds).toBe(true)
    const skip = await b.snapshot({ root: R2, targets: T3, delegated: { r: A2 }, previousVersion: S1.cid })
    expect(rules(await succ(l, 'snapshot', skip.cid, S1.cid))).toEqual(['SUCC-SNAP-TARGETS'])
  })

  it('SUCC-SNAP-DELEG: a delegated role listed in both keeps its object or advances it one step', async () => {
    const { b, S1, S2, R2, T2, A1, A3 } = await world()
    const l = b.loader()
    const same = await b.snapshot({ root: R2, targets: T2, delegated: { r: A1 }, previousVersion: S1.cid })
    expect((await succ(l, 'snapshot', same.cid, S1.cid)).holds).toBe(true)
    const skip = await b.snapshot({ root: R2, targets: T2, delegated: { r: A3 }, previousVersion: S1.cid })
    expect(rules(await succ(l, 'snapshot', skip.cid, S1.cid))).toEqual(['SUCC-SNAP-DELEG'])
    // Rolling r back one step is no better.
    const back = await b.snapshot({ root: R2, targets: T2, delegated: { r: A1 }, previousVersion: S2.cid })
    expect(rules(await succ(l, 'snapshot', back.cid, S2.cid))).toEqual(['SUCC-SNAP-DELEG'])
  })

  it('SUCC-SNAP-REMOVED: a removed role must leave a tombstone with its last CID', async () => {
    const { b, S1, R1, U2, A1, A2 } = await world()
    const l = b.loader()
    const none = await b.snapshot({ root: R1, targets: U2, previousVersion: S1.cid })
    expect(rules(await succ(l, 'snapshot', none.cid, S1.cid))).toEqual(['SUCC-SNAP-REMOVED'])
    const good = await b.snapshot({ root: R1, targets: U2, retired: { r: A1 }, previousVersion: S1.cid })
    expect((await succ(l, 'snapshot', good.cid, S1.cid)).holds).toBe(true)
    const wrong = await b.snapshot({ root: R1, targets: U2, retired: { r: A2 }, previousVersion: S1.cid })
    expect(rules(await succ(l, 'snapshot', wrong.cid, S1.cid))).toEqual(['SUCC-SNAP-REMOVED'])
  })

  /** S1 lists r = A1; Sx retires it (tombstone A1) with targets U2. */
  async function retiredWorld () {
    const w = await world()
    const { b, S1, R1, U2, A1 } = w
    const Sx = await b.snapshot({ root: R1, targets: U2, retired: { r: A1 }, previousVersion: S1.cid })
    const V3 = await b.targets('targets', { targets: ['t3'], delegations: w.withR, previousVersion: U2.cid })
    const U3 = await b.targets('targets', { targets: ['t3'], previousVersion: U2.cid })
    return { ...w, Sx, V3, U3 }
  }

  it('SUCC-SNAP-RETIRED: a re-added role continues from its tombstone', async () => {
    const { b, Sx, R1, V3, A1, A2 } = await retiredWorld()
    const l = b.loader()
    const sameObj = await b.snapshot({ root: R1, targets: V3, delegated: { r: A1 }, previousVersion: Sx.cid })
    expect((await succ(l, 'snapshot', sameObj.cid, Sx.cid)).holds).toBe(true)
    const next = await b.snapshot({ root: R1, targets: V3, delegated: { r: A2 }, previousVersion: Sx.cid })
    expect((await succ(l, 'snapshot', next.cid, Sx.cid)).holds).toBe(true)
  })

  it('SUCC-SNAP-RETIRED: re-adding a role at an older or unrelated object is refused (remove-and-re-add rollback)', async () => {
    const { b, A1, R1 } = await world()
    // r went A1 <- A2, was retired at A2, and comes back at A1.
    const T0 = await b.targets('targets', { delegations: [b.deleg('r', ['r/*'])] })
    const S0 = await b.snapshot({ root: R1, targets: T0, delegated: { r: A1 } })
    const A2 = await b.targets('r', { targets: ['r/1', 'r/2'], previousVersion: A1.cid })
    const T = await b.targets('targets', { delegations: [b.deleg('r', ['r/*'])], previousVersion: T0.cid })
    const S1 = await b.snapshot({ root: R1, targets: T, delegated: { r: A2 }, previousVersion: S0.cid })
    const U = await b.targets('targets', { previousVersion: T.cid })
    const S2 = await b.snapshot({ root: R1, targets: U, retired: { r: A2 }, previousVersion: S1.cid })
    const V = await b.targets('targets', { delegations: [b.deleg('r', ['r/*'])], previousVersion: U.cid })
    const rollback = await b.snapshot({ root: R1, targets: V, delegated: { r: A1 }, previousVersion: S2.cid })
    const l = b.loader()
    expect((await succStar(l, 'snapshot', S2.cid, S0.cid)).holds).toBe(true)
    const r = await succ(l, 'snapshot', rollback.cid, S2.cid)
    expect(rules(r)).toEqual(['SUCC-SNAP-RETIRED'])
    expect(r.violations[0]!.cid).toBe(s(rollback))
    // Without the tombstone rule, each step would look like a legal removal and a new role.
    const fresh = await b.targets('r', { targets: ['r/9'] })
    const unrelated = await b.snapshot({ root: R1, targets: V, delegated: { r: fresh }, previousVersion: S2.cid })
    expect(rules(await succ(l, 'snapshot', unrelated.cid, S2.cid))).toEqual(['SUCC-SNAP-RETIRED'])
  })

  it('SUCC-SNAP-RETIRED: tombstones cannot be dropped, changed or invented', async () => {
    const { b, Sx, R1, U3, A2, A1 } = await retiredWorld()
    const l = b.loader()
    const kept = await b.snapshot({ root: R1, targets: U3, retired: { r: A1 }, previousVersion: Sx.cid })
    expect((await succ(l, 'snapshot', kept.cid, Sx.cid)).holds).toBe(true)
    const dropped = await b.snapshot({ root: R1, targets: U3, previousVersion: Sx.cid })
    expect(rules(await succ(l, 'snapshot', dropped.cid, Sx.cid))).toEqual(['SUCC-SNAP-RETIRED'])
    const changed = await b.snapshot({ root: R1, targets: U3, retired: { r: A2 }, previousVersion: Sx.cid })
    expect(rules(await succ(l, 'snapshot', changed.cid, Sx.cid))).toEqual(['SUCC-SNAP-RETIRED'])
    const invented = await b.snapshot({ root: R1, targets: U3, retired: { r: A1, ghost: A2 }, previousVersion: Sx.cid })
    expect(rules(await succ(l, 'snapshot', invented.cid, Sx.cid))).toEqual(['SUCC-SNAP-RETIRED'])
  })

  it('SUCC-SNAP-NEW: a new delegated role starts a new chain', async () => {
    const { b, S1, R1, T1, A1, A2 } = await world()
    const l = b.loader()
    const deleg = [b.deleg('r', ['r/*']), b.deleg('n', ['n/*'])]
    const Tn = await b.targets('targets', { targets: ['t1'], delegations: deleg, previousVersion: T1.cid })
    const N1 = await b.targets('n', { targets: ['n/1'] })
    const ok = await b.snapshot({ root: R1, targets: Tn, delegated: { r: A1, n: N1 }, previousVersion: S1.cid })
    expect((await succ(l, 'snapshot', ok.cid, S1.cid)).holds).toBe(true)
    // A new name cannot import someone else's history.
    const imported = await b.targets('n', { targets: ['n/1'], previousVersion: A2.cid })
    const bad = await b.snapshot({ root: R1, targets: Tn, delegated: { r: A1, n: imported }, previousVersion: S1.cid })
    expect(rules(await succ(l, 'snapshot', bad.cid, S1.cid))).toEqual(['SUCC-SNAP-NEW'])
  })
})

describe('timestamps', () => {
  it('SUCC-TS-SNAPSHOT: timestamps follow their snapshots, may skip them, and the witness is the snapshot chain', async () => {
    const { b, S1, S2, S3 } = await world()
    const [t1, t2, t3] = [await b.timestamp(S1), await b.timestamp(S2), await b.timestamp(S3)]
    const l = b.loader()
    expect(await succ(l, 'timestamp', t2.cid, t1.cid)).toEqual({ holds: true, violations: [], witness: [s(S2), s(S1)], steps: 1 })
    expect((await succ(l, 'timestamp', t3.cid, t1.cid)).witness).toEqual([s(S3), s(S2), s(S1)])
    const back = await succStar(l, 'timestamp', t1.cid, t3.cid)
    expect(rules(back)).toEqual(['SUCC-TS-SNAPSHOT', 'SUCC-SNAP-LINK'])
    expect(back.violations[0]!.cid).toBe(s(t1))
    // <-, <-? and <-* coincide on timestamps.
    for (const f of [succ, succOpt, succStar]) {
      expect((await f(l, 'timestamp', t3.cid, t2.cid)).holds).toBe(true)
      expect((await f(l, 'timestamp', t2.cid, t3.cid)).holds).toBe(false)
    }
  })

  it('SUCC-TS-SNAPSHOT: two timestamps of one snapshot are successors of each other (the preorder\'s kernel)', async () => {
    const { b, S2 } = await world()
    const early = await b.timestamp(S2)
    const later = await b.sign({ ...early.signed, expires: '2031-01-01T00:00:00Z' }, [b.key('timestamp')])
    expect(early.cid.equals(later.cid)).toBe(false)
    const l = b.loader()
    expect((await succ(l, 'timestamp', later.cid, early.cid)).witness).toEqual([s(S2)])
    expect((await succ(l, 'timestamp', early.cid, later.cid)).holds).toBe(true)
  })

  it('SUCC-TS-SNAPSHOT: a badly signed timestamp relates to nothing', async () => {
    const { b, S1, S2 } = await world()
    const t1 = await b.timestamp(S1)
    const forged = await b.timestamp(S2, [b.key('snapshot')])
    expect(rules(await succ(b.loader(), 'timestamp', forged.cid, t1.cid))).toEqual(['VALID-TS-SIG'])
  })
})

describe('<-? and <-*', () => {
  it('SUCC-OPT: equal and VALID, or one step; nothing else', async () => {
    const { b, S1, S2, S3, R1 } = await world()
    const l = b.loader()
    expect(await succOpt(l, 'snapshot', S2.cid, S2.cid)).toEqual({ holds: true, violations: [], witness: [s(S2)], steps: 0 })
    expect((await succOpt(l, 'snapshot', S2.cid, S1.cid)).holds).toBe(true)
    expect(rules(await succOpt(l, 'snapshot', S3.cid, S1.cid))).toContain('SUCC-SNAP-LINK')
    const invalid = await b.snapshot({ root: R1, targets: (await l.load('snapshot', S1.cid)).signed.meta.targets, signers: [] })
    expect((await succOpt(l, 'snapshot', invalid.cid, invalid.cid)).holds).toBe(false)
  })

  it('SUCC-STAR: reflexive on VALID objects, transitive along previous-version, with the witness chain', async () => {
    const { b, S1, S2, S3 } = await world()
    const l = b.loader()
    expect((await succStar(l, 'snapshot', S1.cid, S1.cid)).witness).toEqual([s(S1)])
    expect((await succStar(l, 'snapshot', S3.cid, S1.cid)).witness).toEqual([s(S3), s(S2), s(S1)])
    const r = await succStar(l, 'snapshot', S1.cid, S3.cid)
    expect(rules(r)).toEqual(['SUCC-SNAP-LINK'])
    expect(r.witness).toEqual([])
  })

  it('SUCC-STAR: a bad step anywhere on the chain breaks descent', async () => {
    const { b, S1, R2, T2, A2, R3, T3, A3 } = await world()
    const badMiddle = await b.snapshot({ root: R2, targets: T2, delegated: { r: A2 }, previousVersion: S1.cid, signers: [] })
    const top = await b.snapshot({ root: R3, targets: T3, delegated: { r: A3 }, previousVersion: badMiddle.cid })
    const r = await succStar(b.loader(), 'snapshot', top.cid, S1.cid)
    expect(r.holds).toBe(false)
    expect(rules(r)).toContain('VALID-SNAP-SIG')
  })

  it('BOUND-CHAIN: a walk longer than maxChain is refused with BOUND-CHAIN, never walked to the end', async () => {
    const b = new DagBuilder()
    let prev: TargetsEnvelope | undefined
    const chain: TargetsEnvelope[] = []
    for (let i = 0; i < 12; i++) chain.push(prev = await b.targets('targets', { targets: [`t${i}`], previousVersion: prev?.cid ?? null }))
    const l = b.loader()
    expect((await succStar(l, 'targets', chain[11]!.cid, chain[0]!.cid, { maxChain: 11 })).witness.length).toBe(12)
    const l2 = b.loader()
    const r = await succStar(l2, 'targets', chain[11]!.cid, chain[0]!.cid, { maxChain: 10 })
    expect(rules(r)).toEqual(['BOUND-CHAIN'])
    expect(l2.stats.blocks).toBe(10)
    // The default bound is LIMITS.maxChainLength, and limits can lower it.
    expect(rules(await succStar(b.loader(), 'targets', chain[11]!.cid, chain[0]!.cid, { limits: { maxChainLength: 3 } }))).toEqual(['BOUND-CHAIN'])
  })

  it('SUCC-STAR: steps and VALID are memoized per loader, so a second walk fetches nothing', async () => {
    const { b, S1, S3 } = await world()
    const l = b.loader()
    expect((await succStar(l, 'snapshot', S3.cid, S1.cid)).holds).toBe(true)
    const fetched = l.stats.blocks
    expect((await succStar(l, 'snapshot', S3.cid, S1.cid)).holds).toBe(true)
    expect((await succ(l, 'snapshot', S3.cid, (await l.load('snapshot', S3.cid)).signed.previousVersion!)).holds).toBe(true)
    expect(l.stats.blocks).toBe(fetched)
  })

  it('a block that cannot be fetched propagates as BlockError; bad arguments are usage errors', async () => {
    const { b, S1, S3, S2 } = await world()
    b.store.delete(S2.cid)
    const e = await caught(() => succStar(b.loader(), 'snapshot', S3.cid, S1.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect((await caught(() => succ(b.loader(), 'nope' as never, S3.cid, S1.cid)))).toBeInstanceOf(UsageError)
    expect((await caught(() => succStar(b.loader(), 'snapshot', S3.cid, S1.cid, { maxChain: -1 })))).toBeInstanceOf(UsageError)
  })

  it('a link to the wrong kind is a violation, not a crash', async () => {
    const { b, R1, T1 } = await world()
    const weird = await b.targets('targets', { previousVersion: R1.cid })
    const r = await succStar(b.loader(), 'targets', weird.cid, T1.cid)
    expect(rules(r)).toEqual(['VALID-KIND'])
  })
})

/**
 * NOTES 5: every rule has the premises `VALID A` and `VALID B`, so the
 * relations relate valid objects only. The later object's premise is
 * checked by every step of a walk (each step's A); the earlier object's
 * premise (`VALID B`) is the only thing that checks the end of a walk.
 */
describe('the premise VALID B: nothing descends from an invalid object', () => {
  it('SUCC-ROOT-LINK: a root is no successor of a root that is not signed by its own root keys (VALID-ROOT-SELF)', async () => {
    const b = new DagBuilder()
    const bad = await b.root({ signers: [] })
    // Signed by the root key that `bad` names, so SUCC-ROOT-THRESHOLD alone would hold.
    const next = await b.root({ previousVersion: bad.cid })
    for (const f of [succ, succOpt, succStar]) {
      const r = await f(b.loader(), 'root', next.cid, bad.cid)
      expect(rules(r)).toEqual(['VALID-ROOT-SELF'])
      expect(r.violations[0]!.cid).toBe(s(bad))
      expect(r.witness).toEqual([])
    }
    const good = await b.root()
    expect((await succ(b.loader(), 'root', (await b.root({ previousVersion: good.cid })).cid, good.cid)).holds).toBe(true)
  })

  it('SUCC-TARGETS-LINK: a targets object is no successor of a block that is not a targets object (VALID-KIND)', async () => {
    const { b, R1, T1 } = await world()
    const onRoot = await b.targets('targets', { previousVersion: R1.cid })
    for (const f of [succ, succOpt, succStar]) {
      const r = await f(b.loader(), 'targets', onRoot.cid, R1.cid)
      expect(rules(r)).toEqual(['VALID-KIND'])
      expect(r.violations[0]!.cid).toBe(s(R1))
    }
    const onT1 = await b.targets('targets', { previousVersion: T1.cid })
    expect((await succ(b.loader(), 'targets', onT1.cid, T1.cid)).holds).toBe(true)
  })

  it('SUCC-SNAP-LINK: a snapshot is no successor of a snapshot whose DAG is not VALID (VALID-SNAP-SIG)', async () => {
    const { b, R1, T1, A1 } = await world()
    const unsigned = await b.snapshot({ root: R1, targets: T1, delegated: { r: A1 }, signers: [] })
    const next = await b.snapshot({ root: R1, targets: T1, delegated: { r: A1 }, previousVersion: unsigned.cid })
    for (const f of [succ, succOpt, succStar]) {
      const r = await f(b.loader(), 'snapshot', next.cid, unsigned.cid)
      expect(rules(r)).toEqual(['VALID-SNAP-SIG'])
      expect(r.violations[0]!.cid).toBe(s(unsigned))
    }
  })

  it('SUCC-TS-SNAPSHOT: a timestamp is no successor of a timestamp that is not VALID, even when its snapshot is (VALID-TS-SIG)', async () => {
    const { b, S1, S2 } = await world()
    const forged = await b.timestamp(S1, [b.key('snapshot')])
    const t2 = await b.timestamp(S2)
    for (const f of [succ, succOpt, succStar]) {
      const r = await f(b.loader(), 'timestamp', t2.cid, forged.cid)
      expect(rules(r)).toEqual(['VALID-TS-SIG'])
      expect(r.violations[0]!.cid).toBe(s(forged))
      expect(r.witness).toEqual([])
    }
    // The same snapshots under a VALID timestamp: the relation holds.
    expect((await succ(b.loader(), 'timestamp', t2.cid, (await b.timestamp(S1)).cid)).witness).toEqual([s(S2), s(S1)])
  })
})

describe('objects of another kind and what a violation says', () => {
  it('SUCC-ROOT-LINK, SUCC-TARGETS-LINK, SUCC-SNAP-LINK: a step from or to a block of another kind is a VALID-KIND violation, never a crash', async () => {
    const { b, R1, T1, S1, A1 } = await world()
    const l = b.loader()
    // A is not of the kind.
    expect(rules(await succ(l, 'root', T1.cid, R1.cid))).toEqual(['VALID-KIND'])
    expect(rules(await succ(l, 'targets', R1.cid, T1.cid))).toEqual(['VALID-KIND'])
    expect(rules(await succ(l, 'snapshot', T1.cid, S1.cid))).toEqual(['VALID-KIND'])
    // B is not of the kind, and A names it as its previous-version.
    const rootOnTargets = await b.root({ previousVersion: T1.cid })
    const r = await succ(l, 'root', rootOnTargets.cid, T1.cid)
    expect(rules(r)).toEqual(['VALID-KIND'])
    expect(r.violations[0]!.cid).toBe(s(T1))
    const snapOnTargets = await b.snapshot({ root: R1, targets: T1, delegated: { r: A1 }, previousVersion: T1.cid })
    const rs = await succ(l, 'snapshot', snapOnTargets.cid, T1.cid)
    expect(rules(rs)).toEqual(['VALID-KIND'])
    expect(rs.violations[0]!.cid).toBe(s(T1))
    // Timestamps: either side of another kind.
    const t1 = await b.timestamp(S1)
    for (const [x, y] of [[S1.cid, t1.cid], [t1.cid, S1.cid]] as const) {
      const rt = await succ(l, 'timestamp', x, y)
      expect(rules(rt)).toEqual(['VALID-KIND'])
      expect(rt.witness).toEqual([])
    }
    // A snapshot whose targets link is a root: VALID-KIND, and it is no step of the targets.
    const snapRootAsTargets = await b.snapshot({ root: R1, targets: R1.cid, previousVersion: S1.cid })
    const rr = await succ(l, 'snapshot', snapRootAsTargets.cid, S1.cid)
    expect(rules(rr)).toContain('VALID-KIND')
    expect(rules(rr)).toContain('SUCC-SNAP-TARGETS')
  })

  it('SUCC-ROOT-LINK, SUCC-ROOT-THRESHOLD, SUCC-SNAP-ROOT: each violation names the CIDs it is about', async () => {
    const { b, R1, R2, R3, S1, T2, A2 } = await world()
    const l = b.loader()
    const link = await succ(l, 'root', R1.cid, R2.cid)
    expect(link.violations[0]!.message).toBe(`previous-version is null, not ${s(R2)}`)
    expect((await succ(l, 'root', R3.cid, R1.cid)).violations[0]!.message).toBe(`previous-version is ${s(R2)}, not ${s(R1)}`)
    const onlyNew = await b.root({ previousVersion: R1.cid, roles: { root: { keys: [b.key('root-new')] } }, signers: [b.key('root-new')] })
    expect((await succ(l, 'root', onlyNew.cid, R1.cid)).violations[0]!.message).toBe(`not signed by 1 of the root keys of ${s(R1)}`)
    const skip = await b.snapshot({ root: R3, targets: T2, delegated: { r: A2 }, previousVersion: S1.cid })
    expect((await succ(l, 'snapshot', skip.cid, S1.cid)).violations[0]!.message).toBe(`root ${s(R3)} is neither ${s((await l.load('snapshot', S1.cid)).signed.meta.root)} nor its successor`)
  })
})

describe('arguments, options and memoization', () => {
  it('every relation checks its loader, kind, CIDs and options (UsageError ERR_ARGUMENT)', async () => {
    const { b, S1, S2 } = await world()
    const l = b.loader()
    for (const f of [succ, succOpt, succStar]) {
      for (const bad of [null, {}, { load: 1 }] as never[]) {
        const e = await caught(() => f(bad, 'snapshot', S2.cid, S1.cid))
        expect(e).toBeInstanceOf(UsageError)
        expect(e.code).toBe('ERR_ARGUMENT')
      }
      expect((await caught(() => f(l, 'delegated' as never, S2.cid, S1.cid))).code).toBe('ERR_ARGUMENT')
      expect((await caught(() => f(l, 1 as never, S2.cid, S1.cid))).code).toBe('ERR_ARGUMENT')
      expect((await caught(() => f(l, 'snapshot', S2.cid.toString() as never, S1.cid))).code).toBe('ERR_ARGUMENT')
      expect((await caught(() => f(l, 'snapshot', S2.cid, null as never))).code).toBe('ERR_ARGUMENT')
      expect((await caught(() => f(l, 'snapshot', S2.cid, S1.cid, { limits: { maxChainLength: -1 } }))).code).toBe('ERR_ARGUMENT')
      expect((await f(l, 'snapshot', S2.cid, S1.cid, { limits: { maxChainLength: 5 } })).holds).toBe(true)
    }
    for (const m of [1.5, Number.NaN, '3' as never]) {
      expect((await caught(() => succStar(l, 'snapshot', S2.cid, S1.cid, { maxChain: m }))).code).toBe('ERR_ARGUMENT')
      expect((await caught(() => succ(l, 'timestamp', S2.cid, S1.cid, { maxChain: m }))).code).toBe('ERR_ARGUMENT')
    }
  })

  it('SUCC-STAR: a walk of exactly maxChain steps holds, one more is BOUND-CHAIN; maxChain 0 allows only A = B', async () => {
    const { b, S1, S2, S3 } = await world()
    expect((await succStar(b.loader(), 'snapshot', S3.cid, S1.cid, { maxChain: 2 })).holds).toBe(true)
    expect(rules(await succStar(b.loader(), 'snapshot', S3.cid, S1.cid, { maxChain: 1 }))).toEqual(['BOUND-CHAIN'])
    expect((await succStar(b.loader(), 'snapshot', S2.cid, S2.cid, { maxChain: 0 })).holds).toBe(true)
    expect(rules(await succStar(b.loader(), 'snapshot', S2.cid, S1.cid, { maxChain: 0 }))).toEqual(['BOUND-CHAIN'])
    const t3 = await b.timestamp(S3)
    const t1 = await b.timestamp(S1)
    expect(rules(await succ(b.loader(), 'timestamp', t3.cid, t1.cid, { maxChain: 1 }))).toContain('BOUND-CHAIN')
  })

  it('SUCC-STAR: a fetch failure is not a verdict: it is not memoized, and the same loader answers once the block is back', async () => {
    const { b, S1, S2, S3 } = await world()
    const bytes = await b.store.get(S2.cid)
    b.store.delete(S2.cid)
    const l = b.loader()
    expect(await caught(() => succ(l, 'snapshot', S3.cid, S2.cid))).toBeInstanceOf(BlockError)
    expect(await caught(() => succStar(l, 'snapshot', S3.cid, S1.cid))).toBeInstanceOf(BlockError)
    await b.store.put(S2.cid, bytes)
    expect((await succ(l, 'snapshot', S3.cid, S2.cid)).holds).toBe(true)
    expect((await succStar(l, 'snapshot', S3.cid, S1.cid)).witness).toEqual([s(S3), s(S2), s(S1)])
  })

  it('SUCC-OPT: the relations hand out copies: changing one result does not change the next', async () => {
    const { b, S1, S2 } = await world()
    const l = b.loader()
    const first = await succ(l, 'snapshot', S2.cid, S1.cid)
    first.witness.push('x')
    first.violations.push({ rule: 'ENC-CID', cid: 'x', message: 'x' })
    expect(await succ(l, 'snapshot', S2.cid, S1.cid)).toEqual({ holds: true, violations: [], witness: [s(S2), s(S1)], steps: 1 })
    const bad = await b.snapshot({ root: (await l.load('snapshot', S1.cid)).signed.meta.root, targets: (await l.load('snapshot', S1.cid)).signed.meta.targets, signers: [] })
    const r1 = await succOpt(l, 'snapshot', bad.cid, bad.cid)
    const said = rules(r1)
    expect(said).toContain('VALID-SNAP-SIG')
    r1.violations.length = 0
    expect(rules(await succOpt(l, 'snapshot', bad.cid, bad.cid))).toEqual(said)
  })
})

describe('the client\'s relations (premise top)', () => {
  /** 64 delegated roles; S1 changes one of them. */
  async function wide () {
    const b = new DagBuilder()
    const root = await b.root()
    const names = Array.from({ length: 64 }, (_, i) => `r${String(i).padStart(2, '0')}`)
    const objs: Record<string, TargetsEnvelope> = {}
    for (const n of names) objs[n] = await b.targets(n, { targets: [`${n}/x`] })
    const top = await b.targets('targets', { delegations: names.map((n) => b.deleg(n, [`${n}/*`])) })
    const s0 = await b.snapshot({ root, targets: top, delegated: objs })
    const r5 = await b.targets('r05', { targets: ['r05/x', 'r05/y'], previousVersion: objs.r05!.cid })
    const s1 = await b.snapshot({ root, targets: top, delegated: { ...objs, r05: r5 }, previousVersion: s0.cid })
    // A successor that lists a name both as a role and as a tombstone (VALID-RETIRED-DISJOINT).
    const s2 = await b.snapshot({ root, targets: top, delegated: { ...objs, r05: r5 }, retired: { r05: objs.r05! }, previousVersion: s1.cid })
    return { b, s0, s1, s2 }
  }

  it('CLIENT-VALID-TOP: a step reads only the role-map nodes that differ, and an established far end is not read again', async () => {
    const { b, s0, s1 } = await wide()
    const full = b.loader()
    expect((await succStar(full, 'snapshot', s1.cid, s0.cid)).holds).toBe(true)
    const top = b.loader()
    expect((await succStar(top, 'snapshot', s1.cid, s0.cid, { premise: 'top' })).holds).toBe(true)
    const established = b.loader()
    const r = await succStar(established, 'snapshot', s1.cid, s0.cid, { premise: 'top', established: s0.cid })
    expect(r.holds).toBe(true)
    expect(r.witness).toEqual([s1.cid.toString(), s0.cid.toString()])
    // Full VALID reads every object and map; the top premise reads S0's maps whole once;
    // established, only the snapshots, root, targets, r05's new object and the differing nodes.
    expect(top.stats.blocks).toBeLessThan(full.stats.blocks)
    expect(established.stats.blocks).toBeLessThan(top.stats.blocks)
    expect(established.stats.blocks).toBeLessThanOrEqual(2 + 2 + 1 + 2 * 3)
  })

  it('CLIENT-VALID-TOP: VALID_top of the newer snapshot is checked on the difference: a name listed and retired is refused by both premises', async () => {
    const { b, s1, s2 } = await wide()
    const full = await succ(b.loader(), 'snapshot', s2.cid, s1.cid)
    expect(full.violations.map((x) => x.rule)).toContain('VALID-RETIRED-DISJOINT')
    const top = await succStar(b.loader(), 'snapshot', s2.cid, s1.cid, { premise: 'top', established: s1.cid })
    expect(top.holds).toBe(false)
    expect(top.violations.map((x) => x.rule)).toContain('VALID-RETIRED-DISJOINT')
  })
})

describe('memory of a long walk', () => {
  it('SUCC-STAR: under the top premise a snapshot walk keeps only what it still needs: the skipped snapshots are dropped from the loader, the start is kept', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const top = await b.targets('targets')
    const chain: CID[] = []
    let prev: CID | null = null
    for (let i = 0; i < 30; i++) {
      const s = await b.snapshot({ root, targets: top, previousVersion: prev })
      chain.push(s.cid)
      prev = s.cid
    }
    const loader = b.loader()
    const r = await succStar(loader, 'snapshot', chain[29]!, chain[0]!, { premise: 'top', established: chain[0]! })
    expect(r.holds).toBe(true)
    expect(r.witness).toEqual([...chain].reverse().map(String))
    const fetched = loader.stats.blocks
    await loader.load('snapshot', chain[29]!) // the walk's start: still held
    expect(loader.stats.blocks).toBe(fetched)
    await loader.load('snapshot', chain[15]!) // skipped: fetched again
    expect(loader.stats.blocks).toBe(fetched + 1)
    // The full premise walks in two passes and keeps everything.
    const full = b.loader()
    expect((await succStar(full, 'snapshot', chain[29]!, chain[0]!)).holds).toBe(true)
    const before = full.stats.blocks
    await full.load('snapshot', chain[15]!)
    expect(full.stats.blocks).toBe(before)
  })
})
