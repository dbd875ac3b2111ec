/**
 * The attack catalogue: each attack is a generated mutation of an honest
 * history (a random prefix from test/helpers/history.ts, then a controlled
 * suffix that sets the attack up) and must be refused with the expected rule
 * ID. Where the forged object is spatially VALID, the test says so, to show
 * that the temporal rule is what stops it.
 *
 * The seed varies per run (test/helpers/seed.ts): fast-check prints it and
 * the shrunk prefix of any failure, DAGTUF_SEED replays it, DAGTUF_DEEP=1
 * runs ten times as many. Expired newest
 * objects (CLIENT-EXPIRES) are a client rule and are tested there.
 */
import { buildTargetsMap } from '../../src/shard/index.js'
import * as dagJson from '@ipld/dag-json'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { makeTargets } from '../../src/model/build.js'
import { cidOf, decodeEnvelope, encodeEnvelope } from '../../src/model/codec.js'
import { DecodeError } from '../../src/model/errors.js'
import { keyIdOf, seedSigner, signingMessage, signBytes, toHexSig } from '../../src/model/keys.js'
import { signedToWire } from '../../src/model/schema.js'
import type { Envelope, KeyId, PublicKey, RootSigned, Signed } from '../../src/model/types.js'
import { succ as succFull, succStar as succStarFull, type Relation, type RelationOptions } from '../../src/relations/index.js'
import type { Loader } from '../../src/validate/loader.js'
import { pathHash } from '../../src/validate/delegation.js'
import { meetsThreshold, validateSnapshot, validateTimestamp, type ValidReport } from '../../src/validate/valid.js'
import { Rng, arbAttackPrefix, buildHistory, dirPatterns, type RepoSim, type Version } from '../helpers/history.js'
import { propertyRuns } from '../helpers/seed.js'
import { caught } from '../helpers/model.js'

const RUNS = 5

const rulesOf = (x: Relation | ValidReport): string[] => x.violations.map((v) => v.rule)

/** What full VALID checks and VALID_top leaves to the search (NOTES 4.1, CLIENT-VALID-TOP). */
const LEFT_TO_SEARCH = new Set(['VALID-DELEG-KEYS', 'VALID-DELEG-LISTED', 'VALID-DELEG-REACHABLE', 'VALID-DELEG-SIG', 'VALID-DELEG-PATHS', 'BOUND-GLOB', 'BOUND-DELEGATIONS', 'BOUND-DELEGATION-DEPTH'])

/**
 * CLIENT-VALID-TOP on every attack: the client's relation (VALID_top
 * premises, NOTES 5.6) holds whenever the full one does, and when it holds
 * where the full one does not, the full one failed only on what the search
 * checks when it visits a role.
 */
function agree (full: Relation, top: Relation): void {
  if (full.holds) {
    expect(top.violations).toEqual([])
    expect(top.witness).toEqual(full.witness)
  } else if (top.holds) {
    // SUCC-TS-SNAPSHOT wraps the violations of the snapshot walk it rests on.
    expect(rulesOf(full).filter((r) => !LEFT_TO_SEARCH.has(r) && r !== 'SUCC-TS-SNAPSHOT' && !r.startsWith('ENC-') && r !== 'VALID-KIND')).toEqual([])
    expect(rulesOf(full).some((r) => LEFT_TO_SEARCH.has(r) || r.startsWith('ENC-') || r === 'VALID-KIND')).toBe(true)
  }
}

async function succ (loader: Loader, kind: Parameters<typeof succFull>[1], a: CID, b: CID, opts: RelationOptions = {}): Promise<Relation> {
  const full = await succFull(loader, kind, a, b, opts)
  agree(full, await succFull(loader, kind, a, b, { ...opts, premise: 'top' }))
  return full
}

async function succStar (loader: Loader, kind: Parameters<typeof succFull>[1], a: CID, b: CID, opts: RelationOptions = {}): Promise<Relation> {
  const full = await succStarFull(loader, kind, a, b, opts)
  agree(full, await succStarFull(loader, kind, a, b, { ...opts, premise: 'top' }))
  return full
}

