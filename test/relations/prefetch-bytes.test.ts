/**
 * ChainPrefetch's byte bound (NOTES 5.5, Work; src/relations/prefetch.ts
 * `maxBytes`): the snapshots fetched ahead of a walk and not yet passed hold
 * at most about `maxBytes`, whatever the window, and the walk's progress
 * frees them in batches. On a fake chain of snapshot blocks of known size.
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { ladder } from '../../src/model/ladder.js'
import { ChainPrefetch, PREFETCH_BYTES } from '../../src/relations/prefetch.js'
import type { Loader } from '../../src/validate/loader.js'
import { chainCids } from '../helpers/fake-chain.js'

const enc = new TextEncoder()
const { cid, heightOf } = chainCids('bytes-bound snapshot')

/** The dag-json text of the honest snapshot at h, padded to exactly `size` bytes. */
function blockOf (h: number, size: number): Uint8Array {
  const link = (c: CID): string => `{"/":"${c.toString()}"}`
  const prev = h > 1 ? link(cid(h - 1)) : 'null'
  const text = `{"expires":"2030-01-01T00:00:00Z","height":${h},"meta":{},"previous-version":${prev},"skips":[${ladder(h).map((x) => link(cid(x))).join(',')}],"type":"snapshot"}`
  if (text.length > size) throw new Error(`block ${h} is ${text.length} bytes, over ${size}`)
  return enc.encode(text + ' '.repeat(size - text.length))
}

/** A loader whose `prefetch` answers at once with blocks of `size` bytes; `asked` lists the heights in order. */
function loaderOf (size: number): { loader: Loader, asked: number[] } {
  const asked: number[] = []
  const loader = {
    prefetch: async (_kind: string, c: CID): Promise<Uint8Array | undefined> => {
      const h = heightOf.get(c.toString())!
      asked.push(h)
      return blockOf(h, size)
    },
    load: async () => { throw new Error('not used') }
  } as unknown as Loader
  return { loader, asked }
}

const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve)) }

describe('ChainPrefetch: at most maxBytes of snapshots ahead of the walk (SUCC-STAR, NOTES 5.5)', () => {
  it('SUCC-STAR: fetches until the bytes held reach maxBytes, however large the window', async () => {
    const size = 2000
    const { loader, asked } = loaderOf(size)
    const top = { height: 500, previousVersion: cid(499), skips: ladder(500).map(cid) }
    const p = new ChainPrefetch(loader, top, 0, { window: 10_000, concurrency: 4, maxBytes: 10 * size })
    await settle()
    // Ten blocks fit; with four in flight at a time, the last batch may overshoot by less than one batch.
    expect(asked.length).toBeGreaterThanOrEqual(10)
    expect(asked.length).toBeLessThan(10 + 4)
    expect(new Set(asked).size).toBe(asked.length)
    const before = asked.length
    // Passing two of them frees too little (still over half the bytes): nothing new.
    const sorted = [...asked].sort((a, b) => b - a)
    p.passed(sorted[1]!)
    await settle()
    expect(asked.length).toBe(before)
    // Passing the rest of them frees everything: the next batch comes, again within the bound.
    p.passed(Math.min(...asked))
    await settle()
    expect(asked.length).toBeGreaterThan(before)
    expect(asked.length - before).toBeLessThan(10 + 4)
    expect(asked.slice(before).every((h) => h < Math.min(...asked.slice(0, before)))).toBe(true)
    p.stop()
  })

  it('SUCC-STAR: the default bound holds a few thousand 1-KiB snapshots, not a whole long chain', async () => {
    const size = 1024
    const { loader, asked } = loaderOf(size)
    const top = { height: 20_000, previousVersion: cid(19_999), skips: ladder(20_000).map(cid) }
    const p = new ChainPrefetch(loader, top, 0)
    for (let i = 0; i < 50; i++) await settle()
    expect(asked.length).toBeGreaterThan(PREFETCH_BYTES / size / 2)
    expect(asked.length * size).toBeLessThan(PREFETCH_BYTES + 512 * size)
    p.stop()
  })
})

