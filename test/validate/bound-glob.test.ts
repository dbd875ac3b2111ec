/**
 * Review: glob cost. One delegated role's key could make VALID-DELEG-PATHS or
 * a search run for hours: up to 1,024 long patterns per role, each costing
 * |pattern| x |path| steps against every target of the child role. Matching
 * is now segment by segment with counted steps, and every VALID walk and
 * every search has a budget of LIMITS.maxGlobSteps (BOUND-GLOB).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LIMITS } from '../../src/model/config.js'
import { ValidationError } from '../../src/model/errors.js'
import type { TargetsEnvelope } from '../../src/model/types.js'
import { findTarget, globMatch, GlobBudget } from '../../src/validate/delegation.js'
import { assertValidSnapshot, dagOf, validateSnapshot, type Dag } from '../../src/validate/valid.js'
import { DagBuilder } from '../helpers/dag.js'
import { DEEP, HISTORY_SEED } from '../helpers/history.js'
import { caught } from '../helpers/model.js'

/**
 * Under `npm run mutate` (vitest.stryker.config.ts sets DAGTUF_MUTATION=1)
 * every glob step of the instrumented matcher costs tens of times more, so
 * the tests whose point is the cost of hundreds of millions of steps (the
 * default budget, the honest repository at scale) are left to `npm test`;
 * the small twins below reach the same code.
 */
const MUTATION = process.env.DAGTUF_MUTATION === '1'

/** Cases of the matcher-vs-reference properties: cheap, so not capped by DAGTUF_PROPERTY_RUNS. */
const GLOB_RUNS = DEEP ? 30_000 : 3_000

/** 64 patterns that each cost ~4 million steps against a 4,000-character path, then one that matches. */
const HOSTILE_PATTERNS = [...Array.from({ length: 64 }, (_, i) => '*' + 'a'.repeat(1990) + `b${i}*`), '*']
const hostilePath = (i: number): string => 'a'.repeat(4000) + String(i)

async function hostile () {
  const b = new DagBuilder()
  const root = await b.root()
  const evil = await b.targets('evil', { targets: Array.from({ length: 50 }, (_, i) => hostilePath(i)) })
  const top = await b.targets('targets', { delegations: [b.deleg('evil', HOSTILE_PATTERNS)] })
  const snap = await b.snapshot({ root, targets: top, delegated: { evil } })
  const dag: Dag = dagOf(b.loader(), { root, snapshot: snap, targets: top, roles: new Map([['evil', evil.cid]]), retired: new Map() }, new Map([['evil', evil]]))
  return { b, snap, evil, dag }
}

type T = TargetsEnvelope
/** 10,000 targets in one role delegated by 300 patterns: the costliest honest shape measured. */
async function honest () {
  const b = new DagBuilder()
  const root = await b.root()
  const name = (k: number): string => `project-${String(k).padStart(3, '0')}`
  const patterns = Array.from({ length: 300 }, (_, k) => `packages/${name(k)}/*/*.tar.gz`)
  const targets = Array.from({ length: 10_000 }, (_, i) => `packages/${name(i % 300)}/v${i % 7}.${i % 13}.${i % 5}/artifact-${i}.tar.gz`)
  const pkgs = await b.targets('packages', { targets })
  const top = await b.targets('targets', { delegations: [b.deleg('packages', patterns)] })
  const snap = await b.snapshot({ root, targets: top, delegated: { packages: pkgs } as Record<string, T> })
  return { b, snap, targets }
}