function refused (x: Relation | ValidReport, rule: string): void {
  expect('holds' in x ? x.holds : x.valid).toBe(false)
  expect(rulesOf(x)).toContain(rule)
}

async function isValid (sim: RepoSim, snapshot: CID): Promise<void> {
  expect((await validateSnapshot(sim.loader(), snapshot)).violations).toEqual([])
}

/** The delegated-targets map of a version as name -> CID. */
function dt (v: Version): Map<string, CID> {
  return new Map([...v.delegated].map(([n, e]) => [n, e.cid]))
}

/** A new role delegated from targets over its own directory. */
function freshRole (sim: RepoSim, o: { keys?: number, threshold?: number, hashPrefixes?: string[] } = {}): string {
  const name = sim.newName()
  sim.delegate('targets', name, o.hashPrefixes !== undefined ? { ...o, hashPrefixes: o.hashPrefixes } : { ...o, paths: dirPatterns(name) })
  return name
}

/**
 * The test function of one attack: on each generated run, a random honest
 * prefix (ending with a publish, so nothing is pending; 6-22 ops, half of
 * them with a removal and re-add and a diamond spliced in: `arbAttackPrefix`),
 * then `body`; `rng` drives the attack's own choices.
 */
function attack (body: (sim: RepoSim, rng: Rng) => Promise<void>, runs = RUNS): () => Promise<void> {
  return async () => {
    await fc.assert(fc.asyncProperty(arbAttackPrefix, async ([seed, ops]) => {
      const { sim } = await buildHistory(seed, ops)
      await body(sim, new Rng(seed ^ 0xa77ac))
    }), propertyRuns(runs))
  }
}

