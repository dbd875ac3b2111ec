/**
 * edgesOf (src/client/trusted-state.ts): the delegation edges of a DAG whose
 * top is VALID, which CLIENT-FLOOR judges floors by.
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { edgesOf } from '../../src/client/trusted-state.js'
import { BlockError, ValidationError } from '../../src/model/errors.js'
import { resolveLimits, validateSnapshotTop, type Dag } from '../../src/validate/valid.js'
import { DagBuilder } from '../helpers/dag.js'

async function topDag (b: DagBuilder, snap: { cid: CID }, loader = b.loader()): Promise<Dag> {
  const r = await validateSnapshotTop(loader, snap.cid)
  expect(r.violations).toEqual([])
  return r.dag!
}

describe('edgesOf', () => {
  it('CLIENT-FLOOR: edges from targets breadth-first through listed names; unlisted names are no edges; each label counted once per key set', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const kx = b.key('x')
    const ky = b.key('y')
    // targets -> a (keys a), targets -> b, a -> c (keys x), b -> c (keys x, y; threshold 2), b -> ghost (unlisted).
    const C = await b.targets('c', { signers: [kx, ky] })
    const A = await b.targets('a', { delegations: [b.deleg('c', ['c/*'], { keys: [kx] })] })
    const B = await b.targets('b', { delegations: [b.deleg('c', ['c/*'], { keys: [ky, kx], threshold: 2 }), b.deleg('ghost', ['g/*'])] })
    const T = await b.targets('targets', { delegations: [b.deleg('a', ['*']), b.deleg('b', ['*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { a: A, b: B, c: C } })
    const e = await edgesOf(await topDag(b, S))
    expect(Object.fromEntries(e.out)).toEqual({ targets: ['a', 'b'], a: ['c'], b: ['c'], c: [] })
    const two = [`1:${kx.keyid}`, `2:${[kx.keyid, ky.keyid].sort().join(',')}`].sort().join('|')
    expect(e.authorization.get('c')).toBe(two)
    expect(e.authorization.get('a')).toBe(`1:${b.key('a').keyid}`)
    expect(e.authorization.has('ghost')).toBe(false)
    expect(e.authorization.has('targets')).toBe(false)
    // Labels: the root's targets role for `targets`, every edge's label for the others.
    expect(e.labels.get('targets')!.map((l) => l.role)).toEqual([R.signed.roles.targets])
    expect(e.labels.get('c')!.map((l) => l.role.threshold)).toEqual([1, 2])
    expect([...e.labels.get('c')![1]!.keys.keys()].sort()).toEqual([kx.keyid, ky.keyid, b.key('ghost').keyid].sort())
    expect([...e.labels.get('c')![0]!.keys.keys()]).toEqual([kx.keyid])
    expect(e.labels.has('ghost')).toBe(false)
  })

  it('CLIENT-FLOOR: a listed object that does not decode delegates nothing; a fetch failure or a work bound propagates', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets', { delegations: [b.deleg('a', ['*'])] })
    // `a` is listed at a root block: VALID_top does not read it, the search would refuse it (VALID-KIND).
    const S = await b.snapshot({ root: R, targets: T, delegated: { a: R.cid as CID } })
    const e = await edgesOf(await topDag(b, S))
    expect(Object.fromEntries(e.out)).toEqual({ targets: ['a'], a: [] })

    // Not a verdict: the block is missing.
    const A = await b.targets('a', { targets: ['a/1'] })
    const S2 = await b.snapshot({ root: R, targets: T, delegated: { a: A } })
    const dag = await topDag(b, S2)
    const missing: Dag = { ...dag, role: async () => { throw new BlockError('ERR_BLOCK_NOT_FOUND', 'gone') } }
    await expect(edgesOf(missing)).rejects.toMatchObject({ name: 'BlockError', code: 'ERR_BLOCK_NOT_FOUND' })
    // A work bound says nothing about the data: it propagates too.
    const overBudget: Dag = { ...dag, role: async () => { throw new ValidationError('BOUND-BLOCKS', 'more than 0 metadata blocks fetched') } }
    await expect(edgesOf(overBudget)).rejects.toMatchObject({ code: 'BOUND-BLOCKS' })
    // A verdict on the object (here its signatures) is not: the role delegates nothing.
    const badSig: Dag = { ...dag, role: async () => { throw new ValidationError('VALID-DELEG-SIG', 'not signed') } }
    expect(Object.fromEntries((await edgesOf(badSig)).out)).toEqual({ targets: ['a'], a: [] })
  })

  it('BOUND-DELEGATIONS: edgesOf reads at most maxDelegationsVisited roles, counting targets', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const A = await b.targets('a', { delegations: [b.deleg('c', ['*'])] })
    const C = await b.targets('c')
    const T = await b.targets('targets', { delegations: [b.deleg('a', ['*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { a: A, c: C } })
    const dag = await topDag(b, S)
    const limits = (n: number) => resolveLimits({ maxDelegationsVisited: n })
    expect([...(await edgesOf(dag, limits(3))).out.keys()]).toEqual(['targets', 'a', 'c'])
    await expect(edgesOf(dag, limits(2))).rejects.toMatchObject({ code: 'BOUND-DELEGATIONS', details: { cid: S.cid.toString() } })
    // The default limits read the whole graph.
    expect([...(await edgesOf(dag)).out.keys()]).toEqual(['targets', 'a', 'c'])
  })

  it('CLIENT-FLOOR: a role\'s authorization is a set: labels compare as sorted keyid sets and are listed sorted', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const [kx, ky] = [b.key('x'), b.key('y')]
    const C = await b.targets('c', { signers: [kx, ky] })
    // a -> c and b -> c name the same keys in another order: one label. d -> c has a threshold of 2, listed
    // first in the walk, and sorts after the threshold-1 label.
    const D = await b.targets('d', { delegations: [b.deleg('c', ['c/*'], { keys: [kx, ky], threshold: 2 })] })
    const A = await b.targets('a', { delegations: [b.deleg('c', ['c/*'], { keys: [ky, kx] })] })
    const B = await b.targets('b', { delegations: [b.deleg('c', ['c/*'], { keys: [kx, ky] })] })
    const T = await b.targets('targets', { delegations: [b.deleg('d', ['*']), b.deleg('a', ['*']), b.deleg('b', ['*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { a: A, b: B, c: C, d: D } })
    const e = await edgesOf(await topDag(b, S))
    const ids = [kx.keyid, ky.keyid].sort().join(',')
    expect(e.authorization.get('c')).toBe(`1:${ids}|2:${ids}`)
    expect(e.labels.get('c')!.map((l) => l.role.threshold)).toEqual([2, 1, 1])
  })
})

