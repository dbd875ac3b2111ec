/**
 * Rules that were caught by unit tests only (issue 10 item 7), end to end:
 * the Updater over the repository simulator's block store with a real
 * trusted-state folder, and `dagtuf verify` in-process. Tombstone forgery
 * (on the chain and under recovery), floors of delegated roles, diamonds,
 * a root that changes only a threshold, and the premise VALID B of the
 * relations. Every refusal leaves state.json byte for byte as it was, and an
 * honest update is accepted afterwards.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { encodeCar } from '../../src/blocks/car.js'
import { main } from '../../src/cli/main.js'
import { Updater } from '../../src/client/updater.js'
import { RepoSim } from '../helpers/history.js'
import { forgeRoot, refreshTo, refusedTo, stateBytes, tempDir, text, updaterFor, violationRules, type TempDir } from '../helpers/client-sim.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }

let dir: TempDir
beforeEach(async () => { dir = await tempDir('dagtuf-floors-') })
afterEach(async () => { await dir.remove() })

const client = async (sim: RepoSim): Promise<Updater> => await updaterFor(sim, dir.path)
const refresh = async (sim: RepoSim, ts: CID) => await refreshTo(sim, dir.path, ts)
/** Refused with `code`, state.json byte for byte unchanged. */
const refused = async (sim: RepoSim, ts: CID, code: string) => await refusedTo(sim, dir.path, ts, code)

/** A forged snapshot (signed with the head root's snapshot keys) and its timestamp. */
async function forged (sim: RepoSim, o: Parameters<RepoSim['forgeSnapshot']>[0]): Promise<CID> {
  return (await sim.forgeTimestamp((await sim.forgeSnapshot(o)).cid)).cid
}

/** Role n published at n1 and n2, then removed (tombstone n2); the client trusts every version. */
async function retiredRole (seed: number) {
  const sim = await RepoSim.create({ seed, topKeys: TOP })
  sim.delegate('targets', 'n')
  await sim.addTarget('n', 'n/app.tgz', text('app 1'))
  const v1 = await sim.publish()
  await refresh(sim, v1.timestamp.cid)
  await sim.addTarget('n', 'n/app.tgz', text('app 2 (security fix)'))
  const v2 = await sim.publish()
  await refresh(sim, v2.timestamp.cid)
  sim.undelegate('targets', 'n')
  const v3 = await sim.publish()
  await refresh(sim, v3.timestamp.cid)
  const n1 = v1.delegated.get('n')!
  const n2 = v2.delegated.get('n')!
  expect(v3.retired.get('n')?.equals(n2.cid)).toBe(true)
  return { sim, n1, n2, v3 }
}

describe('tombstone forgery', () => {
  it('SUCC-SNAP-RETIRED: with the snapshot and timestamp keys stolen, a tombstone cannot be moved back, dropped or invented', async () => {
    const { sim, n1, n2 } = await retiredRole(41)
    // Moved back to n1, from where a later re-add would continue (a deferred rollback).
    const back = await refused(sim, await forged(sim, { retired: new Map([['n', n1.cid]]) }), 'CLIENT-TS-DESCENDS')
    expect(violationRules(back)).toContain('SUCC-SNAP-RETIRED')
    // Dropped, so that n could come back as a new role at its first object.
    const dropped = await refused(sim, await forged(sim, { retired: new Map() }), 'CLIENT-TS-DESCENDS')
    expect(violationRules(dropped)).toContain('SUCC-SNAP-RETIRED')
    // Invented for a name the chain never listed.
    const invented = await refused(sim, await forged(sim, { retired: new Map([['n', n2.cid], ['ghost', n1.cid]]) }), 'CLIENT-TS-DESCENDS')
    expect(violationRules(invented)).toContain('SUCC-SNAP-RETIRED')
    // The honest repository re-adds n: it continues from its tombstone.
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/app.tgz', text('app 3'))
    const v4 = await sim.publish()
    expect(v4.delegated.get('n')?.signed.previousVersion?.equals(n2.cid)).toBe(true)
    const r = await refresh(sim, v4.timestamp.cid)
    expect(r.continuity).toBe('descends')
    expect((await (await client(sim)).getTargetInfo('n/app.tgz'))?.length).toBe(text('app 3').byteLength)
  })

  it('CLIENT-FLOOR-RETIRED: under recovery, a tombstone that names the trusted object but that the role\'s keys never signed is refused', async () => {
    const sim = await RepoSim.create({ seed: 42, topKeys: TOP })
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/app.tgz', text('app 1'))
    const v1 = await sim.publish()
    const n1 = v1.delegated.get('n')!
    await refresh(sim, v1.timestamp.cid)
    // An unsigned object whose previous-version is n1: it descends from the floor.
    const made = await sim.forgeTargets('n', (t) => t, [])
    expect(made.signatures).toEqual([])
    expect(made.signed.previousVersion?.equals(n1.cid)).toBe(true)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    sim.undelegate('targets', 'n')
    const v2 = await sim.publish()
    // The new key holders retire n at it (it would be dropped later, as it binds no one).
    const e = await refused(sim, await forged(sim, { retired: new Map([['n', made.cid]]) }), 'CLIENT-FLOOR-RETIRED')
    expect(e.details.cid).toBe(made.cid.toString())
    // The honest head retires n at n1 itself.
    const r = await refresh(sim, v2.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors).toEqual({ kept: ['targets', 'n'], dropped: [], overtaken: [] })
  })
})

