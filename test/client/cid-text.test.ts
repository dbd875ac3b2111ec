/**
 * Review: CID strings handed to the client in a non-canonical spelling
 * (mixed case base32) must not end up in state.json, which only accepts the
 * canonical lowercase text: a successful update must never leave a state the
 * next run refuses as corrupt.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { RepoSim } from '../helpers/history.js'
import { tempDir, updaterFor, type TempDir } from '../helpers/client-sim.js'
import { Updater } from '../../src/client/updater.js'
import type { BlockSource } from '../../src/blocks/types.js'
import { CID } from 'multiformats/cid'

function mixedCase (cid: string): string {
  // 'b' prefix stays; upper-case a run of the base32 body (CID.parse accepts it).
  return cid.slice(0, 1) + cid.slice(1, 12).toUpperCase() + cid.slice(12)
}

describe('review: non-canonical CID text', () => {
  let dir: TempDir | undefined
  afterEach(async () => { await dir?.remove(); dir = undefined })

  it('refresh(mixed-case timestamp CID) leaves a readable state', async () => {
    const sim = await RepoSim.create({ seed: 11 })
    await sim.publish()
    dir = await tempDir()
    const up = await updaterFor(sim, dir.path)
    const head = sim.head.timestamp.cid.toString()
    const r = await up.refresh(mixedCase(head))
    expect(r.timestamp).toBe(head)
    const again = await Updater.create({ dir: dir.path, source: sim.store as BlockSource, unsafeReferenceTime: sim.now })
    const state = await again.state()
    expect(state.trusted?.timestamp.toString()).toBe(head)
    await again.refresh(head)
  })

  it('a head source handing out a CID object parsed from mixed-case text leaves a readable state', async () => {
    const sim = await RepoSim.create({ seed: 13 })
    await sim.publish()
    dir = await tempDir()
    const head = sim.head.timestamp.cid.toString()
    const up = await updaterFor(sim, dir.path, { head: async () => CID.parse(mixedCase(head)) })
    const r = await up.refresh()
    expect(r.timestamp).toBe(head)
    const again = await Updater.create({ dir: dir.path, source: sim.store as BlockSource, unsafeReferenceTime: sim.now })
    expect((await again.state()).trusted?.timestamp.toString()).toBe(head)
  })

  it('init(mixed-case root CID) leaves a readable state', async () => {
    const sim = await RepoSim.create({ seed: 12 })
    dir = await tempDir()
    const up = await Updater.create({ dir: dir.path, source: sim.store as BlockSource, unsafeReferenceTime: sim.now })
    const root = sim.versions[0]!.root.cid.toString()
    const r = await up.init(mixedCase(root))
    expect(r.root).toBe(root)
    const again = await Updater.create({ dir: dir.path, source: sim.store as BlockSource, unsafeReferenceTime: sim.now })
    expect((await again.state()).root.toString()).toBe(root)
    await again.refresh(sim.head.timestamp.cid)
  })
})
