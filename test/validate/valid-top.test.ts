/**
 * VALID_top (NOTES 4.1): what a client update checks (CLIENT-VALID-TOP), the
 * Dag it returns whose delegated objects load on demand, and the variant
 * without the role maps that the relations `<-ᵗ` use (NOTES 5.6).
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { BlockError, ValidationError } from '../../src/model/errors.js'
import {
  assertValidSnapshotTop, assertValidTimestampTop, snapshotTopWithoutMaps, validateSnapshot, validateSnapshotTop,
  validateTimestamp, validateTimestampTop, type ValidReport
} from '../../src/validate/valid.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

/** The rules of `r`'s violations; each violation must also say what is wrong (its message is never empty). */
const rules = (r: ValidReport<any>): string[] => r.violations.map((v) => { expect(v.message, v.rule).not.toBe(''); return v.rule })
const s = (c: { cid: CID } | CID): string => ('cid' in c ? c.cid : c).toString()

/** targets -> r (signed by a key the delegation does not name: VALID-DELEG-SIG), targets -> q (honest). */
async function world () {
  const b = new DagBuilder()
  const R = await b.root()
  const rObj = await b.targets('r', { targets: ['r/1'], signers: [b.key('mallory')] })
  const qObj = await b.targets('q', { targets: ['q/1'] })
  const T = await b.targets('targets', { delegations: [b.deleg('r', ['r/*']), b.deleg('q', ['q/*'])] })
  const S = await b.snapshot({ root: R, targets: T, delegated: { r: rObj, q: qObj } })
  const ts = await b.timestamp(S)
  return { b, R, T, rObj, qObj, S, ts }
}

