/**
 * Each object TrustedState loads is named in the refusal when it is not
 * what it must be (src/client/trusted-state.ts `#load`): the candidate's
 * snapshot and root, the trusted snapshot, a trusted role object (a floor).
 * The rule and the CID are the verdict; the label says which of the
 * objects of an update it was. Written against the survivors of the
 * 2026-11-30 mutation runs (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import { clientLoader } from '../../src/client/loader.js'
import type { StateRecord } from '../../src/client/statefile.js'
import { TrustedState } from '../../src/client/trusted-state.js'
import { RepoSim, recordOf } from '../helpers/history.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

const ONE = { keys: 1, threshold: 1 }
const TOP = { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE }
const flip = (x: Uint8Array): Uint8Array => { const y = x.slice(); y[10] = y[10]! ^ 1; return y }

describe('TrustedState names what it loaded', () => {
  it('VALID-KIND: a candidate whose snapshot link is a root, or whose snapshot\'s root link is a targets object, is refused naming that link as the snapshot or root', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets', {})
    const state = (): TrustedState => new TrustedState({ root: R.cid, trusted: null }, { loader: clientLoader(undefined, b.store), now: new Date('2026-01-01T00:00:00Z') })
    const ts1 = await b.timestamp(R.cid)
    const e1 = await caught(() => state().loadCandidate(ts1.cid))
    expect(e1).toMatchObject({ code: 'VALID-KIND', details: { cid: R.cid.toString() } })
    expect(e1.message.startsWith(`snapshot ${R.cid.toString()}: `)).toBe(true)
    const S = await b.snapshot({ root: T.cid, targets: T })
    const ts2 = await b.timestamp(S)
    const e2 = await caught(() => state().loadCandidate(ts2.cid))
    expect(e2).toMatchObject({ code: 'VALID-KIND', details: { cid: T.cid.toString() } })
    expect(e2.message.startsWith(`root ${T.cid.toString()}: `)).toBe(true)
  })

  it('ENC-CID: a trusted snapshot whose stored bytes no longer hash to its CID is named as the trusted snapshot', async () => {
    const sim = await RepoSim.create({ seed: 41, topKeys: TOP })
    const v1 = sim.head
    const v2 = await sim.publish()
    sim.store.tamper(v1.snapshot.cid, flip)
    const st = new TrustedState(recordOf(v1), { loader: clientLoader(undefined, sim.store), now: v2.now })
    const e = await caught(() => st.update(v2.timestamp.cid))
    expect(e).toMatchObject({ code: 'ENC-CID', details: { cid: v1.snapshot.cid.toString() } })
    expect(e.message.startsWith(`trusted snapshot ${v1.snapshot.cid.toString()}: `)).toBe(true)
  })

  it('ENC-CID: a trusted delegated role object (the floor of role r under CLIENT-RECOVER) whose bytes no longer hash is named as the trusted r', async () => {
    const sim = await RepoSim.create({ seed: 42, topKeys: TOP })
    sim.delegate('targets', 'r', { paths: ['r/*'] })
    await sim.addTarget('r', 'r/1')
    const v1 = await sim.publish()
    // Under recovery (the snapshot keys rotate) each role's trusted object is a floor, loaded again.
    sim.rotate('snapshot')
    await sim.addTarget('r', 'r/2')
    const v2 = await sim.publish()
    const A1 = v1.delegated.get('r')!.cid
    expect(v2.delegated.get('r')!.cid.equals(A1)).toBe(false)
    sim.store.tamper(A1, flip)
    const st: StateRecord = recordOf(v1)
    const e = await caught(() => new TrustedState(st, { loader: clientLoader(undefined, sim.store), now: v2.now }).update(v2.timestamp.cid))
    expect(e).toMatchObject({ code: 'ENC-CID', details: { cid: A1.toString() } })
    expect(e.message.startsWith(`trusted r ${A1.toString()}: `)).toBe(true)
  })

  it('ENC-CID: under CLIENT-RECOVER, a tombstone of a trusted role whose bytes no longer hash is named as the tombstone of that role', async () => {
    const sim = await RepoSim.create({ seed: 43, topKeys: TOP })
    sim.delegate('targets', 'r', { paths: ['r/*'] })
    await sim.addTarget('r', 'r/1')
    const v1 = await sim.publish()
    // r moves on past the client's floor, then is retired at that later object.
    await sim.addTarget('r', 'r/2')
    await sim.publish()
    sim.rotate('snapshot')
    sim.undelegate('targets', 'r')
    const v2 = await sim.publish()
    const tomb = v2.retired.get('r')!
    expect(tomb.equals(v1.delegated.get('r')!.cid)).toBe(false)
    sim.store.tamper(tomb, flip)
    const e = await caught(() => new TrustedState(recordOf(v1), { loader: clientLoader(undefined, sim.store), now: v2.now }).update(v2.timestamp.cid))
    expect(e).toMatchObject({ code: 'ENC-CID', details: { cid: tomb.toString() } })
    expect(e.message.startsWith(`tombstone of r ${tomb.toString()}: `)).toBe(true)
  })
})
