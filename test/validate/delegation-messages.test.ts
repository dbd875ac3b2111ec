/**
 * What the search's errors say (src/validate/delegation.ts): the argument
 * checks carry a message, and each refusal names the roles, keyids,
 * thresholds, path, bound or expiry it is about. The codes and details are
 * checked in delegation.test.ts; these are the named parts of the messages.
 * Written against the message survivors of the 2026-11-30 third mutation run
 * (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import { UsageError, ValidationError } from '../../src/model/errors.js'
import type { TargetsEnvelope, TargetsSigned } from '../../src/model/types.js'
import { GlobBudget, PathMatcher, findTarget, globMatch } from '../../src/validate/delegation.js'
import { assertValidSnapshotTop, dagOf as fullDag, type Dag } from '../../src/validate/valid.js'
import { makeTargets } from '../../src/model/build.js'
import { binName, binOfHash } from '../../src/model/delegations.js'
import { pathHash } from '../../src/validate/delegation.js'
import { DagBuilder, EXPIRES } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

/** A FullDag over hand-made objects. */
async function dagOf (b: DagBuilder, top: TargetsEnvelope, delegated: Record<string, TargetsEnvelope>): Promise<Dag> {
  const root = await b.root()
  const snapshot = await b.snapshot({ root, targets: top, delegated })
  const roles = new Map(Object.entries(delegated).map(([n, e]) => [n, e.cid]))
  return fullDag(b.loader(), { root, snapshot, targets: top, roles, retired: new Map() }, new Map(Object.entries(delegated)))
}

async function refusal (f: () => Promise<unknown>, code: string): Promise<string> {
  const e = await caught(f)
  expect(e).toBeInstanceOf(ValidationError)
  expect(e.code).toBe(code)
  return e.message as string
}

describe('argument checks', () => {
  it('ERR_ARGUMENT: GlobBudget, globMatch, PathMatcher and findTarget refuse bad arguments with a message', async () => {
    const b = new DagBuilder()
    const dag = await dagOf(b, await b.targets('targets'), {})
    const bad: Array<() => unknown> = [
      () => new GlobBudget(-1),
      () => globMatch(1 as never, 'x'),
      () => new PathMatcher(1 as never, new GlobBudget(10)),
      async () => await findTarget(dag, 1 as never),
      async () => await findTarget(dag, 'x', { now: 'not a date' })
    ]
    for (const f of bad) {
      const e = await caught(f)
      expect(e).toBeInstanceOf(UsageError)
      expect(e.code).toBe('ERR_ARGUMENT')
      expect(e.message).not.toBe('')
    }
  })
})

describe('what a refusal names', () => {
  it('VALID-DELEG-KEYS, VALID-DELEG-SIG: the delegator, the role, the missing keyid, the threshold and the key count', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const r = await b.targets('r', { targets: ['r/x'] })
    const t = b.targetsSigned({ delegations: [b.deleg('r', ['r/*']), b.deleg('w', ['w/*'], { threshold: 3 }), b.deleg('s', ['s/*'])] })
    const d = t.delegations!
    const ghost = b.key('ghost').keyid
    const ghostly: TargetsSigned = { ...t, delegations: { ...d, roles: [{ ...d.roles[0]!, keyids: [...d.roles[0]!.keyids, ghost] }, d.roles[1]!, d.roles[2]!] } }
    const top = await b.sign(ghostly, [b.key('targets')])
    const w = await b.targets('w', { targets: ['w/x'] })
    const s = await b.targets('s', { targets: ['s/x'], signers: [b.key('stranger')] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r, w, s } })
    const dag = await assertValidSnapshotTop(b.loader(), snap.cid)
    expect(await refusal(async () => await findTarget(dag, 'r/x'), 'VALID-DELEG-KEYS')).toContain(`targets delegates r to keyid ${ghost}`)
    expect(await refusal(async () => await findTarget(dag, 'w/x'), 'VALID-DELEG-KEYS')).toContain('targets delegates w with threshold 3 over 1 keyids')
    expect(await refusal(async () => await findTarget(dag, 's/x'), 'VALID-DELEG-SIG')).toContain('s is not signed by 1 of the keys targets assigns to it')
  })

  it('BOUND-GLOB, BOUND-DELEGATIONS: the search is named by the first 64 characters of its path', async () => {
    const b = new DagBuilder()
    const path = `${'p'.repeat(70)}/x`
    const shown = JSON.stringify(path.slice(0, 64))
    const names = ['r0', 'r1', 'r2']
    const objs: Record<string, TargetsEnvelope> = {}
    for (const n of names) objs[n] = await b.targets(n)
    const top = await b.targets('targets', { delegations: names.map((n) => b.deleg(n, ['*/*'])) })
    const dag = await dagOf(b, top, objs)
    const glob = await refusal(async () => await findTarget(dag, path, { limits: { maxGlobSteps: 10 } }), 'BOUND-GLOB')
    expect(glob).toContain(`search for ${shown}`)
    expect(glob).not.toContain(JSON.stringify(path))
    const visits = await refusal(async () => await findTarget(dag, path, { limits: { maxDelegationsVisited: 2 } }), 'BOUND-DELEGATIONS')
    expect(visits).toContain(`search for ${shown} visited 2 roles`)
  })

  it('BOUND-DELEGATION-DEPTH, CLIENT-EXPIRES: the role, its depth, and its expiry', async () => {
    const b = new DagBuilder()
    const d1 = await b.targets('d1', { targets: ['x'] })
    const d0 = await b.targets('d0', { delegations: [b.deleg('d1', ['*'])], expires: '2027-01-01T00:00:00Z' })
    const top = await b.targets('targets', { delegations: [b.deleg('d0', ['*'])] })
    const dag = await dagOf(b, top, { d0, d1 })
    expect(await refusal(async () => await findTarget(dag, 'x', { limits: { maxDelegationDepth: 1 } }), 'BOUND-DELEGATION-DEPTH')).toContain('role d1 is at delegation depth 2')
    expect(await refusal(async () => await findTarget(dag, 'x', { now: '2027-06-01T00:00:00Z' }), 'CLIENT-EXPIRES')).toContain('role d0 expired at 2027-01-01T00:00:00Z')
  })
})

describe('the budget of a search', () => {
  it('BOUND-GLOB: a search through succinct bins charges one step for the bin of the path\'s hash, as matching any hash prefix does', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const spec = { keys: [b.key('bins').publicKey], threshold: 1, bitLength: 4, namePrefix: 'bin' }
    const top = await b.sign(makeTargets({ expires: EXPIRES, targets: b.targetsSigned().targets, succinct: spec }), [b.key('targets')])
    const succinct = top.signed.delegations!.succinct!
    const bin = binName(succinct, binOfHash(succinct.bitLength, pathHash('a.txt')))
    const snap = await b.snapshot({ root, targets: top, delegated: { [bin]: await b.targets('bins', { targets: ['a.txt'] }) } })
    const dag = await assertValidSnapshotTop(b.loader(), snap.cid)
    const budget = new GlobBudget(Infinity)
    expect((await findTarget(dag, 'a.txt', { budget }))?.role).toBe(bin)
    expect(budget.used).toBe(1)
    // With no step to spare, the bin is not matched: BOUND-GLOB.
    expect(await refusal(async () => await findTarget(dag, 'a.txt', { budget: new GlobBudget(0) }), 'BOUND-GLOB')).not.toBe('')
  })
})
