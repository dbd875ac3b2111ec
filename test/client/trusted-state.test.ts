/**
 * TrustedState: the fixed order of NOTES 7.2 and each CLIENT-* rule, over
 * the repository simulator's block store (no files, no network).
 */
import { successorPlace } from '../../src/model/ladder.js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { clientLoader } from '../../src/client/loader.js'
import type { StateRecord } from '../../src/client/statefile.js'
import { TrustedState, changedRoles, edgesOf, isFresh, referenceTimeOf, sameKeySet, type LimitOverrides, type TrustedDag } from '../../src/client/trusted-state.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { cidOf } from '../../src/model/codec.js'
import { buildRolesMap, type ShardBlock } from '../../src/shard/index.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { makeTimestamp } from '../../src/model/build.js'
import type { CID } from 'multiformats/cid'
import { RepoSim, rawCid, recordOf, type Version } from '../helpers/history.js'
import { forgeRoot, later, rejects as rejectsWith, seedSigner, violationRules } from '../helpers/client-sim.js'

/** `rejectsWith`, and the refusal says what is wrong (its message is never empty). */
async function rejects (p: Promise<unknown>, code: string, name?: string): ReturnType<typeof rejectsWith> {
  const e = await rejectsWith(p, code, name)
  expect(e.message, code).not.toBe('')
  return e
}

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }
const DAY = 86400

/** Role n published at two versions, then removed (a tombstone): the three versions. */
async function retiredN (seed: number) {
  const sim = await sim0(seed)
  sim.delegate('targets', 'n')
  await sim.addTarget('n', 'n/a.txt')
  const v1 = await sim.publish()
  await sim.addTarget('n', 'n/b.txt')
  await sim.publish()
  sim.undelegate('targets', 'n')
  const v3 = await sim.publish()
  return { sim, v1, v3 }
}

async function sim0 (seed = 7): Promise<RepoSim> {
  return await RepoSim.create({ seed, topKeys: TOP })
}

/** The state right after init with `v`'s root. */
function rootOnly (v: Version): StateRecord {
  return { root: v.root.cid, trusted: null }
}

function state (sim: RepoSim, trusted: StateRecord, now: Date = sim.now, limits?: LimitOverrides): TrustedState {
  return new TrustedState(trusted, { loader: clientLoader(undefined, sim.store), now, ...(limits === undefined ? {} : { limits }) })
}

async function update (sim: RepoSim, trusted: StateRecord, ts: CID, now: Date = sim.now, limits?: LimitOverrides) {
  return await state(sim, trusted, now, limits).update(ts)
}

describe('TrustedState: the order of NOTES 7.2', () => {
  afterEach(() => { vi.useRealTimers() })

  it('steps run only in their fixed order; out of order is ERR_CALL_ORDER', async () => {
    const sim = await sim0()
    const v = sim.head
    const ts = state(sim, rootOnly(v))
    await rejects(ts.verifyRootChain(), 'ERR_CALL_ORDER', 'UsageError')
    await rejects(ts.verifyValid(), 'ERR_CALL_ORDER', 'UsageError')
    expect(() => ts.accepted()).toThrow(/^TrustedState: accepted requires the continuity step first/)
    await ts.loadCandidate(v.timestamp.cid)
    await rejects(ts.verifyValid(), 'ERR_CALL_ORDER') // skipping the root chain
    await rejects(ts.loadCandidate(v.timestamp.cid), 'ERR_CALL_ORDER') // one candidate per TrustedState
    await ts.verifyRootChain()
    await rejects(ts.verifyFresh(), 'ERR_CALL_ORDER')
    await ts.verifyValid()
    await ts.verifyFresh()
    expect(() => ts.accepted()).toThrow(/requires/)
    expect(await ts.verifyContinuity()).toBe('first')
    const a = ts.accepted()
    expect(a.record.trusted?.timestamp.equals(v.timestamp.cid)).toBe(true)
    expect(a.changed).toEqual(['timestamp', 'snapshot', 'targets'])
  })

  it('a failed step ends the TrustedState: every later call is ERR_CALL_ORDER', async () => {
    const sim = await sim0()
    const v1 = sim.head
    const v2 = await sim.publish()
    const ts = state(sim, recordOf(v2))
    await rejects(ts.update(v1.timestamp.cid), 'CLIENT-TS-DESCENDS')
    expect(ts.phase).toBe('failed')
    expect(() => ts.accepted()).toThrow(/requires/)
    await rejects(ts.verifyContinuity(), 'ERR_CALL_ORDER')
  })

  it('the reference time is fixed at construction and truncated to seconds; no clock is read', async () => {
    const sim = await sim0()
    const v = sim.head
    const expires = new Date(v.timestamp.signed.expires)
    expect(referenceTimeOf(new Date(expires.getTime() + 999))).toBe(v.timestamp.signed.expires)
    expect(isFresh(v.timestamp.signed.expires, referenceTimeOf(new Date(expires.getTime() - 1000)))).toBe(true)
    // Half a second before expiry truncates to a second before it: fresh.
    await update(sim, rootOnly(v), v.timestamp.cid, new Date(expires.getTime() - 500))
    // The clock says 2099; the update uses the reference time it was given.
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2099-01-01T00:00:00Z'))
    const ts = state(sim, rootOnly(v), new Date(expires.getTime() - 1000))
    const a = await ts.update(v.timestamp.cid)
    expect(a.record.trusted?.referenceTime).toBe(referenceTimeOf(new Date(expires.getTime() - 1000)))
    // At the expiry second exactly, and later, it is not fresh.
    await rejects(update(sim, rootOnly(v), v.timestamp.cid, new Date(expires.getTime() + 999)), 'CLIENT-EXPIRES')
  })

  it('loadCandidate refuses a head that is not a timestamp with its rule (VALID-KIND, ENC-CID)', async () => {
    const sim = await sim0()
    const v = sim.head
    const e = await rejects(state(sim, rootOnly(v)).loadCandidate(v.snapshot.cid), 'VALID-KIND', 'ValidationError')
    expect(e.details.cid).toBe(v.snapshot.cid.toString())
    const raw = (await sim.storeContent(new TextEncoder().encode('not metadata'))).cid
    await rejects(state(sim, rootOnly(v)).loadCandidate(raw), 'ENC-CID')
  })

  it('ERR_STATE_CORRUPT when the trusted state breaks R0 = S0.meta.root', async () => {
    const sim = await sim0()
    const v1 = sim.head
    sim.rotate('root')
    const v2 = await sim.publish()
    const broken: StateRecord = { ...recordOf(v1), root: v2.root.cid }
    const v3 = await sim.publish()
    const e = await rejects(update(sim, broken, v3.timestamp.cid), 'ERR_STATE_CORRUPT', 'StateError')
    expect(e.details).toEqual({ cid: v1.snapshot.cid.toString() })
  })

  it('the constructor checks the trusted record and the loader (UsageError ERR_ARGUMENT)', async () => {
    const sim = await sim0()
    const loader = clientLoader(undefined, sim.store)
    const good = rootOnly(sim.head)
    const bad: unknown[] = [null, undefined, 'state', {}, { trusted: null }]
    for (const trusted of bad) {
      expect(() => new TrustedState(trusted as StateRecord, { loader, now: sim.now })).toThrow(expect.objectContaining({ name: 'UsageError', code: 'ERR_ARGUMENT' }))
    }
    for (const options of [undefined, {}, { loader: {} }, { loader: { load: 'no' } }]) {
      expect(() => new TrustedState(good, { ...(options as object), now: sim.now } as never)).toThrow(expect.objectContaining({ name: 'UsageError', code: 'ERR_ARGUMENT' }))
    }
    expect(() => new TrustedState(good, undefined as never)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }))
    expect(new TrustedState(good, { loader, now: sim.now }).phase).toBe('new')
  })
})

