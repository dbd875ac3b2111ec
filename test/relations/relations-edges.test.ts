/**
 * Edges of the successor relations (src/relations/index.ts) that the main
 * relation tests do not reach: what a violation names, the argument checks,
 * memoization per loader, walks whose ends do not load, the height
 * shortcuts, the top premise on a loader without `forget`, and the step
 * queue of a one-pass walk (STEP_CONCURRENCY). Written against the
 * survivors of the 2026-11-30 third mutation run (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagCbor from '@ipld/dag-cbor'
import { makeSnapshot } from '../../src/model/build.js'
import { ladder } from '../../src/model/ladder.js'
import { UsageError } from '../../src/model/errors.js'
import type { Kind } from '../../src/model/config.js'
import type { Loader, SourceLoader } from '../../src/validate/loader.js'
import type { RootEnvelope, SnapshotEnvelope, TargetsEnvelope } from '../../src/model/types.js'
import { succ, succOpt, succStar, type Relation } from '../../src/relations/index.js'
import { DagBuilder, EXPIRES, snapshotChain } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

/** The rules of `r`'s violations; each violation must also say what is wrong (its message is never empty). */
const rules = (r: Relation): string[] => r.violations.map((v) => { expect(v.message, v.rule).not.toBe(''); return v.rule })
const s = (c: { cid: CID } | CID): string => ('cid' in c ? c.cid : c).toString()
const top = { premise: 'top' } as const

/** The first violation of `rule` in `r` (the test fails when there is none). */
function violation (r: Relation, rule: string): { rule: string, cid: string, message: string } {
  const x = r.violations.find((v) => v.rule === rule)
  expect(x, `${rule} in ${JSON.stringify(r.violations)}`).toBeDefined()
  return x!
}

/**
 * A loader over `l` that counts its `load` calls (by kind and CID) and its
 * `prefetch` calls; `forget: false` leaves `forget` out (a Loader may lack it).
 */
function counting (l: SourceLoader, o: { forget?: boolean } = {}): Loader & { loads: string[], prefetches: number } {
  const c: Loader & { loads: string[], prefetches: number } = {
    loads: [],
    prefetches: 0,
    load: async (kind, cid) => { c.loads.push(`${kind} ${String(cid)}`); return await l.load(kind, cid) },
    roleMap: l.roleMap,
    roleEntry: l.roleEntry,
    roleDiff: l.roleDiff,
    target: l.target,
    targetEntries: l.targetEntries,
    prefetch: async (kind: Kind, cid: CID) => { c.prefetches++; return await l.prefetch!(kind, cid) }
  }
  if (o.forget !== false) c.forget = (cid: CID) => { l.forget!(cid) }
  return c
}

describe('arguments', () => {
  it('every argument check throws UsageError ERR_ARGUMENT with a message, for the loader, premise, kind, CIDs, maxChain, fetchAhead and established', async () => {
    const { b, S } = await snapshotChain(2)
    const l = b.loader()
    const [s1, s2] = [S[0]!.cid, S[1]!.cid]
    const bad: Array<() => Promise<unknown>> = [
      // A function with a load method is no Loader.
      async () => await succ(Object.assign(() => {}, { load: l.load }) as never, 'snapshot', s2, s1),
      async () => await succ(null as never, 'snapshot', s2, s1),
      async () => await succ(l, 'snapshot', s2, s1, { premise: 'half' as never }),
      async () => await succOpt(l, 'delegated' as never, s2, s1),
      async () => await succStar(l, 'snapshot', s2, 'x' as never),
      async () => await succStar(l, 'snapshot', s2, s1, { maxChain: -1 }),
      async () => await succStar(l, 'snapshot', s2, s1, { fetchAhead: 'yes' as never }),
      async () => await succStar(l, 'snapshot', s2, s1, { fetchAhead: 1 as never }),
      async () => await succStar(l, 'snapshot', s2, s1, { established: s1.toString() as never })
    ]
    for (const f of bad) {
      const e = await caught(f)
      expect(e).toBeInstanceOf(UsageError)
      expect(e.code).toBe('ERR_ARGUMENT')
      expect(e.message).not.toBe('')
    }
    // The same calls with good values hold.
    expect((await succStar(l, 'snapshot', s2, s1, { fetchAhead: false, established: s1 })).holds).toBe(true)
  })
})