describe('VALID_top', () => {
  it('CLIENT-VALID-TOP: VALID_top does not judge delegated roles; VALID does; the two are cached apart on one loader', async () => {
    const { b, R, T, S, ts, rObj } = await world()
    for (const order of ['full first', 'top first']) {
      const l = b.loader()
      const full = async (): Promise<void> => {
        const r = await validateTimestamp(l, ts.cid)
        expect(rules(r)).toEqual(['VALID-DELEG-SIG'])
        expect(r.violations[0]!.cid).toBe(s(rObj))
        expect(r.dag).toBeUndefined()
        expect(rules(await validateSnapshot(l, S.cid))).toEqual(['VALID-DELEG-SIG'])
      }
      const top = async (): Promise<void> => {
        const r = await validateTimestampTop(l, ts.cid)
        expect(r.valid).toBe(true)
        expect(r.violations).toEqual([])
        expect(s(r.dag!.timestamp!)).toBe(s(ts))
        expect(s(r.dag!.snapshot)).toBe(s(S))
        expect(s(r.dag!.root)).toBe(s(R))
        expect(s(r.dag!.targets)).toBe(s(T))
        expect([...r.dag!.roles.keys()]).toEqual(['q', 'r'])
        expect(r.dag!.retired.size).toBe(0)
        expect('delegated' in r.dag!).toBe(false)
        const sr = await validateSnapshotTop(l, S.cid)
        expect(sr.valid).toBe(true)
        expect(sr.dag!.timestamp).toBeUndefined()
      }
      if (order === 'full first') { await full(); await top() } else { await top(); await full() }
    }
    expect(s((await assertValidTimestampTop(b.loader(), ts.cid)).snapshot)).toBe(s(S))
    expect((await assertValidSnapshotTop(b.loader(), S.cid)).timestamp).toBeUndefined()
  })

  it('CLIENT-VALID-TOP: VALID_top checks the timestamp, snapshot, root and top-level targets, in fail-fast order', async () => {
    const { b, R, T, rObj } = await world()
    const unsignedSnap = await b.snapshot({ root: R, targets: T, delegated: { r: rObj }, signers: [] })
    const badTs = await b.timestamp(unsignedSnap, [b.key('snapshot')])
    const r = await validateTimestampTop(b.loader(), badTs.cid)
    expect(rules(r)).toEqual(['VALID-TS-SIG', 'VALID-SNAP-SIG'])
    expect(r.dag).toBeUndefined()
    const e = await caught(async () => await assertValidTimestampTop(b.loader(), badTs.cid))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e).toMatchObject({ code: 'VALID-TS-SIG', details: { cid: s(badTs) } })
    expect(await caught(async () => await assertValidSnapshotTop(b.loader(), unsignedSnap.cid))).toMatchObject({ code: 'VALID-SNAP-SIG', details: { cid: s(unsignedSnap) } })
    // The top-level targets, and a root that is not VALID.
    const badTargets = await b.targets('targets', { signers: [b.key('root')] })
    const S2 = await b.snapshot({ root: R, targets: badTargets })
    expect(rules(await validateSnapshotTop(b.loader(), S2.cid))).toEqual(['VALID-TARGETS-SIG'])
    const badRoot = await b.root({ signers: [] })
    const S3 = await b.snapshot({ root: badRoot, targets: T, delegated: { r: rObj } })
    expect(rules(await validateSnapshotTop(b.loader(), S3.cid))).toEqual(['VALID-ROOT-SELF', 'VALID-SNAP-ROOT'])
    expect(await caught(async () => await assertValidSnapshotTop(b.loader(), S3.cid))).toMatchObject({ code: 'VALID-ROOT-SELF' })
  })

  it('VALID-RETIRED-DISJOINT and VALID-SNAP-FIRST-RETIRED are part of VALID_top (the maps are read whole)', async () => {
    const { b, R, T, rObj, qObj } = await world()
    const first = await b.snapshot({ root: R, targets: T, delegated: { r: rObj, q: qObj }, retired: { q: qObj } })
    const r = await validateSnapshotTop(b.loader(), first.cid)
    expect(rules(r)).toEqual(['VALID-RETIRED-DISJOINT', 'VALID-SNAP-FIRST-RETIRED'])
    expect(r.violations.map((v) => v.cid)).toEqual([s(first), s(first)])
  })

  it('VALID-KIND: a snapshot link or meta.targets of another kind is a violation of VALID_top, never a crash', async () => {
    const { b, R, rObj } = await world()
    const onRoot = await b.timestamp(R.cid)
    expect(rules(await validateTimestampTop(b.loader(), onRoot.cid))).toEqual(['VALID-KIND'])
    const S = await b.snapshot({ root: R, targets: R.cid as CID, delegated: { r: rObj } })
    const r = await validateSnapshotTop(b.loader(), S.cid)
    expect(rules(r)).toEqual(['VALID-KIND'])
    expect(r.violations[0]!.cid).toBe(s(R))
  })
})

describe('snapshotTopWithoutMaps', () => {
  it('VALID-RETIRED-DISJOINT: a snapshot with a predecessor is judged without its role maps', async () => {
    const { b, R, T, rObj, qObj } = await world()
    const S1 = await b.snapshot({ root: R, targets: T, delegated: { r: rObj, q: qObj } })
    const both = await b.snapshot({ root: R, targets: T, delegated: { r: rObj, q: qObj }, retired: { q: qObj }, previousVersion: S1.cid })
    expect(await snapshotTopWithoutMaps(b.loader(), both.cid)).toEqual([])
    expect(rules(await validateSnapshotTop(b.loader(), both.cid))).toEqual(['VALID-RETIRED-DISJOINT'])
    // Its maps are not even fetched.
    const l = b.loader()
    await snapshotTopWithoutMaps(l, both.cid)
    const fetched = l.stats.blocks
    await validateSnapshotTop(l, both.cid)
    expect(l.stats.blocks).toBeGreaterThan(fetched)
    // The rest of the top is checked.
    const unsigned = await b.snapshot({ root: R, targets: T, delegated: { r: rObj }, previousVersion: S1.cid, signers: [] })
    const v = await snapshotTopWithoutMaps(b.loader(), unsigned.cid)
    expect(v.map((x) => x.rule)).toEqual(['VALID-SNAP-SIG'])
    expect(v[0]!.cid).toBe(s(unsigned))
  })

  it('VALID-SNAP-FIRST-RETIRED: a first snapshot\'s retired map is still checked (read unless it is the empty map\'s root); disjointness is left to the walk\'s anchor', async () => {
    const { b, R, T, rObj, qObj } = await world()
    const first = await b.snapshot({ root: R, targets: T, delegated: { r: rObj }, retired: { q: qObj } })
    const l = b.loader()
    expect((await snapshotTopWithoutMaps(l, first.cid)).map((x) => x.rule)).toEqual(['VALID-SNAP-FIRST-RETIRED'])
    const both = await b.snapshot({ root: R, targets: T, delegated: { r: rObj, q: qObj }, retired: { q: qObj } })
    expect((await snapshotTopWithoutMaps(b.loader(), both.cid)).map((x) => x.rule)).toEqual(['VALID-SNAP-FIRST-RETIRED'])
    // VALID_top read whole reports both.
    expect((await validateSnapshotTop(b.loader(), both.cid)).violations.map((x) => x.rule)).toEqual(['VALID-RETIRED-DISJOINT', 'VALID-SNAP-FIRST-RETIRED'])
    // An honest first snapshot: its retired map is the empty map's root, which needs no read.
    const honest = await b.snapshot({ root: R, targets: T, delegated: { r: rObj } })
    const quiet = b.loader()
    expect(await snapshotTopWithoutMaps(quiet, honest.cid)).toEqual([])
    const nodesRead = quiet.stats.blocks
    const whole = b.loader()
    await validateSnapshotTop(whole, honest.cid)
    expect(nodesRead).toBeLessThan(whole.stats.blocks)
  })
})