describe('CLIENT-ROOT-CHAIN and BOUND-ROOT-STEPS', () => {
  it('CLIENT-ROOT-CHAIN: every root step from R0 to R is walked and checked; intermediate roots may be expired', async () => {
    const sim = await sim0()
    const v0 = sim.head
    sim.rotate('root')
    const v1 = await sim.publish()
    // The next root comes a year later: v1's root has expired by then.
    sim.now = new Date(sim.now.getTime() + 366 * DAY * 1000)
    sim.rotate('root')
    await sim.addTarget('targets', 'next-year.txt')
    const v2 = await sim.publish()
    expect(v1.root.signed.expires < referenceTimeOf(sim.now)).toBe(true)
    const a = await update(sim, recordOf(v0), v2.timestamp.cid)
    expect(a.rootChain).toEqual([v0.root.cid.toString(), v1.root.cid.toString(), v2.root.cid.toString()])
    expect(a.changed).toContain('root')
  })

  it('CLIENT-ROOT-CHAIN: a root older than R0 is refused', async () => {
    const sim = await sim0()
    const v0 = sim.head
    sim.rotate('root')
    const v1 = await sim.publish()
    const e = await rejects(update(sim, recordOf(v1), v0.timestamp.cid), 'CLIENT-ROOT-CHAIN', 'ValidationError')
    expect(violationRules(e)).toContain('SUCC-ROOT-LINK')
  })

  it('CLIENT-ROOT-CHAIN: a root on another branch is refused', async () => {
    const sim = await sim0()
    const fork = sim.fork(99)
    sim.rotate('root')
    const v1 = await sim.publish()
    fork.rotate('root')
    const f1 = await fork.publish()
    // f1's root is a valid successor of R0, but not of R1.
    await update(sim, rootOnly(sim.versions[0]!), f1.timestamp.cid)
    await rejects(update(sim, recordOf(v1), f1.timestamp.cid), 'CLIENT-ROOT-CHAIN')
  })

  it('CLIENT-ROOT-CHAIN: a root not signed by a threshold of the previous root keys is refused (SUCC-ROOT-THRESHOLD)', async () => {
    const sim = await sim0()
    const v0 = sim.head
    // A root whose own (attacker) root key signs it: VALID-ROOT-SELF holds,
    // but the trusted root keys never consented.
    const attacker = sim.freshKeys(1, 1).pairs[0]!
    const forged = await forgeRoot(sim, (r) => ({
      ...r,
      keys: new Map([...r.keys, [attacker.keyid, attacker.publicKey]]),
      roles: { ...r.roles, root: { keyids: [attacker.keyid], threshold: 1 } }
    }), [seedSigner(attacker.seed)])
    const snap = await sim.forgeSnapshot({ root: forged.cid })
    const ts = await sim.forgeTimestamp(snap.cid)
    const e = await rejects(update(sim, recordOf(v0), ts.cid), 'CLIENT-ROOT-CHAIN')
    expect(violationRules(e)).toContain('SUCC-ROOT-THRESHOLD')
    expect(e.details.cid).toBe(forged.cid.toString())
  })

  it('BOUND-ROOT-STEPS: one update walks at most maxRootSteps root steps', async () => {
    const sim = await sim0()
    const v0 = sim.head
    for (let i = 0; i < 3; i++) {
      sim.rotate('root')
      await sim.publish()
    }
    const head = sim.head.timestamp.cid
    await rejects(update(sim, recordOf(v0), head, sim.now, { maxRootSteps: 2 }), 'BOUND-ROOT-STEPS')
    const a = await update(sim, recordOf(v0), head, sim.now, { maxRootSteps: 3 })
    expect(a.rootChain).toHaveLength(4)
  })
})

