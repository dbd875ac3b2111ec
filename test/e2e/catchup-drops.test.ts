/**
 * Issue 9, item 6 (memory independent of K), end to end: a client that
 * catches up over snapshots whose every step changes the role map keeps
 * nothing of the snapshots in between. Its peak memory is measured by
 * `npm run bench:catchup -- --bins-only 10 10000 --process` (a number, not a
 * test); what a test can show is the behaviour behind it: the walk lets go
 * of each intermediate snapshot, role object and role-map node, so none of
 * them reaches the client's cache, while the role-map nodes the head
 * changed are kept (the next update diffs against them), and the verdict is
 * the one the full relation gives.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { succStar } from '../../src/relations/index.js'
import { ShardReader, roleLinkCodec } from '../../src/shard/index.js'
import { RepoSim, type Version } from '../helpers/history.js'
import { refreshTo, tempDir, text, type TempDir } from '../helpers/client-sim.js'

const ROLES = 120
const STEPS = 14

/** Every node of a role map. */
async function nodesOf (sim: RepoSim, root: CID): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const c of new ShardReader(sim.store, roleLinkCodec).nodes(root)) out.add(c.toString())
  return out
}

describe('a catch-up over snapshots that each change the role map', () => {
  const dirs: TempDir[] = []
  afterEach(async () => { for (const d of dirs.splice(0)) await d.remove() })

  it('CLIENT-TS-DESCENDS: the update passes, and no intermediate snapshot, role object or role-map node is left in the cache; the head\'s are', async () => {
    const sim = await RepoSim.create({ seed: 9009 })
    for (let i = 0; i < ROLES; i++) sim.delegate('targets', `r${i}`)
    await sim.addTarget('r0', `${sim.homeOf('r0')}/first.tgz`, text('first'))
    const v1 = await sim.publish()
    const vs: Version[] = [v1]
    for (let i = 0; i < STEPS; i++) {
      const role = `r${(i * 37) % ROLES}`
      await sim.addTarget(role, `${sim.homeOf(role)}/p${i}.tgz`, text(`p${i}`))
      vs.push(await sim.publish())
    }
    const head = vs[vs.length - 1]!
    // The full relation holds (the verdict the client must reach).
    expect((await succStar(sim.loader(), 'timestamp', head.timestamp.cid, v1.timestamp.cid)).holds).toBe(true)

    const d = await tempDir()
    dirs.push(d)
    await refreshTo(sim, d.path, v1.timestamp.cid)
    const r = await refreshTo(sim, d.path, head.timestamp.cid)
    expect(r.continuity).toBe('descends')
    expect(r.timestamp).toBe(head.timestamp.cid.toString())

    const cached = new Set(await readdir(join(d.path, 'blocks')))
    const dt = (v: Version): CID => v.snapshot.signed.meta.delegatedTargets
    const headNodes = await nodesOf(sim, dt(head))
    const firstNodes = await nodesOf(sim, dt(v1))
    const between = vs.slice(1, -1)
    // The role map changed at every step: there is something to leave behind.
    for (let i = 1; i < vs.length; i++) expect(dt(vs[i]!).equals(dt(vs[i - 1]!))).toBe(false)
    let intermediateNodes = 0
    for (const [i, v] of between.entries()) {
      expect(cached.has(v.snapshot.cid.toString())).toBe(false)
      expect(cached.has(v.timestamp.cid.toString())).toBe(false)
      for (const n of await nodesOf(sim, dt(v))) {
        if (headNodes.has(n) || firstNodes.has(n)) continue
        intermediateNodes++
        expect(cached.has(n), `node ${n} of snapshot ${i + 1} of ${vs.length - 1}`).toBe(false)
      }
      // The role object that step changed, unless it is still the head's.
      for (const [name, obj] of v.delegated) {
        if (head.delegated.get(name)?.cid.equals(obj.cid) === true || v1.delegated.get(name)?.cid.equals(obj.cid) === true) continue
        expect(cached.has(obj.cid.toString()), `${name} ${obj.cid}`).toBe(false)
      }
    }
    expect(intermediateNodes).toBeGreaterThan(STEPS)
    // The head: its snapshot, timestamp and the role-map nodes its step changed.
    for (const c of [head.snapshot.cid, head.timestamp.cid, dt(head)]) expect(cached.has(c.toString())).toBe(true)
    const before = await nodesOf(sim, dt(vs[vs.length - 2]!))
    const changedAtHead = [...headNodes].filter((n) => !before.has(n))
    expect(changedAtHead.length).toBeGreaterThan(0)
    for (const n of changedAtHead) expect(cached.has(n), `head node ${n}`).toBe(true)
  })
})
