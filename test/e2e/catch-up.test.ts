/**
 * A client that is many snapshots behind (issue 9), end to end through the
 * Updater and a real trusted-state folder: what the catch-up reads, that it
 * does no pattern matching, and that a hostile snapshot hidden at the end of
 * a long honest chain is refused with the state untouched and an honest
 * update accepted after.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import type { BlockSource, GetOptions } from '../../src/blocks/types.js'
import { Updater } from '../../src/client/updater.js'
import { ladder } from '../../src/model/ladder.js'
import { roundCounting } from '../helpers/rounds.js'
import { RepoSim } from '../helpers/history.js'
import { refusedTo, rejects, stateBytes, tempDir, updaterFor, violationRules, type TempDir } from '../helpers/client-sim.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }

let dir: TempDir
beforeEach(async () => { dir = await tempDir('dagtuf-catchup-') })
afterEach(async () => { await dir.remove() })

/** A block source over the sim's store that records what is asked of it. */
function recording (sim: RepoSim): BlockSource & { asked: string[] } {
  const asked: string[] = []
  return { asked, get: async (cid: CID, o?: GetOptions) => { asked.push(cid.toString()); return await sim.store.get(cid, o) } }
}

/** 50 roles with a target each, delegated from targets; a client that trusts the first head. */
async function fifty () {
  const sim = await RepoSim.create({ seed: 9, topKeys: TOP })
  await sim.addTarget('targets', 'app.tgz')
  for (let i = 0; i < 50; i++) {
    sim.delegate('targets', `r${i}`, { paths: [`r${i}/*`] })
    await sim.addTarget(`r${i}`, `r${i}/x.tgz`)
  }
  const v1 = await sim.publish()
  const up = await updaterFor(sim, dir.path)
  await up.refresh(v1.timestamp.cid)
  return { sim, v1 }
}

