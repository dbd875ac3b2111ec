/**
 * A snapshot's place on its chain (NOTES 5.3, 5.5): `height` and the skip
 * links (`ladder`), the rules that make them true along a chain
 * (VALID-SNAP-HEIGHT, SUCC-SNAP-HEIGHT, SUCC-SNAP-SKIPS), the shortcuts the
 * heights allow a walk, and fetching a lagging chain ahead through the skips:
 * the same relation in fewer rounds of requests.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { CID } from 'multiformats/cid'
import { ladder, rung, successorPlace, MAX_SKIPS } from '../../src/model/ladder.js'
import { succ, succStar, type Relation } from '../../src/relations/index.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { validateSnapshot, validateSnapshotTop } from '../../src/validate/valid.js'
import type { RootEnvelope, SnapshotEnvelope, TargetsEnvelope } from '../../src/model/types.js'
import { DagBuilder, snapshotChain } from '../helpers/dag.js'
import { placeHint } from '../../src/relations/prefetch.js'
import { DEEP, propertyRuns } from '../helpers/seed.js'
import { roundCounting } from '../helpers/rounds.js'

/** The rules of `r`'s violations; each violation must also say what is wrong (its message is never empty). */
const rules = (r: Relation): string[] => r.violations.map((v) => { expect(v.message, v.rule).not.toBe(''); return v.rule })
const top = { premise: 'top' } as const

function popcount (n: number): number {
  let c = 0
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2
  return c
}

describe('the ladder (NOTES 5.3)', () => {
  it('SUCC-SNAP-SKIPS: ladder(h) clears the low set bits of h - 1 one at a time, highest first, without h - 1 and 0', () => {
    expect(ladder(1)).toEqual([])
    expect(ladder(2)).toEqual([])
    expect(ladder(3)).toEqual([])
    expect(ladder(4)).toEqual([2])
    expect(ladder(8)).toEqual([6, 4])
    expect(ladder(1000)).toEqual([998, 996, 992, 960, 896, 768, 512])
    // Past 2^32, where bitwise operators would wrap.
    expect(ladder(2 ** 40 + 2)).toEqual([2 ** 40])
    expect(ladder(Number.MAX_SAFE_INTEGER)).toHaveLength(MAX_SKIPS - 1)
    expect(ladder(Number.MAX_SAFE_INTEGER + 1 - 2 ** 0)).toHaveLength(MAX_SKIPS - 1)
    expect(() => ladder(0)).toThrow()
    expect(() => ladder(1.5)).toThrow()
  })

  it('SUCC-SNAP-SKIPS: every rung a successor needs is one its predecessor holds (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 1 }), (h) => {
      const l = ladder(h)
      expect(l).toHaveLength(Math.max(0, popcount(h - 1) - 1))
      expect(l.length).toBeLessThanOrEqual(MAX_SKIPS)
      for (let i = 0; i < l.length; i++) {
        expect(l[i]).toBeGreaterThanOrEqual(1)
        expect(l[i]).toBeLessThan(i === 0 ? h - 1 : l[i - 1]!)
      }
      const have = new Set([h - 1, ...ladder(h)])
      for (const g of ladder(h + 1)) expect(have.has(g)).toBe(true)
    }), propertyRuns(500))
  })

  it('SUCC-SNAP-SKIPS: along an honest chain each skip is the ancestor at its rung\'s height', async () => {
    const { S } = await snapshotChain(70)
    const byHeight = new Map(S.map((s) => [s.signed.height, s.cid.toString()]))
    for (const s of S) {
      expect(s.signed.height).toBe(S.indexOf(s) + 1)
      ladder(s.signed.height).forEach((g, i) => { expect(s.signed.skips[i]!.toString()).toBe(byHeight.get(g)) })
      const place = { cid: s.cid, height: s.signed.height, previousVersion: s.signed.previousVersion, skips: s.signed.skips }
      expect(rung(place, s.signed.height - 1)?.toString()).toBe(byHeight.get(s.signed.height - 1))
      expect(rung(place, s.signed.height + 5)).toBeUndefined()
      expect(successorPlace(place).height).toBe(s.signed.height + 1)
    }
  })
})

describe('VALID-SNAP-HEIGHT', () => {
  it('VALID-SNAP-HEIGHT: a first snapshot has height 1, a later one more, and each as many skips as its ladder', async () => {
    const { b, R, T, S } = await snapshotChain(5)
    for (const check of [validateSnapshot, validateSnapshotTop]) {
      expect((await check(b.loader(), S[4]!.cid)).valid).toBe(true)
      const first2 = await b.snapshot({ root: R, targets: T, place: { height: 2 } })
      const later1 = await b.snapshot({ root: R, targets: T, previousVersion: S[0]!.cid, place: { height: 1 } })
      const noSkips = await b.snapshot({ root: R, targets: T, previousVersion: S[2]!.cid, place: { skips: [] } }) // height 4 needs one skip
      const extra = await b.snapshot({ root: R, targets: T, previousVersion: S[1]!.cid, place: { skips: [S[0]!.cid] } }) // height 3 has none
      for (const bad of [first2, later1, noSkips, extra]) {
        const r = await check(b.loader(), bad.cid)
        expect(r.violations.map((v) => [v.rule, v.cid])).toEqual([['VALID-SNAP-HEIGHT', bad.cid.toString()]])
      }
    }
  })
})