describe('CLIENT-EXPIRES', () => {
  const past = '2020-01-01T00:00:00Z'

  it('CLIENT-EXPIRES: the timestamp must be fresh (strictly later than the reference time)', async () => {
    const sim = await sim0()
    const v = sim.head
    const e = await rejects(update(sim, rootOnly(v), v.timestamp.cid, later(sim, DAY)), 'CLIENT-EXPIRES')
    expect(e.details).toMatchObject({ role: 'timestamp', cid: v.timestamp.cid.toString() })
  })

  it('CLIENT-EXPIRES: the snapshot must be fresh', async () => {
    const sim = await sim0()
    const v = sim.head
    const s0 = v.snapshot.signed
    const snap = await sim.sign({ ...s0, expires: past, previousVersion: v.snapshot.cid, ...successorPlace({ ...s0, cid: v.snapshot.cid }) }, sim.publishedSignersOf('snapshot'))
    const ts = await sim.forgeTimestamp(snap.cid)
    const e = await rejects(update(sim, recordOf(v), ts.cid), 'CLIENT-EXPIRES')
    expect(e.details).toMatchObject({ role: 'snapshot', cid: snap.cid.toString() })
  })

  it('CLIENT-EXPIRES: the top-level targets must be fresh', async () => {
    const sim = await sim0()
    const v = sim.head
    const targets = await sim.forgeTargets('targets', (t) => ({ ...t, expires: past }))
    const snap = await sim.forgeSnapshot({ targets: targets.cid })
    const ts = await sim.forgeTimestamp(snap.cid)
    const e = await rejects(update(sim, recordOf(v), ts.cid), 'CLIENT-EXPIRES')
    expect(e.details).toMatchObject({ role: 'targets', cid: targets.cid.toString() })
  })

  it('CLIENT-EXPIRES: the final root must be fresh', async () => {
    const sim = await sim0()
    const v = sim.head
    const root = await forgeRoot(sim, (r) => ({ ...r, expires: past }))
    const snap = await sim.forgeSnapshot({ root: root.cid })
    const ts = await sim.forgeTimestamp(snap.cid)
    const e = await rejects(update(sim, recordOf(v), ts.cid), 'CLIENT-EXPIRES')
    expect(e.details).toMatchObject({ role: 'root', cid: root.cid.toString() })
  })

  it('CLIENT-EXPIRES: the trusted floor and the objects on the walk may be expired', async () => {
    const sim = await sim0()
    const v0 = sim.head
    await sim.publish()
    sim.now = new Date(sim.now.getTime() + 60 * DAY * 1000)
    const v2 = await sim.publish()
    // T0, S0 and the intermediate snapshot have all expired.
    const ref = referenceTimeOf(sim.now)
    expect(v0.snapshot.signed.expires < ref && v0.timestamp.signed.expires < ref).toBe(true)
    const a = await update(sim, recordOf(v0), v2.timestamp.cid)
    expect(a.continuity).toBe('descends')
  })
})

describe('CLIENT-TS-DESCENDS and BOUND-CHAIN', () => {
  it('CLIENT-TS-DESCENDS: a newer timestamp descends; the same one and a re-signed one are accepted', async () => {
    const sim = await sim0()
    const v1 = sim.head
    await sim.addTarget('targets', 'a.txt')
    const v2 = await sim.publish()
    expect((await update(sim, recordOf(v1), v2.timestamp.cid)).continuity).toBe('descends')
    expect((await update(sim, recordOf(v2), v2.timestamp.cid)).continuity).toBe('same')
    const v3 = await sim.refreshTimestamp()
    const a = await update(sim, recordOf(v2), v3.timestamp.cid)
    expect(a.continuity).toBe('descends')
    expect(a.changed).toEqual(['timestamp'])
  })

  it('CLIENT-TS-DESCENDS: an older timestamp is refused (rollback), even after the trusted one expired', async () => {
    const sim = await sim0()
    const v1 = sim.head
    const v2 = await sim.publish()
    const e = await rejects(update(sim, recordOf(v2), v1.timestamp.cid, v1.now), 'CLIENT-TS-DESCENDS')
    expect(e.details.cid).toBeDefined()
  })

  it('BOUND-CHAIN: a snapshot walk longer than maxChainLength fails', async () => {
    const sim = await sim0()
    const v0 = sim.head
    for (let i = 0; i < 4; i++) await sim.publish()
    await rejects(update(sim, recordOf(v0), sim.head.timestamp.cid, sim.now, { maxChainLength: 3 }), 'BOUND-CHAIN')
    expect((await update(sim, recordOf(v0), sim.head.timestamp.cid, sim.now, { maxChainLength: 4 })).continuity).toBe('descends')
  })
})