describe('memoization per loader', () => {
  it('SUCC-ROOT-LINK, SUCC-SNAP-LINK: a step asked again of the same loader is answered from the memo, without loading anything', async () => {
    const { b, S } = await snapshotChain(2)
    const R2 = await b.root({ previousVersion: (await b.loader().load('snapshot', S[0]!.cid)).signed.meta.root })
    const R1 = R2.signed.previousVersion!
    const l = counting(b.loader())
    for (const [kind, a, p] of [['root', R2.cid, R1], ['snapshot', S[1]!.cid, S[0]!.cid]] as const) {
      expect((await succ(l, kind, a, p)).holds).toBe(true)
      const before = l.loads.length
      expect(before).toBeGreaterThan(0)
      expect((await succ(l, kind, a, p)).holds).toBe(true)
      expect((await succOpt(l, kind, a, p)).holds).toBe(true)
      expect(l.loads.length).toBe(before)
    }
    // Limits given as options make a context of their own (not shared with the default).
    const before = l.loads.length
    expect((await succ(l, 'root', R2.cid, R1, { limits: { maxChainLength: 5 } })).holds).toBe(true)
    expect(l.loads.length).toBeGreaterThan(before)
  })
})

describe('what a violation names', () => {
  it('VALID-KIND: a block of another kind is reported with what it was read as, and on a walk with the walk\'s start', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets')
    const asRoot = await succOpt(b.loader(), 'root', T.cid, T.cid)
    expect(rules(asRoot)).toEqual(['VALID-KIND'])
    expect(asRoot.violations[0]!.message).toMatch(/^root: /)
    const asTargets = await succOpt(b.loader(), 'targets', R.cid, R.cid)
    expect(rules(asTargets)).toEqual(['VALID-KIND'])
    expect(asTargets.violations[0]!.message).toMatch(/^targets: /)
    // A targets chain that leads to a root: reported at the root, as met on the walk from its start.
    const T2 = await b.targets('targets', { previousVersion: R.cid })
    const T3 = await b.targets('targets', { previousVersion: T2.cid })
    const walk = await succStar(b.loader(), 'targets', T3.cid, T.cid)
    expect(rules(walk)).toEqual(['VALID-KIND'])
    expect(walk.violations[0]!.cid).toBe(s(R))
    expect(walk.violations[0]!.message).toContain(`targets on the chain from ${s(T3)}`)
  })

  it('SUCC-SNAP-TARGETS: the violation says what the new targets object is and what it names instead', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T1 = await b.targets('targets', { targets: ['t1'] })
    const Tx = await b.targets('targets', { targets: ['x'] })
    const Ty = await b.targets('targets', { targets: ['y'], previousVersion: Tx.cid })
    const S1 = await b.snapshot({ root: R, targets: T1 })
    const l = b.loader()
    // A new chain: previous-version null.
    const fresh = await b.snapshot({ root: R, targets: Tx, previousVersion: S1.cid })
    const m1 = violation(await succ(l, 'snapshot', fresh.cid, S1.cid), 'SUCC-SNAP-TARGETS').message
    expect(m1).toContain(`${s(Tx)} has previous-version null, not ${s(T1)}`)
    // Another chain: it names its own predecessor.
    const other = await b.snapshot({ root: R, targets: Ty, previousVersion: S1.cid })
    const m2 = violation(await succ(l, 'snapshot', other.cid, S1.cid), 'SUCC-SNAP-TARGETS').message
    expect(m2).toContain(`${s(Ty)} has previous-version ${s(Tx)}, not ${s(T1)}`)
    // Not a targets object at all (under the top premise: VALID_top of the snapshot does not read it whole).
    const notTargets = await b.sign(makeSnapshot({ expires: EXPIRES, ...b.previousOf(S1.cid), root: R.cid, targets: R.cid, delegatedTargets: S1.signed.meta.delegatedTargets, retired: S1.signed.meta.retired }), [b.key('snapshot')])
    const r3 = await succ(b.loader(), 'snapshot', notTargets.cid, S1.cid)
    expect(r3.holds).toBe(false)
    expect(violation(r3, 'SUCC-SNAP-TARGETS').message).toContain(`${s(R)} is not a targets object`)
  })

  it('SUCC-SNAP-SKIPS: the violation names the skip, what it is, the ancestor it should be and that ancestor\'s height', async () => {
    const { b, R, T, S } = await snapshotChain(7)
    expect(ladder(8)).toEqual([6, 4])
    const h6 = s(S[5]!)
    const h4 = s(S[3]!)
    const cases = [
      // The first skip wrong (index 0).
      { skips: [S[4]!.cid, S[3]!.cid], want: `skip 0 is ${s(S[4]!)}, not the ancestor ${h6} that ${s(S[6]!)} names at height 6` },
      // The second skip wrong.
      { skips: [S[5]!.cid, S[2]!.cid], want: `skip 1 is ${s(S[2]!)}, not the ancestor ${h4} that ${s(S[6]!)} names at height 4` },
      // One skip missing.
      { skips: [S[5]!.cid], want: `skip 1 is missing, not the ancestor ${h4} that ${s(S[6]!)} names at height 4` },
      // One skip too many.
      { skips: [S[5]!.cid, S[3]!.cid, S[1]!.cid], want: `skip 2 is ${s(S[1]!)}, not the ancestor (none) that ${s(S[6]!)} names at height ?` }
    ]
    for (const c of cases) {
      const liar = await b.snapshot({ root: R, targets: T, previousVersion: S[6]!.cid, place: { skips: c.skips } })
      for (const premise of ['full', 'top'] as const) {
        const r = await succ(b.loader(), 'snapshot', liar.cid, S[6]!.cid, { premise })
        const x = violation(r, 'SUCC-SNAP-SKIPS')
        expect(x.cid).toBe(s(liar))
        expect(x.message).toContain(c.want)
      }
    }
  })

  it('SUCC-SNAP-REMOVED, SUCC-SNAP-RETIRED: the violations name the tombstone found and what it became', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const withR = [b.deleg('r', ['r/*'])]
    const T1 = await b.targets('targets', { delegations: withR })
    const U2 = await b.targets('targets', { previousVersion: T1.cid })
    const U3 = await b.targets('targets', { targets: ['u3'], previousVersion: U2.cid })
    const A1 = await b.targets('r', { targets: ['r/1'] })
    const A2 = await b.targets('r', { targets: ['r/2'], previousVersion: A1.cid })
    const S1 = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 } })
    const l = b.loader()
    const none = await b.snapshot({ root: R, targets: U2, previousVersion: S1.cid })
    expect(violation(await succ(l, 'snapshot', none.cid, S1.cid), 'SUCC-SNAP-REMOVED').message).toContain(`retired with ${s(A1)}, found no tombstone`)
    const wrong = await b.snapshot({ root: R, targets: U2, retired: { r: A2 }, previousVersion: S1.cid })
    expect(violation(await succ(l, 'snapshot', wrong.cid, S1.cid), 'SUCC-SNAP-REMOVED').message).toContain(`retired with ${s(A1)}, found ${s(A2)}`)
    const Sx = await b.snapshot({ root: R, targets: U2, retired: { r: A1 }, previousVersion: S1.cid })
    const dropped = await b.snapshot({ root: R, targets: U3, previousVersion: Sx.cid })
    expect(violation(await succ(l, 'snapshot', dropped.cid, Sx.cid), 'SUCC-SNAP-RETIRED').message).toContain(`from ${s(A1)} to nothing`)
    const changed = await b.snapshot({ root: R, targets: U3, retired: { r: A2 }, previousVersion: Sx.cid })
    expect(violation(await succ(l, 'snapshot', changed.cid, Sx.cid), 'SUCC-SNAP-RETIRED').message).toContain(`from ${s(A1)} to ${s(A2)}`)
  })

  it('CLIENT-VALID-TOP: a role map that cannot be read is a violation naming both snapshots, not a crash', async () => {
    const { b, R, T, S } = await snapshotChain(1)
    // The new snapshot's delegated-targets map is a dag-cbor block that is no map node.
    const bytes = dagCbor.encode({ not: 'a map node' })
    const notNode = CID.createV1(dagCbor.code, await sha256.digest(bytes))
    await b.store.put(notNode, bytes)
    const broken = await b.sign(makeSnapshot({ expires: EXPIRES, ...b.previousOf(S[0]!.cid), root: R.cid, targets: T.cid, delegatedTargets: notNode, retired: S[0]!.signed.meta.retired }), [b.key('snapshot')])
    const r = await succ(b.loader(), 'snapshot', broken.cid, S[0]!.cid, top)
    expect(r.holds).toBe(false)
    const x = r.violations.find((v) => v.message.includes(`the role maps of ${s(broken)} and ${s(S[0]!)}`))
    expect(x, JSON.stringify(r.violations)).toBeDefined()
    expect(x!.cid).toBe(s(broken))
  })
})

