import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ValidationError } from '../../src/model/errors.js'
import type { TargetsEnvelope, TargetsSigned } from '../../src/model/types.js'
import { GlobBudget, findTarget, globMatch, pathHash, roleMatchesPath } from '../../src/validate/delegation.js'
import { assertValidSnapshotTop, dagOf as fullDag, validateSnapshot, validateSnapshotTop, type Dag } from '../../src/validate/valid.js'
import { DagBuilder, EXPIRES, info, targetMap } from '../helpers/dag.js'
import { makeTargets } from '../../src/model/build.js'
import { binName, binOfHash } from '../../src/model/delegations.js'
import { HISTORY_SEED, historyRuns } from '../helpers/history.js'
import { caught } from '../helpers/model.js'

/** A FullDag over hand-made objects (findTarget reads the targets, the role objects and the targets maps). */
async function dagOf (b: DagBuilder, top: TargetsEnvelope, delegated: Record<string, TargetsEnvelope>): Promise<Dag> {
  const root = await b.root()
  const snapshot = await b.snapshot({ root, targets: top, delegated })
  const roles = new Map(Object.entries(delegated).map(([n, e]) => [n, e.cid]))
  return fullDag(b.loader(), { root, snapshot, targets: top, roles, retired: new Map() }, new Map(Object.entries(delegated)))
}

describe('DELEG-GLOB', () => {
  it('DELEG-GLOB: the examples of TUF 1.0.34 (wildcards never match "/")', () => {
    expect(globMatch('targets/*.tgz', 'targets/foo.tgz')).toBe(true)
    expect(globMatch('targets/*.tgz', 'targets/foo.txt')).toBe(false)
    expect(globMatch('targets/*.tgz', 'targets/sub/foo.tgz')).toBe(false)
    expect(globMatch('foo-version-?.tgz', 'foo-version-2.tgz')).toBe(true)
    expect(globMatch('foo-version-?.tgz', 'foo-version-alpha.tgz')).toBe(false)
    expect(globMatch('*.tgz', 'foo.tgz')).toBe(true)
    expect(globMatch('*.tgz', 'pkg/foo.tgz')).toBe(false)
    expect(globMatch('foo.tgz', 'foo.tgz')).toBe(true)
    expect(globMatch('foo.tgz', 'bar.tgz')).toBe(false)
  })

  it('DELEG-GLOB: the whole path must match the whole pattern', () => {
    expect(globMatch('a/b', 'a/b/c')).toBe(false)
    expect(globMatch('a/b', 'x/a/b')).toBe(false)
    expect(globMatch('a/*', 'a/')).toBe(true) // `*` may match the empty run
    expect(globMatch('a/*/c', 'a/b/c')).toBe(true)
    expect(globMatch('a/*/c', 'a/b/d/c')).toBe(false)
    expect(globMatch('*', 'a/b')).toBe(false)
    expect(globMatch('*/*', 'a/b')).toBe(true)
    expect(globMatch('a*b*c', 'aXXbYYc')).toBe(true)
    expect(globMatch('a*b*c', 'aXXbYY')).toBe(false)
    expect(globMatch('**', 'anything')).toBe(true)
    expect(globMatch('**', 'any/thing')).toBe(false)
  })

  it('DELEG-GLOB: "?" matches one code point; brackets and backslashes are literal', () => {
    expect(globMatch('v?', 'v🙂')).toBe(true)
    expect(globMatch('v??', 'v🙂')).toBe(false)
    expect(globMatch('?', '/')).toBe(false)
    expect(globMatch('[ab].txt', 'a.txt')).toBe(false)
    expect(globMatch('[ab].txt', '[ab].txt')).toBe(true)
    expect(globMatch('a\\*', 'a\\b')).toBe(true)
    expect(globMatch('a\\*', 'ab')).toBe(false)
  })

  it('DELEG-GLOB: hostile patterns take polynomial time (no ReDoS)', () => {
    const path = 'a'.repeat(4000)
    const pattern = '*a'.repeat(200) + 'b'
    // Work counted in steps, not timed: bounded by a small polynomial of the
    // lengths (an exponential backtracker would need about 2^200 here).
    const b1 = new GlobBudget(Number.MAX_SAFE_INTEGER)
    expect(globMatch(pattern, path, b1)).toBe(false)
    expect(b1.used).toBeLessThanOrEqual(pattern.length * path.length)
    const b2 = new GlobBudget(Number.MAX_SAFE_INTEGER)
    expect(globMatch('*' + '?'.repeat(3999), path, b2)).toBe(true)
    expect(b2.used).toBeLessThanOrEqual(4000 * 4000)
  })

  it('DELEG-GLOB: agrees with a reference matcher on random patterns and paths', () => {
    // Reference: dynamic programming over code points, straight from the definition.
    const reference = (pattern: string, path: string): boolean => {
      const p = Array.from(pattern)
      const s = Array.from(path)
      const m: boolean[][] = Array.from({ length: p.length + 1 }, () => new Array<boolean>(s.length + 1).fill(false))
      m[p.length]![s.length] = true
      for (let i = p.length - 1; i >= 0; i--) {
        for (let j = s.length; j >= 0; j--) {
          const c = p[i]!
          if (c === '*') m[i]![j] = m[i + 1]![j]! || (j < s.length && s[j] !== '/' && m[i]![j + 1]!)
          else if (c === '?') m[i]![j] = j < s.length && s[j] !== '/' && m[i + 1]![j + 1]!
          else m[i]![j] = j < s.length && s[j] === c && m[i + 1]![j + 1]!
        }
      }
      return m[0]![0]!
    }
    const alpha = fc.constantFrom('a', 'b', '/', '*', '?', 'é', '🙂')
    const str = (max: number) => fc.array(alpha, { maxLength: max }).map((cs) => cs.join(''))
    fc.assert(fc.property(str(8), str(10).map((s) => s.replace(/[*?]/g, 'a')), (pattern, path) => {
      expect(globMatch(pattern, path)).toBe(reference(pattern, path))
    }), { seed: HISTORY_SEED, numRuns: historyRuns(2000).numRuns })
  })
})