describe('catch-up', () => {
  it('SUCC-SNAP-DELEG, CLIENT-VALID-TOP: 20 snapshots behind, each changing one target of one role of 50, the client reads the 20 snapshots and the changed role objects, no other role', async () => {
    const { sim } = await fifty()
    const changed = new Set<string>()
    for (let i = 0; i < 20; i++) {
      await sim.addTarget('r7', `r7/v${i}.tgz`)
      const v = await sim.publish()
      changed.add(v.delegated.get('r7')!.cid.toString())
    }
    const src = recording(sim)
    const up = await Updater.create({ dir: dir.path, source: src, unsafeReferenceTime: sim.now })
    const r = await up.refresh(sim.head.timestamp.cid)
    expect(r.continuity).toBe('descends')
    const snapshots = new Set(sim.versions.slice(-20).map((v) => v.snapshot.cid.toString()))
    const others = new Set(sim.versions.flatMap((v) => [...v.delegated].filter(([n]) => n !== 'r7').map(([, e]) => e.cid.toString())))
    expect(src.asked.filter((c) => others.has(c))).toEqual([])
    expect(src.asked.filter((c) => snapshots.has(c)).length).toBe(20)
    // r7's 19 intermediate objects and its head object, each read once (their previous-version links).
    expect(new Set(src.asked.filter((c) => changed.has(c))).size).toBe(20)
    // Besides those, the timestamp and the changed role-map nodes (a few per step); the top-level targets did not change.
    expect(src.asked.length).toBeLessThan(1 + 20 + 20 + 20 * 6)
    expect((await up.getTargetInfo('r7/v19.tgz'))?.role).toBe('r7')
  })

  it('BOUND-GLOB: a catch-up does no pattern matching: a role with costly legal patterns, 30 snapshots behind, with a glob budget of one step', async () => {
    const sim = await RepoSim.create({ seed: 10, topKeys: TOP })
    await sim.addTarget('targets', 'app.tgz')
    // Patterns that cost the matcher many steps against long paths.
    const costly = [...Array.from({ length: 16 }, (_, i) => '*' + 'a'.repeat(200) + `b${i}*`), 'pkgs/*']
    sim.delegate('targets', 'heavy', { paths: costly })
    await sim.addTarget('heavy', 'pkgs/one.tgz')
    const v1 = await sim.publish()
    const limits = { maxGlobSteps: 1 }
    await (await updaterFor(sim, dir.path, { limits })).refresh(v1.timestamp.cid)
    for (let i = 0; i < 30; i++) { await sim.addTarget('targets', `t${i}.tgz`); await sim.publish() }
    const up = await updaterFor(sim, dir.path, { limits })
    expect((await up.refresh(sim.head.timestamp.cid)).continuity).toBe('descends')
    // The search is where patterns are matched, and its budget is where the bound bites.
    await rejects(up.getTargetInfo('pkgs/one.tgz'), 'BOUND-GLOB')
    expect((await (await updaterFor(sim, dir.path)).getTargetInfo('pkgs/one.tgz'))?.role).toBe('heavy')
  })

  it('SUCC-SNAP-REMOVED: a snapshot that drops a role without its tombstone, at the end of 25 honest snapshots, is refused; state unchanged; the honest head is accepted after', async () => {
    const { sim } = await fifty()
    for (let i = 0; i < 25; i++) { await sim.addTarget('targets', `t${i}.tgz`); await sim.publish() }
    const dt = RepoSim.roles(sim.head)
    dt.delete('r3')
    const snap = await sim.forgeSnapshot({ delegated: dt })
    const ts = await sim.forgeTimestamp(snap.cid)
    const before = await stateBytes(dir.path)
    const e = await refusedTo(sim, dir.path, ts.cid, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e)).toContain('SUCC-SNAP-REMOVED')
    expect(await stateBytes(dir.path)).toBe(before)
    expect((await (await updaterFor(sim, dir.path)).refresh(sim.head.timestamp.cid)).continuity).toBe('descends')
  })

  it('SUCC-SNAP-RETIRED: a tombstone invented in the middle of a long chain is refused at that step', async () => {
    const { sim } = await fifty()
    for (let i = 0; i < 10; i++) { await sim.addTarget('targets', `t${i}.tgz`); await sim.publish() }
    const fake = sim.head.delegated.get('r1')!.cid
    const bad = await sim.forgeSnapshot({ retired: new Map([['ghost', fake]]) })
    // Ten more honest-looking snapshots on top of the bad one, signed with the snapshot key.
    let prev = bad
    for (let i = 0; i < 10; i++) prev = await sim.forgeSnapshot({ previousVersion: prev.cid, retired: new Map([['ghost', fake]]) })
    const e = await refusedTo(sim, dir.path, (await sim.forgeTimestamp(prev.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(violationRules(e)).toContain('SUCC-SNAP-RETIRED')
    expect(e.details.violations).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'SUCC-SNAP-RETIRED', cid: bad.cid.toString() })]))
    expect((await (await updaterFor(sim, dir.path)).refresh(sim.head.timestamp.cid)).continuity).toBe('descends')
  })

  it('SUCC-SNAP-SKIPS: a skip link to a snapshot that is not an ancestor, under ten snapshots of a forged chain, is refused at the snapshot holding it; state unchanged; the honest head accepted after', async () => {
    const { sim } = await fifty()
    for (let i = 0; i < 12; i++) { await sim.addTarget('targets', `t${i}.tgz`); await sim.publish() }
    // A fork at the height of the next snapshot's first skip, then a snapshot whose skip names the fork.
    const heights = (c: CID): number => sim.versions.find((v) => v.snapshot.cid.equals(c))!.snapshot.signed.height
    const head = sim.head.snapshot
    const h = head.signed.height + 1
    const want = await sim.forgeSnapshot()
    expect(want.signed.skips.length).toBeGreaterThan(0)
    const target = want.signed.skips[0]!
    const fork = await sim.forgeSnapshot({ previousVersion: (sim.versions.find((v) => v.snapshot.signed.height === heights(target) - 1))!.snapshot.cid, targets: sim.versions[2]!.targets.cid })
    expect(fork.signed.height).toBe(heights(target))
    expect(fork.cid.equals(target)).toBe(false)
    const bad = await sim.forgeSnapshot({ place: { skips: [fork.cid, ...want.signed.skips.slice(1)] } })
    expect(bad.signed.height).toBe(h)
    let prev = bad
    for (let i = 0; i < 10; i++) prev = await sim.forgeSnapshot({ previousVersion: prev.cid })
    const before = await stateBytes(dir.path)
    const e = await refusedTo(sim, dir.path, (await sim.forgeTimestamp(prev.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(e.details.violations).toEqual([expect.objectContaining({ rule: 'SUCC-SNAP-SKIPS', cid: bad.cid.toString() })])
    expect(await stateBytes(dir.path)).toBe(before)
    expect((await (await updaterFor(sim, dir.path)).refresh(sim.head.timestamp.cid)).continuity).toBe('descends')
  })

  it('SUCC-SNAP-HEIGHT: a forged head whose heights skip a step is refused there; BOUND-CHAIN: one too far above the trusted snapshot is refused from the heights alone; state unchanged; the honest head accepted after', async () => {
    const { sim } = await fifty()
    for (let i = 0; i < 6; i++) { await sim.addTarget('targets', `t${i}.tgz`); await sim.publish() }
    const H = sim.head.snapshot.signed.height + 2
    const jump = await sim.forgeSnapshot({ place: { height: H, skips: ladder(H).map(() => sim.head.snapshot.cid) } })
    let prev = jump
    for (let i = 0; i < 3; i++) prev = await sim.forgeSnapshot({ previousVersion: prev.cid })
    const before = await stateBytes(dir.path)
    const e = await refusedTo(sim, dir.path, (await sim.forgeTimestamp(prev.cid)).cid, 'CLIENT-TS-DESCENDS')
    expect(e.details.violations).toEqual([expect.objectContaining({ rule: 'SUCC-SNAP-HEIGHT', cid: jump.cid.toString() })])
    expect(await stateBytes(dir.path)).toBe(before)

    // Six snapshots ahead, with a chain bound of five: refused before any intermediate snapshot is fetched.
    const src = recording(sim)
    const up = await Updater.create({ dir: dir.path, source: src, unsafeReferenceTime: sim.now, limits: { maxChainLength: 5 } })
    const b = await rejects(up.refresh(sim.head.timestamp.cid), 'BOUND-CHAIN')
    const middle = new Set(sim.versions.slice(-6, -1).map((v) => v.snapshot.cid.toString()))
    expect(src.asked.filter((c) => middle.has(c))).toEqual([])
    expect(b.code).toBe('BOUND-CHAIN')
    expect(await stateBytes(dir.path)).toBe(before)
    expect((await (await updaterFor(sim, dir.path)).refresh(sim.head.timestamp.cid)).continuity).toBe('descends')
  })

  it('SUCC-STAR: 200 snapshots behind, the Updater fetches the chain ahead through the skips: about log2 K rounds of requests, not K', async () => {
    const sim = await RepoSim.create({ seed: 12, topKeys: TOP })
    await sim.addTarget('targets', 'app.tgz')
    const v1 = await sim.publish()
    await (await updaterFor(sim, dir.path)).refresh(v1.timestamp.cid)
    for (let i = 0; i < 200; i++) { await sim.addTarget('targets', `t${i}.tgz`); await sim.publish() }
    const src = roundCounting(sim.store)
    const up = await Updater.create({ dir: dir.path, source: src, unsafeReferenceTime: sim.now })
    const r = await up.refresh(sim.head.timestamp.cid)
    expect(r.continuity).toBe('descends')
    // 200 snapshots and 200 targets objects; a round of requests each would be 400.
    expect(src.rounds).toBeLessThanOrEqual(2 * Math.log2(200) + 10)
    expect((await up.getTargetInfo('t199.tgz'))?.role).toBe('targets')
  })
})
