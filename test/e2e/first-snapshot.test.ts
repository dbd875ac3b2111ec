/**
 * VALID-SNAP-FIRST-RETIRED end to end: a first snapshot (previous-version
 * null) carrying tombstones. No snapshot before it listed those names, so
 * the tombstones are invented; accepted, they would pin a name to a chain of
 * the signer's choosing. The client refuses such a head whether it is its
 * first update or a head after a key rotation (where the chain rule does not
 * apply), leaves state.json byte for byte as it was, and still accepts the
 * honest head afterwards.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RepoSim } from '../helpers/history.js'
import { refusedUnchanged, tempDir, text, updaterFor, type TempDir } from '../helpers/client-sim.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }

let dir: TempDir
beforeEach(async () => { dir = await tempDir('dagtuf-first-snap-') })
afterEach(async () => { await dir.remove() })

async function repo () {
  const sim = await RepoSim.create({ seed: 61, topKeys: TOP })
  await sim.addTarget('targets', 'app.tgz', text('app v1'))
  sim.delegate('targets', 'd1')
  await sim.addTarget('d1', 'd1/plugin.tgz', text('plugin v1'))
  const v1 = await sim.publish()
  return { sim, v1 }
}

describe('a first snapshot with invented tombstones (VALID-SNAP-FIRST-RETIRED)', () => {
  it('VALID-SNAP-FIRST-RETIRED: refused as a first update, state unchanged, the honest head accepted afterwards', async () => {
    const { sim, v1 } = await repo()
    // Signed with the repository's own snapshot and timestamp keys (stolen, or a buggy publisher).
    const planted = await sim.forgeSnapshot({ previousVersion: null, retired: new Map([['ghost', v1.targets.cid]]) })
    const up = await updaterFor(sim, dir.path)
    const e = await refusedUnchanged(dir.path, async () => await up.refresh((await sim.forgeTimestamp(planted.cid)).cid), 'VALID-SNAP-FIRST-RETIRED')
    expect(e.details.cid).toBe(planted.cid.toString())
    expect((await up.state()).trusted).toBeNull()
    const r = await up.refresh(v1.timestamp.cid)
    expect(r.continuity).toBe('first')
    expect((await up.getTargetInfo('d1/plugin.tgz'))?.role).toBe('d1')
  })

  it('VALID-SNAP-FIRST-RETIRED: refused after a rotation of the snapshot and timestamp keys, where the chain rule does not apply', async () => {
    const { sim, v1 } = await repo()
    const up = await updaterFor(sim, dir.path)
    await up.refresh(v1.timestamp.cid)
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    await sim.addTarget('targets', 'app2.tgz', text('app v2'))
    const v2 = await sim.publish()
    // A new chain of snapshots under the new keys, planting a tombstone for
    // a name no snapshot listed, pointing at an object of the signer's choosing.
    const planted = await sim.forgeSnapshot({ previousVersion: null, retired: new Map([['d9', v1.delegated.get('d1')!.cid]]) })
    const e = await refusedUnchanged(dir.path, async () => await (await updaterFor(sim, dir.path)).refresh((await sim.forgeTimestamp(planted.cid)).cid), 'VALID-SNAP-FIRST-RETIRED')
    expect(e.details.cid).toBe(planted.cid.toString())
    // The honest head after the rotation is accepted by recovery.
    const r = await (await updaterFor(sim, dir.path)).refresh(v2.timestamp.cid)
    expect(r.continuity).toBe('recovered')
    expect(r.timestamp).toBe(v2.timestamp.cid.toString())
  })
})
