/**
 * ChainPrefetch (NOTES 5.5, Work) on a fake chain: which heights it asks
 * for, in what order, how many at once, within what window, and what it
 * ignores (claims it cannot use, heights the walk already holds, a stopped
 * walk). The verdicts of walks that fetch ahead are in skips.test.ts; here
 * only the fetching is judged (each case was a surviving mutant of
 * `npm run mutate`, README "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { cidOf } from '../../src/model/codec.js'
import { ladder } from '../../src/model/ladder.js'
import { ChainPrefetch, placeHint } from '../../src/relations/prefetch.js'
import type { Loader } from '../../src/validate/loader.js'
import { chainCids } from '../helpers/fake-chain.js'

interface Place { height: number, previousVersion: CID | null, skips: CID[] }

const enc = new TextEncoder()
const { cid, heightOf } = chainCids('snapshot at')
const targetsCid = (h: number): CID => cidOf(enc.encode(`targets of ${h}`))

/** The honest place of height h. */
function place (h: number): Place {
  return { height: h, previousVersion: h > 1 ? cid(h - 1) : null, skips: ladder(h).map(cid) }
}

/** The dag-json text a snapshot block would have (enough for placeHint). */
function bytesOf (p: Place, targets: CID | undefined): Uint8Array {
  const link = (c: CID): string => `{"/":"${c.toString()}"}`
  const prev = p.previousVersion === null ? 'null' : link(p.previousVersion)
  const meta = targets === undefined ? '{}' : `{"delegated-targets":${link(cid(0))},"retired":${link(cid(0))},"root":${link(cid(0))},"targets":${link(targets)}}`
  return enc.encode(`{"expires":"2030-01-01T00:00:00Z","height":${p.height},"meta":${meta},"previous-version":${prev},"skips":[${p.skips.map(link).join(',')}],"type":"snapshot"}`)
}

/**
 * A loader over the fake chain: `load` (or, with `bytes`, `prefetch`)
 * answers each snapshot's place (`claim` may change it); with `deferred`
 * the answers wait for `release`.
 */
function fakeLoader (o: { bytes?: boolean, noTargets?: boolean, deferred?: boolean, claim?: (p: Place) => Place } = {}) {
  const asked: Array<number | string> = []
  const targets: string[] = []
  const waiting: Array<() => void> = []
  let inFlight = 0
  let maxInFlight = 0
  const answer = async <T>(cidAsked: CID | undefined, make: (p: Place) => T): Promise<T> => {
    const h = cidAsked === undefined ? undefined : heightOf.get(cidAsked.toString())
    asked.push(h ?? String(cidAsked))
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    if (o.deferred === true) await new Promise<void>((resolve) => waiting.push(resolve))
    inFlight--
    if (h === undefined) throw new Error('not a block of the chain')
    const p = (o.claim ?? ((x) => x))(place(h))
    return make(p)
  }
  const loader = {
    load: async (kind: string, c: CID) => {
      if (kind !== 'snapshot') throw new Error(`load of a ${kind}`)
      return await answer(c, (p) => ({ cid: c, signed: p }))
    },
    ...(o.bytes === true
      ? {
          prefetch: async (kind: string, c: CID) => {
            if (kind === 'targets') { targets.push(c.toString()); return undefined }
            if (kind !== 'snapshot') throw new Error(`prefetch of a ${kind}`)
            return await answer(c, (p) => bytesOf(p, o.noTargets === true ? undefined : targetsCid(p.height)))
          }
        }
      : {})
  } as unknown as Loader
  return {
    loader,
    asked,
    targets,
    get maxInFlight () { return maxInFlight },
    get waiting () { return waiting.length },
    /** Let every fetch waiting now answer. */
    release () { for (const r of waiting.splice(0)) r() }
  }
}

/** Let every answer so far (and everything it starts that answers at once) run. */
async function settle (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
}

const down = (from: number, to: number): number[] => Array.from({ length: from - to + 1 }, (_, i) => from - i)