describe('CLIENT-RECOVER and CLIENT-FLOOR', () => {
  /**
   * A client that trusted a fork: the snapshot and timestamp keys were
   * stolen and used to sign a successor off the honest chain.
   */
  async function forked () {
    const sim = await sim0()
    sim.delegate('targets', 'd1')
    await sim.addTarget('d1', 'd1/a.txt')
    await sim.addTarget('targets', 'top.txt')
    const v1 = await sim.publish()
    const evilSnap = await sim.forgeSnapshot({})
    const evilTs = await sim.forgeTimestamp(evilSnap.cid)
    const trusted = (await update(sim, recordOf(v1), evilTs.cid)).record
    return { sim, v1, trusted }
  }

  it('CLIENT-RECOVER: a client that trusted a fork is stuck until the snapshot and timestamp keys rotate, then moves on', async () => {
    const { sim, trusted } = await forked()
    await sim.addTarget('d1', 'd1/b.txt')
    const honest = await sim.publish()
    await rejects(update(sim, trusted, honest.timestamp.cid), 'CLIENT-TS-DESCENDS')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v3 = await sim.publish()
    const a = await update(sim, trusted, v3.timestamp.cid)
    expect(a.continuity).toBe('recovered')
    expect(a.floors).toEqual({ kept: ['targets', 'd1'], dropped: [], overtaken: [] })
  })

  it('CLIENT-RECOVER: rotating only the timestamp key also switches to per-object floors', async () => {
    const { sim, trusted } = await forked()
    sim.rotate('timestamp')
    const v2 = await sim.publish()
    expect((await update(sim, trusted, v2.timestamp.cid)).continuity).toBe('recovered')
  })

  it('CLIENT-FLOOR: under recovery the targets floor is kept: an older top-level targets is refused', async () => {
    const { sim, v1, trusted } = await forked()
    const v0 = sim.versions[0]!
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.publish()
    // Someone holding the new snapshot and timestamp keys lists the first targets object.
    const snap = await sim.forgeSnapshot({ targets: v0.targets.cid, delegated: new Map(), retired: new Map([['d1', v1.delegated.get('d1')!.cid]]) })
    const ts = await sim.forgeTimestamp(snap.cid)
    const e = await rejects(update(sim, trusted, ts.cid), 'CLIENT-FLOOR')
    expect(e.details.cid).toBeDefined()
    expect(e.message).toContain(`targets ${v0.targets.cid.toString()} neither descends from the trusted ${trusted.trusted!.targets.toString()} nor overtakes it`)
  })

  it('CLIENT-FLOOR: under recovery a delegated role keeps its floor while its authorization is unchanged', async () => {
    const { sim, trusted } = await forked()
    const d1Old = sim.head.delegated.get('d1')!
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.addTarget('d1', 'd1/b.txt')
    await sim.publish()
    // A d1 object that does not descend from the trusted one (a new chain).
    const d1Fork = await sim.forgeTargets('d1', (t) => ({ ...t, previousVersion: null, targets: new Map() }))
    expect(d1Fork.cid.equals(d1Old.cid)).toBe(false)
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', d1Fork.cid]]) })
    const ts = await sim.forgeTimestamp(snap.cid)
    await rejects(update(sim, trusted, ts.cid), 'CLIENT-FLOOR')
  })

  it('CLIENT-FLOOR: a changed targets key set drops the targets floor; its delegations keep theirs while their own keys vouch for them', async () => {
    const { sim, trusted } = await forked()
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    sim.rotate('targets')
    await sim.publish()
    // A new chain for targets (previous-version null) is accepted: its floor
    // went with the keys that signed it.
    const targets = await sim.forgeTargets('targets', (t) => ({ ...t, previousVersion: null }))
    const snap = await sim.forgeSnapshot({ targets: targets.cid })
    const a = await update(sim, trusted, (await sim.forgeTimestamp(snap.cid)).cid)
    expect(a.continuity).toBe('recovered')
    expect(a.floors).toEqual({ kept: ['d1'], dropped: ['targets'], overtaken: [] })
    // d1's keys did not change, so its floor holds under the new targets keys.
    const d1 = await sim.forgeTargets('d1', (t) => ({ ...t, previousVersion: null, targets: new Map() }))
    const snap2 = await sim.forgeSnapshot({ targets: targets.cid, delegated: new Map([['d1', d1.cid]]) })
    await rejects(update(sim, trusted, (await sim.forgeTimestamp(snap2.cid)).cid), 'CLIENT-FLOOR')
  })

  it('CLIENT-FLOOR: a delegated role whose keys changed drops its floor; roles it delegates keep theirs', async () => {
    const sim = await sim0()
    sim.delegate('targets', 'd1')
    sim.delegate('d1', 'd2')
    sim.delegate('targets', 'd3')
    await sim.addTarget('d2', 'd1/d2/a.txt')
    await sim.addTarget('d3', 'd3/a.txt')
    const v1 = await sim.publish()
    const trusted = recordOf(v1)
    sim.rotate('d1')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.publish()
    const d1 = await sim.forgeTargets('d1', (t) => ({ ...t, previousVersion: null }))
    const snap = await sim.forgeSnapshot({ delegated: new Map([...RepoSim.roles(sim.head), ['d1', d1.cid]]) })
    const a = await update(sim, trusted, (await sim.forgeTimestamp(snap.cid)).cid)
    expect(a.floors).toEqual({ kept: ['targets', 'd2', 'd3'], dropped: ['d1'], overtaken: [] })
    // d2 and d3 are still signed by the keys that signed their floors: a new chain for either is a rollback.
    for (const role of ['d2', 'd3']) {
      const fresh = await sim.forgeTargets(role, (t) => ({ ...t, previousVersion: null, targets: new Map() }))
      const snap2 = await sim.forgeSnapshot({ delegated: new Map([...RepoSim.roles(sim.head), ['d1', d1.cid], [role, fresh.cid]]) })
      await rejects(update(sim, trusted, (await sim.forgeTimestamp(snap2.cid)).cid), 'CLIENT-FLOOR')
    }
  })

  it('CLIENT-FLOOR: a floor binds while a threshold of the keys now in force signed it (a key added keeps it, a threshold raised beyond its signatures drops it)', async () => {
    const sim = await sim0()
    sim.delegate('targets', 'd1', { keys: 2, threshold: 1 })
    await sim.addTarget('d1', 'd1/a.txt')
    const v1 = await sim.publish()
    const trusted = recordOf(v1)
    expect(v1.delegated.get('d1')!.signatures).toHaveLength(1)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    // A third key, threshold still 1: the keys that signed the trusted d1 still suffice.
    sim.rotate('d1', { keys: 3, threshold: 1, keep: 2 })
    const v2 = await sim.publish()
    expect((await update(sim, trusted, v2.timestamp.cid)).floors).toEqual({ kept: ['targets', 'd1'], dropped: [], overtaken: [] })
    // Threshold 3: the trusted d1, signed by one key, no longer binds.
    sim.rotate('d1', { keys: 3, threshold: 3, keep: 3 })
    const v3 = await sim.publish()
    expect((await update(sim, trusted, v3.timestamp.cid)).floors).toEqual({ kept: ['targets'], dropped: ['d1'], overtaken: [] })
  })

  it('CLIENT-FLOOR: a cycle of unchanged roles keeps its floors', async () => {
    const sim = await sim0()
    sim.delegate('targets', 'a', { paths: ['x/*'] })
    sim.delegate('a', 'b', { paths: ['x/*'] })
    sim.delegate('b', 'a', { paths: ['x/*'] })
    await sim.addTarget('b', 'x/1.txt')
    const v1 = await sim.publish()
    const edges = await edgesOf(RepoSim.dagOf(v1, sim.loader()))
    expect(edges.out.get('b')).toEqual(['a'])
    // Two edges into a (from targets and from b) with the same keys and threshold: one pair.
    expect(edges.authorization.get('a')?.split('|')).toHaveLength(1)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.addTarget('b', 'x/2.txt')
    const v2 = await sim.publish()
    const a = await update(sim, recordOf(v1), v2.timestamp.cid)
    expect(a.floors).toEqual({ kept: ['targets', 'a', 'b'], dropped: [], overtaken: [] })
  })

  it('CLIENT-FLOOR-RETIRED: a name retired in the trusted snapshot keeps its tombstone as floor when listed again, unless its keys changed', async () => {
    const { sim, v1, v3 } = await retiredN(31)
    const trusted = recordOf(v3)
    sim.rotate('timestamp')
    sim.delegate('targets', 'n')
    await sim.publish()
    const back = await sim.forgeSnapshot({ delegated: new Map([['n', v1.delegated.get('n')!.cid]]), retired: new Map() })
    const e = await rejects(update(sim, trusted, (await sim.forgeTimestamp(back.cid)).cid), 'CLIENT-FLOOR')
    expect(e.details.cid).toBe(v1.delegated.get('n')!.cid.toString())
    // New keys for n: the tombstone was signed by keys no longer in force, so its floor is dropped.
    sim.rotate('n')
    const v5 = await sim.publish()
    expect((await update(sim, trusted, v5.timestamp.cid)).floors).toEqual({ kept: ['targets'], dropped: ['n'], overtaken: [] })
  })

  it('CLIENT-FLOOR-RETIRED: a name retired on both sides keeps its tombstone', async () => {
    const { sim, v1, v3 } = await retiredN(32)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v4 = await sim.publish()
    const older = await sim.forgeSnapshot({ retired: new Map([['n', v1.delegated.get('n')!.cid]]) })
    await rejects(update(sim, recordOf(v3), (await sim.forgeTimestamp(older.cid)).cid), 'CLIENT-FLOOR-RETIRED')
    expect((await update(sim, recordOf(v3), v4.timestamp.cid)).floors).toEqual({ kept: ['targets', 'n'], dropped: [], overtaken: [] })
  })

  it('CLIENT-FLOOR-RETIRED: a tombstone that is not signed by the keys of the trusted object is refused, even when it descends from it', async () => {
    const sim = await sim0(33)
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/a.txt')
    const v1 = await sim.publish()
    const n1 = v1.delegated.get('n')!
    // An object that names n1 as its predecessor but that n's keys never signed.
    const made = await sim.forgeTargets('n', (t) => t, [])
    expect(made.signed.previousVersion?.equals(n1.cid)).toBe(true)
    expect(made.signatures).toEqual([])
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    sim.undelegate('targets', 'n')
    await sim.publish()
    const snap = await sim.forgeSnapshot({ retired: new Map([['n', made.cid]]) })
    const e = await rejects(update(sim, recordOf(v1), (await sim.forgeTimestamp(snap.cid)).cid), 'CLIENT-FLOOR-RETIRED')
    expect(e.details.cid).toBe(made.cid.toString())
  })

  it('CLIENT-FLOOR-RETIRED: a name may vanish when every delegation that listed it came from a role whose floor was released', async () => {
    const sim = await sim0(34)
    await sim.addTarget('targets', 'top.txt')
    const v1 = await sim.publish()
    // A draft of targets delegating a new role m, signed and abandoned; shown to the client.
    const draft = sim.fork(99)
    draft.delegate('targets', 'm')
    await draft.addTarget('m', 'm/a.txt')
    const shown = await draft.publish()
    const trusted = (await update(sim, recordOf(v1), shown.timestamp.cid)).record
    expect([...(await sim.loader().roleMap(trusted.trusted!.roles)).keys()]).toEqual(['m'])
    await sim.addTarget('targets', 'top2.txt')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v2 = await sim.publish()
    await rejects(update(sim, trusted, v2.timestamp.cid), 'CLIENT-FLOOR')
    await sim.addTarget('targets', 'top3.txt')
    const v3 = await sim.publish()
    const a = await update(sim, trusted, v3.timestamp.cid)
    expect(a.floors).toEqual({ kept: [], dropped: ['m'], overtaken: ['targets'] })
  })

  it('CLIENT-FLOOR-RETIRED: a name may vanish when its only delegator is itself a name allowed to vanish', async () => {
    const sim = await sim0(34)
    await sim.addTarget('targets', 'top.txt')
    const v1 = await sim.publish()
    // The abandoned draft delegates m, and m delegates k.
    const draft = sim.fork(99)
    draft.delegate('targets', 'm')
    draft.delegate('m', 'k')
    await draft.addTarget('m', 'm/a.txt')
    await draft.addTarget('k', 'm/k/a.txt')
    const shown = await draft.publish()
    const trusted = (await update(sim, recordOf(v1), shown.timestamp.cid)).record
    expect([...(await sim.loader().roleMap(trusted.trusted!.roles)).keys()]).toEqual(['k', 'm'])
    for (const f of ['top2.txt', 'top3.txt']) await sim.addTarget('targets', f)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.publish()
    await sim.addTarget('targets', 'top4.txt')
    const v3 = await sim.publish()
    // targets is overtaken (released), so m may vanish, and so may k, whose only delegator was m.
    const a = await update(sim, trusted, v3.timestamp.cid)
    expect(a.floors).toEqual({ kept: [], dropped: ['k', 'm'], overtaken: ['targets'] })
  })

  it('CLIENT-FLOOR-OVERTAKE: a draft sibling never overtakes a published floor', async () => {
    const sim = await sim0(35)
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/a.txt')
    await sim.publish()
    const x = await sim.forgeTargets('n', (t) => ({ ...t, targets: new Map() })) // a draft on P, abandoned
    await sim.addTarget('n', 'n/b.txt')
    await sim.publish() // Y on P
    await sim.addTarget('n', 'n/c.txt')
    const v3 = await sim.publish() // Y2 on Y
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.publish()
    const snap = await sim.forgeSnapshot({ delegated: new Map([['n', x.cid]]) })
    await rejects(update(sim, recordOf(v3), (await sim.forgeTimestamp(snap.cid)).cid), 'CLIENT-FLOOR')
  })

  it('CLIENT-FLOOR-OVERTAKE: a role\'s first object is never overtaken', async () => {
    const sim = await sim0(36)
    const v1 = await sim.publish()
    sim.delegate('targets', 'n')
    // Two first objects of n, both signed by its keys: the draft's is shown, the other published.
    const draft = sim.fork(98)
    await draft.addTarget('n', 'n/draft.txt')
    const shown = await draft.publish()
    const trusted = (await update(sim, recordOf(v1), shown.timestamp.cid)).record
    await sim.addTarget('n', 'n/a.txt')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.publish()
    for (const f of ['n/b.txt', 'n/c.txt']) {
      await sim.addTarget('n', f)
      await sim.publish()
    }
    const n = sim.head.delegated.get('n')!
    expect(n.signed.previousVersion).not.toBeNull()
    const e = await rejects(update(sim, trusted, sim.head.timestamp.cid), 'CLIENT-FLOOR')
    expect(e.details.cid).toBe(n.cid.toString())
  })

  it('CLIENT-FLOOR-OVERTAKE: a tombstone signed by the keys of the trusted object may overtake it', async () => {
    const sim = await sim0(37)
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/a.txt')
    const v1 = await sim.publish()
    const x = await sim.forgeTargets('n', (t) => ({ ...t, targets: new Map() }))
    const shown = await sim.forgeSnapshot({ delegated: new Map([['n', x.cid]]) })
    const trusted = (await update(sim, recordOf(v1), (await sim.forgeTimestamp(shown.cid)).cid)).record
    await sim.addTarget('n', 'n/b.txt')
    await sim.publish()
    await sim.addTarget('n', 'n/c.txt')
    await sim.publish()
    sim.undelegate('targets', 'n')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v4 = await sim.publish()
    expect((await update(sim, trusted, v4.timestamp.cid)).floors).toEqual({ kept: ['targets'], dropped: [], overtaken: ['n'] })
  })

  it('CLIENT-FLOOR-OVERTAKE: two roles overtaken in one update are both released, reported in code-unit order', async () => {
    const sim = await sim0(38)
    sim.delegate('targets', 'a')
    await sim.addTarget('a', 'a/1.txt')
    const v1 = await sim.publish()
    // The client was shown drafts of both targets and a, signed by their keys and abandoned.
    const tx = await sim.forgeTargets('targets', (t) => ({ ...t, targets: new Map() }))
    const ax = await sim.forgeTargets('a', (t) => ({ ...t, targets: new Map() }))
    const shown = await sim.forgeSnapshot({ targets: tx.cid, delegated: new Map([['a', ax.cid]]) })
    const trusted = (await update(sim, recordOf(v1), (await sim.forgeTimestamp(shown.cid)).cid)).record
    expect(trusted.trusted!.targets.equals(tx.cid)).toBe(true)
    await sim.addTarget('targets', 't2.txt')
    await sim.addTarget('a', 'a/2.txt')
    await sim.publish()
    await sim.addTarget('targets', 't3.txt')
    await sim.addTarget('a', 'a/3.txt')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v3 = await sim.publish()
    // Both honest heads reach the drafts' predecessors in two steps: both overtake.
    expect((await update(sim, trusted, v3.timestamp.cid)).floors).toEqual({ kept: [], dropped: [], overtaken: ['a', 'targets'] })
  })

  it('BOUND-CHAIN: a floor walk that runs out of steps is reported as the bound, never settled by overtaking', async () => {
    const sim = await sim0(41)
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/0.txt')
    await sim.publish()
    await sim.addTarget('n', 'n/a.txt')
    const v1 = await sim.publish()
    // The client was shown a draft x of n (previous-version: v1's object A).
    const x = await sim.forgeTargets('n', (t) => ({ ...t, targets: new Map() }))
    const shown = await sim.forgeSnapshot({ delegated: new Map([['n', x.cid]]) })
    const trusted = (await update(sim, recordOf(v1), (await sim.forgeTimestamp(shown.cid)).cid)).record
    for (const f of ['n/b.txt', 'n/c.txt']) {
      await sim.addTarget('n', f)
      await sim.publish()
    }
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v4 = await sim.publish()
    // The honest head C <- B <- A overtakes x; but looking for x from C, three steps reach
    // A's predecessor, so with maxChainLength 3 the walk runs out before it ends.
    expect((await update(sim, trusted, v4.timestamp.cid)).floors).toEqual({ kept: ['targets'], dropped: [], overtaken: ['n'] })
    const e = await rejects(update(sim, trusted, v4.timestamp.cid, sim.now, { maxChainLength: 3 }), 'BOUND-CHAIN', 'ValidationError')
    expect(e.details).toMatchObject({ check: 'CLIENT-FLOOR' })
    expect((await update(sim, trusted, v4.timestamp.cid, sim.now, { maxChainLength: 4 })).floors?.overtaken).toEqual(['n'])
  })

  it('sameKeySet compares keyid sets and thresholds', () => {
    expect(sameKeySet({ keyids: ['a', 'b'], threshold: 1 }, { keyids: ['b', 'a'], threshold: 1 })).toBe(true)
    expect(sameKeySet({ keyids: ['a', 'b'], threshold: 1 }, { keyids: ['a', 'b'], threshold: 2 })).toBe(false)
    expect(sameKeySet({ keyids: ['a'], threshold: 1 }, { keyids: ['a', 'b'], threshold: 1 })).toBe(false)
    // Same size, other keys; and a keyid listed twice is one key.
    expect(sameKeySet({ keyids: ['a', 'c'], threshold: 1 }, { keyids: ['a', 'b'], threshold: 1 })).toBe(false)
    expect(sameKeySet({ keyids: ['a', 'a'], threshold: 1 }, { keyids: ['a'], threshold: 1 })).toBe(true)
  })

  it('a timestamp for the trusted snapshot signed anew is accepted without a walk', async () => {
    const sim = await sim0()
    const v = sim.head
    sim.now = later(sim, 60)
    const ts = await sim.sign(makeTimestamp({ expires: sim.expires('timestamp'), snapshot: v.snapshot.cid }), sim.publishedSignersOf('timestamp'))
    expect((await update(sim, recordOf(v), ts.cid)).continuity).toBe('descends')
  })
})