describe('the Dag of VALID_top loads delegated objects on demand', () => {
  it('VALID-DELEG-LISTED: role() of a name the snapshot does not list names the snapshot and the role', async () => {
    const { b, S, ts } = await world()
    const dag = await assertValidTimestampTop(b.loader(), ts.cid)
    const e = await caught(async () => await dag.role('nobody'))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e).toMatchObject({ code: 'VALID-DELEG-LISTED', details: { cid: s(S), role: 'nobody' } })
  })

  it('CLIENT-VALID-TOP: role() decodes the listed object once, whatever its signatures, and remembers it', async () => {
    const { b, ts, rObj } = await world()
    const l = b.loader()
    const dag = await assertValidTimestampTop(l, ts.cid)
    expect(dag.loadedRoles.size).toBe(0)
    const before = l.stats.blocks
    const [x, y] = await Promise.all([dag.role('r'), dag.role('r')])
    expect(s(x)).toBe(s(rObj))
    expect(y).toBe(x)
    expect(l.stats.blocks).toBe(before + 1)
    expect(dag.loadedRoles.get('r')).toBe(x)
    expect(await dag.role('r')).toBe(x)
    expect([...dag.loadedRoles.keys()]).toEqual(['r'])
  })

  it('VALID-KIND: role() of an object of another kind is a ValidationError with the decoder\'s code as reason', async () => {
    const { b, R, T } = await world()
    const S = await b.snapshot({ root: R, targets: T, delegated: { r: R.cid as CID } })
    const dag = await assertValidSnapshotTop(b.loader(), S.cid)
    const e = await caught(async () => await dag.role('r'))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e).toMatchObject({ code: 'VALID-KIND', details: { cid: s(R), role: 'r', reason: 'ERR_KIND' } })
    expect(dag.loadedRoles.size).toBe(0)
  })

  it('role(): a block that cannot be fetched propagates as BlockError, a bound as itself, and a later call may retry', async () => {
    const { b, ts, qObj } = await world()
    const bytes = await b.store.get(qObj.cid)
    b.store.delete(qObj.cid)
    const dag = await assertValidTimestampTop(b.loader(), ts.cid)
    const e = await caught(async () => await dag.role('q'))
    expect(e).toBeInstanceOf(BlockError)
    expect(e).toMatchObject({ code: 'ERR_BLOCK_NOT_FOUND' })
    await b.store.put(qObj.cid, bytes)
    expect(s(await dag.role('q'))).toBe(s(qObj))
    // BOUND-BLOCKS stops the load: reported as the bound, not as the data's fault.
    const l = b.loader()
    const small = await assertValidTimestampTop(l, ts.cid)
    const tight = await assertValidTimestampTop(b.loader({ maxBlocks: l.stats.blocks }), ts.cid)
    expect(small.roles.size).toBe(2)
    expect(await caught(async () => await tight.role('q'))).toMatchObject({ name: 'ValidationError', code: 'BOUND-BLOCKS' })
  })
})