/** A loader whose prefetches wait until the test answers them (with a block of `size` bytes, or undefined: a failed fetch). */
function heldLoader (): { loader: Loader, asked: number[], answer: (n: number, size: number | undefined) => void, pending: () => number } {
  const asked: number[] = []
  const waiting: Array<{ h: number, go: (b: Uint8Array | undefined) => void }> = []
  const loader = {
    prefetch: async (_kind: string, c: CID): Promise<Uint8Array | undefined> => {
      const h = heightOf.get(c.toString())
      if (h === undefined) return undefined // a targets object: not part of these counts
      asked.push(h)
      return await new Promise((resolve) => waiting.push({ h, go: resolve }))
    },
    load: async () => { throw new Error('not used') }
  } as unknown as Loader
  return {
    loader,
    asked,
    /** Answer the `n` oldest outstanding prefetches. */
    answer: (n, size) => { for (const w of waiting.splice(0, n)) w.go(size === undefined ? undefined : blockOf(w.h, size)) },
    pending: () => waiting.length
  }
}

const top500 = { height: 500, previousVersion: cid(499), skips: ladder(500).map(cid) }

/** A prefetch from height 500 down to 0 over a held loader, bounded by `maxBytes`, after its first fetches started. */
async function started (maxBytes: number): Promise<{ h: ReturnType<typeof heldLoader>, p: ChainPrefetch }> {
  const h = heldLoader()
  const p = new ChainPrefetch(h.loader, top500, 0, { window: 10_000, concurrency: 100, maxBytes })
  await settle()
  return { h, p }
}

describe('ChainPrefetch: the byte bound, step by step (survivors of the 2026-11-30 fourth mutation run)', () => {
  it('SUCC-STAR: before any answer a fetch in flight counts 1 KiB: maxBytes 4096 starts exactly 4', async () => {
    const { h, p } = await started(4096)
    expect(h.asked.length).toBe(4)
    p.stop()
  })

  it('SUCC-STAR: once blocks arrived, a fetch in flight counts their average size', async () => {
    const { h, p } = await started(4096)
    // One 700-byte answer: 700 held, and each fetch in flight now counts 700: 3 + 2 in flight fill 4096 (at 1 KiB, 3 + 1 would).
    h.answer(1, 700)
    await settle()
    expect(h.pending()).toBe(5)
    expect(h.asked.length).toBe(6)
    p.stop()
  })

  it('SUCC-STAR: a failed fetch counts no block: the average stays that of the blocks that arrived', async () => {
    const { h, p } = await started(2048)
    h.answer(2, undefined)
    await settle()
    // Still 1 KiB a fetch in flight: 2 more of the 5 heights known, not all of them.
    expect(h.asked.length).toBe(4)
    expect(h.pending()).toBe(2)
    p.stop()
  })

  it('SUCC-STAR: a block that arrives after the walk passed its height is not held: it does not hold back later fetches', async () => {
    const { h, p } = await started(4096)
    const first = [...h.asked]
    // The walk passes all four before they arrive.
    p.passed(Math.min(...first))
    await settle()
    expect(h.asked.length).toBe(4)
    h.answer(4, 1024)
    await settle()
    // Nothing is held (the walk has them): four more start.
    expect(h.pending()).toBe(4)
    expect(h.asked.length).toBe(8)
    p.stop()
  })

  it('SUCC-STAR: the walk passing blocks refills the window as soon as at most half of maxBytes is held', async () => {
    const { h, p } = await started(4096)
    h.answer(4, 1024)
    await settle()
    // 4096 held, nothing in flight: nothing more.
    expect(h.asked.length).toBe(4)
    const sorted = [...h.asked].sort((a, b) => b - a)
    // Passing the top two leaves exactly half held (2048): a refill of two (2048 + 2 x 1024).
    p.passed(sorted[1]!)
    await settle()
    expect(h.asked.length).toBe(6)
    p.stop()
  })
})
