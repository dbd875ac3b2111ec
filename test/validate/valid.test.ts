import { describe, expect, it } from 'vitest'
import { BlockError, ValidationError } from '../../src/model/errors.js'
import type { RootSigned, TargetsSigned } from '../../src/model/types.js'
import { assertValidSnapshot, assertValidTimestamp, validateSnapshot, validateTimestamp, type ValidReport } from '../../src/validate/valid.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

/** The rules of `r`'s violations; each violation must also say what is wrong (its message is never empty). */
const rules = (r: ValidReport): string[] => r.violations.map((v) => { expect(v.message, v.rule).not.toBe(''); return v.rule })

/** targets -> r1 (r1/*), r1 -> r2 (r1/r2/*), targets -> h (hash prefix 5): a valid DAG. */
async function honest (b = new DagBuilder()) {
  const root = await b.root()
  const r2 = await b.targets('r2', { targets: ['r1/r2/x.txt'] })
  const r1 = await b.targets('r1', { targets: ['r1/a.txt'], delegations: [b.deleg('r2', ['r1/r2/*'])] })
  const h = await b.targets('h', { targets: ['a/b.txt'] }) // sha256("a/b.txt") starts with 555
  const top = await b.targets('targets', { targets: ['top.txt'], delegations: [b.deleg('r1', ['r1/*', 'r1/*/*']), b.deleg('h', { hashPrefixes: ['5'] })] })
  const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
  const ts = await b.timestamp(snap)
  return { b, root, r1, r2, h, top, snap, ts }
}

