/**
 * The laws of NOTES sections 4, 5 and 8 on generated honest histories
 * (test/helpers/history.ts). The seed varies per run (test/helpers/seed.ts):
 * fast-check prints it and the shrunk op list of any failure, DAGTUF_SEED
 * replays it, DAGTUF_DEEP=1 runs ten times as many histories.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import type { Kind } from '../../src/model/config.js'
import { succ, succOpt, succStar } from '../../src/relations/index.js'
import { findTarget, roleMatchesPath } from '../../src/validate/delegation.js'
import { assertValidTimestamp, validateTimestamp } from '../../src/validate/valid.js'
import { arbHistory, arbSeed, buildHistory, type RepoSim, type Version } from '../helpers/history.js'
import { propertyRuns } from '../helpers/seed.js'
import { targetMap } from '../helpers/dag.js'
import type { TargetInfo } from '../../src/model/types.js'

const RUNS = 15

/** The distinct objects of one kind over a history, in order of first appearance. */
function chainOf (versions: readonly Version[], pick: (v: Version) => CID | undefined): CID[] {
  const out: CID[] = []
  const seen = new Set<string>()
  for (const v of versions) {
    const c = pick(v)
    if (c !== undefined && !seen.has(c.toString())) {
      seen.add(c.toString())
      out.push(c)
    }
  }
  return out
}

/** Every object chain of an honest history: roots, snapshots, top targets, and each delegated name. */
function chains (sim: RepoSim): Array<{ kind: Exclude<Kind, 'timestamp'>, label: string, cids: CID[] }> {
  const vs = sim.versions
  const names = new Set(vs.flatMap((v) => [...v.delegated.keys()]))
  return [
    { kind: 'root', label: 'root', cids: chainOf(vs, (v) => v.root.cid) },
    { kind: 'snapshot', label: 'snapshot', cids: chainOf(vs, (v) => v.snapshot.cid) },
    { kind: 'targets', label: 'targets', cids: chainOf(vs, (v) => v.targets.cid) },
    ...[...names].map((n) => ({ kind: 'targets' as const, label: n, cids: chainOf(vs, (v) => v.delegated.get(n)?.cid ?? v.retired.get(n)) }))
  ]
}

/** Generated histories: re-adds, diamonds with differing labels, rotations of every role, long chains (test/property/distribution.test.ts checks the mix). */
function history (): fc.Arbitrary<[number, Parameters<typeof buildHistory>[1]]> {
  return arbHistory
}