describe('ChainPrefetch', () => {
  it('SUCC-STAR: one at a time it asks for every height strictly between the far end and the start, once each, highest first', async () => {
    for (const bytes of [false, true]) {
      const f = fakeLoader({ bytes })
      const p = new ChainPrefetch(f.loader, place(100), 10, { concurrency: 1 })
      await settle()
      expect(f.asked).toEqual(down(99, 11))
      expect(p.started).toBe(89)
      // With bytes, the top-level targets object each snapshot names is asked for too.
      expect(f.targets).toEqual(bytes ? down(99, 11).map((h) => targetsCid(h).toString()) : [])
    }
  })

  it('SUCC-STAR: a block whose bytes name no top-level targets object asks for none', async () => {
    const f = fakeLoader({ bytes: true, noTargets: true })
    new ChainPrefetch(f.loader, place(20), 0, { concurrency: 1 })
    await settle()
    expect(f.asked).toEqual(down(19, 1))
    expect(f.targets).toEqual([])
  })

  it('SUCC-STAR: at most `concurrency` fetches are under way, the highest heights first', async () => {
    const f = fakeLoader({ deferred: true })
    const p = new ChainPrefetch(f.loader, place(100), 0, { concurrency: 3 })
    // Heard from the start: 99 (previous-version) and its ladder 98, 96, 64.
    expect(f.asked).toEqual([99, 98, 96])
    expect(p.started).toBe(3)
    for (let i = 0; i < 40 && f.waiting > 0; i++) {
      f.release()
      await settle()
    }
    expect(f.maxInFlight).toBe(3)
    expect([...f.asked].sort((a, b) => Number(b) - Number(a))).toEqual(down(99, 1))
  })

  it('SUCC-STAR: at most `window` heights are fetched ahead of the walk; the walk frees them as it passes, refilling in batches', async () => {
    const f = fakeLoader()
    const p = new ChainPrefetch(f.loader, place(100), 0, { window: 4 })
    await settle()
    expect(f.asked).toEqual([99, 98, 96, 64])
    // Passing 99 leaves three ahead: more than half the window, no refill
    // (nor when the walk says again that it holds 99).
    p.passed(99)
    p.passed(99)
    await settle()
    expect(p.started).toBe(4)
    // Passing 98 leaves two: refill up to four ahead, highest first.
    p.passed(98)
    await settle()
    expect(f.asked.slice(4)).toEqual([97, 95])
    // A walk that claims a height far below (50) frees every height above it at once.
    p.passed(50)
    await settle()
    expect(f.asked.slice(6)).toHaveLength(4)
    expect(f.asked.slice(6).every((h) => Number(h) < 50)).toBe(true)
    // Passing a height it is not below changes nothing.
    p.passed(50)
    p.passed(70)
    await settle()
    expect(p.started).toBe(10)
  })

  it('SUCC-STAR: a walk that jumps far frees exactly the heights at or above where it lands', async () => {
    for (const [land, refill] of [[70, 3], [64, 4]] as const) {
      const f = fakeLoader()
      const p = new ChainPrefetch(f.loader, place(100), 0, { window: 4 })
      await settle()
      expect(f.asked).toEqual([99, 98, 96, 64])
      // Landing at 70 frees 99, 98 and 96 but not 64; landing at 64 frees 64 too.
      p.passed(land)
      await settle()
      expect(f.asked.slice(4)).toHaveLength(refill)
      expect(f.asked.slice(4).every((h) => Number(h) < land)).toBe(true)
    }
  })

  it('SUCC-STAR: heights the walk reached first are not fetched, and nothing starts after stop', async () => {
    const f = fakeLoader({ deferred: true })
    const p = new ChainPrefetch(f.loader, place(100), 0, { concurrency: 1 })
    expect(f.asked).toEqual([99])
    // The walk, on its own, is already at 60: 98, 96 and 64, heard from the
    // start, are above it and are not fetched; 99's answer tells of none below.
    // (A later claim of a height above it does not move the walk back up.)
    p.passed(60)
    p.passed(80)
    f.release()
    await settle()
    expect(f.asked).toEqual([99])
    expect(p.started).toBe(1)
    // The walk holds 98 itself: 98, heard from the start, is not fetched; 96 is next.
    const e = fakeLoader({ deferred: true })
    const o = new ChainPrefetch(e.loader, place(100), 0, { concurrency: 1 })
    o.passed(98)
    e.release()
    await settle()
    expect(e.asked).toEqual([99, 96])
    const g = fakeLoader({ deferred: true })
    const q = new ChainPrefetch(g.loader, place(100), 0, { concurrency: 1 })
    q.stop()
    g.release()
    await settle()
    expect(g.asked).toEqual([99])
    expect(q.started).toBe(1)
    // A snapshot fetch that answers after the walk ended asks for nothing more, not even its targets object.
    const b = fakeLoader({ deferred: true, bytes: true })
    const r = new ChainPrefetch(b.loader, place(100), 0, { concurrency: 1 })
    r.stop()
    b.release()
    await settle()
    expect(b.asked).toEqual([99])
    expect(b.targets).toEqual([])
    // Without stop, the same answer asks for its targets object.
    const c = fakeLoader({ deferred: true, bytes: true })
    const s = new ChainPrefetch(c.loader, place(100), 0, { concurrency: 1 })
    c.release()
    await settle()
    expect(c.targets).toEqual([targetsCid(99).toString()])
    s.stop()
  })

  it('SUCC-SNAP-SKIPS: claims it cannot use are ignored: no previous-version, no height, skips past the ladder, a block claiming another height', async () => {
    const none = fakeLoader()
    const starts = [
      { height: 100, previousVersion: null, skips: [] },
      { height: 0, previousVersion: cid(99), skips: [] },
      { height: 1.5, previousVersion: cid(99), skips: [] },
      { height: 2 ** 60, previousVersion: cid(99), skips: [] }
    ]
    for (const s of starts) expect(new ChainPrefetch(none.loader, s, 0).started).toBe(0)
    await settle()
    expect(none.asked).toEqual([])
    // Fewer skips than the ladder: only those given; more: the extra ones ignored.
    const short = fakeLoader({ deferred: true })
    new ChainPrefetch(short.loader, { height: 100, previousVersion: cid(99), skips: [] }, 0)
    const long = fakeLoader({ deferred: true })
    new ChainPrefetch(long.loader, { ...place(100), skips: [...place(100).skips, cid(7)] }, 0)
    expect(short.asked).toEqual([99])
    expect(long.asked).toEqual([99, 98, 96, 64])
    // Every block answers with a height other than the one it was heard at: nothing is learned from them.
    const lying = fakeLoader({ claim: (x) => ({ ...x, height: x.height + 1 }) })
    const p = new ChainPrefetch(lying.loader, place(100), 0)
    await settle()
    expect(lying.asked).toEqual([99, 98, 96, 64])
    expect(p.started).toBe(4)
  })
})

describe('placeHint', () => {
  it('SUCC-SNAP-SKIPS: bytes that are not valid UTF-8 still give their claims; absent parts are absent', () => {
    const p = place(8)
    const good = bytesOf(p, targetsCid(8))
    const broken = new Uint8Array([0xff, 0xfe, ...good])
    expect(placeHint(broken)).toEqual({ ...p, targets: targetsCid(8) })
    expect(placeHint(enc.encode('{"height":7}'))).toEqual({ height: 7, previousVersion: null, skips: [] })
  })
})