describe('DELEG-HASH-PREFIX', () => {
  it('DELEG-HASH-PREFIX: the lowercase hex SHA-256 of the UTF-8 path must start with a prefix', () => {
    expect(pathHash('a/b.txt').startsWith('5550000d')).toBe(true)
    const role = (prefixes: string[]) => ({ name: 'h', keyids: [], threshold: 1, terminating: false, pathHashPrefixes: prefixes })
    expect(roleMatchesPath(role(['555']), 'a/b.txt')).toBe(true)
    expect(roleMatchesPath(role(['0', '5']), 'a/b.txt')).toBe(true)
    expect(roleMatchesPath(role(['556']), 'a/b.txt')).toBe(false)
    expect(roleMatchesPath(role([]), 'a/b.txt')).toBe(false)
    // UTF-8, not UTF-16: a non-ASCII path hashes its UTF-8 bytes.
    expect(pathHash('é')).toBe(createHash('sha256').update(Buffer.from([0xc3, 0xa9])).digest('hex'))
    const paths = { name: 'p', keyids: [], threshold: 1, terminating: false, paths: ['x/*', 'y'] }
    expect(roleMatchesPath(paths, 'y')).toBe(true)
    expect(roleMatchesPath({ ...paths, paths: [] }, 'y')).toBe(false)
  })

  it('DELEG-HASH-PREFIX: a search follows a hash-prefix delegation only for matching paths', async () => {
    const b = new DagBuilder()
    const h = await b.targets('h', { targets: ['a/b.txt'] })
    const top = await b.targets('targets', { delegations: [b.deleg('h', { hashPrefixes: ['555'] })] })
    const dag = await dagOf(b, top, { h })
    expect((await findTarget(dag, 'a/b.txt'))?.role).toBe('h')
    const miss = await dagOf(b, await b.targets('targets', { delegations: [b.deleg('h', { hashPrefixes: ['556'] })] }), { h })
    expect((await findTarget(miss, 'a/b.txt'))).toBeNull()
  })
})