describe('VALID on a hand-built DAG', () => {
  it('an honest DAG is VALID in report and fail-fast mode, and the DAG is returned', async () => {
    const { b, ts, snap, r1, r2, h } = await honest()
    const r = await validateTimestamp(b.loader(), ts.cid)
    expect(r.violations).toEqual([])
    expect(r.valid).toBe(true)
    expect(r.dag?.timestamp?.cid.equals(ts.cid)).toBe(true)
    expect(r.dag?.snapshot.cid.equals(snap.cid)).toBe(true)
    expect([...r.dag!.delegated.keys()].sort()).toEqual(['h', 'r1', 'r2'])
    expect(r.dag!.delegated.get('r1')!.cid.equals(r1.cid)).toBe(true)
    expect(r.dag!.delegated.get('r2')!.cid.equals(r2.cid)).toBe(true)
    expect(r.dag!.delegated.get('h')!.cid.equals(h.cid)).toBe(true)
    const dag = await assertValidTimestamp(b.loader(), ts.cid)
    expect(dag.root.cid.toString()).toBe(r.dag!.root.cid.toString())
    expect((await validateSnapshot(b.loader(), snap.cid)).valid).toBe(true)
    expect((await assertValidSnapshot(b.loader(), snap.cid)).timestamp).toBeUndefined()
  })

  it('an invalid report carries no DAG', async () => {
    const { b, root, top } = await honest()
    const snap = await b.snapshot({ root, targets: top, delegated: {} })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(r.valid).toBe(false)
    expect(r.dag).toBeUndefined()
  })

  it('a block that cannot be fetched is an error, not a violation', async () => {
    const { b, ts, r1 } = await honest()
    b.store.delete(r1.cid)
    const e = await caught(() => validateTimestamp(b.loader(), ts.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_BLOCK_NOT_FOUND')
  })

  it('a tampered block is a violation naming the block, and the rest is still checked', async () => {
    const { b, ts, r1, top } = await honest()
    b.store.tamper(r1.cid, (bytes) => { bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 1; return bytes })
    const r = await validateTimestamp(b.loader(), ts.cid)
    expect(r.valid).toBe(false)
    expect(r.violations.find((v) => v.cid === r1.cid.toString())).toBeDefined()
    expect(r.violations.every((v) => v.cid !== top.cid.toString())).toBe(true)
  })
})

describe('VALID-KIND', () => {
  it('VALID-KIND: a timestamp whose snapshot link points to a root is reported', async () => {
    const { b, root } = await honest()
    const ts = await b.timestamp(root.cid)
    const r = await validateTimestamp(b.loader(), ts.cid)
    expect(rules(r)).toEqual(['VALID-KIND'])
    expect(r.violations[0]!.cid).toBe(root.cid.toString())
  })

  it('VALID-KIND: a head CID that is not a timestamp is reported', async () => {
    const { b, snap } = await honest()
    expect(rules(await validateTimestamp(b.loader(), snap.cid))).toEqual(['VALID-KIND'])
  })

  it('VALID-KIND: meta.root pointing to a targets object fails the kind and VALID-SNAP-ROOT', async () => {
    const { b, top, r1, r2, h } = await honest()
    const snap = await b.snapshot({ root: top.cid, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r).slice(0, 2)).toEqual(['VALID-KIND', 'VALID-SNAP-ROOT'])
  })

  it('VALID-KIND: meta.targets and a delegated-targets entry pointing to a root are reported', async () => {
    const { b, root, top, r1, r2 } = await honest()
    const s1 = await b.snapshot({ root, targets: root.cid, delegated: {} })
    expect(rules(await validateSnapshot(b.loader(), s1.cid))).toEqual(['VALID-KIND'])
    const s2 = await b.snapshot({ root, targets: top, delegated: { r1, r2, h: root.cid } })
    const r = await validateSnapshot(b.loader(), s2.cid)
    expect(rules(r)).toContain('VALID-KIND')
    expect(r.violations.find((v) => v.rule === 'VALID-KIND')!.cid).toBe(root.cid.toString())
  })
})

describe('roots in a DAG', () => {
  it('VALID-ROOT-ROLES: a role keyid missing from root.keys is reported', async () => {
    const { b, top, r1, r2, h } = await honest()
    const signed = b.rootSigned()
    const bad: RootSigned = { ...signed, roles: { ...signed.roles, snapshot: { keyids: [b.key('stranger').keyid], threshold: 1 } } }
    const root = await b.sign(bad, [b.key('root')])
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toContain('VALID-ROOT-ROLES')
    expect(rules(r)).toContain('VALID-SNAP-ROOT')
    // The snapshot key is not authorized by this root either.
    expect(rules(r)).toContain('VALID-SNAP-SIG')
  })

  it('VALID-ROOT-ROLES: a threshold above the number of keyids is reported', async () => {
    const { b, top, r1, r2, h } = await honest()
    const signed = b.rootSigned()
    const bad: RootSigned = { ...signed, roles: { ...signed.roles, targets: { keyids: signed.roles.targets.keyids, threshold: 2 } } }
    const root = await b.sign(bad, [b.key('root')])
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(r.violations.filter((v) => v.rule === 'VALID-ROOT-ROLES').map((v) => v.cid)).toEqual([root.cid.toString()])
    expect(rules(r)).toContain('VALID-TARGETS-SIG')
  })

  it('VALID-ROOT-SELF: a root not signed by its own root keys is reported, with VALID-SNAP-ROOT', async () => {
    const { b, top, r1, r2, h } = await honest()
    const root = await b.root({ signers: [b.key('targets')] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-ROOT-SELF', 'VALID-SNAP-ROOT'])
    expect(r.violations[0]!.cid).toBe(root.cid.toString())
    expect(r.violations[1]!.cid).toBe(snap.cid.toString())
  })

  it('VALID-ROOT-SELF: a threshold of two is not met by one root key', async () => {
    const { b, top, r1, r2, h } = await honest()
    const keys = [b.key('root'), b.key('root2')]
    const root = await b.root({ roles: { root: { keys, threshold: 2 } }, signers: [b.key('root')] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    expect(rules(await validateSnapshot(b.loader(), snap.cid))).toEqual(['VALID-ROOT-SELF', 'VALID-SNAP-ROOT'])
    const root2 = await b.root({ roles: { root: { keys, threshold: 2 } }, signers: keys })
    const snap2 = await b.snapshot({ root: root2, targets: top, delegated: { r1, r2, h } })
    expect((await validateSnapshot(b.loader(), snap2.cid)).valid).toBe(true)
  })

  it('VALID-SNAP-ROOT: the root is judged before anything else in fail-fast mode', async () => {
    const { b, r1, r2, h } = await honest()
    const root = await b.root({ signers: [] })
    // Also break a delegation signature: fail-fast must still report the root.
    const top = await b.targets('targets', { delegations: [b.deleg('r1', ['r1/*', 'r1/*/*'], { keys: [b.key('other')] }), b.deleg('h', { hashPrefixes: ['5'] })] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const ts = await b.timestamp(snap)
    const e = await caught(() => assertValidTimestamp(b.loader(), ts.cid))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('VALID-ROOT-SELF')
    expect(e.details.cid).toBe(root.cid.toString())
    const r = await validateTimestamp(b.loader(), ts.cid)
    expect(rules(r)).toEqual(expect.arrayContaining(['VALID-ROOT-SELF', 'VALID-SNAP-ROOT', 'VALID-DELEG-SIG']))
  })
})

describe('signatures of the top roles', () => {
  it('VALID-TS-SIG: a timestamp signed by the snapshot key is reported', async () => {
    const { b, snap } = await honest()
    const ts = await b.timestamp(snap, [b.key('snapshot')])
    const r = await validateTimestamp(b.loader(), ts.cid)
    expect(rules(r)).toEqual(['VALID-TS-SIG'])
    expect(r.violations[0]!.cid).toBe(ts.cid.toString())
    expect((await caught(() => assertValidTimestamp(b.loader(), ts.cid))).code).toBe('VALID-TS-SIG')
    // VALID of the snapshot alone does not look at timestamps.
    expect((await validateSnapshot(b.loader(), snap.cid)).valid).toBe(true)
  })

  it('VALID-SNAP-SIG: a snapshot signed by the timestamp key is reported', async () => {
    const { b, root, top, r1, r2, h } = await honest()
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h }, signers: [b.key('timestamp')] })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-SNAP-SIG'])
    expect(r.violations[0]!.cid).toBe(snap.cid.toString())
  })

  it('VALID-SNAP-SIG: an unsigned snapshot is reported', async () => {
    const { b, root, top, r1, r2, h } = await honest()
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h }, signers: [] })
    expect(rules(await validateSnapshot(b.loader(), snap.cid))).toEqual(['VALID-SNAP-SIG'])
  })

  it('VALID-TARGETS-SIG: top-level targets signed by the root key only is reported', async () => {
    const { b, root, r1, r2, h } = await honest()
    const top = await b.targets('targets', { delegations: [b.deleg('r1', ['r1/*', 'r1/*/*']), b.deleg('h', { hashPrefixes: ['5'] })], signers: [b.key('root')] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-TARGETS-SIG'])
    expect(r.violations[0]!.cid).toBe(top.cid.toString())
  })
})

describe('delegations', () => {
  it('VALID-DELEG-KEYS: a delegated keyid missing from delegations.keys is reported', async () => {
    const { b, root, r1, r2, h } = await honest()
    const t = b.targetsSigned({ delegations: [b.deleg('r1', ['r1/*', 'r1/*/*']), b.deleg('h', { hashPrefixes: ['5'] })] })
    const d = t.delegations!
    const bad: TargetsSigned = { ...t, delegations: { ...d, roles: [{ ...d.roles[0]!, keyids: [...d.roles[0]!.keyids, b.key('ghost').keyid] }, d.roles[1]!] } }
    const top = await b.sign(bad, [b.key('targets')])
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-KEYS'])
    expect(r.violations[0]!.cid).toBe(top.cid.toString())
  })

  it('VALID-DELEG-KEYS: a threshold above the number of keyids is reported', async () => {
    const { b, root, r2, h } = await honest()
    const r1 = await b.targets('r1', { targets: ['r1/a.txt'], delegations: [b.deleg('r2', ['r1/r2/*'], { threshold: 2 })] })
    const top = await b.targets('targets', { delegations: [b.deleg('r1', ['r1/*', 'r1/*/*']), b.deleg('h', { hashPrefixes: ['5'] })] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-KEYS', 'VALID-DELEG-SIG'])
    expect(r.violations[0]!.cid).toBe(r1.cid.toString())
  })

  it('VALID-DELEG-LISTED: a delegation to a role missing from delegated-targets is reported against the delegator', async () => {
    const { b, root, top, r1, h } = await honest()
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-LISTED'])
    expect(r.violations[0]!.cid).toBe(r1.cid.toString())
  })

  it('VALID-DELEG-REACHABLE: a listed role no chain reaches is reported against the snapshot', async () => {
    const { b, root, top, r1, r2, h } = await honest()
    const stray = await b.targets('stray', { targets: ['s.txt'] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h, stray } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-REACHABLE'])
    expect(r.violations[0]!.cid).toBe(snap.cid.toString())
  })

  it('VALID-DELEG-SIG: a delegated role signed by another key is reported', async () => {
    const { b, root, top, r2, h } = await honest()
    const r1 = await b.targets('r1', { targets: ['r1/a.txt'], delegations: [b.deleg('r2', ['r1/r2/*'])], signers: [b.key('r2')] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-SIG'])
    expect(r.violations[0]!.cid).toBe(r1.cid.toString())
  })

  it('VALID-DELEG-SIG: in a diamond, the object must satisfy every delegator', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const c = await b.targets('c', { targets: ['c/x.txt'] })
    const left = await b.targets('left', { delegations: [b.deleg('c', ['c/*'])] })
    const rightWrong = await b.targets('right', { delegations: [b.deleg('c', ['c/*'], { keys: [b.key('not-c')] })] })
    const top = await b.targets('targets', { delegations: [b.deleg('left', ['c/*']), b.deleg('right', ['c/*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated: { c, left, right: rightWrong } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-SIG'])
    expect(r.violations[0]!.cid).toBe(c.cid.toString())
    // Both delegators agreeing on c's key: VALID.
    const right = await b.targets('right', { delegations: [b.deleg('c', ['c/*'])] })
    const ok = await b.snapshot({ root, targets: top, delegated: { c, left, right } })
    expect((await validateSnapshot(b.loader(), ok.cid)).valid).toBe(true)
  })

  it('VALID-DELEG-SIG: a delegation threshold of two needs two distinct keys', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const keys = [b.key('d1'), b.key('d2')]
    const one = await b.targets('d', { targets: ['d/x'], signers: [keys[0]!] })
    const top = await b.targets('targets', { delegations: [b.deleg('d', ['d/*'], { keys, threshold: 2 })] })
    const s1 = await b.snapshot({ root, targets: top, delegated: { d: one } })
    expect(rules(await validateSnapshot(b.loader(), s1.cid))).toEqual(['VALID-DELEG-SIG'])
    const two = await b.targets('d', { targets: ['d/x'], signers: keys })
    const s2 = await b.snapshot({ root, targets: top, delegated: { d: two } })
    expect((await validateSnapshot(b.loader(), s2.cid)).valid).toBe(true)
  })

  it('VALID-DELEG-PATHS: a delegated target outside the delegator\'s patterns is reported', async () => {
    const { b, root, top, r2, h } = await honest()
    const r1 = await b.targets('r1', { targets: ['r1/a.txt', 'elsewhere/evil.txt'], delegations: [b.deleg('r2', ['r1/r2/*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-PATHS'])
    expect(r.violations[0]!.cid).toBe(r1.cid.toString())
  })

  it('VALID-DELEG-PATHS: every edge of the chain must allow the path, not only the last one', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    // r1 may sign a/*; it delegates b/* to r2; r2's b/x.txt is outside a/*.
    const r2 = await b.targets('r2', { targets: ['b/x.txt'] })
    const r1 = await b.targets('r1', { delegations: [b.deleg('r2', ['b/*'])] })
    const top = await b.targets('targets', { delegations: [b.deleg('r1', ['a/*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2 } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-PATHS'])
    expect(r.violations[0]!.cid).toBe(r2.cid.toString())
  })

  it('VALID-DELEG-PATHS: in a diamond one allowing chain is enough', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const c = await b.targets('c', { targets: ['c/x.txt', 'c/y.bin'] })
    const left = await b.targets('left', { delegations: [b.deleg('c', ['c/*.txt'])] })
    const right = await b.targets('right', { delegations: [b.deleg('c', ['c/*.bin'])] })
    const top = await b.targets('targets', { delegations: [b.deleg('left', ['c/*']), b.deleg('right', ['c/*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated: { c, left, right } })
    expect((await validateSnapshot(b.loader(), snap.cid)).valid).toBe(true)
    // Without the right branch, c/y.bin has no chain.
    const top2 = await b.targets('targets', { delegations: [b.deleg('left', ['c/*'])] })
    const snap2 = await b.snapshot({ root, targets: top2, delegated: { c, left } })
    expect(rules(await validateSnapshot(b.loader(), snap2.cid))).toEqual(['VALID-DELEG-PATHS'])
  })

  it('VALID-DELEG-PATHS: a hash-prefix role may sign only paths whose hash has its prefix', async () => {
    const { b, root, top, r1, r2 } = await honest()
    const h = await b.targets('h', { targets: ['a/b.txt', 'a/c.txt'] }) // sha256("a/c.txt") does not start with 5
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-DELEG-PATHS'])
    expect(r.violations[0]!.message).toContain('a/c.txt')
  })

  it('VALID-RETIRED-DISJOINT: a name both listed and retired is reported', async () => {
    const { b, root, top, r1, r2, h, snap: first } = await honest()
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, h }, retired: { r1 }, previousVersion: first.cid })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-RETIRED-DISJOINT'])
    expect(r.violations[0]!.cid).toBe(snap.cid.toString())
  })

  it('VALID-SNAP-FIRST-RETIRED: a first snapshot (previous-version null) retires nothing; a later one may', async () => {
    const { b, root, top, r1, r2, h, snap: first } = await honest()
    const stray = await b.targets('stray', { targets: ['stray/x.txt'] })
    const bad = await b.snapshot({ root, targets: top, delegated: { r1, r2, h }, retired: { stray } })
    const r = await validateSnapshot(b.loader(), bad.cid)
    expect(r.valid).toBe(false)
    expect(rules(r)).toEqual(['VALID-SNAP-FIRST-RETIRED'])
    expect(r.violations[0]!.cid).toBe(bad.cid.toString())
    expect(r.violations[0]!.message).toContain('stray')
    const ts = await b.timestamp(bad)
    const e = await caught(() => assertValidTimestamp(b.loader(), ts.cid))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('VALID-SNAP-FIRST-RETIRED')
    // The same map in a snapshot that has a predecessor is a tombstone, judged by SUCC-SNAP-RETIRED.
    const later = await b.snapshot({ root, targets: top, delegated: { r1, r2, h }, retired: { stray }, previousVersion: first.cid })
    expect((await validateSnapshot(b.loader(), later.cid)).valid).toBe(true)
    // An empty retired map in a first snapshot is the honest case.
    expect((await validateSnapshot(b.loader(), first.cid)).valid).toBe(true)
  })

  it('a delegation cycle is walked once and is VALID', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const x = await b.targets('x', { targets: ['p/x.txt'], delegations: [b.deleg('y', ['p/*'])] })
    const y = await b.targets('y', { targets: ['p/y.txt'], delegations: [b.deleg('x', ['p/*'])] })
    const top = await b.targets('targets', { delegations: [b.deleg('x', ['p/*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated: { x, y } })
    const loader = b.loader()
    expect((await validateSnapshot(loader, snap.cid)).valid).toBe(true)
    // Five envelopes and four shard nodes: the snapshot's two role maps and
    // x's and y's targets maps. VALID never reads the top-level targets map.
    expect(loader.stats.blocks).toBe(9)
  })

  it('VALID-DELEG-PATHS: a cycle whose labels allow the path but that no allowing edge from targets enters is refused, not walked for ever', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    // targets -> x only for q/*; x <-> y for p/*: y's p/y.txt has a matching
    // chain y <- x <- y <- ... that never reaches targets.
    const x = await b.targets('x', { delegations: [b.deleg('y', ['p/*'])] })
    const y = await b.targets('y', { targets: ['p/y.txt'], delegations: [b.deleg('x', ['p/*'])] })
    const top = await b.targets('targets', { delegations: [b.deleg('x', ['q/*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated: { x, y } })
    // A small glob budget: a walk that re-expands the cycle runs out of it
    // (BOUND-GLOB) instead of answering.
    const r = await validateSnapshot(b.loader(), snap.cid, { limits: { maxGlobSteps: 10_000 } })
    expect(rules(r)).toEqual(['VALID-DELEG-PATHS'])
    expect(r.violations[0]!.cid).toBe(y.cid.toString())
  })

  it('report mode lists every violation; fail-fast stops at the first in NOTES order', async () => {
    const { b, root, r2 } = await honest()
    const r1 = await b.targets('r1', { targets: ['zzz/out.txt'], delegations: [b.deleg('r2', ['r1/r2/*']), b.deleg('missing', ['r1/m/*'])], signers: [] })
    const top = await b.targets('targets', { delegations: [b.deleg('r1', ['r1/*', 'r1/*/*'])] })
    const stray = await b.targets('stray')
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2, stray }, retired: { stray } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    expect(rules(r)).toEqual(['VALID-RETIRED-DISJOINT', 'VALID-SNAP-FIRST-RETIRED', 'VALID-DELEG-SIG', 'VALID-DELEG-LISTED', 'VALID-DELEG-REACHABLE', 'VALID-DELEG-PATHS'])
    const ff = await validateSnapshot(b.loader(), snap.cid, { failFast: true })
    expect(ff.valid).toBe(false)
    expect(rules(ff)).toEqual(['VALID-RETIRED-DISJOINT'])
  })
})

describe('bounds of the VALID walk', () => {
  async function chain (depth: number) {
    const b = new DagBuilder()
    const root = await b.root()
    const names = Array.from({ length: depth }, (_, i) => `d${i}`)
    const delegated: Record<string, Awaited<ReturnType<DagBuilder['targets']>>> = {}
    for (let i = depth - 1; i >= 0; i--) {
      const next = names[i + 1]
      delegated[names[i]!] = await b.targets(names[i]!, { delegations: next === undefined ? [] : [b.deleg(next, ['*'])] })
    }
    const top = await b.targets('targets', { delegations: [b.deleg('d0', ['*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated })
    return { b, snap }
  }

  it('BOUND-DELEGATION-DEPTH: a role first reached deeper than the bound is a violation', async () => {
    const { b, snap } = await chain(4)
    expect((await validateSnapshot(b.loader(), snap.cid, { limits: { maxDelegationDepth: 4 } })).valid).toBe(true)
    const loader = b.loader()
    const r = await validateSnapshot(loader, snap.cid, { limits: { maxDelegationDepth: 3 } })
    expect(rules(r)).toEqual(['BOUND-DELEGATION-DEPTH'])
    // root, snapshot, targets, the two role maps and d0-d2: the role past the
    // bound is never fetched.
    expect(loader.stats.blocks).toBe(8)
  })

  it('BOUND-DELEGATION-DEPTH: a role reached past the bound by two delegators is reported once and never fetched', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const c = await b.targets('c', { targets: ['c/x.txt'] })
    const left = await b.targets('left', { delegations: [b.deleg('c', ['c/*'])] })
    const right = await b.targets('right', { delegations: [b.deleg('c', ['c/*'])] })
    const top = await b.targets('targets', { delegations: [b.deleg('left', ['c/*']), b.deleg('right', ['c/*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated: { c, left, right } })
    expect((await validateSnapshot(b.loader(), snap.cid, { limits: { maxDelegationDepth: 2 } })).valid).toBe(true)
    const loader = b.loader()
    const r = await validateSnapshot(loader, snap.cid, { limits: { maxDelegationDepth: 1 } })
    expect(rules(r)).toEqual(['BOUND-DELEGATION-DEPTH'])
    expect(r.violations[0]!.cid).toBe(c.cid.toString())
    // root, snapshot, targets, the two role maps, left and right: not c.
    expect(loader.stats.blocks).toBe(7)
  })

  it('BOUND-DELEGATIONS: the walk never fetches the siblings past the bound', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const names = ['s0', 's1', 's2', 's3', 's4']
    const delegated: Record<string, Awaited<ReturnType<DagBuilder['targets']>>> = {}
    for (const n of names) delegated[n] = await b.targets(n, {})
    const top = await b.targets('targets', { delegations: names.map((n) => b.deleg(n, [`${n}/*`])) })
    const snap = await b.snapshot({ root, targets: top, delegated })
    expect((await validateSnapshot(b.loader(), snap.cid)).valid).toBe(true)
    const loader = b.loader()
    // targets and two siblings fit in 3.
    expect(rules(await validateSnapshot(loader, snap.cid, { limits: { maxDelegationsVisited: 3 } }))).toEqual(['BOUND-DELEGATIONS'])
    // root, snapshot, targets, the two role maps, s0 and s1.
    expect(loader.stats.blocks).toBe(7)
  })

  it('BOUND-DELEGATIONS: visiting more delegated roles than the bound is a violation', async () => {
    const { b, snap } = await chain(4)
    // targets and four delegated roles: five roles (NOTES 9 counts targets).
    expect((await validateSnapshot(b.loader(), snap.cid, { limits: { maxDelegationsVisited: 5 } })).valid).toBe(true)
    expect(rules(await validateSnapshot(b.loader(), snap.cid, { limits: { maxDelegationsVisited: 4 } }))).toEqual(['BOUND-DELEGATIONS'])
    const loader = b.loader()
    const r = await validateSnapshot(loader, snap.cid, { limits: { maxDelegationsVisited: 2 } })
    expect(rules(r)).toEqual(['BOUND-DELEGATIONS'])
    // root, snapshot, targets and one delegated role (two roles), plus the
    // snapshot's two role maps: the walk stopped.
    expect(loader.stats.blocks).toBe(6)
    expect((await caught(() => assertValidSnapshot(b.loader(), snap.cid, { limits: { maxDelegationsVisited: 2 } }))).code).toBe('BOUND-DELEGATIONS')
  })
})