describe('SUCC-SNAP-HEIGHT and SUCC-SNAP-SKIPS', () => {
  it('SUCC-SNAP-HEIGHT: a step goes up by exactly one', async () => {
    const { b, R, T, S } = await snapshotChain(3)
    const jump = await b.snapshot({ root: R, targets: T, previousVersion: S[2]!.cid, place: { height: 6, skips: [S[1]!.cid] } }) // ladder(6) = [4]
    expect((await validateSnapshotTop(b.loader(), jump.cid)).valid).toBe(true)
    for (const premise of ['full', 'top'] as const) {
      const r = await succ(b.loader(), 'snapshot', jump.cid, S[2]!.cid, { premise })
      expect(rules(r)).toEqual(['SUCC-SNAP-HEIGHT'])
      expect(r.violations[0]!.cid).toBe(jump.cid.toString())
    }
  })

  it('SUCC-SNAP-SKIPS: a skip to a snapshot that is not the ancestor at that height is refused at the snapshot holding it', async () => {
    const { b, R, T, S } = await snapshotChain(7)
    // A fork at height 6 (same predecessor as S[5]): at height 8 the skip to
    // height 6 must be S[5]; point it at the fork instead.
    const T2 = await b.targets('targets', { targets: ['fork'] })
    const fork = await b.snapshot({ root: R, targets: T2, previousVersion: S[4]!.cid })
    expect(fork.signed.height).toBe(6)
    expect(ladder(8)).toEqual([6, 4])
    const liar = await b.snapshot({ root: R, targets: T, previousVersion: S[6]!.cid, place: { skips: [fork.cid, S[3]!.cid] } })
    expect((await validateSnapshotTop(b.loader(), liar.cid)).valid).toBe(true)
    const next = await b.snapshot({ root: R, targets: T, previousVersion: liar.cid })
    for (const premise of ['full', 'top'] as const) {
      for (const fetchAhead of [true, false]) {
        const r = await succStar(b.loader(), 'snapshot', next.cid, S[0]!.cid, { premise, fetchAhead })
        expect(r.holds).toBe(false)
        expect(r.violations.map((v) => [v.rule, v.cid])).toEqual([['SUCC-SNAP-SKIPS', liar.cid.toString()]])
      }
    }
    // The successor of the liar copied its skips faithfully: that step holds.
    expect((await succ(b.loader(), 'snapshot', next.cid, liar.cid, top)).holds).toBe(true)
  })

  it('SUCC-SNAP-HEIGHT, SUCC-SNAP-LINK: a walk refuses without walking when the heights cannot relate, and stops at a fork at the far end\'s height', async () => {
    const { b, R, T, S } = await snapshotChain(40)
    // Backwards: S[3] cannot descend from S[30].
    const counting = roundCounting(b.store)
    const back = await succStar(sourceLoader(counting), 'snapshot', S[3]!.cid, S[30]!.cid, top)
    expect(rules(back)).toEqual(['SUCC-SNAP-LINK'])
    expect(back.violations[0]!.message).toMatch(/at height 4 cannot descend/)
    expect(counting.requests).toBe(2) // the two snapshots, nothing more
    // A fork from S[9] of 30 snapshots: it passes S[20]'s height elsewhere.
    const T2 = await b.targets('targets', { targets: ['fork'] })
    let f = S[9]!
    for (let i = 0; i < 30; i++) f = await b.snapshot({ root: R, targets: T2, previousVersion: f.cid })
    expect(f.signed.height).toBe(40)
    const l = sourceLoader(roundCounting(b.store))
    const r = await succStar(l, 'snapshot', f.cid, S[20]!.cid, { ...top, fetchAhead: false })
    expect(rules(r)).toEqual(['SUCC-SNAP-LINK'])
    expect(r.violations[0]!.message).toMatch(/reaches height 21/)
    // Not one block below the fork's height-21 snapshot was read.
    expect(l.stats.blocks).toBeLessThan(40)
    // BOUND-CHAIN from the heights alone.
    const far = await succStar(b.loader(), 'snapshot', S[39]!.cid, S[0]!.cid, { ...top, maxChain: 10 })
    expect(rules(far)).toEqual(['BOUND-CHAIN'])
  })
})