describe('rollback and replay', () => {
  it('SUCC-TS-SNAPSHOT: replaying an older timestamp is refused', attack(async (sim, rng) => {
    await sim.addTarget('targets', `new/${rng.int(1e9)}.txt`)
    const newer = await sim.publish()
    const older = sim.versions[rng.int(sim.versions.length - 1)]!
    const r = await succStar(sim.loader(), 'timestamp', older.timestamp.cid, newer.timestamp.cid)
    refused(r, 'SUCC-TS-SNAPSHOT')
    expect(rulesOf(r)).toContain('SUCC-SNAP-LINK')
  }))

  it('SUCC-TS-SNAPSHOT: a fresh timestamp over an older snapshot (timestamp key holder) is refused', attack(async (sim, rng) => {
    await sim.addTarget('targets', `new/${rng.int(1e9)}.txt`)
    const newer = await sim.publish()
    const older = sim.versions[rng.int(sim.versions.length - 1)]!
    const forged = await sim.forgeTimestamp(older.snapshot.cid)
    refused(await succ(sim.loader(), 'timestamp', forged.cid, newer.timestamp.cid), 'SUCC-TS-SNAPSHOT')
  }))

  it('SUCC-SNAP-LINK: an older snapshot, or one that skips the trusted one, is refused', attack(async (sim, rng) => {
    await sim.addTarget('targets', `new/${rng.int(1e9)}.txt`)
    const newer = await sim.publish()
    const older = sim.versions[rng.int(sim.versions.length - 1)]!
    const l = sim.loader()
    refused(await succStar(l, 'snapshot', older.snapshot.cid, newer.snapshot.cid), 'SUCC-SNAP-LINK')
    // The newest content re-linked to an older snapshot than its own
    // predecessor: it skips the head, so it does not descend from it.
    const skippable = sim.versions.filter((v) => !v.snapshot.cid.equals(newer.snapshot.signed.previousVersion!) && v !== newer)
    if (skippable.length === 0) return
    const skipping = await sim.forgeSnapshot({ previousVersion: rng.pick(skippable).snapshot.cid })
    refused(await succStar(l, 'snapshot', skipping.cid, newer.snapshot.cid), 'SUCC-SNAP-LINK')
  }))

  it('SUCC-SNAP-ROOT: a snapshot rolling the root back (snapshot key holder) is refused', attack(async (sim, rng) => {
    const before = sim.head
    sim.rotate('timestamp', { keys: 1 + rng.int(3) })
    const after = await sim.publish()
    expect(after.root.cid.equals(before.root.cid)).toBe(false)
    const forged = await sim.forgeSnapshot({ root: before.root.cid })
    await isValid(sim, forged.cid)
    refused(await succ(sim.loader(), 'snapshot', forged.cid, after.snapshot.cid), 'SUCC-SNAP-ROOT')
  }))

  it('SUCC-SNAP-TARGETS: a snapshot rolling the top-level targets back (snapshot key holder) is refused', attack(async (sim, rng) => {
    const before = sim.head
    await sim.addTarget('targets', `new/${rng.int(1e9)}.txt`)
    const after = await sim.publish()
    const forged = await sim.forgeSnapshot({ targets: before.targets.cid })
    await isValid(sim, forged.cid)
    refused(await succ(sim.loader(), 'snapshot', forged.cid, after.snapshot.cid), 'SUCC-SNAP-TARGETS')
  }))

  it('SUCC-SNAP-DELEG: a snapshot rolling a delegated role back (snapshot key holder) is refused', attack(async (sim, rng) => {
    const n = freshRole(sim, { keys: 1 + rng.int(3), threshold: 1 + rng.int(3) })
    const before = await sim.publish()
    expect(await sim.addTarget(n, `${n}/a${rng.int(100)}.txt`)).toBe(true)
    const after = await sim.publish()
    const forged = await sim.forgeSnapshot({ delegated: dt(after).set(n, before.delegated.get(n)!.cid) })
    await isValid(sim, forged.cid)
    refused(await succ(sim.loader(), 'snapshot', forged.cid, after.snapshot.cid), 'SUCC-SNAP-DELEG')
  }))

  it('SUCC-SNAP-RETIRED: removing and re-adding a delegated role to roll it back is refused', attack(async (sim, rng) => {
    const n = freshRole(sim)
    const v1 = await sim.publish()
    expect(await sim.addTarget(n, `${n}/a${rng.int(100)}.txt`)).toBe(true)
    const v2 = await sim.publish()
    sim.undelegate('targets', n)
    const v3 = await sim.publish()
    expect(v3.retired.get(n)?.equals(v2.delegated.get(n)!.cid)).toBe(true)
    sim.delegate('targets', n, { paths: dirPatterns(n) })
    const v4 = await sim.publish()
    const l = sim.loader()
    expect((await succ(l, 'snapshot', v4.snapshot.cid, v3.snapshot.cid)).holds).toBe(true)
    // The snapshot key holder re-adds n at its first object instead.
    const forged = await sim.forgeSnapshot({ previousVersion: v3.snapshot.cid, delegated: dt(v4).set(n, v1.delegated.get(n)!.cid) })
    await isValid(sim, forged.cid)
    const r = await succ(l, 'snapshot', forged.cid, v3.snapshot.cid)
    refused(r, 'SUCC-SNAP-RETIRED')
    expect(rulesOf(r)).toEqual(['SUCC-SNAP-RETIRED'])
  }))

  it('SUCC-SNAP-REMOVED: removing a delegated role without its tombstone is refused', attack(async (sim, rng) => {
    const n = freshRole(sim)
    await sim.publish()
    expect(await sim.addTarget(n, `${n}/a${rng.int(100)}.txt`)).toBe(true)
    const v2 = await sim.publish()
    sim.undelegate('targets', n)
    const v3 = await sim.publish()
    const noTombstone = new Map(v3.retired)
    noTombstone.delete(n)
    const forged = await sim.forgeSnapshot({ previousVersion: v2.snapshot.cid, retired: noTombstone })
    await isValid(sim, forged.cid)
    refused(await succ(sim.loader(), 'snapshot', forged.cid, v2.snapshot.cid), 'SUCC-SNAP-REMOVED')
  }))

  it('SUCC-SNAP-NEW: a new role name that imports another role\'s history is refused', attack(async (sim, rng) => {
    const n = freshRole(sim)
    await sim.publish()
    expect(await sim.addTarget(n, `${n}/a${rng.int(100)}.txt`)).toBe(true)
    const before = await sim.publish()
    const m = freshRole(sim)
    const after = await sim.publish()
    const honestM = after.delegated.get(m)!
    expect(honestM.signed.previousVersion).toBeNull()
    // m's keys sign an object continuing n's chain.
    const imported = await sim.sign({ ...honestM.signed, previousVersion: before.delegated.get(n)!.cid }, sim.signersOf(m))
    const forged = await sim.forgeSnapshot({ previousVersion: before.snapshot.cid, delegated: dt(after).set(m, imported.cid) })
    await isValid(sim, forged.cid)
    refused(await succ(sim.loader(), 'snapshot', forged.cid, before.snapshot.cid), 'SUCC-SNAP-NEW')
  }))
})

