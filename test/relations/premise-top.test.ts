/**
 * The relations a client checks, `<-ᵗ` (NOTES 5.6, `premise: 'top'`): the
 * premise `VALID X` of a snapshot or timestamp is VALID_top X, and a
 * snapshot step checks the role maps on their difference from the
 * predecessor (`mapStep`), the walk's far end being read whole.
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { makeSnapshot } from '../../src/model/build.js'
import { succ, succOpt, succStar, type Relation } from '../../src/relations/index.js'
import { DagBuilder, EXPIRES } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

/** The rules of `r`'s violations; each violation must also say what is wrong (its message is never empty). */
const rules = (r: Relation): string[] => r.violations.map((v) => { expect(v.message, v.rule).not.toBe(''); return v.rule })
const s = (c: { cid: CID } | CID): string => ('cid' in c ? c.cid : c).toString()
const top = { premise: 'top' } as const

/**
 * S1 lists r = A1; S2 lists r = A2, which names A1 but is signed by a key
 * the delegation does not name: S2's DAG is not VALID (VALID-DELEG-SIG) but
 * its top is.
 */
async function world () {
  const b = new DagBuilder()
  const R = await b.root()
  const withR = [b.deleg('r', ['r/*'])]
  const T1 = await b.targets('targets', { delegations: withR })
  const T2 = await b.targets('targets', { delegations: withR, previousVersion: T1.cid })
  const A1 = await b.targets('r', { targets: ['r/1'] })
  const A2 = await b.targets('r', { targets: ['r/2'], previousVersion: A1.cid, signers: [b.key('mallory')] })
  const S1 = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 } })
  const S2 = await b.snapshot({ root: R, targets: T2, delegated: { r: A2 }, previousVersion: S1.cid })
  return { b, R, T1, T2, A1, A2, S1, S2 }
}