describe('the top premise', () => {
  it('CLIENT-VALID-TOP, SUCC-SNAP-REMOVED: a role removed with its tombstone is a successor under the top premise (no false VALID-RETIRED-DISJOINT)', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T1 = await b.targets('targets', { delegations: [b.deleg('r', ['r/*'])] })
    const U2 = await b.targets('targets', { previousVersion: T1.cid })
    const A1 = await b.targets('r', { targets: ['r/1'] })
    const S1 = await b.snapshot({ root: R, targets: T1, delegated: { r: A1 } })
    const S2 = await b.snapshot({ root: R, targets: U2, retired: { r: A1 }, previousVersion: S1.cid })
    for (const f of [succ, succOpt, succStar]) {
      expect(await f(b.loader(), 'snapshot', S2.cid, S1.cid, top)).toEqual({ holds: true, violations: [], witness: [s(S2), s(S1)], steps: 1 })
    }
  })

  it('CLIENT-VALID-TOP: on a loader without forget the walk takes two passes, with the same verdicts, and still checks the far end whole', async () => {
    const { b, R, S } = await snapshotChain(4)
    const l = counting(b.loader(), { forget: false })
    expect('forget' in l).toBe(false)
    expect(await succStar(l, 'snapshot', S[3]!.cid, S[0]!.cid, top)).toEqual({ holds: true, violations: [], witness: [...S].reverse().map(s), steps: S.length - 1 })
    // A far end whose maps list and retire the same name (VALID-RETIRED-DISJOINT),
    // and a successor with the same maps: only the far end's whole check sees it.
    const A = await b.targets('r', { targets: ['r/1'] })
    const Tr = await b.targets('targets', { delegations: [b.deleg('r', ['r/*'])] })
    const B = await b.snapshot({ root: R, targets: Tr, delegated: { r: A }, retired: { r: A }, previousVersion: S[3]!.cid })
    const A2 = await b.snapshot({ root: R, targets: Tr, delegated: { r: A }, retired: { r: A }, previousVersion: B.cid })
    for (const loader of [counting(b.loader(), { forget: false }), b.loader()]) {
      const r = await succStar(loader, 'snapshot', A2.cid, B.cid, top)
      expect(r.holds).toBe(false)
      expect(r.violations.map((v) => [v.rule, v.cid])).toEqual([['VALID-RETIRED-DISJOINT', s(B)]])
    }
  })
})