describe('what a refusal says (details.cid, details.violations, the bound that ran out)', () => {
  it('CLIENT-TS-DESCENDS: a successor breaking a snapshot step (a snapshot-key holder lists an older object) is refused; the error names the candidate timestamp and carries the relation\'s violations, the first also in the message', async () => {
    const sim = await sim0()
    sim.delegate('targets', 'd1')
    await sim.addTarget('d1', 'd1/a.txt')
    const v1 = await sim.publish()
    await sim.addTarget('d1', 'd1/b.txt')
    const v2 = await sim.publish()
    const snap = await sim.forgeSnapshot({ delegated: new Map([['d1', v1.delegated.get('d1')!.cid]]) })
    const ts = await sim.forgeTimestamp(snap.cid)
    const e = await rejects(update(sim, recordOf(v2), ts.cid), 'CLIENT-TS-DESCENDS', 'ValidationError')
    expect(e.details.cid).toBe(ts.cid.toString())
    const vs = e.details.violations as Array<{ rule: string, cid: string, message: string }>
    expect(vs.map((v) => v.rule)).toEqual(['SUCC-SNAP-DELEG'])
    expect(vs[0]!.cid).toBe(snap.cid.toString())
    expect(e.message).toContain(`(SUCC-SNAP-DELEG at ${snap.cid.toString()}: `)
    expect(e.message).toContain(vs[0]!.message)
  })

  it('BOUND-CHAIN: a walk that ran out of steps is reported as the bound, naming the check it interrupted', async () => {
    const sim = await sim0()
    const v0 = sim.head
    for (let i = 0; i < 4; i++) await sim.publish()
    const e = await rejects(update(sim, recordOf(v0), sim.head.timestamp.cid, sim.now, { maxChainLength: 3 }), 'BOUND-CHAIN', 'ValidationError')
    expect(e.details).toMatchObject({ check: 'CLIENT-TS-DESCENDS', cid: sim.head.snapshot.cid.toString() })
    expect(e.details.violations).toBeUndefined()
  })

  it('BOUND-ROOT-STEPS and CLIENT-ROOT-CHAIN: the error names the candidate root', async () => {
    const sim = await sim0()
    const v0 = sim.head
    for (let i = 0; i < 3; i++) {
      sim.rotate('root')
      await sim.publish()
    }
    const head = sim.head
    const e = await rejects(update(sim, recordOf(v0), head.timestamp.cid, sim.now, { maxRootSteps: 2 }), 'BOUND-ROOT-STEPS', 'ValidationError')
    expect(e.details).toEqual({ cid: head.root.cid.toString(), max: 2 })
    const back = await rejects(update(sim, recordOf(head), v0.timestamp.cid), 'CLIENT-ROOT-CHAIN', 'ValidationError')
    expect(back.details.cid).toBe(v0.root.cid.toString())
    expect(violationRules(back).length).toBeGreaterThan(0)
  })
})

