/**
 * What VALID's violations name (src/validate/valid.ts): the field a load
 * failure was met at, the heights and counts of VALID-SNAP-HEIGHT, the
 * names of VALID-SNAP-FIRST-RETIRED and VALID-RETIRED-DISJOINT, the role,
 * path and bound of the delegation rules. The rule IDs and CIDs are checked
 * elsewhere; these are the named parts of the messages, which a user reads
 * to find what is wrong. Written against the message survivors of the
 * mutation runs (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { ValidationError } from '../../src/model/errors.js'
import { assertValidSnapshot, validateSnapshot, validateSnapshotTop, validateTimestamp, type ValidReport } from '../../src/validate/valid.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

/** The one violation of `rule` in `r`, its CID and message. */
function only (r: ValidReport<any>, rule: string): { cid: string, message: string } {
  const xs = r.violations.filter((v) => v.rule === rule)
  expect(xs, JSON.stringify(r.violations)).toHaveLength(1)
  return xs[0]!
}

const s = (c: { cid: CID } | CID): string => ('cid' in c ? c.cid : c).toString()

/** Flip one bit near the end of a stored block: its bytes no longer hash to its CID. */
function corrupt (b: DagBuilder, cid: CID): void {
  b.store.tamper(cid, (bytes) => { bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 1; return bytes })
}

describe('load failures name the field they were met at', () => {
  it('VALID-KIND: a snapshot, timestamp, meta.root or meta.targets of another kind is reported with its field', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets')
    const S = await b.snapshot({ root: R, targets: T })
    expect(only(await validateSnapshot(b.loader(), R.cid), 'VALID-KIND').message).toMatch(/^snapshot: /)
    expect(only(await validateTimestamp(b.loader(), R.cid), 'VALID-KIND').message).toMatch(/^timestamp: /)
    const tsOfRoot = await b.timestamp(R.cid)
    expect(only(await validateTimestamp(b.loader(), tsOfRoot.cid), 'VALID-KIND').message).toMatch(/^timestamp\.snapshot: /)
    const rootIsTargets = await b.snapshot({ root: T.cid, targets: T })
    const x = only(await validateSnapshot(b.loader(), rootIsTargets.cid), 'VALID-KIND')
    expect(x.cid).toBe(s(T))
    expect(x.message).toMatch(/^meta\.root: /)
    const targetsIsRoot = await b.snapshot({ root: R, targets: R.cid })
    expect(only(await validateSnapshotTop(b.loader(), targetsIsRoot.cid), 'VALID-KIND').message).toMatch(/^meta\.targets: /)
    expect((await validateSnapshot(b.loader(), S.cid)).valid).toBe(true)
  })

  it('SHARD-ENC, ENC-CID: a corrupt role map is reported as meta.delegated-targets or meta.retired', async () => {
    for (const [which, label] of [['delegatedTargets', 'meta.delegated-targets'], ['retired', 'meta.retired']] as const) {
      const b = new DagBuilder()
      const R = await b.root()
      const old = await b.targets('old')
      const T = await b.targets('targets')
      const first = await b.snapshot({ root: R, targets: T })
      const later = await b.snapshot({ root: R, targets: T, retired: { old }, previousVersion: first.cid })
      const mapRoot = later.signed.meta[which]
      corrupt(b, mapRoot)
      const r = await validateSnapshotTop(b.loader(), later.cid)
      expect(r.violations).toHaveLength(1)
      expect(r.violations[0]!.cid).toBe(s(mapRoot))
      expect(r.violations[0]!.message.startsWith(`${label}: `)).toBe(true)
    }
  })

  it('VALID-DELEG-PATHS: a corrupt targets map of a delegated role is reported as that role\'s targets', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const r1 = await b.targets('r1', { targets: ['r1/a.txt'] })
    const T = await b.targets('targets', { delegations: [b.deleg('r1', ['r1/*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { r1 } })
    corrupt(b, r1.signed.targets)
    const r = await validateSnapshot(b.loader(), S.cid)
    expect(r.valid).toBe(false)
    expect(r.violations.some((v) => v.cid === s(r1) && v.message.startsWith('r1.targets: '))).toBe(true)
  })
})

describe('the place of a snapshot', () => {
  it('VALID-SNAP-HEIGHT: the violation says the height found and, for the skips, how many there should be and are', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets')
    const S: Array<Awaited<ReturnType<DagBuilder['snapshot']>>> = []
    for (let i = 0; i < 3; i++) S.push(await b.snapshot({ root: R, targets: T, previousVersion: S[i - 1]?.cid ?? null }))
    const first2 = await b.snapshot({ root: R, targets: T, place: { height: 2 } })
    expect(only(await validateSnapshotTop(b.loader(), first2.cid), 'VALID-SNAP-HEIGHT').message).toContain('(previous-version null) has height 2, not 1')
    const later1 = await b.snapshot({ root: R, targets: T, previousVersion: S[0]!.cid, place: { height: 1 } })
    const m1 = only(await validateSnapshotTop(b.loader(), later1.cid), 'VALID-SNAP-HEIGHT').message
    expect(m1).toContain('previous-version has height 1')
    expect(m1).not.toContain('null')
    const noSkips = await b.snapshot({ root: R, targets: T, previousVersion: S[2]!.cid, place: { skips: [] } })
    expect(only(await validateSnapshotTop(b.loader(), noSkips.cid), 'VALID-SNAP-HEIGHT').message).toContain('at height 4 has 1 skips, not 0')
  })
})

describe('the role maps of a first snapshot', () => {
  it('VALID-SNAP-FIRST-RETIRED: the violation names the first five names it retires, and says when there are more', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets')
    const o = await b.targets('o')
    const one = await b.snapshot({ root: R, targets: T, retired: { a: o } })
    const m1 = only(await validateSnapshotTop(b.loader(), one.cid), 'VALID-SNAP-FIRST-RETIRED').message
    expect(m1).toContain('retires a: ')
    expect(m1).not.toContain('...')
    const five = await b.snapshot({ root: R, targets: T, retired: { a: o, b: o, c: o, d: o, e: o } })
    const m5 = only(await validateSnapshotTop(b.loader(), five.cid), 'VALID-SNAP-FIRST-RETIRED').message
    expect(m5).toContain('retires a, b, c, d, e: ')
    expect(m5).not.toContain('...')
    const six = await b.snapshot({ root: R, targets: T, retired: { a: o, b: o, c: o, d: o, e: o, f: o } })
    const m6 = only(await validateSnapshotTop(b.loader(), six.cid), 'VALID-SNAP-FIRST-RETIRED').message
    expect(m6).toContain('retires a, b, c, d, e, ...: ')
    expect(m6).not.toContain(', f')
  })

  it('VALID-RETIRED-DISJOINT: the violation names the role listed and retired', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const r = await b.targets('rolename')
    const T = await b.targets('targets', { delegations: [b.deleg('rolename', ['x/*'])] })
    const first = await b.snapshot({ root: R, targets: T, delegated: { rolename: r } })
    const both = await b.snapshot({ root: R, targets: T, delegated: { rolename: r }, retired: { rolename: r }, previousVersion: first.cid })
    expect(only(await validateSnapshotTop(b.loader(), both.cid), 'VALID-RETIRED-DISJOINT').message).toContain('rolename')
  })
})