describe('walks whose ends do not load', () => {
  it('SUCC-SNAP-LINK, VALID-KIND: a snapshot walk from or to a block that is no snapshot is a violation, never a crash', async () => {
    const { b, R, S } = await snapshotChain(3)
    for (const premise of ['full', 'top'] as const) {
      for (const fetchAhead of [true, false]) {
        const o = { premise, fetchAhead }
        // From a root: it does not load as a snapshot.
        const from = await succStar(b.loader(), 'snapshot', R.cid, S[0]!.cid, o)
        expect(from.violations.map((v) => [v.rule, v.cid])).toEqual([['VALID-KIND', s(R)]])
        // To a root: the chain from S3 ends at S1 without reaching it.
        const to = await succStar(b.loader(), 'snapshot', S[2]!.cid, R.cid, o)
        expect(to.holds).toBe(false)
        expect(to.violations.map((v) => [v.rule, v.cid])).toContainEqual(['SUCC-SNAP-LINK', s(S[0]!)])
        // A timestamp naming a root as its snapshot.
        const ts = await b.timestamp(R.cid)
        const t1 = await b.timestamp(S[0]!)
        const r = await succ(b.loader(), 'timestamp', ts.cid, t1.cid, { premise })
        expect(r.holds).toBe(false)
        expect(rules(r)).toContain('VALID-KIND')
      }
    }
  })
})