/** Distinct CIDs for changedRoles (it compares CIDs only). */
const sim0Cids: CID[] = Array.from({ length: 10 }, (_, i) => rawCid(new Uint8Array([i])))

describe('what an accepted update says', () => {
  it('CLIENT-ROOT-CHAIN: an unchanged root is a chain of R0 alone; floors are reported only under recovery', async () => {
    const sim = await sim0()
    const v0 = sim.head
    await sim.addTarget('targets', 'a.txt')
    const v1 = await sim.publish()
    const a = await update(sim, recordOf(v0), v1.timestamp.cid)
    expect(a.continuity).toBe('descends')
    expect(a.rootChain).toEqual([v0.root.cid.toString()])
    expect('floors' in a).toBe(false)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v2 = await sim.publish()
    const r = await update(sim, recordOf(v1), v2.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect('floors' in r).toBe(true)
  })

  it('CLIENT-FLOOR: under recovery the new DAG is VALID as a whole within the update\'s limits (BOUND-GLOB)', async () => {
    const sim = await sim0()
    sim.delegate('targets', 'd1')
    await sim.addTarget('d1', 'd1/a.txt')
    const v1 = await sim.publish()
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v2 = await sim.publish()
    // VALID_top does no path matching; the whole VALID of recovery does, within maxGlobSteps.
    await rejects(update(sim, recordOf(v1), v2.timestamp.cid, sim.now, { maxGlobSteps: 1 }), 'BOUND-GLOB', 'ValidationError')
    expect((await update(sim, recordOf(v1), v2.timestamp.cid, sim.now, { maxGlobSteps: 1000 })).continuity).toBe('recovered')
    // Without recovery the same limit is never reached.
    await sim.addTarget('d1', 'd1/b.txt')
    const v3 = await sim.publish()
    expect((await update(sim, recordOf(v2), v3.timestamp.cid, sim.now, { maxGlobSteps: 1 })).continuity).toBe('descends')
  })

  it('CLIENT-FLOOR-RETIRED: a name a stolen snapshot key listed with no delegator in the trusted DAG may vanish after rotation (no lock-out)', async () => {
    const sim = await sim0()
    const v0 = sim.head
    await sim.addTarget('targets', 'a.txt')
    const v1 = await sim.publish()
    // With the snapshot and timestamp keys, list a role u that nothing delegates (VALID_top does not
    // look at reachability, and u's object starts a chain, so the client accepts it).
    const listed = new Map([...v1.delegated].map(([n, e]) => [n, e.cid] as const))
    listed.set('u', v0.targets.cid)
    const forged = await sim.forgeSnapshot({ delegated: listed })
    const ts = await sim.forgeTimestamp(forged.cid)
    const trusted = (await update(sim, recordOf(v1), ts.cid)).record
    expect((await sim.loader().roleMap(trusted.trusted!.roles)).has('u')).toBe(true)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v2 = await sim.publish()
    // Nothing in the trusted DAG delegated u: its floor speaks for no one and is dropped.
    const a = await update(sim, trusted, v2.timestamp.cid)
    expect(a.continuity).toBe('recovered')
    expect(a.floors).toEqual({ kept: ['targets'], dropped: ['u'], overtaken: [] })
  })

  it('CLIENT-FLOOR-RETIRED: a tombstone for a name nothing in the trusted DAG delegated is refused unless it is the floor itself', async () => {
    const sim = await sim0(39)
    const v0 = sim.head
    await sim.addTarget('targets', 'a.txt')
    const v1 = await sim.publish()
    const listed = new Map([...v1.delegated].map(([n, e]) => [n, e.cid] as const))
    listed.set('u', v0.targets.cid)
    const forged = await sim.forgeSnapshot({ delegated: listed })
    const trusted = (await update(sim, recordOf(v1), (await sim.forgeTimestamp(forged.cid)).cid)).record
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.publish()
    // The new keys retire u at another object: no label of the trusted DAG signed for u, so no tombstone but the floor is accepted.
    const other = await sim.forgeSnapshot({ retired: new Map([['u', v1.targets.cid]]) })
    const e = await rejects(update(sim, trusted, (await sim.forgeTimestamp(other.cid)).cid), 'CLIENT-FLOOR-RETIRED', 'ValidationError')
    expect(e.details).toEqual({ cid: v1.targets.cid.toString(), role: 'u', floor: v0.targets.cid.toString() })
    // Retired at the floor itself, it is kept.
    const same = await sim.forgeSnapshot({ retired: new Map([['u', v0.targets.cid]]) })
    expect((await update(sim, trusted, (await sim.forgeTimestamp(same.cid)).cid)).floors).toEqual({ kept: ['targets', 'u'], dropped: [], overtaken: [] })
  })

  it('CLIENT-FLOOR-RETIRED: a tombstone of the trusted snapshot never vanishes under recovery', async () => {
    const { sim, v3 } = await retiredN(37)
    const trusted = recordOf(v3)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v4 = await sim.publish()
    // The new snapshot and timestamp keys drop n's tombstone.
    const dropped = await sim.forgeSnapshot({ retired: new Map() })
    const e = await rejects(update(sim, trusted, (await sim.forgeTimestamp(dropped.cid)).cid), 'CLIENT-FLOOR-RETIRED', 'ValidationError')
    expect(e.details).toEqual({ cid: dropped.cid.toString(), role: 'n' })
    expect((await update(sim, trusted, v4.timestamp.cid)).floors).toEqual({ kept: ['targets', 'n'], dropped: [], overtaken: [] })
  })

  it('CLIENT-FLOOR-RETIRED: a cycle of vanishing names does not release itself, even when its other delegator was released', async () => {
    const sim = await sim0()
    sim.delegate('targets', 'a', { paths: ['x/*'] })
    sim.delegate('a', 'b', { paths: ['x/*'] })
    sim.delegate('b', 'a', { paths: ['x/*'] })
    sim.delegate('targets', 'z', { paths: ['z/*'] })
    await sim.addTarget('b', 'x/1.txt')
    await sim.addTarget('z', 'z/1.txt')
    const v1 = await sim.publish()
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    sim.rotate('targets')
    sim.undelegate('targets', 'a')
    await sim.publish()
    // The new keys drop every name but z, leaving no tombstones: targets (new keys) is released,
    // but a and b each have a delegator that is only absent, not released.
    const onlyZ = new Map([['z', v1.delegated.get('z')!.cid]])
    const gone = await sim.forgeSnapshot({ delegated: onlyZ, retired: new Map() })
    const e = await rejects(update(sim, recordOf(v1), (await sim.forgeTimestamp(gone.cid)).cid), 'CLIENT-FLOOR-RETIRED', 'ValidationError')
    expect(['a', 'b']).toContain(e.details.role)
  })

  it('CLIENT-FLOOR-RETIRED: floors dropped for new keys and names that vanish are reported together, sorted', async () => {
    const sim = await sim0()
    const v0 = sim.head
    sim.delegate('targets', 'z', { paths: ['z/*'] })
    await sim.addTarget('z', 'z/1.txt')
    const v1 = await sim.publish()
    const listed = new Map([...v1.delegated].map(([n, e]) => [n, e.cid] as const))
    listed.set('u', v0.targets.cid)
    const forged = await sim.forgeSnapshot({ delegated: listed })
    const trusted = (await update(sim, recordOf(v1), (await sim.forgeTimestamp(forged.cid)).cid)).record
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    sim.rotate('z')
    const v2 = await sim.publish()
    // z is dropped in the walk over floors (new keys), u afterwards (it vanished): sorted in the report.
    expect((await update(sim, trusted, v2.timestamp.cid)).floors).toEqual({ kept: ['targets'], dropped: ['u', 'z'], overtaken: [] })
  })

  it('CLIENT-FLOOR-RETIRED: a tombstone other than the floor must be signed under every label the trusted DAG gave the role (diamond)', async () => {
    const sim = await sim0()
    const k1 = sim.freshKeys(1, 1)
    const k2 = sim.freshKeys(1, 1)
    sim.delegate('targets', 'a', { paths: ['n/*'] })
    sim.delegate('targets', 'n', { paths: ['n/*'], edgeKeys: k1 })
    sim.delegate('a', 'n', { paths: ['n/*'], edgeKeys: k2 })
    await sim.addTarget('n', 'n/1.txt')
    const v1 = await sim.publish()
    const signer = (k: typeof k1) => seedSigner(k.pairs[0]!.seed)
    const one = await sim.forgeTargets('n', (t) => t, [signer(k1)])
    const both = await sim.forgeTargets('n', (t) => ({ ...t, expires: sim.expires('snapshot') }), [signer(k1), signer(k2)])
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    sim.undelegate('targets', 'n')
    sim.undelegate('a', 'n')
    await sim.publish()
    const retiring = async (p: { cid: CID }) => (await sim.forgeTimestamp((await sim.forgeSnapshot({ retired: new Map([['n', p.cid]]) })).cid)).cid
    const e = await rejects(update(sim, recordOf(v1), await retiring(one)), 'CLIENT-FLOOR-RETIRED', 'ValidationError')
    expect(e.details).toMatchObject({ cid: one.cid.toString(), role: 'n' })
    const a = await update(sim, recordOf(v1), await retiring(both))
    expect(a.floors).toEqual({ kept: ['targets', 'a', 'n'], dropped: [], overtaken: [] })
  })

  it('changedRoles lists the roles whose object differs, delegated names sorted (from the role maps\' difference), added and removed ones included', async () => {
    const c = (n: number): CID => sim0Cids[n]!
    const store = new MemoryBlockStore()
    const sink = (x: ShardBlock): void => { store.unsafePut(x.cid, x.bytes) }
    // Role maps link targets objects: dag-json CIDs.
    const obj = (n: number): CID => cidOf(new Uint8Array([n]))
    const map = (roles: Record<string, number>): CID => buildRolesMap(Object.entries(roles).map(([n, i]) => [n, obj(i)] as const), sink).root
    const loader = sourceLoader(store)
    const rec = (root: number, t: [number, number, number, Record<string, number>] | null): StateRecord => ({
      root: c(root),
      trusted: t === null ? null : { timestamp: c(t[0]), snapshot: c(t[1]), targets: c(t[2]), roles: map(t[3]), referenceTime: '2026-01-01T00:00:00Z' }
    })
    // The parts of an accepted DAG changedRoles reads.
    const dag = (root: number, t: [number, number, number, Record<string, number>]): TrustedDag => ({
      root: { cid: c(root) },
      timestamp: { cid: c(t[0]) },
      snapshot: { cid: c(t[1]), signed: { meta: { delegatedTargets: map(t[3]) } } },
      targets: { cid: c(t[2]) },
      roles: new Map(Object.entries(t[3]).map(([n, i]) => [n, obj(i)]))
    }) as unknown as TrustedDag
    const base = rec(0, [1, 2, 3, { b: 4, a: 5, keep: 6 }])
    expect(await changedRoles(loader, base, dag(0, [1, 2, 3, { b: 4, a: 5, keep: 6 }]))).toEqual([])
    expect(await changedRoles(loader, base, dag(7, [1, 2, 3, { b: 4, a: 5, keep: 6 }]))).toEqual(['root'])
    expect(await changedRoles(loader, base, dag(0, [8, 2, 3, { b: 4, a: 5, keep: 6 }]))).toEqual(['timestamp'])
    expect(await changedRoles(loader, base, dag(0, [1, 8, 3, { b: 4, a: 5, keep: 6 }]))).toEqual(['snapshot'])
    expect(await changedRoles(loader, base, dag(0, [1, 2, 8, { b: 4, a: 5, keep: 6 }]))).toEqual(['targets'])
    // z added, b changed, a removed: sorted by name.
    expect(await changedRoles(loader, base, dag(0, [1, 2, 3, { z: 9, b: 8, keep: 6 }]))).toEqual(['a', 'b', 'z'])
    // From a root-only state everything is new.
    expect(await changedRoles(loader, rec(0, null), dag(0, [1, 2, 3, { b: 4, a: 5, keep: 6 }]))).toEqual(['timestamp', 'snapshot', 'targets', 'a', 'b', 'keep'])
  })
})