describe('the delegations', () => {
  it('VALID-DELEG-PATHS: the violation names the role and the path no chain allows', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const r1 = await b.targets('r1', { targets: ['elsewhere/x.txt'] })
    const T = await b.targets('targets', { delegations: [b.deleg('r1', ['r1/*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { r1 } })
    const x = only(await validateSnapshot(b.loader(), S.cid), 'VALID-DELEG-PATHS')
    expect(x.cid).toBe(s(r1))
    expect(x.message).toContain('r1 lists "elsewhere/x.txt"')
    // A long path is named by its first 128 characters.
    const long = `elsewhere/${'y'.repeat(150)}`
    const r2 = await b.targets('r1', { targets: [long] })
    const S2 = await b.snapshot({ root: R, targets: T, delegated: { r1: r2 } })
    const y = only(await validateSnapshot(b.loader(), S2.cid), 'VALID-DELEG-PATHS')
    expect(y.message).toContain(`r1 lists ${JSON.stringify(long.slice(0, 128))}, `)
  })

  it('BOUND-GLOB: the violation names the role, the path and the bound', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const path = `${'a'.repeat(160)}.txt`
    const r1 = await b.targets('r1', { targets: [path] })
    const T = await b.targets('targets', { delegations: [b.deleg('r1', ['*a*a*a*a*a*a*b'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { r1 } })
    const r = await validateSnapshot(b.loader(), S.cid, { limits: { maxGlobSteps: 50 } })
    const x = only(r, 'BOUND-GLOB')
    expect(x.message).toContain(`checking the paths of r1 (${JSON.stringify(path.slice(0, 128))})`)
    expect(x.message).toContain('more than 50 glob steps')
    // Fail-fast, the cause behind the violation is the budget's own error, which names the rule whose matching ran out.
    const ff = await caught(() => assertValidSnapshot(b.loader(), S.cid, { limits: { maxGlobSteps: 50 } }))
    expect(ff).toMatchObject({ code: 'BOUND-GLOB', details: { cid: r1.cid.toString(), rule: 'BOUND-GLOB' } })
    expect(ff.cause).toMatchObject({ code: 'BOUND-GLOB', details: { max: 50 } })
    expect((ff.cause as Error).message).toBe('VALID-DELEG-PATHS took more than 50 glob steps')
  })

  it('BOUND-DELEGATION-DEPTH: the violation names the role, the depth it is first reached at and the bound', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const d1 = await b.targets('d1')
    const d0 = await b.targets('d0', { delegations: [b.deleg('d1', ['*'])] })
    const T = await b.targets('targets', { delegations: [b.deleg('d0', ['*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { d0, d1 } })
    const x = only(await validateSnapshot(b.loader(), S.cid, { limits: { maxDelegationDepth: 1 } }), 'BOUND-DELEGATION-DEPTH')
    expect(x.cid).toBe(s(d1))
    expect(x.message).toContain('d1 is first reached at delegation depth 2, over 1')
  })

  it('VALID-DELEG-LISTED: a DAG asked for a role it does not list, or whose object is no targets object, names the role', async () => {
    const b = new DagBuilder()
    const R = await b.root()
    const T = await b.targets('targets', { delegations: [b.deleg('r1', ['r1/*'])] })
    const S = await b.snapshot({ root: R, targets: T, delegated: { r1: R.cid } })
    const r = await validateSnapshotTop(b.loader(), S.cid)
    expect(r.valid).toBe(true)
    const dag = r.dag!
    const unlisted = await caught(() => dag.role('nobody'))
    expect(unlisted).toBeInstanceOf(ValidationError)
    expect(unlisted.code).toBe('VALID-DELEG-LISTED')
    expect(unlisted.message).toContain('role nobody ')
    const notTargets = await caught(() => dag.role('r1'))
    expect(notTargets).toBeInstanceOf(ValidationError)
    expect(notTargets.code).toBe('VALID-KIND')
    expect(notTargets.message).toContain(`delegated-targets.r1 ${s(R)}: `)
  })
})