describe('findTarget', () => {
  it('DELEG-ORDER: a role\'s own entry first, then delegations in listed order, each subtree before the next sibling', async () => {
    const b = new DagBuilder()
    const a1 = await b.targets('a1', { targets: ['p/x'] })
    const a = await b.targets('a', { delegations: [b.deleg('a1', ['p/*'])] })
    const c = await b.targets('c', { targets: ['p/x'] })
    const top = await b.targets('targets', { delegations: [b.deleg('a', ['p/*']), b.deleg('c', ['p/*'])] })
    const dag = await dagOf(b, top, { a, a1, c })
    expect((await validateSnapshot(b.loader(), dag.snapshot.cid)).valid).toBe(true)
    const found = await findTarget(dag, 'p/x')
    expect(found?.role).toBe('a1')
    expect(found?.chain).toEqual(['targets', 'a', 'a1'])
    expect(found?.info.cid.equals((await targetMap(b.loader(), a1)).get('p/x')!.cid)).toBe(true)
    // Listed order decides between siblings.
    const swapped = await b.targets('targets', { delegations: [b.deleg('c', ['p/*']), b.deleg('a', ['p/*'])] })
    expect((await findTarget(await dagOf(b, swapped, { a, a1, c }), 'p/x'))?.role).toBe('c')
    // The delegator's own entry comes before any delegation.
    const own = await b.targets('targets', { targets: ['p/x'], delegations: [b.deleg('a', ['p/*'])] })
    expect((await findTarget(await dagOf(b, own, { a, a1 }), 'p/x'))).toMatchObject({ role: 'targets', chain: ['targets'] })
    expect((await findTarget(dag, 'p/none'))).toBeNull()
  })

  it('DELEG-ORDER: the search re-checks patterns on its chain and never returns an entry outside them', async () => {
    const b = new DagBuilder()
    const a = await b.targets('a', { targets: ['p/x'] })
    const top = await b.targets('targets', { delegations: [b.deleg('a', ['q/*'])] })
    expect((await findTarget(await dagOf(b, top, { a }), 'p/x'))).toBeNull()
  })

  it('DELEG-TERMINATING: a matching terminating role ends the search after its subtree', async () => {
    const b = new DagBuilder()
    const t = await b.targets('t', {})
    const c = await b.targets('c', { targets: ['p/x'] })
    const term = await b.targets('targets', { delegations: [b.deleg('t', ['p/*'], { terminating: true }), b.deleg('c', ['p/*'])] })
    expect((await findTarget(await dagOf(b, term, { t, c }), 'p/x'))).toBeNull()
    const open = await b.targets('targets', { delegations: [b.deleg('t', ['p/*']), b.deleg('c', ['p/*'])] })
    expect((await findTarget(await dagOf(b, open, { t, c }), 'p/x'))?.role).toBe('c')
    // A terminating entry that does not match the path does not end anything.
    const other = await b.targets('targets', { delegations: [b.deleg('t', ['q/*'], { terminating: true }), b.deleg('c', ['p/*'])] })
    expect((await findTarget(await dagOf(b, other, { t, c }), 'p/x'))?.role).toBe('c')
  })

  it('DELEG-TERMINATING: earlier matching siblings keep their priority', async () => {
    const b = new DagBuilder()
    const t = await b.targets('t', {})
    const c = await b.targets('c', { targets: ['p/x'] })
    const top = await b.targets('targets', { delegations: [b.deleg('c', ['p/*']), b.deleg('t', ['p/*'], { terminating: true })] })
    expect((await findTarget(await dagOf(b, top, { t, c }), 'p/x'))?.role).toBe('c')
  })

  it('DELEG-TERMINATING: a terminating entry deep in the tree discards pending alternatives at every level', async () => {
    const b = new DagBuilder()
    const a1 = await b.targets('a1', {})
    const a = await b.targets('a', { delegations: [b.deleg('a1', ['p/*'], { terminating: true })] })
    const c = await b.targets('c', { targets: ['p/x'] })
    const top = await b.targets('targets', { delegations: [b.deleg('a', ['p/*']), b.deleg('c', ['p/*'])] })
    expect((await findTarget(await dagOf(b, top, { a, a1, c }), 'p/x'))).toBeNull()
  })

  it('DELEG-TERMINATING: a terminating entry naming an already visited role still ends the search', async () => {
    const b = new DagBuilder()
    const a = await b.targets('a', {})
    const m = await b.targets('m', { delegations: [b.deleg('a', ['p/*'], { terminating: true })] })
    const c = await b.targets('c', { targets: ['p/x'] })
    const top = await b.targets('targets', { delegations: [b.deleg('a', ['p/*']), b.deleg('m', ['p/*']), b.deleg('c', ['p/*'])] })
    expect((await findTarget(await dagOf(b, top, { a, m, c }), 'p/x'))).toBeNull()
    const m2 = await b.targets('m', { delegations: [b.deleg('a', ['p/*'])] })
    expect((await findTarget(await dagOf(b, top, { a, m: m2, c }), 'p/x'))?.role).toBe('c')
  })

  it('DELEG-VISITED: a role reached twice (diamond) is visited once, and cycles end', async () => {
    const b = new DagBuilder()
    const c = await b.targets('c', {})
    const d = await b.targets('d', { targets: ['p/x'] })
    const a = await b.targets('a', { delegations: [b.deleg('c', ['p/*'])] })
    const bb = await b.targets('b', { delegations: [b.deleg('c', ['p/*']), b.deleg('d', ['p/*'])] })
    const top = await b.targets('targets', { delegations: [b.deleg('a', ['p/*']), b.deleg('b', ['p/*'])] })
    const dag = await dagOf(b, top, { a, b: bb, c, d })
    // targets, a, c, b, d: five visits; a second visit of c would need six.
    expect((await findTarget(dag, 'p/x', { limits: { maxDelegationsVisited: 5 } }))).toMatchObject({ role: 'd', chain: ['targets', 'b', 'd'] })
    const x = await b.targets('x', { delegations: [b.deleg('y', ['p/*'])] })
    const y = await b.targets('y', { delegations: [b.deleg('x', ['p/*'])] })
    const cyc = await b.targets('targets', { delegations: [b.deleg('x', ['p/*'])] })
    expect((await findTarget(await dagOf(b, cyc, { x, y }), 'p/x'))).toBeNull()
  })

  it('BOUND-DELEGATIONS: a search that would visit more roles than the bound fails', async () => {
    const b = new DagBuilder()
    const names = ['r0', 'r1', 'r2', 'r3']
    const objs: Record<string, TargetsEnvelope> = {}
    for (const n of names) objs[n] = await b.targets(n, {})
    const top = await b.targets('targets', { delegations: names.map((n) => b.deleg(n, ['*'])) })
    const dag = await dagOf(b, top, objs)
    expect((await findTarget(dag, 'x', { limits: { maxDelegationsVisited: 5 } }))).toBeNull()
    const e = await caught(() => findTarget(dag, 'x', { limits: { maxDelegationsVisited: 4 } }))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('BOUND-DELEGATIONS')
    expect(e.details).toEqual({ max: 4 })
  })

  it('BOUND-DELEGATION-DEPTH: a search that would visit a role deeper than the bound fails', async () => {
    const b = new DagBuilder()
    const d2 = await b.targets('d2', { targets: ['x'] })
    const d1 = await b.targets('d1', { delegations: [b.deleg('d2', ['*'])] })
    const d0 = await b.targets('d0', { delegations: [b.deleg('d1', ['*'])] })
    const top = await b.targets('targets', { delegations: [b.deleg('d0', ['*'])] })
    const dag = await dagOf(b, top, { d0, d1, d2 })
    expect((await findTarget(dag, 'x', { limits: { maxDelegationDepth: 3 } }))?.chain).toEqual(['targets', 'd0', 'd1', 'd2'])
    const e = await caught(() => findTarget(dag, 'x', { limits: { maxDelegationDepth: 2 } }))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('BOUND-DELEGATION-DEPTH')
    expect(e.details).toEqual({ role: 'd2', max: 2 })
  })

  it('with a reference time, a visited role that is not fresh ends the search with an error', async () => {
    const b = new DagBuilder()
    const old = await b.targets('old', { targets: ['p/x'], expires: '2027-01-01T00:00:00Z' })
    const top = await b.targets('targets', { delegations: [b.deleg('old', ['p/*'])] })
    const dag = await dagOf(b, top, { old })
    expect((await findTarget(dag, 'p/x', { now: new Date('2026-12-31T23:59:59.999Z') }))?.role).toBe('old')
    const e = await caught(() => findTarget(dag, 'p/x', { now: '2027-01-01T00:00:00Z' }))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('CLIENT-EXPIRES')
    expect(e.details.cid).toBe(old.cid.toString())
    // A role the search does not visit does not matter.
    expect((await findTarget(dag, 'q/x', { now: '2028-01-01T00:00:00Z' }))).toBeNull()
  })
})

