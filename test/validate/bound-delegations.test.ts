/**
 * Review: BOUND-DELEGATIONS counts the top-level targets among the roles a
 * VALID walk visits (NOTES 9), as the search does. The walk counted only
 * delegated roles, so it accepted a DAG of maxDelegationsVisited + 1 roles on
 * which a search that has to visit them all fails with BOUND-DELEGATIONS: a
 * VALID DAG whose last role no search can reach.
 */
import { describe, expect, it } from 'vitest'
import { findTarget } from '../../src/validate/delegation.js'
import { validateSnapshot } from '../../src/validate/valid.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

async function chain (n: number) {
  const b = new DagBuilder()
  const root = await b.root()
  const delegated: Record<string, Awaited<ReturnType<DagBuilder['targets']>>> = {}
  for (let i = n - 1; i >= 0; i--) {
    const next = i + 1 < n ? [b.deleg(`d${i + 1}`, ['*'])] : []
    delegated[`d${i}`] = await b.targets(`d${i}`, { delegations: next, ...(i === n - 1 ? { targets: ['x'] } : {}) })
  }
  const top = await b.targets('targets', { delegations: [b.deleg('d0', ['*'])] })
  const snap = await b.snapshot({ root, targets: top, delegated })
  return { b, snap }
}

describe('review: BOUND-DELEGATIONS counts targets in VALID too', () => {
  it('VALID and the search agree on the bound', async () => {
    // targets, d0, d1, d2: four roles.
    const { b, snap } = await chain(3)
    const ok = await validateSnapshot(b.loader(), snap.cid, { limits: { maxDelegationsVisited: 4 } })
    expect(ok.valid).toBe(true)
    expect((await findTarget(ok.dag!, 'x', { limits: { maxDelegationsVisited: 4 } }))?.role).toBe('d2')
    // One fewer: the search cannot reach d2, so VALID must refuse the DAG.
    expect((await caught(() => findTarget(ok.dag!, 'x', { limits: { maxDelegationsVisited: 3 } }))).code).toBe('BOUND-DELEGATIONS')
    const r = await validateSnapshot(b.loader(), snap.cid, { limits: { maxDelegationsVisited: 3 } })
    expect(r.violations.map((v) => v.rule)).toEqual(['BOUND-DELEGATIONS'])
  })
})