describe('the per-loader report cache', () => {
  it('VALID-DELEG-SIG: fail-fast reports and reports under limit overrides are not cached as the complete report', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const x = await b.targets('x', { signers: [b.key('mallory')] })
    const y = await b.targets('y', { signers: [b.key('mallory')] })
    const T = await b.targets('targets', { delegations: [b.deleg('x', ['x/*']), b.deleg('y', ['y/*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { x, y } })
    const ts = await b.timestamp(S)
    const all = ['VALID-DELEG-SIG', 'VALID-DELEG-SIG']
    for (const f of [validateTimestamp, validateSnapshot]) {
      const cid = f === validateTimestamp ? ts.cid : S.cid
      const l = b.loader()
      expect(rules(await f(l, cid, { failFast: true }))).toEqual(['VALID-DELEG-SIG'])
      expect(rules(await f(l, cid))).toEqual(all)
      const m = b.loader()
      expect(rules(await f(m, cid, { limits: { maxDelegationsVisited: 1 } }))).toEqual(['BOUND-DELEGATIONS'])
      expect(rules(await f(m, cid))).toEqual(all)
      expect(rules(await f(m, cid, { limits: { maxDelegationsVisited: 1 } }))).toEqual(['BOUND-DELEGATIONS'])
    }
    // The cached report is handed out as a copy.
    const l = b.loader()
    const first = await validateTimestamp(l, ts.cid)
    first.violations.length = 0
    expect(rules(await validateTimestamp(l, ts.cid))).toEqual(all)
    const top = await validateTimestampTop(l, ts.cid)
    expect(top.valid).toBe(true)
    expect((await validateTimestampTop(l, ts.cid)).dag).toBe(top.dag)
  })
})

describe('what a report holds', () => {
  it('VALID-KIND: snapshotTopWithoutMaps of a block that is not a snapshot is a violation, never a crash', async () => {
    const { b, R, T } = await world()
    const v = await snapshotTopWithoutMaps(b.loader(), T.cid)
    expect(v.map((x) => x.rule)).toEqual(['VALID-KIND'])
    expect(v[0]!.cid).toBe(s(T))
    const badRoot = await b.root({ signers: [] })
    const S = await b.snapshot({ root: badRoot, targets: T, previousVersion: R.cid })
    expect((await snapshotTopWithoutMaps(b.loader(), S.cid)).map((x) => x.rule)).toEqual(['VALID-ROOT-SELF', 'VALID-SNAP-ROOT'])
  })

  it('CLIENT-VALID-TOP: a report carries a dag exactly when it is valid; a full DAG has every delegated object loaded', async () => {
    const { b, ts, S, qObj } = await world()
    for (const opts of [{}, { failFast: true }, { limits: { maxGlobSteps: 1_000_000 } }]) {
      const bad = await validateTimestamp(b.loader(), ts.cid, opts)
      expect(Object.keys(bad).sort()).toEqual(['valid', 'violations'])
      expect(Object.keys(await validateSnapshot(b.loader(), S.cid, opts)).sort()).toEqual(['valid', 'violations'])
      expect(Object.keys(await validateTimestampTop(b.loader(), ts.cid, opts)).sort()).toEqual(['dag', 'valid', 'violations'])
    }
    const R = await b.root()
    const T = await b.targets('targets', { delegations: [b.deleg('q', ['q/*'])] })
    const good = await b.snapshot({ root: R, targets: T, delegated: { q: qObj } })
    const full = (await validateSnapshot(b.loader(), good.cid)).dag!
    expect([...full.loadedRoles.keys()]).toEqual(['q'])
    expect(await full.role('q')).toBe(full.delegated.get('q'))
  })
})