describe('CLIENT-VALID-TOP: the search judges each role it visits, and reads no other', () => {
  /** A snapshot with good (honest), bad (signed by a stranger), gone (delegated, not listed), odd (a root listed as targets) and wide (threshold 2 over one key). */
  async function mixed () {
    const b = new DagBuilder()
    const root = await b.root()
    const good = await b.targets('good', { targets: ['good/x'] })
    const bad = await b.targets('bad', { targets: ['bad/x'], signers: [b.key('stranger')] })
    const wide = await b.targets('wide', { targets: ['wide/x'] })
    const top = await b.targets('targets', {
      delegations: [
        b.deleg('good', ['good/*']), b.deleg('bad', ['bad/*']), b.deleg('gone', ['gone/*']),
        b.deleg('odd', ['odd/*']), b.deleg('wide', ['wide/*'], { threshold: 2 })
      ]
    })
    const snap = await b.snapshot({ root, targets: top, delegated: { good, bad, odd: root.cid, wide } })
    return { b, snap }
  }

  it('CLIENT-VALID-TOP: a DAG whose delegated roles break VALID has a VALID top; each search that visits a broken role fails with its rule, the others answer', async () => {
    const { b, snap } = await mixed()
    const full = await validateSnapshot(b.loader(), snap.cid)
    expect(new Set(full.violations.map((v) => v.rule))).toEqual(new Set(['VALID-DELEG-SIG', 'VALID-DELEG-LISTED', 'VALID-KIND', 'VALID-DELEG-KEYS']))
    const dag = await assertValidSnapshotTop(b.loader(), snap.cid)
    expect((await findTarget(dag, 'good/x'))?.role).toBe('good')
    // Only the role the search visited was read.
    expect([...dag.loadedRoles.keys()]).toEqual(['good'])
    expect((await caught(async () => await findTarget(dag, 'bad/x'))).code).toBe('VALID-DELEG-SIG')
    expect((await caught(async () => await findTarget(dag, 'gone/x'))).code).toBe('VALID-DELEG-LISTED')
    expect((await caught(async () => await findTarget(dag, 'odd/x'))).code).toBe('VALID-KIND')
    expect((await caught(async () => await findTarget(dag, 'wide/x'))).code).toBe('VALID-DELEG-KEYS')
    // A path no edge matches visits nothing and is not found.
    expect(await findTarget(dag, 'elsewhere/x')).toBeNull()
  })

  it('VALID-DELEG-KEYS: the search refuses an edge whose keyid is missing from the delegator\'s keys, before reading the role; errors name the delegator or the object', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const r = await b.targets('r', { targets: ['r/x'] })
    const t = b.targetsSigned({ delegations: [b.deleg('r', ['r/*'])] })
    const d = t.delegations!
    const ghostly: TargetsSigned = { ...t, delegations: { ...d, roles: [{ ...d.roles[0]!, keyids: [...d.roles[0]!.keyids, b.key('ghost').keyid] }] } }
    const top = await b.sign(ghostly, [b.key('targets')])
    const snap = await b.snapshot({ root, targets: top, delegated: { r } })
    const dag = await assertValidSnapshotTop(b.loader(), snap.cid)
    const e = await caught(async () => await findTarget(dag, 'r/x'))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e).toMatchObject({ code: 'VALID-DELEG-KEYS', details: { cid: top.cid.toString(), role: 'r' } })
    expect(dag.loadedRoles.size).toBe(0)
    // Each refusal names where the fault is: the delegator for its entry, the object for its signatures.
    const { b: b2, snap: snap2 } = await mixed()
    const dag2 = await assertValidSnapshotTop(b2.loader(), snap2.cid)
    const wide = await caught(async () => await findTarget(dag2, 'wide/x'))
    expect(wide).toMatchObject({ code: 'VALID-DELEG-KEYS', details: { cid: dag2.targets.cid.toString(), role: 'wide' } })
    const bad = await caught(async () => await findTarget(dag2, 'bad/x'))
    expect(bad).toMatchObject({ code: 'VALID-DELEG-SIG', details: { cid: dag2.roles.get('bad')!.toString(), role: 'bad', delegator: 'targets' } })
  })

  it('DELEG-SUCCINCT: the search visits the one bin of the path\'s hash, judged under the bins\' keys, and reads no other bin', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const bins = b.key('bins')
    const spec = { keys: [bins.publicKey], threshold: 1, bitLength: 4, namePrefix: 'bin' }
    const top = await b.sign(makeTargets({ expires: EXPIRES, targets: b.targetsSigned().targets, succinct: spec }), [b.key('targets')])
    const succinct = top.signed.delegations!.succinct!
    const binOf = (path: string): string => binName(succinct, binOfHash(succinct.bitLength, pathHash(path)))
    const paths = ['a.txt', 'b.txt', 'c.txt', 'd.txt'].filter((p, i, all) => all.findIndex((q) => binOf(q) === binOf(p)) === i)
    expect(paths.length).toBeGreaterThan(1)
    const [p1, p2] = paths as [string, string]
    const objects: Record<string, TargetsEnvelope> = {
      [binOf(p1)]: await b.targets('bins', { targets: [p1] }),
      // The second path's bin is signed by a stranger.
      [binOf(p2)]: await b.targets('bins', { targets: [p2], signers: [b.key('stranger')] })
    }
    const snap = await b.snapshot({ root, targets: top, delegated: objects })
    const dag = await assertValidSnapshotTop(b.loader(), snap.cid)
    const found = await findTarget(dag, p1)
    expect(found).toMatchObject({ role: binOf(p1), chain: ['targets', binOf(p1)] })
    expect(found!.info).toEqual(info(p1))
    expect([...dag.loadedRoles.keys()]).toEqual([binOf(p1)])
    const e = await caught(async () => await findTarget(dag, p2))
    expect(e).toMatchObject({ code: 'VALID-DELEG-SIG', details: { role: binOf(p2), delegator: 'targets' } })
    // A path of a bin that is not listed: VALID-DELEG-LISTED, not "not found".
    const unlisted = ['e.txt', 'f.txt', 'g.txt', 'h.txt', 'i.txt', 'j.txt'].find((p) => ![binOf(p1), binOf(p2)].includes(binOf(p)))!
    expect(await caught(async () => await findTarget(dag, unlisted))).toMatchObject({ code: 'VALID-DELEG-LISTED' })
    // A bin is one delegation below the delegator (BOUND-DELEGATION-DEPTH).
    expect(await caught(async () => await findTarget(dag, p1, { limits: { maxDelegationDepth: 0 } }))).toMatchObject({ code: 'BOUND-DELEGATION-DEPTH', details: { role: binOf(p1), max: 0 } })
    expect((await findTarget(dag, p1, { limits: { maxDelegationDepth: 1 } }))?.role).toBe(binOf(p1))
  })

  it('findTarget checks its arguments (UsageError ERR_ARGUMENT) and CLIENT-EXPIRES names the role and its expiry', async () => {
    const b = new DagBuilder()
    const old = await b.targets('old', { targets: ['p/x'], expires: '2027-01-01T00:00:00Z' })
    const top = await b.targets('targets', { delegations: [b.deleg('old', ['p/*'])] })
    const dag = await dagOf(b, top, { old })
    expect(await caught(async () => await findTarget(dag, 'p/x', { now: 'not a date' }))).toMatchObject({ name: 'UsageError', code: 'ERR_ARGUMENT' })
    expect(await caught(async () => await findTarget(dag, 'p/x', { now: new Date(NaN) }))).toMatchObject({ name: 'UsageError', code: 'ERR_ARGUMENT' })
    expect(await caught(async () => await findTarget(dag, 7 as unknown as string))).toMatchObject({ name: 'UsageError', code: 'ERR_ARGUMENT' })
    const e = await caught(async () => await findTarget(dag, 'p/x', { now: new Date('2027-06-01T00:00:00Z') }))
    expect(e).toMatchObject({ code: 'CLIENT-EXPIRES', details: { cid: old.cid.toString(), role: 'old', expires: '2027-01-01T00:00:00Z' } })
    // The top-level targets is judged too (its freshness, not only the roles it delegates to).
    const stale = await b.targets('targets', { targets: ['t'], expires: '2026-01-01T00:00:00Z' })
    const dag2 = await dagOf(b, stale, {})
    expect(await caught(async () => await findTarget(dag2, 't', { now: '2026-06-01T00:00:00Z' }))).toMatchObject({ code: 'CLIENT-EXPIRES', details: { role: 'targets' } })
    expect((await findTarget(dag2, 't'))?.role).toBe('targets')
  })

  it('CLIENT-VALID-TOP: VALID_top still refuses what the top breaks (the top-level targets signed by a stranger)', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const top = await b.targets('targets', { signers: [b.key('stranger')] })
    const snap = await b.snapshot({ root, targets: top })
    expect((await caught(async () => await assertValidSnapshotTop(b.loader(), snap.cid))).code).toBe('VALID-TARGETS-SIG')
    expect((await validateSnapshotTop(b.loader(), snap.cid)).violations.map((v) => v.rule)).toEqual(['VALID-TARGETS-SIG'])
  })
})