describe('premise top (NOTES 5.6)', () => {
  it('CLIENT-VALID-TOP: a snapshot whose delegated role is badly signed relates under the top premise only', async () => {
    const { b, A2, S1, S2 } = await world()
    // Each premise on a fresh loader, then both orders on one loader: the
    // memo of one premise must not answer for the other.
    for (const f of [succ, succOpt, succStar]) {
      const full = await f(b.loader(), 'snapshot', S2.cid, S1.cid)
      expect(rules(full)).toEqual(['VALID-DELEG-SIG'])
      expect(full.violations[0]!.cid).toBe(s(A2))
      expect(await f(b.loader(), 'snapshot', S2.cid, S1.cid, top)).toEqual({ holds: true, violations: [], witness: [s(S2), s(S1)], steps: 1 })

      const l = b.loader()
      expect(rules(await f(l, 'snapshot', S2.cid, S1.cid))).toEqual(['VALID-DELEG-SIG'])
      expect((await f(l, 'snapshot', S2.cid, S1.cid, top)).holds).toBe(true)
      expect(rules(await f(l, 'snapshot', S2.cid, S1.cid))).toEqual(['VALID-DELEG-SIG'])
      const m = b.loader()
      expect((await f(m, 'snapshot', S2.cid, S1.cid, top)).holds).toBe(true)
      expect(rules(await f(m, 'snapshot', S2.cid, S1.cid))).toEqual(['VALID-DELEG-SIG'])
    }
    // Reflexivity: the top of S2 is VALID, S2 itself is not.
    expect(rules(await succOpt(b.loader(), 'snapshot', S2.cid, S2.cid))).toEqual(['VALID-DELEG-SIG'])
    expect(await succOpt(b.loader(), 'snapshot', S2.cid, S2.cid, top)).toEqual({ holds: true, violations: [], witness: [s(S2)], steps: 0 })
    expect(await succStar(b.loader(), 'snapshot', S2.cid, S2.cid, top)).toEqual({ holds: true, violations: [], witness: [s(S2)], steps: 0 })
  })

  it('CLIENT-VALID-TOP: timestamps of such snapshots relate under the top premise only; VALID-TS-SIG is still checked', async () => {
    const { b, S1, S2 } = await world()
    const t1 = await b.timestamp(S1)
    const t2 = await b.timestamp(S2)
    for (const f of [succ, succOpt, succStar]) {
      const l = b.loader()
      // Under the full premise T2 is not VALID, nor is the snapshot step.
      const full = ['VALID-DELEG-SIG', 'SUCC-TS-SNAPSHOT']
      expect(rules(await f(l, 'timestamp', t2.cid, t1.cid))).toEqual(full)
      expect(await f(l, 'timestamp', t2.cid, t1.cid, top)).toEqual({ holds: true, violations: [], witness: [s(S2), s(S1)], steps: 1 })
      expect(rules(await f(l, 'timestamp', t2.cid, t1.cid))).toEqual(full)
    }
    // The timestamp's own signature is part of VALID_top.
    const forged = await b.timestamp(S2, [b.key('snapshot')])
    for (const [x, y] of [[forged, t1], [t2, await b.timestamp(S1, [b.key('snapshot')])]]) {
      const r = await succStar(b.loader(), 'timestamp', x!.cid, y!.cid, top)
      expect(rules(r)).toEqual(['VALID-TS-SIG'])
      expect(r.violations[0]!.cid).not.toBe(s(t1))
      expect(r.violations[0]!.cid).not.toBe(s(t2))
    }
  })

  it('VALID-RETIRED-DISJOINT: under the top premise a step refuses a name re-added to delegated-targets while its tombstone stays', async () => {
    const { b, R, T1, A1, S1 } = await world()
    // S1 lists r; Sx retires it; Sy lists r again but keeps the tombstone.
    const Sx = await b.snapshot({ root: R, targets: T1, retired: { r: A1 }, previousVersion: S1.cid })
    const Sy = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 }, retired: { r: A1 }, previousVersion: Sx.cid })
    for (const f of [succ, succOpt, succStar]) {
      // Under the top premise the step reads only what changed in the maps.
      const r = await f(b.loader(), 'snapshot', Sy.cid, Sx.cid, top)
      expect(rules(r)).toEqual(['VALID-RETIRED-DISJOINT'])
      expect(r.violations[0]!.cid).toBe(s(Sy))
      // VALID Sx fails too (T1 delegates r, which Sx does not list).
      expect(rules(await f(b.loader(), 'snapshot', Sy.cid, Sx.cid))).toContain('VALID-RETIRED-DISJOINT')
    }
    // The same re-add without the tombstone is a legal step.
    const ok = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 }, previousVersion: Sx.cid })
    expect((await succ(b.loader(), 'snapshot', ok.cid, Sx.cid, top)).holds).toBe(true)
  })

  it('VALID-RETIRED-DISJOINT: under the top premise a step refuses a new tombstone for a name that stays listed', async () => {
    const { b, R, T1, A1, S1 } = await world()
    const Sy = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 }, retired: { r: A1 }, previousVersion: S1.cid })
    for (const opts of [{}, top]) {
      for (const f of [succ, succOpt, succStar]) {
        const r = await f(b.loader(), 'snapshot', Sy.cid, S1.cid, opts)
        expect(rules(r)).toEqual(['VALID-RETIRED-DISJOINT'])
        expect(r.violations[0]!.cid).toBe(s(Sy))
      }
    }
  })

  it('VALID-RETIRED-DISJOINT: under the top premise the far end of a walk has its maps read whole', async () => {
    const { b, R, T1, A1, S1 } = await world()
    // B is not a first snapshot (whose maps are always read) and breaks
    // VALID-RETIRED-DISJOINT; its successor A changes nothing.
    const B = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 }, retired: { r: A1 }, previousVersion: S1.cid })
    const A = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 }, retired: { r: A1 }, previousVersion: B.cid })
    const A2 = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 }, retired: { r: A1 }, previousVersion: A.cid })
    for (const opts of [{}, top]) {
      for (const f of [succ, succOpt, succStar]) {
        const r = await f(b.loader(), 'snapshot', A.cid, B.cid, opts)
        expect(rules(r)).toContain('VALID-RETIRED-DISJOINT')
        expect(r.violations.map((v) => v.cid)).toContain(s(B))
        expect(r.holds).toBe(false)
      }
      const r = await succStar(b.loader(), 'snapshot', A2.cid, B.cid, opts)
      expect(r.holds).toBe(false)
      expect(rules(r)).toContain('VALID-RETIRED-DISJOINT')
    }
    // Under the top premise the walk checks its far end first.
    const w = await succStar(b.loader(), 'snapshot', A2.cid, B.cid, top)
    expect(w.violations.map((v) => v.cid)).toEqual([s(B)])
    // A timestamp walk anchors on its far end's snapshot the same way.
    const r = await succStar(b.loader(), 'timestamp', (await b.timestamp(A)).cid, (await b.timestamp(B)).cid, top)
    expect(r.holds).toBe(false)
    expect(r.violations.map((v) => v.rule)).toContain('VALID-RETIRED-DISJOINT')
  })

  it('SUCC-SNAP-LINK: under the top premise a step still checks the tops of both snapshots (VALID-SNAP-SIG)', async () => {
    const { b, R, T1, T2, A1, S1 } = await world()
    const unsigned = await b.snapshot({ root: R, targets: T2, delegated: { r: A1 }, previousVersion: S1.cid, signers: [] })
    const r = await succ(b.loader(), 'snapshot', unsigned.cid, S1.cid, top)
    expect(rules(r)).toEqual(['VALID-SNAP-SIG'])
    expect(r.violations[0]!.cid).toBe(s(unsigned))
    // In the middle of a walk too (each snapshot's top is judged on its own).
    const after = await b.snapshot({ root: R, targets: T2, delegated: { r: A1 }, previousVersion: unsigned.cid })
    const w = await succStar(b.loader(), 'snapshot', after.cid, S1.cid, top)
    expect(rules(w)).toEqual(['VALID-SNAP-SIG'])
    expect(w.violations[0]!.cid).toBe(s(unsigned))
    const first = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 }, signers: [] })
    const next = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 }, previousVersion: first.cid })
    const q = await succ(b.loader(), 'snapshot', next.cid, first.cid, top)
    expect(rules(q)).toEqual(['VALID-SNAP-SIG'])
    expect(q.violations[0]!.cid).toBe(s(first))
  })

  it('every relation refuses a premise other than full or top (UsageError ERR_ARGUMENT)', async () => {
    const { b, S1 } = await world()
    for (const f of [succ, succOpt, succStar]) {
      await expect(f(b.loader(), 'snapshot', S1.cid, S1.cid, { premise: 'none' as 'top' })).rejects.toMatchObject({ name: 'UsageError', code: 'ERR_ARGUMENT' })
    }
  })

  it('CLIENT-VALID-TOP: with limit overrides (a context of their own) the premise is honoured too', async () => {
    const { b, S1, S2 } = await world()
    const limits = { maxChainLength: 4 }
    const l = b.loader()
    expect(rules(await succ(l, 'snapshot', S2.cid, S1.cid, { limits }))).toEqual(['VALID-DELEG-SIG'])
    expect((await succ(l, 'snapshot', S2.cid, S1.cid, { limits, premise: 'top' })).holds).toBe(true)
  })

  it('BOUND-DELEGATIONS: limit overrides reach the premise VALID X (full), which VALID_top does not walk', async () => {
    const { b, R, T2, A1, S1 } = await world()
    const A2 = await b.targets('r', { targets: ['r/2'], previousVersion: A1.cid })
    const S2 = await b.snapshot({ root: R, targets: T2, delegated: { r: A2 }, previousVersion: S1.cid })
    const limits = { maxDelegationsVisited: 1 }
    expect((await succ(b.loader(), 'snapshot', S2.cid, S1.cid)).holds).toBe(true)
    const r = await succ(b.loader(), 'snapshot', S2.cid, S1.cid, { limits })
    expect(r.holds).toBe(false)
    expect(rules(r)).toContain('BOUND-DELEGATIONS')
    expect((await succ(b.loader(), 'snapshot', S2.cid, S1.cid, { limits, premise: 'top' })).holds).toBe(true)
  })

  it('SUCC-SNAP-LINK: under the top premise a role map that is not a map is a violation of the step; a missing map node propagates', async () => {
    const { b, R, T2, A1, S1 } = await world()
    const s1 = S1.signed.meta
    const sign = async (delegatedTargets: CID) => await b.sign(makeSnapshot({ expires: EXPIRES, previous: S1, root: R.cid, targets: T2.cid, delegatedTargets, retired: s1.retired }), [b.key('snapshot')])
    // The delegated-targets link names a targets map (entries of another kind), not a role map.
    const bad = await sign(A1.signed.targets)
    const r = await succ(b.loader(), 'snapshot', bad.cid, S1.cid, top)
    expect(r.holds).toBe(false)
    expect(r.violations.map((v) => v.cid)).toEqual([s(bad)])
    expect(r.violations[0]!.rule).toMatch(/^(SHARD|ENC)-/)
    // A map node that cannot be fetched says nothing about the data.
    const elsewhere = new DagBuilder()
    const unstored = (await elsewhere.snapshot({ root: R, targets: T2, delegated: { r: A1, x: A1 } })).signed.meta.delegatedTargets
    const gone = await sign(unstored)
    const e = await caught(async () => await succ(b.loader(), 'snapshot', gone.cid, S1.cid, top))
    expect(e).toMatchObject({ name: 'BlockError' })
  })

  it('SUCC-ROOT-LINK, SUCC-TARGETS-LINK: roots and targets objects keep their premises under the top premise', async () => {
    const { b, T1, T2 } = await world()
    const R1 = await b.root()
    const R2 = await b.root({ previousVersion: R1.cid })
    const bad = await b.root({ signers: [] })
    const afterBad = await b.root({ previousVersion: bad.cid })
    const onRoot = await b.targets('targets', { previousVersion: R1.cid })
    for (const f of [succ, succOpt, succStar]) {
      expect(await f(b.loader(), 'root', R2.cid, R1.cid, top)).toEqual({ holds: true, violations: [], witness: [s(R2), s(R1)], steps: 1 })
      expect(await f(b.loader(), 'targets', T2.cid, T1.cid, top)).toEqual({ holds: true, violations: [], witness: [s(T2), s(T1)], steps: 1 })
      const r = await f(b.loader(), 'root', afterBad.cid, bad.cid, top)
      expect(rules(r)).toEqual(['VALID-ROOT-SELF'])
      expect(r.violations[0]!.cid).toBe(s(bad))
      expect(rules(await f(b.loader(), 'targets', onRoot.cid, R1.cid, top))).toEqual(['VALID-KIND'])
    }
  })

  it('SUCC-SNAP-NEW: a new role listed at a block of another kind is a violation, never a crash; a new role\'s object that cannot be fetched propagates', async () => {
    const { b, R, T2, A1, S1 } = await world()
    const odd = await b.snapshot({ root: R, targets: T2, delegated: { r: A1, n: R.cid as CID }, previousVersion: S1.cid })
    for (const f of [succ, succStar]) {
      const r = await f(b.loader(), 'snapshot', odd.cid, S1.cid, top)
      expect(rules(r)).toEqual(['VALID-KIND', 'SUCC-SNAP-NEW'])
      expect(r.violations.map((v) => v.cid)).toEqual([s(R), s(odd)])
    }
    const N = await b.targets('n', { targets: ['n/1'] })
    const withN = await b.snapshot({ root: R, targets: T2, delegated: { r: A1, n: N }, previousVersion: S1.cid })
    expect((await succ(b.loader(), 'snapshot', withN.cid, S1.cid, top)).holds).toBe(true)
    b.store.delete(N.cid)
    expect(await caught(async () => await succ(b.loader(), 'snapshot', withN.cid, S1.cid, top))).toMatchObject({ name: 'BlockError' })
  })
})