describe('the heights', () => {
  it('BOUND-CHAIN: snapshots whose heights differ by more than maxChain are refused from their heights alone, before any walk', async () => {
    const { b, S } = await snapshotChain(5)
    const l = b.loader()
    const r = await succStar(l, 'snapshot', S[4]!.cid, S[0]!.cid, { maxChain: 2 })
    expect(r.violations.map((v) => [v.rule, v.cid])).toEqual([['BOUND-CHAIN', s(S[4]!)]])
    expect(r.violations[0]!.message).toContain('differ by 4')
    expect(l.stats.blocks).toBe(2)
    expect((await succStar(b.loader(), 'snapshot', S[4]!.cid, S[0]!.cid, { maxChain: 4 })).holds).toBe(true)
  })

  it('SUCC-SNAP-LINK: two snapshots at the same height cannot descend from one another, from their heights alone', async () => {
    const { b, R, S } = await snapshotChain(3)
    const T2 = await b.targets('targets', { targets: ['fork'] })
    const fork = await b.snapshot({ root: R, targets: T2, previousVersion: S[1]!.cid })
    expect(fork.signed.height).toBe(S[2]!.signed.height)
    const r = await succStar(b.loader(), 'snapshot', fork.cid, S[2]!.cid)
    expect(r.violations.map((v) => [v.rule, v.cid])).toEqual([['SUCC-SNAP-LINK', s(fork)]])
    expect(r.violations[0]!.message).toMatch(/at height 3 cannot descend/)
  })

  it('SUCC-TS-SNAPSHOT: a timestamp step fetches its lagging snapshot chain ahead by default', async () => {
    const { b, S } = await snapshotChain(12)
    const t12 = await b.timestamp(S[11]!)
    const t1 = await b.timestamp(S[0]!)
    for (const f of [succ, succOpt]) {
      const l = counting(b.loader())
      expect((await f(l, 'timestamp', t12.cid, t1.cid)).witness).toEqual([...S].reverse().map(s))
      expect(l.prefetches).toBeGreaterThan(0)
    }
    const off = counting(b.loader())
    expect((await succStar(off, 'timestamp', t12.cid, t1.cid, { fetchAhead: false })).holds).toBe(true)
    expect(off.prefetches).toBe(0)
  })
})

describe('the step queue of a one-pass walk', () => {
  it('SUCC-STAR: under the top premise a broken first step stops the walk once STEP_CONCURRENCY (64) steps are queued, not sooner and not later', async () => {
    const b = new DagBuilder()
    const { T, S } = await snapshotChain(80, b)
    const other = await b.root({ roles: { root: { keys: [b.key('other')] } }, signers: [b.key('other')] })
    const bad = await b.snapshot({ root: other, targets: T, previousVersion: S[79]!.cid })
    const l = counting(b.loader())
    const r = await succStar(l, 'snapshot', bad.cid, S[0]!.cid, { ...top, fetchAhead: false })
    expect(r.holds).toBe(false)
    expect(r.violations[0]).toMatchObject({ rule: 'SUCC-SNAP-ROOT', cid: s(bad) })
    // The 64 steps queued: the walk's start and the 64 snapshots behind it,
    // and the far end (read for its height); none further.
    const snapshots = new Set(l.loads.filter((x) => x.startsWith('snapshot ')))
    expect(snapshots.size).toBe(1 + 64 + 1)
    expect(snapshots.has(`snapshot ${s(S[0]!)}`)).toBe(true)
    expect(snapshots.has(`snapshot ${s(S[80 - 64]!)}`)).toBe(true)
    expect(snapshots.has(`snapshot ${s(S[80 - 65]!)}`)).toBe(false)
  })
})