describe('floors of delegated roles', () => {
  it('CLIENT-FLOOR: under recovery, a delegated role whose keys did not change can be taken neither back nor onto a new chain', async () => {
    const sim = await RepoSim.create({ seed: 43, topKeys: TOP })
    sim.delegate('targets', 'd1')
    await sim.addTarget('d1', 'd1/plugin.tgz', text('plugin 1'))
    const v1 = await sim.publish()
    await refresh(sim, v1.timestamp.cid)
    await sim.addTarget('d1', 'd1/plugin.tgz', text('plugin 2 (security fix)'))
    const v2 = await sim.publish()
    await refresh(sim, v2.timestamp.cid)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v3 = await sim.publish()
    // Whoever holds the new snapshot and timestamp keys lists d1's older object...
    const e = await refused(sim, await forged(sim, { delegated: new Map([['d1', v1.delegated.get('d1')!.cid]]) }), 'CLIENT-FLOOR')
    expect(e.details.cid).toBe(v1.delegated.get('d1')!.cid.toString())
    // ...or an object d1's keys signed as a new chain (previous-version null).
    const fresh = await sim.forgeTargets('d1', (t) => ({ ...t, previousVersion: null }))
    await refused(sim, await forged(sim, { delegated: new Map([['d1', fresh.cid]]) }), 'CLIENT-FLOOR')
    const r = await refresh(sim, v3.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors).toEqual({ kept: ['targets', 'd1'], dropped: [], overtaken: [] })
    expect((await (await client(sim)).getTargetInfo('d1/plugin.tgz'))?.length).toBe(text('plugin 2 (security fix)').byteLength)
  })

  it('CLIENT-FLOOR: a delegator whose keys rotated drops its own floor, while the role it delegates keeps its floor', async () => {
    const sim = await RepoSim.create({ seed: 44, topKeys: TOP })
    sim.delegate('targets', 'd1')
    sim.delegate('d1', 'd2')
    await sim.addTarget('d2', 'd1/d2/lib.tgz', text('lib 1'))
    const v1 = await sim.publish()
    await refresh(sim, v1.timestamp.cid)
    await sim.addTarget('d2', 'd1/d2/lib.tgz', text('lib 2'))
    const v2 = await sim.publish()
    await refresh(sim, v2.timestamp.cid)
    sim.rotate('d1')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v3 = await sim.publish()
    // d1's new object is signed by its new keys; d2's keys never changed, so d2 at v1 is a rollback.
    const e = await refused(sim, await forged(sim, { delegated: new Map([['d1', v3.delegated.get('d1')!.cid], ['d2', v1.delegated.get('d2')!.cid]]) }), 'CLIENT-FLOOR')
    expect(e.details.cid).toBe(v1.delegated.get('d2')!.cid.toString())
    const r = await refresh(sim, v3.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors).toEqual({ kept: ['targets', 'd2'], dropped: ['d1'], overtaken: [] })
  })
})