describe('mix-and-match and splicing', () => {
  it('VALID-SNAP-SIG: mixing objects of two snapshots without the snapshot key breaks the signature', attack(async (sim, rng) => {
    const before = sim.head
    await sim.addTarget('targets', `new/${rng.int(1e9)}.txt`)
    const after = await sim.publish()
    const s = after.snapshot.signed
    const mixed = await sim.put(encodeEnvelope({ ...s, meta: { ...s.meta, targets: before.targets.cid } }, after.snapshot.signatures))
    const r = await validateSnapshot(sim.loader(), mixed.cid)
    refused(r, 'VALID-SNAP-SIG')
    refused(await validateTimestamp(sim.loader(), (await sim.forgeTimestamp(mixed.cid)).cid), 'VALID-SNAP-SIG')
  }))

  it('SUCC-SNAP-DELEG: the newest snapshot mixed with delegated objects of an older one (snapshot key holder) is refused', attack(async (sim, rng) => {
    const [n, m] = [freshRole(sim), freshRole(sim)]
    const before = await sim.publish()
    expect(await sim.addTarget(n, `${n}/x${rng.int(100)}.txt`)).toBe(true)
    expect(await sim.addTarget(m, `${m}/y${rng.int(100)}.txt`)).toBe(true)
    await sim.addTarget('targets', `new/${rng.int(1e9)}.txt`)
    const after = await sim.publish()
    // Newest root and targets, m from the newest snapshot, n from the older one.
    const old = rng.int(2) === 0 ? n : m
    const mixed = await sim.forgeSnapshot({ delegated: dt(after).set(old, before.delegated.get(old)!.cid) })
    await isValid(sim, mixed.cid)
    const r = await succ(sim.loader(), 'snapshot', mixed.cid, after.snapshot.cid)
    expect(rulesOf(r)).toEqual(['SUCC-SNAP-DELEG'])
  }))

  it('VALID-DELEG-SIG: one role\'s object listed under another role\'s name is refused', attack(async (sim) => {
    const [n, m] = [freshRole(sim), freshRole(sim)]
    const v = await sim.publish()
    const forged = await sim.forgeSnapshot({ delegated: dt(v).set(n, v.delegated.get(m)!.cid) })
    refused(await validateSnapshot(sim.loader(), forged.cid), 'VALID-DELEG-SIG')
  }))

  it('SUCC-TS-SNAPSHOT: a timestamp from a fork of the trusted history is refused, both ways', attack(async (sim, rng) => {
    const parent = sim.head
    const fork = sim.fork(rng.int(1 << 30))
    await fork.addTarget('targets', 'fork/only.txt')
    const f = await fork.publish()
    await sim.addTarget('targets', 'main/only.txt')
    const m = await sim.publish()
    const l = sim.loader()
    refused(await succStar(l, 'timestamp', f.timestamp.cid, m.timestamp.cid), 'SUCC-TS-SNAPSHOT')
    refused(await succStar(l, 'timestamp', m.timestamp.cid, f.timestamp.cid), 'SUCC-TS-SNAPSHOT')
    expect((await succStar(l, 'timestamp', f.timestamp.cid, parent.timestamp.cid)).holds).toBe(true)
  }))

  it('SUCC-SNAP-TARGETS: splicing a fork\'s targets onto the trusted chain (snapshot key holder) is refused', attack(async (sim, rng) => {
    const fork = sim.fork(rng.int(1 << 30))
    await fork.addTarget('targets', 'fork/only.txt')
    const f = await fork.publish()
    await sim.addTarget('targets', 'main/only.txt')
    const m = await sim.publish()
    const spliced = await sim.forgeSnapshot({ targets: f.targets.cid })
    await isValid(sim, spliced.cid)
    refused(await succ(sim.loader(), 'snapshot', spliced.cid, m.snapshot.cid), 'SUCC-SNAP-TARGETS')
  }))
})

