/**
 * Review: the e2e DELEG-TERMINATING attack test only puts the competing role
 * next to the terminating entry, which the loop's `break` already excludes;
 * it still passed with the "clear every pending alternative" half of
 * DELEG-TERMINATING removed. Here the terminating entry sits one level down,
 * so only clearing the whole stack keeps the lower-priority sibling of its
 * delegator out of the reserved paths.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { RepoSim } from '../helpers/history.js'
import { tempDir, text, updaterFor, type TempDir } from '../helpers/client-sim.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }

describe('review: DELEG-TERMINATING through the client', () => {
  let dir: TempDir | undefined
  afterEach(async () => { await dir?.remove(); dir = undefined })

  it('a terminating entry below the top level discards the pending alternatives of every level', async () => {
    const sim = await RepoSim.create({ seed: 7, topKeys: TOP })
    sim.delegate('targets', 'vendor', { paths: ['pkg/*'], home: 'pkg' })
    sim.delegate('targets', 'other', { paths: ['pkg/*'], home: 'pkg' })
    sim.delegate('vendor', 'owner', { paths: ['pkg/*'], home: 'pkg', terminating: true })
    expect(await sim.addTarget('owner', 'pkg/good.tgz', text('good'))).toBe(true)
    expect(await sim.addTarget('other', 'pkg/evil.tgz', text('evil'))).toBe(true)
    expect(await sim.addTarget('other', 'lib/x', text('x'))).toBe(false)
    dir = await tempDir()
    const up = await updaterFor(sim, dir.path)
    await up.refresh((await sim.publish()).timestamp.cid)
    expect((await up.getTargetInfo('pkg/good.tgz'))?.chain).toEqual(['targets', 'vendor', 'owner'])
    // owner does not list it, and owner's delegator reserved pkg/* for it.
    expect(await up.getTargetInfo('pkg/evil.tgz')).toBeNull()
  })
})
