/**
 * The one-pass snapshot walk of the top premise (`streamSnapshots` in
 * src/relations/index.ts) when a fetch fails part-way: the verdict that
 * comes first in chain order wins over a later fetch failure, and a fetch
 * failure inside a queued step is never lost (it propagates; the relation
 * does not hold). Written against the survivors of the 2026-11-30 third
 * mutation run (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { BlockError } from '../../src/model/errors.js'
import type { RootEnvelope, SnapshotEnvelope, TargetsEnvelope } from '../../src/model/types.js'
import { succ, succStar } from '../../src/relations/index.js'
import type { Kind } from '../../src/model/config.js'
import type { Loader } from '../../src/validate/loader.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'
import { roundCounting } from '../helpers/rounds.js'

const s = (c: { cid: CID } | CID): string => ('cid' in c ? c.cid : c).toString()
const top = { premise: 'top', fetchAhead: false } as const

/** `n` honest snapshots listing role `r` = A1 (index 0 is height 1). */
async function chain (n: number): Promise<{ b: DagBuilder, R: RootEnvelope, T: TargetsEnvelope, A1: TargetsEnvelope, S: SnapshotEnvelope[] }> {
  const b = new DagBuilder()
  const R = await b.root()
  const T = await b.targets('targets', { delegations: [b.deleg('r', ['r/*'])] })
  const A1 = await b.targets('r', { targets: ['r/1'] })
  const S: SnapshotEnvelope[] = []
  for (let i = 0; i < n; i++) S.push(await b.snapshot({ root: R, targets: T, delegated: { r: A1 }, previousVersion: S[i - 1]?.cid ?? null }))
  return { b, R, T, A1, S }
}

/**
 * A loader over `b`'s store whose blocks each arrive a timer tick later, and
 * which counts the loads and prefetches still under way and the snapshot
 * prefetches started (a snapshot fetched ahead may still ask for its
 * targets object when it arrives, src/relations/prefetch.ts).
 */
function watched (b: DagBuilder): Loader & { inflight: number, prefetches: number } {
  const l = sourceLoader(roundCounting(b.store))
  const w: Loader & { inflight: number, prefetches: number } = {
    inflight: 0,
    prefetches: 0,
    load: async (kind, cid) => {
      w.inflight++
      try { return await l.load(kind, cid) } finally { w.inflight-- }
    },
    roleMap: l.roleMap,
    roleEntry: l.roleEntry,
    roleDiff: l.roleDiff,
    target: l.target,
    targetEntries: l.targetEntries,
    forget: l.forget,
    prefetch: async (kind: Kind, cid: CID) => {
      if (kind === 'snapshot') w.prefetches++
      w.inflight++
      try { return await l.prefetch!(kind, cid) } finally { w.inflight-- }
    }
  }
  return w
}

const ticks = async (n: number): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 1)) }