describe('signatures and keys', () => {
  /** Publish with a role's keys rotated to 3 keys and a threshold of 2 or 3. */
  async function raiseThreshold (sim: RepoSim, role: string, rng: Rng): Promise<Version> {
    sim.rotate(role, { keys: 3, threshold: 2 + rng.int(2), keep: rng.int(2) })
    return await sim.publish()
  }

  it('VALID-TS-SIG: a timestamp one signature below threshold is refused', attack(async (sim, rng) => {
    const v = await raiseThreshold(sim, 'timestamp', rng)
    const short = await sim.dropSignatures(v.timestamp, (_s, i) => i > 0)
    expect((await validateTimestamp(sim.loader(), v.timestamp.cid)).valid).toBe(true)
    refused(await validateTimestamp(sim.loader(), short.cid), 'VALID-TS-SIG')
  }))

  it('VALID-SNAP-SIG: a snapshot one signature below threshold is refused', attack(async (sim, rng) => {
    const v = await raiseThreshold(sim, 'snapshot', rng)
    const t = v.root.signed.roles.snapshot.threshold
    const short = await sim.forgeSnapshot({ signers: sim.publishedSignersOf('snapshot', t - 1) })
    refused(await validateSnapshot(sim.loader(), short.cid), 'VALID-SNAP-SIG')
    const dropped = await sim.dropSignatures(v.snapshot, (_s, i) => i > 0)
    refused(await validateTimestamp(sim.loader(), (await sim.forgeTimestamp(dropped.cid)).cid), 'VALID-SNAP-SIG')
  }))

  it('VALID-TARGETS-SIG: top-level targets one signature below threshold is refused', attack(async (sim, rng) => {
    const v = await raiseThreshold(sim, 'targets', rng)
    const short = await sim.dropSignatures(v.targets, (_s, i) => i > 0)
    refused(await validateSnapshot(sim.loader(), (await sim.forgeSnapshot({ targets: short.cid })).cid), 'VALID-TARGETS-SIG')
  }))

  it('VALID-DELEG-SIG: a diamond role signed for one of its edges only is refused', attack(async (sim, rng) => {
    // n is delegated by targets (n's keys) and by m under a label of its own.
    const n = freshRole(sim, { keys: 1 + rng.int(3), threshold: 1 })
    const m = freshRole(sim)
    const edgeKeys = sim.freshKeys(1 + rng.int(3), 1 + rng.int(3))
    sim.delegate(m, n, { paths: dirPatterns(n), edgeKeys })
    await sim.addTarget(n, `${n}/f.txt`)
    const v = await sim.publish()
    await isValid(sim, v.snapshot.cid) // the honest object meets both edges
    const own = sim.keySet(n)
    const signedBy = new Set(v.delegated.get(n)!.signatures.map((s) => s.keyid))
    expect(edgeKeys.pairs.filter((p) => signedBy.has(p.keyid)).length).toBeGreaterThanOrEqual(edgeKeys.threshold)
    const onlyOwn = await sim.forgeTargets(n, (t) => t, sim.signersOf(n, own.pairs.length))
    const onlyEdge = await sim.forgeTargets(n, (t) => t, edgeKeys.pairs.map((p) => seedSigner(p.seed)))
    for (const forged of [onlyOwn, onlyEdge]) {
      const r = await validateSnapshot(sim.loader(), (await sim.forgeSnapshot({ delegated: dt(v).set(n, forged.cid) })).cid)
      expect(rulesOf(r)).toEqual(['VALID-DELEG-SIG'])
    }
  }))

  it('VALID-DELEG-SIG: a delegated role one signature below threshold is refused', attack(async (sim, rng) => {
    const n = freshRole(sim, { keys: 3, threshold: 2 + rng.int(2) })
    const v = await sim.publish()
    const short = await sim.dropSignatures(v.delegated.get(n)!, (_s, i) => i > 0)
    refused(await validateSnapshot(sim.loader(), (await sim.forgeSnapshot({ delegated: dt(v).set(n, short.cid) })).cid), 'VALID-DELEG-SIG')
  }))

  it('VALID-ROOT-SELF: a root one signature below its own threshold is refused', attack(async (sim, rng) => {
    await raiseThreshold(sim, 'root', rng)
    sim.rotate('timestamp')
    const v = await sim.publish() // a root signed by exactly a threshold of the (unchanged) root keys
    const { keyids, threshold } = v.root.signed.roles.root
    const own = new Set(keyids)
    let kept = 0
    const short = await sim.dropSignatures(v.root, (s) => !own.has(s.keyid) || kept++ < threshold - 1)
    const r = await validateSnapshot(sim.loader(), (await sim.forgeSnapshot({ root: short.cid })).cid)
    refused(r, 'VALID-ROOT-SELF')
    expect(rulesOf(r)).toContain('VALID-SNAP-ROOT')
  }))

  it('VALID-TS-SIG: one key\'s signature repeated under its keyid is refused at decode, never counted twice', attack(async (sim) => {
    const ts = sim.head.timestamp
    const sig = ts.signatures[0]!
    const wire = { signatures: [sig, ...ts.signatures].map((s) => ({ keyid: s.keyid, sig: s.sig })), signed: signedToWire(ts.signed) }
    const bytes = dagJson.encode(wire)
    const cid = cidOf(bytes)
    await sim.store.put(cid, bytes)
    const e = await caught(() => decodeEnvelope('timestamp', bytes, cid))
    expect(e).toBeInstanceOf(DecodeError)
    expect(e.code).toBe('ERR_DUPLICATE_SIGNATURE')
    const r = await validateTimestamp(sim.loader(), cid)
    expect(r.valid).toBe(false)
    expect(r.violations.map((v) => v.cid)).toEqual([cid.toString()])
  }))

  it('VALID-ROOT-SELF: the same key under two keyids counts once', attack(async (sim) => {
    const root = sim.head.root
    const rk = sim.keySet('root').pairs[0]!
    const key: PublicKey = rk.publicKey
    const fake: KeyId = pathHash(`not the keyid of ${key.public}`)
    // (1) A root listing a key under a keyid that is not its own does not decode.
    const signed: RootSigned = { ...root.signed, keys: new Map([...root.signed.keys, [fake, key]]), roles: { ...root.signed.roles, root: { keyids: [rk.keyid, fake], threshold: 2 } } }
    const wire = signedToWire(signed)
    const sig = toHexSig(signBytes(rk.seed, signingMessage(dagJson.encode(wire))))
    const bytes = dagJson.encode({ signatures: [{ keyid: rk.keyid, sig }, { keyid: fake, sig }].sort((a, b) => a.keyid < b.keyid ? -1 : 1), signed: wire })
    const cid = cidOf(bytes)
    await sim.store.put(cid, bytes)
    expect((await caught(() => decodeEnvelope('root', bytes, cid))).code).toBe('ERR_KEYID_MISMATCH')
    refused(await validateSnapshot(sim.loader(), (await sim.forgeSnapshot({ root: cid })).cid), 'VALID-SNAP-ROOT')
    // (2) Thresholds count distinct public keys even if a keys map held one key twice.
    const twice = new Map<KeyId, PublicKey>([[rk.keyid, key], [fake, key]])
    const env = await sim.sign({ ...root.signed, expires: '2099-01-01T00:00:00Z' } as Signed, [sim.allSignersOf('root')[0]!])
    const both = { ...env, signatures: [env.signatures[0]!, { keyid: fake, sig: env.signatures[0]!.sig }] } as Envelope
    expect(meetsThreshold(both, twice, { keyids: [rk.keyid, fake], threshold: 1 })).toBe(true)
    expect(meetsThreshold(both, twice, { keyids: [rk.keyid, fake], threshold: 2 })).toBe(false)
    expect(keyIdOf(key)).toBe(rk.keyid)
  }))

  it('VALID-SNAP-SIG, VALID-TS-SIG: keys of another role do not authorize a snapshot or a timestamp', attack(async (sim) => {
    const l = sim.loader()
    refused(await validateSnapshot(l, (await sim.forgeSnapshot({ signers: sim.allSignersOf('targets') })).cid), 'VALID-SNAP-SIG')
    refused(await validateSnapshot(l, (await sim.forgeSnapshot({ signers: sim.allSignersOf('timestamp') })).cid), 'VALID-SNAP-SIG')
    refused(await validateTimestamp(l, (await sim.forgeTimestamp(sim.head.snapshot.cid, sim.allSignersOf('snapshot'))).cid), 'VALID-TS-SIG')
  }))

  it('VALID-TARGETS-SIG, VALID-DELEG-SIG: keys of another role do not authorize a targets object', attack(async (sim, rng) => {
    const n = freshRole(sim)
    const v = await sim.publish()
    const l = sim.loader()
    const byRoot = await sim.forgeTargets('targets', (t) => t, sim.allSignersOf('root'))
    refused(await validateSnapshot(l, (await sim.forgeSnapshot({ targets: byRoot.cid })).cid), 'VALID-TARGETS-SIG')
    // The delegator's keys cannot stand in for the delegated role's.
    const byDelegator = await sim.forgeTargets(n, (t) => t, rng.int(2) === 0 ? sim.allSignersOf('targets') : sim.allSignersOf('snapshot'))
    refused(await validateSnapshot(l, (await sim.forgeSnapshot({ delegated: dt(v).set(n, byDelegator.cid) })).cid), 'VALID-DELEG-SIG')
  }))

  it('VALID-ROOT-SELF: a root signed by the timestamp keys is refused', attack(async (sim) => {
    const root = await sim.sign({ ...sim.head.root.signed, previousVersion: sim.head.root.cid }, sim.allSignersOf('timestamp'))
    refused(await validateSnapshot(sim.loader(), (await sim.forgeSnapshot({ root: root.cid })).cid), 'VALID-ROOT-SELF')
  }))
})