describe('diamonds', () => {
  /** n delegated both by targets and by d; the client trusts it at n1 and then n2. */
  async function diamond (seed: number) {
    const sim = await RepoSim.create({ seed, topKeys: TOP })
    sim.delegate('targets', 'd')
    sim.delegate('targets', 'n', { paths: ['n/*'] })
    sim.delegate('d', 'n', { paths: ['n/*'] })
    await sim.addTarget('n', 'n/app.tgz', text('app 1'))
    const v1 = await sim.publish()
    await refresh(sim, v1.timestamp.cid)
    await sim.addTarget('n', 'n/app.tgz', text('app 2'))
    const v2 = await sim.publish()
    await refresh(sim, v2.timestamp.cid)
    return { sim, v1, v2 }
  }

  it('CLIENT-FLOOR: a role delegated twice keeps its floor under recovery', async () => {
    const { sim, v1 } = await diamond(45)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v3 = await sim.publish()
    await refused(sim, await forged(sim, { delegated: new Map([...RepoSim.roles(v3), ['n', v1.delegated.get('n')!.cid]]) }), 'CLIENT-FLOOR')
    const r = await refresh(sim, v3.timestamp.cid)
    expect(r.floors).toEqual({ kept: ['targets', 'd', 'n'], dropped: [], overtaken: [] })
  })

  it('CLIENT-FLOOR-RETIRED: a role delegated twice may vanish only when both delegators were released, not when one was', async () => {
    const { sim, v2 } = await diamond(46)
    // targets stops delegating n (its keys unchanged); d's keys rotate and its new object does not delegate n either.
    sim.undelegate('targets', 'n')
    sim.undelegate('d', 'n')
    sim.rotate('d')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v3 = await sim.publish()
    expect(v3.retired.get('n')?.equals(v2.delegated.get('n')!.cid)).toBe(true)
    // The new key holders drop n's tombstone: d was released, but targets still speaks for n's floor.
    const e = await refused(sim, await forged(sim, { retired: new Map() }), 'CLIENT-FLOOR-RETIRED')
    expect(e.details.role).toBe('n')
    const r = await refresh(sim, v3.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors).toEqual({ kept: ['targets', 'n'], dropped: ['d'], overtaken: [] })
  })
})

describe('a root that changes only a threshold', () => {
  it('CLIENT-RECOVER: raising the snapshot and timestamp thresholds over the same keys is a rotation: the client leaves a fork signed with one stolen key', async () => {
    const TWO = { keys: 2, threshold: 1 }
    const sim = await RepoSim.create({ seed: 47, topKeys: { ...TOP, snapshot: TWO, timestamp: TWO } })
    await sim.addTarget('targets', 'app.tgz', text('app 1'))
    const v1 = await sim.publish()
    await refresh(sim, v1.timestamp.cid)
    // One snapshot key and one timestamp key are stolen; the client is shown a fork.
    const [snapKey] = sim.publishedSignersOf('snapshot', 1)
    const [tsKey] = sim.publishedSignersOf('timestamp', 1)
    const fork = await sim.forgeSnapshot({ signers: [snapKey!] })
    expect((await refresh(sim, (await sim.forgeTimestamp(fork.cid, [tsKey!])).cid)).continuity).toBe('descends')
    await sim.addTarget('targets', 'app.tgz', text('app 2'))
    const v2 = await sim.publish()
    await refused(sim, v2.timestamp.cid, 'CLIENT-TS-DESCENDS')
    // The repository keeps its keys and requires both of each from now on.
    const root = await forgeRoot(sim, (r) => ({ ...r, roles: { ...r.roles, snapshot: { ...r.roles.snapshot, threshold: 2 }, timestamp: { ...r.roles.timestamp, threshold: 2 } } }))
    expect(root.signed.roles.snapshot.keyids).toEqual(v2.root.signed.roles.snapshot.keyids)
    expect(root.signed.roles.timestamp.keyids).toEqual(v2.root.signed.roles.timestamp.keyids)
    // The stolen keys alone no longer sign for it...
    const evil = await sim.forgeSnapshot({ root: root.cid, signers: [snapKey!] })
    await refused(sim, (await sim.forgeTimestamp(evil.cid, [tsKey!])).cid, 'VALID-TS-SIG')
    // ...and the honest head under it is accepted, every floor kept.
    const snap = await sim.forgeSnapshot({ root: root.cid, signers: sim.allSignersOf('snapshot') })
    const r = await refresh(sim, (await sim.forgeTimestamp(snap.cid, sim.allSignersOf('timestamp'))).cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors).toEqual({ kept: ['targets'], dropped: [], overtaken: [] })
    expect(r.changed).toContain('root')
    expect((await (await client(sim)).getTargetInfo('app.tgz'))?.length).toBe(text('app 2').byteLength)
  })
})

