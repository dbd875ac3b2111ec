/**
 * What TrustedState's refusals say (src/client/trusted-state.ts): the
 * argument and call-order errors carry messages, and each refusal names the
 * object it is about and the trusted one it is judged against. Codes and
 * details are checked in trusted-state.test.ts; these are the named parts
 * of the messages. Also a name two roles delegated (CLIENT-FLOOR-RETIRED).
 * Written against survivors of the 2026-11-30 third mutation run (README,
 * "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import { clientLoader } from '../../src/client/loader.js'
import type { StateRecord } from '../../src/client/statefile.js'
import { TrustedState, assertFresh, edgesOf, referenceTimeOf, type TrustedDag } from '../../src/client/trusted-state.js'
import { resolveLimits, validateSnapshotTop } from '../../src/validate/valid.js'
import { RepoSim, recordOf, type Version } from '../helpers/history.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }

function state (sim: RepoSim, trusted: StateRecord, now: Date = sim.now): TrustedState {
  return new TrustedState(trusted, { loader: clientLoader(undefined, sim.store), now })
}

describe('TrustedState messages', () => {
  it('ERR_ARGUMENT and ERR_CALL_ORDER: the constructor\'s checks and the order\'s refusals carry messages; the order is spelled out', async () => {
    const sim = await RepoSim.create({ seed: 11, topKeys: TOP })
    const loader = clientLoader(undefined, sim.store)
    const good: StateRecord = { root: sim.head.root.cid, trusted: null }
    const bad: Array<() => unknown> = [
      () => new TrustedState(null as never, { loader, now: sim.now }),
      () => new TrustedState(good, { loader: {} as never, now: sim.now }),
      () => new TrustedState(good, { loader, now: new Date(Number.NaN) }),
      () => referenceTimeOf('2020' as never)
    ]
    for (const f of bad) {
      const e = await caught(f)
      expect(e).toMatchObject({ name: 'UsageError', code: 'ERR_ARGUMENT' })
      expect(e.message).not.toBe('')
    }
    const order = await caught(() => new TrustedState(good, { loader, now: sim.now }).verifyValid())
    expect(order).toMatchObject({ code: 'ERR_CALL_ORDER' })
    expect(order.message).toMatch(/the order is \w+( -> \w+)+$/)
  })

  it('VALID-KIND: a candidate that is not a timestamp is named as the timestamp it was read as', async () => {
    const sim = await RepoSim.create({ seed: 12, topKeys: TOP })
    const v = sim.head
    const e = await caught(() => state(sim, { root: v.root.cid, trusted: null }).loadCandidate(v.snapshot.cid))
    expect(e.code).toBe('VALID-KIND')
    expect(e.message.startsWith(`timestamp ${v.snapshot.cid.toString()}: `)).toBe(true)
  })

  it('CLIENT-ROOT-CHAIN, CLIENT-TS-DESCENDS: a refusal names the candidate and the trusted object it does not descend from', async () => {
    const sim = await RepoSim.create({ seed: 13, topKeys: TOP })
    const v0 = sim.head
    sim.rotate('root')
    const v1 = await sim.publish()
    const root = await caught(() => state(sim, recordOf(v1)).update(v0.timestamp.cid))
    expect(root.code).toBe('CLIENT-ROOT-CHAIN')
    expect(root.message).toContain(`root ${v0.root.cid.toString()} does not descend from the trusted root ${v1.root.cid.toString()}`)
    const v2 = await sim.publish()
    const ts = await caught(() => state(sim, recordOf(v2), v1.now).update(v1.timestamp.cid))
    expect(ts.code).toBe('CLIENT-TS-DESCENDS')
    expect(ts.message).toContain(`timestamp ${v1.timestamp.cid.toString()} does not descend from the trusted timestamp ${v2.timestamp.cid.toString()}`)
  })

  it('BOUND-DELEGATIONS: edgesOf names the snapshot and the bound', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const A = await b.targets('a')
    const T = await b.targets('targets', { delegations: [b.deleg('a', ['*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { a: A } })
    const dag = (await validateSnapshotTop(b.loader(), S.cid)).dag!
    const e = await caught(() => edgesOf(dag, resolveLimits({ maxDelegationsVisited: 1 })))
    expect(e.code).toBe('BOUND-DELEGATIONS')
    expect(e.message).toContain(`the delegation graph of ${S.cid.toString()} has more than 1 reachable roles`)
  })
})

describe('a name listed by two delegators (CLIENT-FLOOR-RETIRED)', () => {
  /** targets -> a, b; a -> c and b -> c; after recovery, c is neither listed nor retired. */
  async function vanish (rotate: readonly string[]) {
    const sim = await RepoSim.create({ seed: 41, topKeys: TOP })
    sim.delegate('targets', 'a', { paths: ['c/*'] })
    sim.delegate('targets', 'b', { paths: ['c/*'] })
    sim.delegate('a', 'c', { paths: ['c/*'] })
    sim.delegate('b', 'c', { paths: ['c/*'] })
    await sim.addTarget('c', 'c/x.txt')
    const v1 = await sim.publish()
    sim.rotate('snapshot')
    sim.rotate('timestamp')
    for (const r of rotate) sim.rotate(r)
    sim.undelegate('a', 'c')
    sim.undelegate('b', 'c')
    await sim.publish()
    const listed = new Map([...RepoSim.roles(sim.head)].filter(([n]) => n !== 'c'))
    const forged = await sim.forgeSnapshot({ delegated: listed, retired: new Map() })
    return await caught(async () => await state(sim, recordOf(v1)).update((await sim.forgeTimestamp(forged.cid)).cid).then((a) => { throw Object.assign(new Error('accepted'), { accepted: a }) }))
  }

  it('CLIENT-FLOOR-RETIRED: a name two roles delegated may vanish only when both were released, whichever is listed last', async () => {
    const both = await vanish(['a', 'b'])
    expect(both.message).toBe('accepted')
    expect(both.accepted.floors.dropped).toEqual(['a', 'b', 'c'])
    for (const one of [['a'], ['b']]) {
      const e = await vanish(one)
      expect(e.code).toBe('CLIENT-FLOOR-RETIRED')
      expect(e.details.role).toBe('c')
    }
  })

  it('CLIENT-EXPIRES: without a hint, the message ends with the reference time', async () => {
    const sim = await RepoSim.create({ seed: 14, topKeys: TOP })
    const v = sim.head
    const dag = { root: v.root, timestamp: v.timestamp, snapshot: v.snapshot, targets: v.targets } as unknown as TrustedDag
    const ref = '2999-01-01T00:00:00Z'
    const e = await caught(() => assertFresh(dag, ref))
    expect(e).toMatchObject({ code: 'CLIENT-EXPIRES', details: { cid: v.root.cid.toString(), role: 'root', referenceTime: ref } })
    expect(e.message.endsWith(`(reference time ${ref})`)).toBe(true)
  })
})