describe('review: BOUND-GLOB', () => {
  it.skipIf(MUTATION)('BOUND-GLOB: the hostile case from the review ends with BOUND-GLOB at the default budget, at the role whose paths ran out', async () => {
    const { b, snap, evil } = await hostile()
    const e = await caught(() => assertValidSnapshot(b.loader(), snap.cid))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('BOUND-GLOB')
    // The budget is 3e9 steps; the whole DAG would take ~13e9. The work is
    // bounded by the budget, not timed here (the test's timeout catches a runaway).
    expect(e.details).toMatchObject({ rule: 'BOUND-GLOB', cid: evil.cid.toString() })
  }, 60_000)

  it('BOUND-GLOB: VALID report mode names the role whose paths ran out of budget', async () => {
    const { b, snap, evil } = await hostile()
    const r = await validateSnapshot(b.loader(), snap.cid, { limits: { maxGlobSteps: 1_000_000 } })
    expect(r.valid).toBe(false)
    expect(r.violations).toEqual([expect.objectContaining({ rule: 'BOUND-GLOB', cid: evil.cid.toString() })])
    // Fail-fast mode stops with the same rule.
    expect((await caught(() => assertValidSnapshot(b.loader(), snap.cid, { limits: { maxGlobSteps: 1_000_000 } }))).code).toBe('BOUND-GLOB')
  })

  it.skipIf(MUTATION)('BOUND-GLOB: a search has its own budget; a shared budget bounds several searches together', async () => {
    const { dag } = await hostile()
    expect((await caught(() => findTarget(dag, hostilePath(0), { limits: { maxGlobSteps: 1_000_000 } }))).code).toBe('BOUND-GLOB')
    // 65 patterns x ~4 million steps fit in 400 million.
    expect((await findTarget(dag, hostilePath(0), { limits: { maxGlobSteps: 400_000_000 } }))?.role).toBe('evil')
    const shared = new GlobBudget(400_000_000)
    expect((await findTarget(dag, hostilePath(1), { budget: shared }))?.role).toBe('evil')
    expect((await caught(() => findTarget(dag, hostilePath(2), { budget: shared }))).code).toBe('BOUND-GLOB')
  })

  it('BOUND-GLOB: the same at a small scale: a search has its own budget, a shared one bounds several searches, and both count exactly the steps taken', async () => {
    // 8 patterns that each cost a few hundred steps against a 40-character path, then one that matches.
    const b = new DagBuilder()
    const root = await b.root()
    const patterns = [...Array.from({ length: 8 }, (_, i) => '*' + 'a'.repeat(10) + `b${i}*`), '*']
    const path = (i: number): string => 'a'.repeat(40) + String(i)
    const evil = await b.targets('evil', { targets: [path(0), path(1), path(2)] })
    const top = await b.targets('targets', { delegations: [b.deleg('evil', patterns)] })
    const snap = await b.snapshot({ root, targets: top, delegated: { evil } })
    const dag: Dag = dagOf(b.loader(), { root, snapshot: snap, targets: top, roles: new Map([['evil', evil.cid]]), retired: new Map() }, new Map([['evil', evil]]))
    // What one search costs, measured on a budget of its own.
    const one = new GlobBudget(Infinity)
    expect((await findTarget(dag, path(0), { budget: one }))?.role).toBe('evil')
    const cost = one.used
    expect(cost).toBeGreaterThan(8 * 30)
    // The same search is refused one step short of its cost, answered at exactly its cost.
    expect((await caught(() => findTarget(dag, path(0), { limits: { maxGlobSteps: cost - 1 } }))).code).toBe('BOUND-GLOB')
    expect((await findTarget(dag, path(0), { limits: { maxGlobSteps: cost } }))?.role).toBe('evil')
    // Each search gets a fresh budget from the limits, so two in a row both succeed.
    expect((await findTarget(dag, path(1), { limits: { maxGlobSteps: cost } }))?.role).toBe('evil')
    // A shared budget of 1.5 searches answers the first and refuses the second.
    const shared = new GlobBudget(Math.floor(cost * 1.5))
    expect((await findTarget(dag, path(1), { budget: shared }))?.role).toBe('evil')
    expect(shared.used).toBe(cost)
    expect((await caught(() => findTarget(dag, path(2), { budget: shared }))).code).toBe('BOUND-GLOB')
  })

  it.skipIf(MUTATION)('BOUND-GLOB: an honest repository of 10,000 targets and 300 patterns fits in a hundredth of the budget', async () => {
    const { b, snap, targets } = await honest()
    const hundredth = Math.floor(LIMITS.maxGlobSteps / 100)
    const r = await validateSnapshot(b.loader(), snap.cid, { limits: { maxGlobSteps: hundredth } })
    expect(r.violations).toEqual([])
    expect(r.valid).toBe(true)
    // Every target found, all searches counted against one budget (as listTargets does).
    const listing = new GlobBudget(hundredth)
    for (const p of targets) expect((await findTarget(r.dag!, p, { budget: listing }))?.role).toBe('packages')
    expect(listing.used).toBeGreaterThan(0)
  }, 60_000)

  it('BOUND-GLOB / DELEG-GLOB: the counted segment matcher agrees with a simple reference, within |pattern| x |path| steps', () => {
    // Reference, straight from DELEG-GLOB: recursion over code points, memoized.
    const reference = (pattern: string, path: string): boolean => {
      const p = Array.from(pattern)
      const s = Array.from(path)
      const memo = new Map<number, boolean>()
      const go = (i: number, j: number): boolean => {
        const key = i * (s.length + 1) + j
        const known = memo.get(key)
        if (known !== undefined) return known
        let r: boolean
        if (i === p.length) r = j === s.length
        else if (p[i] === '*') r = go(i + 1, j) || (j < s.length && s[j] !== '/' && go(i, j + 1))
        else if (p[i] === '?') r = j < s.length && s[j] !== '/' && go(i + 1, j + 1)
        else r = j < s.length && s[j] === p[i] && go(i + 1, j + 1)
        memo.set(key, r)
        return r
      }
      return go(0, 0)
    }
    const alpha = fc.constantFrom('a', 'a', 'a', 'b', '/', '*', '?', 'é', '🙂', '\uD800')
    const str = (max: number) => fc.array(alpha, { maxLength: max }).map((cs) => cs.join(''))
    const pathOf = (max: number) => str(max).map((s) => s.replace(/[*?]/g, 'a'))
    fc.assert(fc.property(str(24), pathOf(40), (pattern, path) => {
      const budget = new GlobBudget(Infinity)
      expect(globMatch(pattern, path, budget)).toBe(reference(pattern, path))
      expect(budget.used).toBeLessThanOrEqual(2 * (pattern.length + 1) * (path.length + 1))
    }), { seed: HISTORY_SEED, numRuns: GLOB_RUNS })
    // Paths derived from the pattern, so that matches are common.
    fc.assert(fc.property(str(16), fc.array(fc.constantFrom('', 'a', 'ab', 'é🙂'), { maxLength: 16 }), (pattern, fills) => {
      let k = 0
      const path = Array.from(pattern).map((c) => c === '*' ? (fills[k++ % Math.max(1, fills.length)] ?? '') : c === '?' ? 'b' : c).join('')
      expect(globMatch(pattern, path)).toBe(reference(pattern, path))
    }), { seed: HISTORY_SEED, numRuns: GLOB_RUNS })
  })

  it('BOUND-GLOB: an exhausted budget throws, never answers', () => {
    const b = new GlobBudget(100)
    expect(globMatch('*a*', 'xxa', b)).toBe(true)
    expect(() => globMatch('*' + 'a'.repeat(50) + 'b*', 'a'.repeat(200), b)).toThrow(expect.objectContaining({ code: 'BOUND-GLOB' }))
  })
})
