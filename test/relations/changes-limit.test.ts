/**
 * A snapshot step under the top premise reads the role maps on their
 * difference (src/relations/index.ts `changesOf`): at most
 * 2 x LIMITS.maxDelegatedRoles changed names (every name of each map,
 * at most LIMITS.maxDelegatedRoles each, changed), past which the read is
 * DecodeError ERR_LIMIT, reported as ENC-SIZE. VALID_top does not read
 * the maps whole, so only this bound stops a map of any size.
 *
 * With the real bound (100,000) that needs maps 200,001 names apart; this
 * file runs with LIMITS.maxDelegatedRoles mocked to 4 (vi.mock of
 * src/model/config.ts for this file only), so 9 changed names are over and
 * 8 are not. Written against the survivors and no-coverage mutants of the
 * 2026-11-30 mutation runs (README, "Mutation testing").
 */
import { describe, expect, it, vi } from 'vitest'
import type { CID } from 'multiformats/cid'
import { LIMITS } from '../../src/model/config.js'
import { succ } from '../../src/relations/index.js'
import { DagBuilder } from '../helpers/dag.js'

vi.mock('../../src/model/config.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/model/config.js')>()
  return { ...real, LIMITS: Object.freeze({ ...real.LIMITS, maxDelegatedRoles: 4 }) }
})

/** B lists 4 names; A, its successor, lists `n` other names (each a targets object of that name). */
async function pair (n: number) {
  const b = new DagBuilder()
  const names = async (prefix: string, k: number): Promise<Record<string, CID>> => {
    const out: Record<string, CID> = {}
    for (let i = 0; i < k; i++) out[`${prefix}-${i}`] = (await b.targets(`${prefix}-${i}`, {})).cid
    return out
  }
  const R = await b.root()
  const T = await b.targets('targets', {})
  const B = await b.snapshot({ root: R, targets: T, delegated: await names('old', 4) })
  const A = await b.snapshot({ root: R, targets: T, delegated: await names('new', n), previousVersion: B.cid })
  return { b, A, B }
}

describe('the changes between two role maps are bounded', () => {
  it('the entry bound is the mocked one here', () => {
    expect(LIMITS.maxDelegatedRoles).toBe(4)
  })

  it('ENC-SIZE: maps 9 names apart (over 2 x 4) are refused as ENC-SIZE of the newer snapshot, naming both; 8 apart are read (SUCC-SNAP-REMOVED)', async () => {
    const over = await pair(5)
    const r = await succ(over.b.loader(), 'snapshot', over.A.cid, over.B.cid, { premise: 'top' })
    expect(r.holds).toBe(false)
    expect(r.violations.map((v) => [v.rule, v.cid])).toEqual([['ENC-SIZE', over.A.cid.toString()]])
    expect(r.violations[0]!.message).toContain(`differ in more than 8 names`)
    expect(r.violations[0]!.message).toContain(over.A.signed.meta.delegatedTargets.toString())

    const at = await pair(4)
    const r2 = await succ(at.b.loader(), 'snapshot', at.A.cid, at.B.cid, { premise: 'top' })
    // Read: the step goes on to judge the names that changed (the 4 old ones removed without a tombstone).
    expect(r2.violations.map((v) => [v.rule, v.cid])).toEqual(Array(4).fill(['SUCC-SNAP-REMOVED', at.A.cid.toString()]))
  })
})