describe('the premise VALID B of the relations', () => {
  it('CLIENT-FLOOR-OVERTAKE: a chain reaching the floor\'s predecessor does not overtake it when that predecessor is not a targets object', async () => {
    const sim = await RepoSim.create({ seed: 48, topKeys: TOP })
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/app.tgz', text('app 1'))
    const v1 = await sim.publish()
    const junk = v1.root.cid // a block of another kind
    // The client's first update lists an n object F whose previous-version is that block.
    const f = await sim.forgeTargets('n', (t) => ({ ...t, previousVersion: junk }))
    expect((await refresh(sim, await forged(sim, { delegated: new Map([['n', f.cid]]) }))).continuity).toBe('first')
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.publish()
    // n's keys sign Y on the same block and P on Y: P reaches F's predecessor in two steps.
    const y = await sim.sign({ ...f.signed, expires: sim.expires('targets') }, sim.signersOf('n'))
    expect(y.cid.equals(f.cid)).toBe(false)
    const p = await sim.sign({ ...f.signed, previousVersion: y.cid }, sim.signersOf('n'))
    const e = await refused(sim, await forged(sim, { delegated: new Map([['n', p.cid]]) }), 'CLIENT-FLOOR')
    expect(violationRules(e)).toContain('VALID-KIND')
    // The honest update: n's keys rotate, which releases its floor.
    sim.rotate('n')
    const v3 = await sim.publish()
    const r = await refresh(sim, v3.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors).toEqual({ kept: ['targets'], dropped: ['n'], overtaken: [] })
  })

  it('SUCC-TS-SNAPSHOT: dagtuf verify --trusted says a head does not descend from a timestamp that is not VALID', async () => {
    const sim = await RepoSim.create({ seed: 49, topKeys: TOP })
    const v1 = sim.head
    const v2 = await sim.publish()
    // v1's snapshot under a timestamp signed by the snapshot key (not a timestamp key).
    const bad = await sim.forgeTimestamp(v1.snapshot.cid, sim.publishedSignersOf('snapshot'))
    const blocks = await Promise.all(sim.store.cids().map(async (cid) => ({ cid, bytes: await sim.store.get(cid) })))
    const car = join(dir.path, 'repo.car')
    await writeFile(car, await encodeCar([v2.timestamp.cid], blocks))
    const verify = async (trusted: CID) => {
      const out: string[] = []
      const code = await main(['verify', '--car', car, '--timestamp', v2.timestamp.cid.toString(), '--trusted', trusted.toString(), '--json'], { out: (l) => out.push(l), err: () => {}, tty: false })
      return { code, result: JSON.parse(out.join('\n')) as { valid: boolean, descends: boolean, violations: Array<{ rule: string, cid: string }>, witness: string[] } }
    }
    const no = await verify(bad.cid)
    expect(no.code).toBe(1)
    expect(no.result).toMatchObject({ valid: true, descends: false, witness: [] })
    expect(no.result.violations.map((v) => [v.rule, v.cid])).toEqual([['VALID-TS-SIG', bad.cid.toString()]])
    const yes = await verify(v1.timestamp.cid)
    expect(yes.code).toBe(0)
    expect(yes.result).toMatchObject({ valid: true, descends: true, witness: [v2.snapshot.cid.toString(), v1.snapshot.cid.toString()] })
    expect(await stateBytes(dir.path)).toBeNull()
  })
})