describe('a one-pass walk meeting a fetch failure', () => {
  it('SUCC-STAR: a walk whose start cannot be fetched propagates BlockError under both premises', async () => {
    const { b, S } = await chain(3)
    b.store.delete(S[2]!.cid)
    for (const premise of ['top', 'full'] as const) {
      const e = await caught(() => succStar(b.loader(), 'snapshot', S[2]!.cid, S[0]!.cid, { premise, fetchAhead: false }))
      expect(e).toBeInstanceOf(BlockError)
      expect(e.code).toBe('ERR_BLOCK_NOT_FOUND')
    }
  })

  it('SUCC-SNAP-ROOT: when a broken step ends a one-pass walk, no step it queued is still loading once it returns', async () => {
    // Every step advances role r, so that each step loads the role's objects (a timer tick each).
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets', { delegations: [b.deleg('r', ['r/*'])] })
    const S: SnapshotEnvelope[] = []
    let A: TargetsEnvelope | undefined
    for (let i = 0; i < 12; i++) {
      A = await b.targets('r', { targets: [`r/${i}`], previousVersion: A?.cid ?? null })
      S.push(await b.snapshot({ root: R, targets: T, delegated: { r: A }, previousVersion: S[i - 1]?.cid ?? null }))
    }
    const other = await b.root({ roles: { root: { keys: [b.key('other')] } }, signers: [b.key('other')] })
    const bad = await b.snapshot({ root: other, targets: T, delegated: { r: A! }, previousVersion: S[11]!.cid })
    const l = watched(b)
    const r = await succStar(l, 'snapshot', bad.cid, S[0]!.cid, top)
    expect(r.violations[0]).toMatchObject({ rule: 'SUCC-SNAP-ROOT', cid: s(bad) })
    expect(l.inflight).toBe(0)
  })

  it('SUCC-SNAP-LINK: when a two-pass walk fails on its first link, its fetching ahead stops: nothing more is fetched after it returns', async () => {
    const { b, R, T, A1, S } = await chain(40)
    // A head at height 41 whose skips reach down the honest chain but whose previous-version is a root.
    const head = await b.snapshot({ root: R, targets: T, delegated: { r: A1 }, previousVersion: S[39]!.cid })
    const broken = await b.sign({ ...head.signed, previousVersion: R.cid }, [b.key('snapshot')])
    for (const premise of ['full', 'top'] as const) {
      const l = watched(b)
      if (premise === 'top') delete (l as { forget?: unknown }).forget // two passes under the top premise too
      const r = await succStar(l, 'snapshot', broken.cid, S[0]!.cid, { premise })
      expect(r.holds).toBe(false)
      expect(r.violations.map((v) => v.rule)).toEqual(['VALID-KIND'])
      const started = l.prefetches
      expect(started).toBeGreaterThan(0)
      await ticks(20)
      expect(l.prefetches).toBe(started)
    }
  })

  it('SUCC-SNAP-ROOT: a broken step queued before a snapshot that cannot be fetched is the verdict; without it the fetch failure propagates', async () => {
    const { b, T, A1, S } = await chain(4)
    const other = await b.root({ roles: { root: { keys: [b.key('other')] } }, signers: [b.key('other')] })
    const bad = await b.snapshot({ root: other, targets: T, delegated: { r: A1 }, previousVersion: S[3]!.cid })
    // S[1] is gone: the walk from `bad` to S[0] queues the steps down to S[2] -> S[1], then fails to fetch S[1].
    b.store.delete(S[1]!.cid)
    const r = await succStar(b.loader(), 'snapshot', bad.cid, S[0]!.cid, top)
    expect(r.holds).toBe(false)
    expect(r.witness).toEqual([])
    expect(r.violations[0]).toMatchObject({ rule: 'SUCC-SNAP-ROOT', cid: s(bad) })
    const e = await caught(() => succStar(b.loader(), 'snapshot', S[3]!.cid, S[0]!.cid, top))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_BLOCK_NOT_FOUND')
  })

  it('SUCC-SNAP-DELEG: a role object that cannot be fetched in the first of 64 queued steps propagates as BlockError, never as a relation that holds', async () => {
    const { b, R, T, A1, S } = await chain(80)
    const A2 = await b.targets('r', { targets: ['r/2'], previousVersion: A1.cid })
    const head = await b.snapshot({ root: R, targets: T, delegated: { r: A2 }, previousVersion: S[79]!.cid })
    const l = b.loader()
    expect((await succStar(l, 'snapshot', head.cid, S[0]!.cid, top)).holds).toBe(true)
    b.store.delete(A2.cid)
    const w = watched(b)
    const e = await caught(() => succStar(w, 'snapshot', head.cid, S[0]!.cid, top))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_BLOCK_NOT_FOUND')
    expect(e.details?.cid ?? e.message).toContain(s(A2))
    // The other queued steps were settled before it threw.
    expect(w.inflight).toBe(0)
  })

  it('SUCC-SNAP-DELEG: at the queue bound, a fetch failure in the oldest step is thrown only once every other queued step has settled, even slow ones', async () => {
    const { b, R, T, A1, S } = await chain(80)
    const A2 = await b.targets('r', { targets: ['r/2'], previousVersion: A1.cid })
    const head = await b.snapshot({ root: R, targets: T, delegated: { r: A2 }, previousVersion: S[79]!.cid })
    b.store.delete(A2.cid)
    // Every load, cached or not, answers a timer tick later: the queued steps are still at work when the oldest fails.
    const w = watched(b)
    const load = w.load
    w.load = async (kind, cid) => { w.inflight++; try { await ticks(1); return await load(kind, cid) } finally { w.inflight-- } }
    const e = await caught(() => succStar(w, 'snapshot', head.cid, S[0]!.cid, top))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_BLOCK_NOT_FOUND')
    expect(w.inflight).toBe(0)
  })
})

describe('the one-pass walk of targets objects (witness \'ends\')', () => {
  /** A chain of `n` targets objects of role r (index 0 first), each listing one target. */
  async function targetsChain (b: DagBuilder, n: number, first: CID | null = null): Promise<TargetsEnvelope[]> {
    const out: TargetsEnvelope[] = []
    for (let i = 0; i < n; i++) out.push(await b.targets('r', { targets: [`r/${i}`], previousVersion: out[i - 1]?.cid ?? first }))
    return out
  }

  it('SUCC-TARGETS-LINK, VALID-KIND, BOUND-CHAIN: on broken chains it gives the two-pass walk\'s verdicts, and drops every object between the ends', async () => {
    const b = new DagBuilder()
    const A = await targetsChain(b, 6)
    // A chain that passes through a snapshot block where a targets object should be.
    const R = await b.root()
    const snap = await b.snapshot({ root: R, targets: A[0]!, delegated: {} })
    const [odd1, odd2] = await targetsChain(b, 2, snap.cid)
    // A chain that never meets A[0].
    const other = await targetsChain(b, 3)
    const cases: Array<[CID, CID, number | undefined]> = [
      [A[5]!.cid, A[0]!.cid, undefined], // holds
      [A[5]!.cid, A[0]!.cid, 4], // BOUND-CHAIN
      [odd2!.cid, A[0]!.cid, undefined], // VALID-KIND on the way
      [other[2]!.cid, A[0]!.cid, undefined], // SUCC-TARGETS-LINK: ends without reaching it
      [A[0]!.cid, A[5]!.cid, undefined], // backwards
      [A[3]!.cid, snap.cid, undefined] // B is not a targets object
    ]
    for (const [x, y, maxChain] of cases) {
      const opts = maxChain === undefined ? {} : { maxChain }
      const two = await succStar(b.loader(), 'targets', x, y, opts)
      const l = b.loader()
      const forgot: string[] = []
      const forget = l.forget!
      l.forget = (c) => { forgot.push(c.toString()); forget(c) }
      const one = await succStar(l, 'targets', x, y, { ...opts, witness: 'ends' })
      expect({ holds: one.holds, violations: one.violations, steps: one.steps }).toEqual({ holds: two.holds, violations: two.violations, steps: two.steps })
      expect(forgot).not.toContain(x.toString())
      expect(forgot).not.toContain(y.toString())
      if (two.holds) {
        expect(one.witness).toEqual([x.toString(), y.toString()])
        expect(forgot).toEqual(two.witness.slice(1, -1))
      }
    }
    expect((await succStar(b.loader(), 'targets', odd1!.cid, A[0]!.cid, { witness: 'ends' })).violations[0]?.rule).toBe('VALID-KIND')
  })

  it('SUCC-STAR: on a loader without forget, witness \'ends\' on targets objects walks in two passes, with the same verdict', async () => {
    const b = new DagBuilder()
    const A = await targetsChain(b, 5)
    const l = b.loader()
    delete (l as { forget?: unknown }).forget
    expect(await succStar(l, 'targets', A[4]!.cid, A[0]!.cid, { witness: 'ends' })).toEqual({ holds: true, violations: [], witness: [s(A[4]!), s(A[0]!)], steps: 4 })
    expect((await succStar(l, 'targets', A[0]!.cid, A[4]!.cid, { witness: 'ends' })).violations[0]?.rule).toBe('SUCC-TARGETS-LINK')
  })
})

describe('a one-pass walk drops what it settled', () => {
  it('SUCC-SNAP-DELEG: along snapshots that each move a role, the walk lets go of every intermediate snapshot, role object and role-map node, and of nothing the first step read of the newest', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets', { delegations: [b.deleg('r', ['r/*'])] })
    const S: SnapshotEnvelope[] = []
    const A: TargetsEnvelope[] = []
    for (let i = 0; i < 8; i++) {
      A.push(await b.targets('r', { targets: [`r/${i}`], previousVersion: A[i - 1]?.cid ?? null }))
      S.push(await b.snapshot({ root: R, targets: T, delegated: { r: A[i]! }, previousVersion: S[i - 1]?.cid ?? null }))
    }
    const l = b.loader()
    const forgot = new Set<string>()
    const forget = l.forget!
    l.forget = (c) => { forgot.add(c.toString()); forget(c) }
    const r = await succStar(l, 'snapshot', S[7]!.cid, S[0]!.cid, top)
    expect(r.holds).toBe(true)
    const dt = (x: SnapshotEnvelope): string => x.signed.meta.delegatedTargets.toString()
    // The first step (S7 <- S6) read S7, A7 and S7's map: kept (an update keeps the head's).
    for (const kept of [S[7]!, A[7]!].map(s).concat([dt(S[7]!)])) expect(forgot.has(kept)).toBe(false)
    // Every later step let go of its newer snapshot and the role object it read, and every step of both maps' nodes.
    for (let i = 1; i <= 6; i++) {
      expect(forgot.has(s(S[i]!))).toBe(true)
      expect(forgot.has(s(A[i]!))).toBe(true)
    }
    for (let i = 0; i <= 6; i++) expect(forgot.has(dt(S[i]!))).toBe(true)
    // The far end is the walk's base, never let go of.
    expect(forgot.has(s(S[0]!))).toBe(false)
  })

  it('SUCC-SNAP-REMOVED: a role-map node of the newest snapshot that an older one also has is not let go of, though a later step reads it', async () => {
    // S2 retires x, which S1 added: S2's role map is S0's again, node for node.
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets', { delegations: [b.deleg('r', ['r/*']), b.deleg('x', ['x/*'])] })
    const A1 = await b.targets('r', { targets: ['r/1'] })
    const X1 = await b.targets('x', { targets: ['x/1'] })
    const S0 = await b.snapshot({ root: R, targets: T, delegated: { r: A1 } })
    const S1 = await b.snapshot({ root: R, targets: T, delegated: { r: A1, x: X1 }, previousVersion: S0.cid })
    const S2 = await b.snapshot({ root: R, targets: T, delegated: { r: A1 }, retired: { x: X1 }, previousVersion: S1.cid })
    expect(S2.signed.meta.delegatedTargets.equals(S0.signed.meta.delegatedTargets)).toBe(true)
    const l = b.loader()
    const forgot = new Set<string>()
    const forget = l.forget!
    l.forget = (c) => { forgot.add(c.toString()); forget(c) }
    expect((await succStar(l, 'snapshot', S2.cid, S0.cid, top)).holds).toBe(true)
    // The last step read it as its older side; the first as its newer: kept.
    expect(forgot.has(S2.signed.meta.delegatedTargets.toString())).toBe(false)
    expect(forgot.has(S1.signed.meta.delegatedTargets.toString())).toBe(true)
    expect(forgot.has(s(S1))).toBe(true)
  })

  it('SUCC-STAR: witness \'ends\' keeps [A, B] and counts the steps; the verdicts are those of the whole chain', async () => {
    const { b, S } = await chain(9)
    for (const premise of ['top', 'full'] as const) {
      const whole = await succStar(b.loader(), 'snapshot', S[8]!.cid, S[1]!.cid, { premise })
      const ends = await succStar(b.loader(), 'snapshot', S[8]!.cid, S[1]!.cid, { premise, witness: 'ends' })
      expect(whole.witness).toEqual(S.slice(1).reverse().map(s))
      expect(whole.steps).toBe(7)
      expect(ends).toEqual({ holds: true, violations: [], witness: [s(S[8]!), s(S[1]!)], steps: 7 })
      const back = await succStar(b.loader(), 'snapshot', S[1]!.cid, S[8]!.cid, { premise, witness: 'ends' })
      expect(back.holds).toBe(false)
      expect(back).toMatchObject({ witness: [], steps: 0 })
      expect(back.violations).toEqual((await succStar(b.loader(), 'snapshot', S[1]!.cid, S[8]!.cid, { premise })).violations)
      expect(await succStar(b.loader(), 'snapshot', S[3]!.cid, S[3]!.cid, { premise, witness: 'ends' })).toEqual({ holds: true, violations: [], witness: [s(S[3]!)], steps: 0 })
    }
    const e = await caught(() => succStar(b.loader(), 'snapshot', S[8]!.cid, S[1]!.cid, { witness: 'all' as 'ends' }))
    expect(e.code).toBe('ERR_ARGUMENT')
    expect(e.message).toMatch(/^witness: /)
  })

  it('SUCC-SNAP-LINK: a step the walk settled is not memoized any more: asked again on the same loader, its snapshot is fetched again', async () => {
    const { b, S } = await chain(6)
    const asked: string[] = []
    const l = sourceLoader({ get: async (cid: CID, o?: { signal?: AbortSignal, maxBytes?: number }) => { asked.push(cid.toString()); return await b.store.get(cid, o) } })
    expect((await succStar(l, 'snapshot', S[5]!.cid, S[0]!.cid, top)).holds).toBe(true)
    const before = asked.filter((c) => c === s(S[3]!)).length
    expect(before).toBe(1)
    // S[3] was forgotten with its step S[3] <- S[2]: the step is computed again (one step: no walk reads S[3] first).
    expect((await succ(l, 'snapshot', S[3]!.cid, S[2]!.cid, top)).holds).toBe(true)
    expect(asked.filter((c) => c === s(S[3]!)).length).toBe(2)
  })
})