describe('delegations', () => {
  it('VALID-DELEG-LISTED: a snapshot leaving out a delegated role is refused, tombstone or not', attack(async (sim, rng) => {
    const n = freshRole(sim)
    const v = await sim.publish()
    const without = dt(v)
    without.delete(n)
    const retired = new Map(v.retired)
    if (rng.int(2) === 0) retired.set(n, v.delegated.get(n)!.cid)
    const forged = await sim.forgeSnapshot({ delegated: without, retired })
    const r = await validateSnapshot(sim.loader(), forged.cid)
    refused(r, 'VALID-DELEG-LISTED')
    expect(r.violations.find((x) => x.rule === 'VALID-DELEG-LISTED')!.cid).toBe(v.targets.cid.toString())
  }))

  it('VALID-DELEG-REACHABLE: a snapshot listing a role no delegation reaches is refused', attack(async (sim, rng) => {
    const stray = sim.newName()
    const obj = await sim.sign(makeTargets({ expires: sim.expires('targets'), targets: buildTargetsMap([], sim.sink).root }), sim.signersOf('targets'))
    // Also try resurrecting a retired role's last object without its delegation.
    const retired = sim.head.retired
    const name = retired.size > 0 && rng.int(2) === 0 ? [...retired.keys()][0]! : stray
    const objCid = name === stray ? obj.cid : retired.get(name)!
    const rest = new Map(retired)
    rest.delete(name)
    const forged = await sim.forgeSnapshot({ delegated: dt(sim.head).set(name, objCid), retired: rest })
    const r = await validateSnapshot(sim.loader(), forged.cid)
    refused(r, 'VALID-DELEG-REACHABLE')
    expect(r.violations.find((x) => x.rule === 'VALID-DELEG-REACHABLE')!.cid).toBe(forged.cid.toString())
  }))

  it('VALID-DELEG-PATHS: a delegated role signing a target outside its paths is refused', attack(async (sim, rng) => {
    const hash = rng.int(2) === 0
    const prefix = '0123456789abcdef'[rng.int(16)]!
    const n = freshRole(sim, hash ? { hashPrefixes: [prefix] } : {})
    const v = await sim.publish()
    let outside = hash ? 'outside/0.bin' : `elsewhere/${n}/evil.bin`
    for (let i = 1; hash && pathHash(outside).startsWith(prefix); i++) outside = `outside/${i}.bin`
    const bytes = new TextEncoder().encode('malware')
    const info = await sim.storeContent(bytes)
    const evil = await sim.forgeTargets(n, (t) => ({ ...t, targets: new Map([...t.targets, [outside, info]]) }))
    const forged = await sim.forgeSnapshot({ delegated: dt(v).set(n, evil.cid) })
    const r = await validateSnapshot(sim.loader(), forged.cid)
    refused(r, 'VALID-DELEG-PATHS')
    expect(rulesOf(r)).toEqual(['VALID-DELEG-PATHS'])
    expect(r.violations[0]!.cid).toBe(evil.cid.toString())
  }))
})

