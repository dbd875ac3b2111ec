/**
 * VALID at its edges: failures of the role maps and of a delegated role's
 * targets map, option checks, a root missing a role, what VALID_top without
 * the maps reads, the fail-fast walk's reads, the report cache's keys and
 * the memo of `dagOf`. Each case here was a mutant that survived
 * `npm run mutate` (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { BlockError, UsageError, ValidationError } from '../../src/model/errors.js'
import type { RoleKeys, RootEnvelope, TargetsEnvelope } from '../../src/model/types.js'
import type { Loader } from '../../src/validate/loader.js'
import {
  assertValidSnapshot, assertValidSnapshotTop, dagOf, resolveLimits, rootViolations, snapshotTopWithoutMaps, validateSnapshot, validateSnapshotTop,
  validateTimestamp, type ValidReport
} from '../../src/validate/valid.js'
import { LIMITS } from '../../src/model/config.js'
import { findTarget } from '../../src/validate/delegation.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

/** The rules of `r`'s violations; each violation must also say what is wrong (its message is never empty). */
const rules = (r: ValidReport<any>): string[] => r.violations.map((v) => { expect(v.message, v.rule).not.toBe(''); return v.rule })

/** Flip one bit near the end of a stored block: its bytes no longer hash to its CID. */
function corrupt (b: DagBuilder, cid: CID): void {
  b.store.tamper(cid, (bytes) => { bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 1; return bytes })
}

/** targets -> r1 (r1/*), r1 -> r2 (r1/r2/*): a VALID DAG, and a later snapshot that retires `old`. */
async function honest () {
  const b = new DagBuilder()
  const root = await b.root()
  const r2 = await b.targets('r2', { targets: ['r1/r2/x.txt'] })
  const r1 = await b.targets('r1', { targets: ['r1/a.txt'], delegations: [b.deleg('r2', ['r1/r2/*'])] })
  const top = await b.targets('targets', { targets: ['top.txt'], delegations: [b.deleg('r1', ['r1/*', 'r1/*/*'])] })
  const first = await b.snapshot({ root, targets: top, delegated: { r1, r2 } })
  const old = await b.targets('old', { targets: ['old/x.txt'] })
  const later = await b.snapshot({ root, targets: top, delegated: { r1, r2 }, retired: { old }, previousVersion: first.cid })
  return { b, root, r1, r2, top, first, later }
}

