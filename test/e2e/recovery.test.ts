/**
 * Recovery after a rotation of the snapshot and timestamp keys (NOTES 7.2,
 * CLIENT-RECOVER), end to end: the Updater over the repository simulator's
 * block store with a real trusted-state folder. Two findings of issue 10:
 * tombstones are floors (CLIENT-FLOOR-RETIRED), and a signed draft that was
 * never published no longer locks a client out once the role's chain moved
 * two steps past the draft's predecessor (CLIENT-FLOOR-OVERTAKE). Every
 * refusal leaves state.json byte for byte as it was, and the honest head is
 * accepted afterwards.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { Updater } from '../../src/client/updater.js'
import { RepoSim } from '../helpers/history.js'
import { refreshTo, refusedTo, stateBytes, tempDir, text, updaterFor, type TempDir } from '../helpers/client-sim.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }

let dir: TempDir
beforeEach(async () => { dir = await tempDir('dagtuf-recovery-') })
afterEach(async () => { await dir.remove() })

const client = async (sim: RepoSim): Promise<Updater> => await updaterFor(sim, dir.path)
const refresh = async (sim: RepoSim, ts: CID) => await refreshTo(sim, dir.path, ts)
/** Refused with `code`, state.json byte for byte unchanged. */
const refused = async (sim: RepoSim, ts: CID, code: string) => await refusedTo(sim, dir.path, ts, code)

describe('recovery keeps tombstone floors (CLIENT-FLOOR-RETIRED)', () => {
  it('CLIENT-FLOOR-RETIRED: a role removed at v2 and re-added after a timestamp rotation cannot be listed at v1 by the new key holders', async () => {
    const sim = await RepoSim.create({ seed: 21, topKeys: TOP })
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/app.tgz', text('app 1'))
    const v1 = await sim.publish()
    const n1 = v1.delegated.get('n')!
    await refresh(sim, v1.timestamp.cid)
    await sim.addTarget('n', 'n/app.tgz', text('app 2 (security fix)'))
    const v2 = await sim.publish()
    const n2 = v2.delegated.get('n')!
    expect(n2.signed.previousVersion?.equals(n1.cid)).toBe(true)
    await refresh(sim, v2.timestamp.cid)
    sim.undelegate('targets', 'n')
    const v3 = await sim.publish()
    expect(v3.retired.get('n')?.equals(n2.cid)).toBe(true)
    await refresh(sim, v3.timestamp.cid)

    // Routine rotation of the timestamp key; n comes back, continuing from its tombstone.
    sim.rotate('timestamp')
    sim.delegate('targets', 'n')
    const v4 = await sim.publish()
    expect(v4.delegated.get('n')?.cid.equals(n2.cid)).toBe(true)

    // Whoever holds the new snapshot and timestamp keys lists n at v1.
    const back = await sim.forgeSnapshot({ delegated: new Map([['n', n1.cid]]), retired: new Map() })
    const before = await stateBytes(dir.path)
    await refused(sim, (await sim.forgeTimestamp(back.cid)).cid, 'CLIENT-FLOOR')
    expect(await stateBytes(dir.path)).toBe(before)

    // The honest head is accepted, keeping n's floor.
    const r = await refresh(sim, v4.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors).toEqual({ kept: ['targets', 'n'], dropped: [], overtaken: [] })
    const info = await (await client(sim)).getTargetInfo('n/app.tgz')
    expect(info?.length).toBe(text('app 2 (security fix)').byteLength)
  })

  it('CLIENT-FLOOR-RETIRED: under recovery a listed role may not vanish, nor be retired at an older object', async () => {
    const sim = await RepoSim.create({ seed: 22, topKeys: TOP })
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/a.txt')
    const v1 = await sim.publish()
    const n1 = v1.delegated.get('n')!
    await sim.addTarget('n', 'n/b.txt')
    const v2 = await sim.publish()
    await refresh(sim, v2.timestamp.cid)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    sim.undelegate('targets', 'n')
    const v3 = await sim.publish()
    // The new key holders drop n without a tombstone (to add it back later as a new role at its first object)...
    const gone = await sim.forgeSnapshot({ retired: new Map() })
    await refused(sim, (await sim.forgeTimestamp(gone.cid)).cid, 'CLIENT-FLOOR-RETIRED')
    // ...or retire it at v1, from where a later re-add would continue.
    const old = await sim.forgeSnapshot({ retired: new Map([['n', n1.cid]]) })
    await refused(sim, (await sim.forgeTimestamp(old.cid)).cid, 'CLIENT-FLOOR')
    const r = await refresh(sim, v3.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors?.kept).toEqual(['targets', 'n'])
  })
})

describe('a signed draft that was never published (CLIENT-FLOOR-OVERTAKE)', () => {
  it('CLIENT-FLOOR-OVERTAKE: a client shown an abandoned draft recovers once the role is two objects past the draft\'s predecessor, and cannot be rolled back', async () => {
    const sim = await RepoSim.create({ seed: 23, topKeys: TOP })
    sim.delegate('targets', 'n')
    await sim.addTarget('n', 'n/app.tgz', text('app 1'))
    const v1 = await sim.publish()
    const p = v1.delegated.get('n')!
    await refresh(sim, v1.timestamp.cid)

    // n's signer signs a draft X on top of the published P; it is abandoned.
    const evil = await sim.storeContent(text('app 1.1-rc, withdrawn'))
    const x = await sim.forgeTargets('n', (t) => ({ ...t, targets: new Map([['n/app.tgz', evil]]) }))
    // Someone holding the snapshot and timestamp keys shows the client X.
    const shown = await sim.forgeSnapshot({ delegated: new Map([['n', x.cid]]) })
    const a = await refresh(sim, (await sim.forgeTimestamp(shown.cid)).cid)
    expect(a.continuity).toBe('descends')

    // The repository publishes a sibling Y of X and rotates the stolen keys.
    await sim.addTarget('n', 'n/app.tgz', text('app 1.1'))
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    const v2 = await sim.publish()
    const y = v2.delegated.get('n')!
    expect(y.signed.previousVersion?.equals(p.cid)).toBe(true)
    // One step past P, Y and X are indistinguishable to the client: refused.
    await refused(sim, v2.timestamp.cid, 'CLIENT-FLOOR')

    // Two steps past P: only a published object can have a signed child, so X was abandoned.
    await sim.addTarget('n', 'n/app.tgz', text('app 1.2'))
    const v3 = await sim.publish()
    // The new key holders cannot use the rule to take n back to P.
    const toP = await sim.forgeSnapshot({ delegated: new Map([['n', p.cid]]) })
    await refused(sim, (await sim.forgeTimestamp(toP.cid)).cid, 'CLIENT-FLOOR')
    const r = await refresh(sim, v3.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.floors).toEqual({ kept: ['targets'], dropped: [], overtaken: ['n'] })
    const info = await (await client(sim)).getTargetInfo('n/app.tgz')
    expect(info?.length).toBe(text('app 1.2').byteLength)
  })
})