describe('laws on honest histories', () => {
  it('VALID-SNAP-ROOT, VALID-DELEG-SIG, VALID-DELEG-PATHS: every honest timestamp DAG is VALID, in both modes', async () => {
    await fc.assert(fc.asyncProperty(history(), async ([seed, ops]) => {
      const { sim } = await buildHistory(seed, ops)
      const loader = sim.loader()
      for (const v of sim.versions) {
        const r = await validateTimestamp(loader, v.timestamp.cid)
        expect(r.violations).toEqual([])
        expect(r.dag?.snapshot.cid.equals(v.snapshot.cid)).toBe(true)
        expect([...r.dag!.delegated.keys()]).toEqual([...v.delegated.keys()])
        const dag = await assertValidTimestamp(sim.loader(), v.timestamp.cid)
        expect(dag.timestamp?.cid.equals(v.timestamp.cid)).toBe(true)
      }
    }), propertyRuns(RUNS))
  })

  it('DELEG-ORDER: a search answer is listed by the role that answered, along a chain whose every edge matches', async () => {
    await fc.assert(fc.asyncProperty(history(), async ([seed, ops]) => {
      const { sim } = await buildHistory(seed, ops)
      const dag = (await validateTimestamp(sim.loader(), sim.head.timestamp.cid)).dag!
      const objs = new Map([['targets', dag.targets], ...dag.delegated])
      const maps = new Map<string, Map<string, TargetInfo>>()
      for (const [n, o] of objs) maps.set(n, await targetMap(dag.maps, o))
      const paths = new Set([...maps.values()].flatMap((m) => [...m.keys()]))
      for (const p of [...paths, 'no/such/target']) {
        const found = await findTarget(dag, p)
        if (maps.get('targets')!.has(p)) expect(found?.role).toBe('targets')
        if (found === null) continue
        expect(found.role).toBe(found.chain[found.chain.length - 1])
        expect(maps.get(found.role)!.get(p)).toEqual(found.info)
        for (let i = 0; i + 1 < found.chain.length; i++) {
          const edge = objs.get(found.chain[i]!)!.signed.delegations!.roles.find((e) => e.name === found.chain[i + 1])
          expect(edge !== undefined && roleMatchesPath(edge, p)).toBe(true)
        }
      }
    }), propertyRuns(RUNS))
  })

  it('SUCC-TS-SNAPSHOT, SUCC-STAR: each new timestamp descends from the previous one, with a witness of previous-version links', async () => {
    await fc.assert(fc.asyncProperty(history(), async ([seed, ops]) => {
      const { sim } = await buildHistory(seed, ops)
      const loader = sim.loader()
      for (let i = 1; i < sim.versions.length; i++) {
        const [a, b] = [sim.versions[i]!, sim.versions[i - 1]!]
        const r = await succStar(loader, 'timestamp', a.timestamp.cid, b.timestamp.cid)
        expect(r.violations).toEqual([])
        expect(r.witness[0]).toBe(a.snapshot.cid.toString())
        expect(r.witness[r.witness.length - 1]).toBe(b.snapshot.cid.toString())
        for (let k = 0; k + 1 < r.witness.length; k++) {
          const s = await loader.load('snapshot', CID.parse(r.witness[k]!))
          expect(s.signed.previousVersion?.toString()).toBe(r.witness[k + 1])
        }
      }
    }), propertyRuns(RUNS))
  })

  it('CLIENT-VALID-TOP: on honest histories the client\'s <-*ᵗ (VALID_top premises) agrees with <-* on pairs of timestamps (near ones both ways, every one against the first), with the same witness (and with witness \'ends\', its ends and the same count)', async () => {
    await fc.assert(fc.asyncProperty(history(), async ([seed, ops]) => {
      const { sim } = await buildHistory(seed, ops)
      const full = sim.loader()
      const top = sim.loader()
      const ends = sim.loader()
      const vs = sim.versions
      // Every pair near the diagonal, both ways, and every version against the
      // first (the longest walks): a one-pass top walk forgets what it read,
      // so all pairs would cost a walk each.
      const pairs: Array<[number, number]> = []
      for (let i = 0; i < vs.length; i++) {
        for (let j = 0; j < vs.length; j++) if (Math.abs(i - j) <= 3 || i === 0 || j === 0) pairs.push([i, j])
      }
      for (const [i, j] of pairs) {
        {
          const a = vs[i]!.timestamp.cid
          const b = vs[j]!.timestamp.cid
          const f = await succStar(full, 'timestamp', a, b)
          const t = await succStar(top, 'timestamp', a, b, { premise: 'top' })
          expect(t.holds).toBe(f.holds)
          expect(t.witness).toEqual(f.witness)
          expect(t.steps).toBe(f.holds ? f.witness.length - 1 : 0)
          // The client's walk keeps only the ends: the same verdict and count.
          const e = await succStar(ends, 'timestamp', a, b, { premise: 'top', witness: 'ends' })
          expect({ holds: e.holds, violations: e.violations, steps: e.steps }).toEqual({ holds: t.holds, violations: t.violations, steps: t.steps })
          expect(e.witness).toEqual(!t.holds ? [] : t.witness.length === 1 ? t.witness : [t.witness[0], t.witness[t.witness.length - 1]])
          // Histories are linear: later-or-equal exactly.
          expect(f.holds).toBe(i >= j || vs[i]!.snapshot.cid.equals(vs[j]!.snapshot.cid))
        }
      }
    }), propertyRuns(RUNS))
  })

  it('SUCC-STAR: <-* is reflexive, transitive and antisymmetric on every chain (exactly "later or equal")', async () => {
    await fc.assert(fc.asyncProperty(history(), async ([seed, ops]) => {
      const { sim } = await buildHistory(seed, ops)
      const loader = sim.loader()
      const ends = sim.loader()
      for (const { kind, cids } of chains(sim)) {
        for (let i = 0; i < cids.length; i++) {
          for (let j = 0; j < cids.length; j++) {
            const r = await succStar(loader, kind, cids[i]!, cids[j]!)
            // A partial order that is the chain order: antisymmetric and transitive by construction of the check.
            expect(r.holds).toBe(i >= j)
            if (r.holds) expect(r.witness.length).toBe(i - j + 1)
            expect(r.steps).toBe(r.holds ? i - j : 0)
            // Keeping only the ends (one pass for targets objects, which drops each as it goes): the same verdict and count.
            const e = await succStar(ends, kind, cids[i]!, cids[j]!, { witness: 'ends' })
            expect({ holds: e.holds, violations: e.violations, steps: e.steps }).toEqual({ holds: r.holds, violations: r.violations, steps: r.steps })
            expect(e.witness).toEqual(!r.holds ? [] : i === j ? [cids[i]!.toString()] : [cids[i]!.toString(), cids[j]!.toString()])
          }
        }
      }
    }), propertyRuns(RUNS))
  })

  it('SUCC-STAR, SUCC-TS-SNAPSHOT: on timestamps <-* is a preorder whose kernel is "same snapshot"', async () => {
    await fc.assert(fc.asyncProperty(history(), fc.nat(), async ([seed, ops], pick) => {
      const { sim } = await buildHistory(seed, ops)
      // Make sure the kernel is exercised: re-sign the head's timestamp.
      await sim.refreshTimestamp()
      const loader = sim.loader()
      const vs = sim.versions
      const snapIndex = chainOf(vs, (v) => v.snapshot.cid).map(String)
      const order = (v: Version): number => snapIndex.indexOf(v.snapshot.cid.toString())
      const rel = new Map<string, boolean>()
      for (const a of vs) {
        for (const b of vs) {
          const r = await succStar(loader, 'timestamp', a.timestamp.cid, b.timestamp.cid)
          expect(r.holds).toBe(order(a) >= order(b))
          rel.set(`${a.index} ${b.index}`, r.holds)
        }
      }
      const n = vs.length
      for (let k = 0; k < 3 * n; k++) {
        const [a, b, c] = [(pick + k) % n, (pick * 7 + k * 3) % n, (pick * 13 + k * 5) % n]
        // Transitivity.
        if (rel.get(`${a} ${b}`) === true && rel.get(`${b} ${c}`) === true) expect(rel.get(`${a} ${c}`)).toBe(true)
        // Antisymmetry up to the kernel.
        if (rel.get(`${a} ${b}`) === true && rel.get(`${b} ${a}`) === true) expect(vs[a]!.snapshot.cid.equals(vs[b]!.snapshot.cid)).toBe(true)
      }
      const [x, y] = [vs[n - 1]!, vs[n - 2]!]
      expect(x.snapshot.cid.equals(y.snapshot.cid) && !x.timestamp.cid.equals(y.timestamp.cid)).toBe(true)
      expect(rel.get(`${x.index} ${y.index}`) === true && rel.get(`${y.index} ${x.index}`) === true).toBe(true)
    }), propertyRuns(RUNS))
  })

  it('SUCC-OPT: <-? is exactly "equal (and VALID) or <-", and <- implies <-*', async () => {
    await fc.assert(fc.asyncProperty(history(), async ([seed, ops]) => {
      const { sim } = await buildHistory(seed, ops)
      const loader = sim.loader()
      const all: Array<{ kind: Kind, cids: CID[] }> = [
        ...chains(sim),
        { kind: 'timestamp', cids: sim.versions.map((v) => v.timestamp.cid) }
      ]
      for (const { kind, cids } of all) {
        for (const a of cids) {
          for (const b of cids) {
            const one = await succ(loader, kind, a, b)
            const opt = await succOpt(loader, kind, a, b)
            const star = await succStar(loader, kind, a, b)
            expect(opt.holds).toBe(a.equals(b) || one.holds)
            if (one.holds) expect(star.holds).toBe(true)
            if (opt.holds) expect(star.holds).toBe(true)
          }
        }
      }
    }), propertyRuns(RUNS))
  })

  it('SUCC-STAR: two forks from one parent are unrelated either way, and both descend from the parent', async () => {
    await fc.assert(fc.asyncProperty(history(), arbSeed, async ([seed, ops], forkSeed) => {
      const { sim } = await buildHistory(seed, ops)
      const parent = sim.head
      const other = sim.fork(forkSeed)
      await sim.addTarget('targets', 'fork/a.txt')
      await other.addTarget('targets', 'fork/b.txt')
      const a = await sim.publish()
      const b = await other.publish()
      const loader = sim.loader() // one store holds both forks
      for (const [kind, x, y] of [['timestamp', a.timestamp.cid, b.timestamp.cid], ['snapshot', a.snapshot.cid, b.snapshot.cid], ['targets', a.targets.cid, b.targets.cid]] as const) {
        expect((await succStar(loader, kind, x, y)).holds).toBe(false)
        expect((await succStar(loader, kind, y, x)).holds).toBe(false)
      }
      for (const v of [a, b]) {
        expect((await succStar(loader, 'timestamp', v.timestamp.cid, parent.timestamp.cid)).holds).toBe(true)
        expect((await succ(loader, 'snapshot', v.snapshot.cid, parent.snapshot.cid)).holds).toBe(true)
      }
    }), propertyRuns(RUNS))
  })
})
