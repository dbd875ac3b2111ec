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