describe('fetching ahead (NOTES 5.5, Work)', () => {
  it('SUCC-SNAP-SKIPS: the hint read from a block\'s bytes is its claimed place, and nothing (never a throw) for bytes that are not a snapshot', async () => {
    const { S, T } = await snapshotChain(9)
    // Height 8: ladder [6, 4].
    expect(placeHint(S[7]!.bytes)).toEqual({ height: 8, previousVersion: S[6]!.cid, skips: [S[5]!.cid, S[3]!.cid], targets: T.cid })
    expect(placeHint(S[0]!.bytes)).toEqual({ height: 1, previousVersion: null, skips: [], targets: T.cid })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => { placeHint(bytes) }), propertyRuns(200))
    expect(placeHint(new TextEncoder().encode('{"height":5,"previous-version":{"/":"bnotacid"}}'))).toBeUndefined()
  })

  it('SUCC-SNAP-HEIGHT: heights are claims: a walk whose snapshots claim heights 2^50 apart ends at once, refused', async () => {
    const { b, R, T, S } = await snapshotChain(2)
    const far = 2 ** 50
    const filler = (h: number): CID[] => ladder(h).map(() => S[0]!.cid)
    // The far end claims height 2^50 (its predecessor is unknown to the walk).
    const B = await b.snapshot({ root: R, targets: T, previousVersion: S[1]!.cid, place: { height: far, skips: filler(far) } })
    const B1 = await b.snapshot({ root: R, targets: T, previousVersion: B.cid })
    const low = await b.snapshot({ root: R, targets: T, previousVersion: B1.cid, place: { height: 5, skips: filler(5) } })
    const A = await b.snapshot({ root: R, targets: T, previousVersion: low.cid, place: { height: far + 3, skips: filler(far + 3) } })
    for (const fetchAhead of [true, false]) {
      const r = await succStar(b.loader(), 'snapshot', A.cid, B.cid, { ...top, fetchAhead })
      expect(r.holds).toBe(false)
      expect(r.violations[0]!.rule).toMatch(/^SUCC-SNAP-(HEIGHT|LINK|SKIPS)$/)
    }
  })

  it('SUCC-STAR: a client 300 snapshots behind fetches them in few rounds, with the same witness as one at a time', async () => {
    const { b, S } = await snapshotChain(301)
    const ahead = roundCounting(b.store)
    const one = roundCounting(b.store)
    const fast = await succStar(sourceLoader(ahead), 'snapshot', S[300]!.cid, S[0]!.cid, top)
    const slow = await succStar(sourceLoader(one), 'snapshot', S[300]!.cid, S[0]!.cid, { ...top, fetchAhead: false })
    expect(fast).toEqual(slow)
    expect(fast.holds).toBe(true)
    expect(fast.witness).toEqual(S.map((s) => s.cid.toString()).reverse())
    // One at a time: a round per snapshot. Ahead: about log2 K rounds.
    expect(one.rounds).toBeGreaterThanOrEqual(300)
    expect(ahead.rounds).toBeLessThanOrEqual(2 * Math.log2(300) + 10)
    // Nothing fetched twice, nothing below the far end.
    expect(ahead.requests).toBeLessThanOrEqual(one.requests)
  })

  it('SUCC-STAR: fetching ahead never changes the verdict on tampered chains (property: every tamper, both walks, both premises)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 2, max: 40 }),
      fc.nat(),
      fc.constantFrom('none', 'skip', 'height', 'link', 'fork-skip'),
      async (n, at, tamper) => {
        const { b, R, T, S } = await snapshotChain(n)
        const i = 1 + (at % (n - 1)) // the snapshot replaced (never the first)
        const prev = S[i - 1]!
        let bad: SnapshotEnvelope
        const wantHeight = prev.signed.height + 1
        switch (tamper) {
          case 'none': bad = S[i]!; break
          case 'height': bad = await b.snapshot({ root: R, targets: T, previousVersion: prev.cid, place: { height: wantHeight + 1, skips: [] } }); break
          case 'link': bad = await b.snapshot({ root: R, targets: T, previousVersion: S[Math.max(0, i - 2)]!.cid, place: { height: wantHeight } }); break
          default: {
            // Point one skip (or the only rung) at a snapshot of the wrong height.
            const skips = [...successorPlace({ cid: prev.cid, ...prev.signed }).skips]
            if (skips.length === 0) {
              bad = await b.snapshot({ root: R, targets: T, previousVersion: prev.cid, place: { skips: [S[0]!.cid] } })
            } else {
              skips[0] = tamper === 'skip' ? S[0]!.cid : prev.cid
              bad = await b.snapshot({ root: R, targets: T, previousVersion: prev.cid, place: { skips } })
            }
          }
        }
        // Re-sign the rest of the chain on top of the replaced snapshot.
        let head = bad
        for (let j = i + 1; j < n; j++) head = await b.snapshot({ root: R, targets: T, previousVersion: head.cid })
        const verdicts = []
        for (const premise of ['full', 'top'] as const) {
          for (const fetchAhead of [true, false]) {
            const r = await succStar(b.loader(), 'snapshot', head.cid, S[0]!.cid, { premise, fetchAhead })
            verdicts.push({ holds: r.holds, first: r.violations[0]?.rule, at: r.violations[0]?.cid, witness: r.witness })
          }
        }
        for (const x of verdicts) expect(x).toEqual(verdicts[0])
        // Linking over one snapshot from the second is linking to the first: no tamper there.
        expect(verdicts[0]!.holds).toBe(tamper === 'none' || (tamper === 'link' && i < 2))
      }), propertyRuns(60))
  }, DEEP ? 900_000 : 60_000)
})