describe('role maps that fail to load', () => {
  it('SHARD-ENC, ENC-CID: a corrupt delegated-targets or retired map is a violation at its root, in report mode too (never a crash)', async () => {
    for (const which of ['delegatedTargets', 'retired'] as const) {
      const { b, later } = await honest()
      const mapRoot = later.signed.meta[which]
      corrupt(b, mapRoot)
      const r = await validateSnapshot(b.loader(), later.cid)
      expect(r.valid).toBe(false)
      expect(r.violations).toHaveLength(1)
      expect(r.violations[0]!.cid).toBe(mapRoot.toString())
      expect(r.violations[0]!.message).not.toBe('')
      const fast = await caught(() => assertValidSnapshot(b.loader(), later.cid))
      expect(fast).toBeInstanceOf(ValidationError)
      expect(fast.code).toBe(r.violations[0]!.rule)
      expect(fast.details.cid).toBe(mapRoot.toString())
    }
  })

  it('SHARD-MISSING: a role-map node that cannot be fetched is an error, not a violation', async () => {
    const { b, later } = await honest()
    b.store.delete(later.signed.meta.delegatedTargets)
    const e = await caught(() => validateSnapshot(b.loader(), later.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_BLOCK_NOT_FOUND')
  })
})

describe('a delegated role\'s targets map that fails to load', () => {
  it('VALID-DELEG-PATHS: a corrupt targets map of a delegated role is a violation at that role, and the other roles are still checked', async () => {
    const { b, root, r2, top } = await honest()
    const r1 = await b.targets('r1', { targets: ['elsewhere/evil.txt'], delegations: [b.deleg('r2', ['r1/r2/*'])] })
    const r2bad = await b.targets('r2', { targets: ['r1/r2/y.txt'] })
    corrupt(b, r2bad.signed.targets)
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2: r2bad } })
    const r = await validateSnapshot(b.loader(), snap.cid)
    const byCid = new Map(r.violations.map((v) => [v.cid, v.rule]))
    expect(byCid.get(r1.cid.toString())).toBe('VALID-DELEG-PATHS')
    expect(r.violations).toHaveLength(2)
    const other = r.violations.find((v) => v.cid === r2bad.cid.toString())!
    expect(other.rule).not.toBe('VALID-DELEG-PATHS')
    // The honest r2 is VALID with the same r1 paths.
    expect(r2.cid.equals(r2bad.cid)).toBe(false)
  })

  it('SHARD-MISSING: a delegated role\'s targets-map node that cannot be fetched is an error, not a violation', async () => {
    const { b, r2, first } = await honest()
    b.store.delete(r2.signed.targets)
    const e = await caught(() => validateSnapshot(b.loader(), first.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_BLOCK_NOT_FOUND')
  })

  it('SHARD-ENC: a loader whose targetEntries throws at once is read like one whose iteration fails', async () => {
    const { b, r2, first } = await honest()
    const base = b.loader()
    const failing = (e: unknown): Loader => ({
      ...base,
      targetEntries: (root: CID) => {
        if (root.equals(r2.signed.targets)) throw e
        return base.targetEntries(root)
      }
    })
    const r = await validateSnapshot(failing(new ValidationError('SHARD-ENC', 'not a shard node')), first.cid)
    expect(r.violations.map((v) => [v.rule, v.cid])).toEqual([['SHARD-ENC', r2.cid.toString()]])
    // The violation carries the loader's reason.
    expect(r.violations[0]!.message).toContain('not a shard node')
    const plain = new Error('not a verdict')
    expect(await caught(() => validateSnapshot(failing(plain), first.cid))).toBe(plain)
  })
})

describe('options', () => {
  it('ERR_ARGUMENT: limit overrides must be non-negative integers; zero and an absent value are accepted', async () => {
    const { b, first } = await honest()
    for (const bad of [-1, 1.5, Number.NaN, '3']) {
      const e = await caught(() => validateSnapshot(b.loader(), first.cid, { limits: { maxGlobSteps: bad as number } }))
      expect(e).toBeInstanceOf(UsageError)
      expect(e.code).toBe('ERR_ARGUMENT')
      expect(e.message).toContain('maxGlobSteps')
    }
    expect((await validateSnapshot(b.loader(), first.cid, { limits: { maxGlobSteps: undefined } })).valid).toBe(true)
    // BOUND-DELEGATION-DEPTH 0: targets may delegate to no one.
    expect(rules(await validateSnapshot(b.loader(), first.cid, { limits: { maxDelegationDepth: 0 } }))).toEqual(['BOUND-DELEGATION-DEPTH'])
  })
  it('BOUND-DELEGATION-DEPTH: an override given as undefined leaves the bound in force, in VALID and in the search', async () => {
    for (const k of Object.keys(LIMITS) as Array<keyof typeof LIMITS>) {
      expect(resolveLimits({ [k]: undefined })[k]).toBe(LIMITS[k])
    }
    // A chain one role deeper than LIMITS.maxDelegationDepth, whose last role signs x.txt.
    const b = new DagBuilder()
    const root = await b.root()
    const n = LIMITS.maxDelegationDepth + 1
    const delegated: Record<string, TargetsEnvelope> = {}
    for (let i = n - 1; i >= 0; i--) {
      delegated[`d${i}`] = await b.targets(`d${i}`, i === n - 1 ? { targets: ['x.txt'] } : { delegations: [b.deleg(`d${i + 1}`, ['*'])] })
    }
    const top = await b.targets('targets', { delegations: [b.deleg('d0', ['*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated })
    const unset = { maxDelegationDepth: undefined, maxDelegationsVisited: undefined }
    expect(rules(await validateSnapshot(b.loader(), snap.cid, { limits: unset }))).toEqual(['BOUND-DELEGATION-DEPTH'])
    const dag = await assertValidSnapshotTop(b.loader(), snap.cid)
    expect((await caught(() => findTarget(dag, 'x.txt', { limits: unset }))).code).toBe('BOUND-DELEGATION-DEPTH')
    expect((await findTarget(dag, 'x.txt', { limits: { maxDelegationDepth: n } }))?.role).toBe(`d${n - 1}`)
  })
})

describe('a root object built in memory (rootViolations)', () => {
  async function withRoles (change: (roles: Record<string, RoleKeys>) => Record<string, RoleKeys>): Promise<RootEnvelope> {
    const b = new DagBuilder()
    const root = await b.root()
    const roles = change({ ...root.signed.roles } as Record<string, RoleKeys>)
    return { ...root, signed: { ...root.signed, roles } } as unknown as RootEnvelope
  }

  it('VALID-ROOT-ROLES: a root without a top role is reported, never a crash', async () => {
    for (const missing of ['snapshot', 'root']) {
      const root = await withRoles((r) => { const { [missing]: _, ...rest } = r; return rest })
      const v = rootViolations(root)
      expect(v.map((x) => x.rule)).toEqual(['VALID-ROOT-ROLES'])
      expect(v[0]!.cid).toBe(root.cid.toString())
      expect(v[0]!.message).toContain(missing)
    }
  })

  it('VALID-ROOT-ROLES: a threshold of zero is reported', async () => {
    const root = await withRoles((r) => ({ ...r, targets: { ...r.targets!, threshold: 0 } }))
    expect(rootViolations(root).map((x) => x.rule)).toEqual(['VALID-ROOT-ROLES'])
  })
})

describe('VALID-SNAP-ROOT under a timestamp', () => {
  it('VALID-SNAP-ROOT: a timestamp whose snapshot\'s meta.root is not a root is reported, never a crash (no VALID-TS-SIG without a root)', async () => {
    const { b, top, r1, r2 } = await honest()
    const snap = await b.snapshot({ root: top.cid, targets: top, delegated: { r1, r2 } })
    const ts = await b.timestamp(snap)
    const r = await validateTimestamp(b.loader(), ts.cid)
    expect(rules(r).slice(0, 2)).toEqual(['VALID-KIND', 'VALID-SNAP-ROOT'])
    expect(rules(r)).not.toContain('VALID-TS-SIG')
  })
})

describe('what is read', () => {
  it('VALID-RETIRED-DISJOINT: snapshotTopWithoutMaps reads no role map of a later snapshot, nor the empty retired map of a first one', async () => {
    const { b, first, later } = await honest()
    for (const s of [later, first]) {
      const l = b.loader()
      expect(await snapshotTopWithoutMaps(l, s.cid)).toEqual([])
      // The snapshot, its root and its top-level targets.
      expect(l.stats.blocks).toBe(3)
    }
  })

  it('VALID-SNAP-SIG: fail-fast VALID stops at the first violation and reads nothing after it', async () => {
    const { b, root, top, r1, r2 } = await honest()
    const snap = await b.snapshot({ root, targets: top, delegated: { r1, r2 }, signers: [b.key('mallory')] })
    const l = b.loader()
    expect((await caught(() => assertValidSnapshot(l, snap.cid))).code).toBe('VALID-SNAP-SIG')
    // The snapshot and its root: no role map, no targets.
    expect(l.stats.blocks).toBe(2)
  })

  it('VALID-DELEG-SIG: reports of two snapshots on one loader are cached apart (VALID_top and VALID)', async () => {
    const { b, root, top, r1, first } = await honest()
    const forged = await b.targets('r2', { targets: ['r1/r2/x.txt'], signers: [b.key('mallory')] })
    const bad = await b.snapshot({ root, targets: top, delegated: { r1, r2: forged } })
    const unsigned = await b.snapshot({ root, targets: top, delegated: { r1, r2: forged }, signers: [] })
    const l = b.loader()
    expect((await validateSnapshotTop(l, first.cid)).valid).toBe(true)
    expect(rules(await validateSnapshotTop(l, unsigned.cid))).toEqual(['VALID-SNAP-SIG'])
    expect((await validateSnapshot(l, first.cid)).valid).toBe(true)
    expect(rules(await validateSnapshot(l, bad.cid))).toEqual(['VALID-DELEG-SIG'])
  })
})

describe('dagOf', () => {
  it('CLIENT-VALID-TOP: role() returns the objects it was given without loading, and loads a name once however many ask at once', async () => {
    const { b, root, r1, r2, top, first } = await honest()
    const base = b.loader()
    let loads = 0
    const counting = {
      ...base,
      load: (async (kind: 'targets', cid: CID) => { loads++; return await base.load(kind, cid) }) as Loader['load']
    }
    const parts = { snapshot: first, root, targets: top, roles: new Map([['r1', r1.cid], ['r2', r2.cid]]), retired: new Map<string, CID>() }
    const full = dagOf(counting, parts, new Map<string, TargetsEnvelope>([['r1', r1], ['r2', r2]]))
    expect((await full.role('r1')).cid.equals(r1.cid)).toBe(true)
    expect(loads).toBe(0)
    const dag = dagOf(counting, parts)
    const got = await Promise.all([dag.role('r2'), dag.role('r2'), dag.role('r2')])
    expect(got.every((e) => e.cid.equals(r2.cid))).toBe(true)
    expect(loads).toBe(1)
    expect([...dag.loadedRoles.keys()]).toEqual(['r2'])
  })
})