describe('roots', () => {
  it('SUCC-SNAP-ROOT: a snapshot whose root skips a rotation step is refused', attack(async (sim, rng) => {
    const before = sim.head
    sim.rotate('root', { keys: 1 + rng.int(3), threshold: 1 + rng.int(3), keep: rng.int(2) })
    const mid = await sim.publish()
    sim.rotate('root', { keys: 1 + rng.int(3), threshold: 1 + rng.int(3), keep: rng.int(2) })
    const last = await sim.publish()
    const l = sim.loader()
    expect((await succStar(l, 'root', last.root.cid, before.root.cid)).witness).toEqual([last.root.cid, mid.root.cid, before.root.cid].map(String))
    refused(await succ(l, 'root', last.root.cid, before.root.cid), 'SUCC-ROOT-LINK')
    const skipping = await sim.forgeSnapshot({ previousVersion: before.snapshot.cid })
    await isValid(sim, skipping.cid)
    const r = await succ(l, 'snapshot', skipping.cid, before.snapshot.cid)
    refused(r, 'SUCC-SNAP-ROOT')
    expect(rulesOf(r)).toContain('SUCC-ROOT-LINK')
  }))

  it('SUCC-ROOT-THRESHOLD: a root signed only by the new root keys is refused', attack(async (sim, rng) => {
    const before = sim.head
    sim.rotate('root', { keys: 1 + rng.int(3), threshold: 1 + rng.int(3), keep: 0 })
    const honest = await sim.publish()
    const l = sim.loader()
    expect((await succ(l, 'root', honest.root.cid, before.root.cid)).holds).toBe(true)
    const onlyNew = await sim.sign(honest.root.signed, sim.signersOf('root'))
    const r = await succ(l, 'root', onlyNew.cid, before.root.cid)
    expect(rulesOf(r)).toEqual(['SUCC-ROOT-THRESHOLD'])
    // Listed by a snapshot, the same root fails the snapshot step.
    const forged = await sim.forgeSnapshot({ previousVersion: before.snapshot.cid, root: onlyNew.cid })
    await isValid(sim, forged.cid)
    const rs = await succ(l, 'snapshot', forged.cid, before.snapshot.cid)
    refused(rs, 'SUCC-SNAP-ROOT')
    expect(rulesOf(rs)).toContain('SUCC-ROOT-THRESHOLD')
  }))
})

describe('bounds', () => {
  it('BOUND-CHAIN: a chain longer than the bound is refused with BOUND-CHAIN, never a hang', attack(async (sim, rng) => {
    const extra = 2 + rng.int(3)
    const first = sim.head
    for (let i = 0; i < extra; i++) await sim.publish()
    const steps = extra
    const l = sim.loader()
    expect((await succStar(l, 'timestamp', sim.head.timestamp.cid, first.timestamp.cid, { maxChain: steps })).holds).toBe(true)
    refused(await succStar(l, 'timestamp', sim.head.timestamp.cid, first.timestamp.cid, { maxChain: steps - 1 }), 'BOUND-CHAIN')
    refused(await succStar(l, 'snapshot', sim.head.snapshot.cid, first.snapshot.cid, { maxChain: steps - 1 }), 'BOUND-CHAIN')
  }))
})
