/**
 * The loader's fetches in flight (src/validate/loader.ts `Slots`, NOTES 9
 * "Memory in flight"): at most FETCH_CONCURRENCY outstanding, whose caps
 * (BOUND-BLOCK-SIZE of the kind, or what is left of BOUND-BYTES) add up to
 * at most FETCH_BYTES_IN_FLIGHT, waiters starting in order. Driven here
 * through `prefetch` and `fetchShard` against a source whose answers the
 * test releases one by one, so the exact number outstanding is seen at
 * every step. Written against the survivors of the 2026-11-30 fourth
 * mutation run (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { MAX_BLOCK_BYTES, type Kind } from '../../src/model/config.js'
import { BlockError } from '../../src/model/errors.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'
import { cidOf } from '../../src/model/codec.js'
import { MAX_NODE_BYTES } from '../../src/shard/index.js'
import { FETCH_BYTES_IN_FLIGHT, FETCH_CONCURRENCY, sourceLoader, type LoaderOptions } from '../../src/validate/loader.js'

const MiB = 1024 * 1024

/** A source whose answers wait until released; it records what it was asked, in order. */
function held () {
  const asked: Array<{ cid: string, maxBytes: number | undefined, signal: AbortSignal | undefined }> = []
  const pending: Array<{ cid: string, release: () => void, fail: (e: Error) => void }> = []
  let answer: (cid: CID) => Uint8Array = () => new Uint8Array(8)
  let outstanding = 0
  let peak = 0
  return {
    asked,
    get outstanding () { return outstanding },
    get peak () { return peak },
    async get (cid: CID, o?: { signal?: AbortSignal, maxBytes?: number }): Promise<Uint8Array> {
      asked.push({ cid: cid.toString(), maxBytes: o?.maxBytes, signal: o?.signal })
      outstanding++
      peak = Math.max(peak, outstanding)
      try {
        await new Promise<void>((resolve, reject) => pending.push({ cid: cid.toString(), release: resolve, fail: reject }))
      } finally {
        outstanding--
      }
      return answer(cid)
    },
    /** What released requests answer (default 8 zero bytes). */
    answerWith (f: (cid: CID) => Uint8Array): void { answer = f },
    /** Fail the oldest outstanding request for `cid`. */
    fail (cid: CID, e: Error): void {
      const i = pending.findIndex((p) => p.cid === cid.toString())
      const [p] = pending.splice(i, 1)
      if (p === undefined) throw new Error('nothing outstanding to fail')
      p.fail(e)
    },
    /** Answer the oldest outstanding request (or the one for `cid`). */
    release (cid?: CID): void {
      const i = cid === undefined ? 0 : pending.findIndex((p) => p.cid === cid.toString())
      const [p] = pending.splice(i, 1)
      if (p === undefined) throw new Error('nothing outstanding to release')
      p.release()
    }
  }
}

/** Let every promise chain that can move move. */
async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

let n = 0
const fresh = (): CID => cidOf(new TextEncoder().encode(`block ${n++}`))

function start (src: ReturnType<typeof held>, kind: Kind | 'shard', count: number, opts: LoaderOptions = {}, loader = sourceLoader(src, opts)) {
  const cids = Array.from({ length: count }, fresh)
  const done = cids.map(async (c) => kind === 'shard' ? await loader.fetchShard(c) : await loader.prefetch!(kind, c))
  return { loader, cids, done }
}

describe('the loader\'s fetches in flight', () => {
  it('BOUND-BLOCK-SIZE: exactly FETCH_CONCURRENCY small fetches are outstanding while more wait, and every waiter starts as one ends', async () => {
    expect(FETCH_CONCURRENCY * MAX_BLOCK_BYTES.timestamp).toBeLessThan(FETCH_BYTES_IN_FLIGHT) // the count binds, not the weight
    const src = held()
    const { done } = start(src, 'timestamp', FETCH_CONCURRENCY + 40)
    await settle()
    expect(src.outstanding).toBe(FETCH_CONCURRENCY)
    for (let i = 0; i < 40; i++) {
      src.release()
      await settle()
      expect(src.outstanding).toBe(FETCH_CONCURRENCY)
    }
    for (let i = 0; i < FETCH_CONCURRENCY; i++) src.release()
    await settle()
    expect(src.outstanding).toBe(0)
    expect(src.peak).toBe(FETCH_CONCURRENCY)
    expect(src.asked.length).toBe(FETCH_CONCURRENCY + 40)
    expect((await Promise.all(done)).every((b) => b?.byteLength === 8)).toBe(true)
  })

  it('BOUND-BLOCK-SIZE: 512 snapshots at their cap fill both bounds exactly, and all are outstanding at once', async () => {
    expect(FETCH_CONCURRENCY * MAX_BLOCK_BYTES.snapshot).toBe(FETCH_BYTES_IN_FLIGHT)
    const src = held()
    start(src, 'snapshot', FETCH_CONCURRENCY + 1)
    await settle()
    expect(src.outstanding).toBe(FETCH_CONCURRENCY)
    expect(src.asked.every((a) => a.maxBytes === MAX_BLOCK_BYTES.snapshot)).toBe(true)
    src.release()
    await settle()
    expect(src.asked.length).toBe(FETCH_CONCURRENCY + 1)
  })

  it('BOUND-BLOCK-SIZE: targets objects and shard nodes reserve their 1 MiB cap each: 64 are outstanding, the 65th starts when one ends', async () => {
    expect(MAX_BLOCK_BYTES.targets).toBe(MiB)
    expect(MAX_NODE_BYTES).toBe(MiB)
    for (const kind of ['targets', 'shard'] as const) {
      const src = held()
      start(src, kind, 70)
      await settle()
      expect(src.outstanding).toBe(FETCH_BYTES_IN_FLIGHT / MiB)
      expect(src.asked.every((a) => a.maxBytes === MiB)).toBe(true)
      src.release()
      await settle()
      expect(src.outstanding).toBe(64)
      expect(src.asked.length).toBe(65)
    }
  })

  it('BOUND-BYTES: when the byte budget is nearly spent, a fetch reserves only what is left, so more of them fit', async () => {
    const src = held()
    const budget = 200 * 1024
    start(src, 'targets', 100, { maxBytes: budget })
    await settle()
    // 100 x 200 KiB fit under 64 MiB: all outstanding, each asked for the budget.
    expect(src.outstanding).toBe(100)
    expect(src.asked.every((a) => a.maxBytes === budget)).toBe(true)
  })

  it('BOUND-BYTES: what a fetch reserves is what is left of the budget after the bytes already fetched', async () => {
    const src = held()
    const loader = sourceLoader(src, { maxBytes: 300 * 1024 })
    // 100 KiB fetched: 200 KiB left.
    src.answerWith(() => new Uint8Array(100 * 1024))
    const first = start(src, 'targets', 1, {}, loader)
    await settle()
    src.release()
    await Promise.all(first.done)
    expect(loader.stats.bytes).toBe(100 * 1024)
    // 200 fetches reserving 200 KiB each (40 MiB) all fit; at 400 KiB each (80 MiB) they would not.
    start(src, 'targets', 200, {}, loader)
    await settle()
    expect(src.outstanding).toBe(200)
    expect(src.asked.slice(1).every((a) => a.maxBytes === 200 * 1024)).toBe(true)
  })

  it('BOUND-BYTES: waiters start in order: a small fetch that would fit does not overtake a large one waiting for room', async () => {
    const src = held()
    const loader = sourceLoader(src)
    // 63 targets (63 MiB) and 4 snapshots (0.5 MiB) outstanding: 0.5 MiB left.
    const big = start(src, 'targets', 63, {}, loader)
    const small = start(src, 'snapshot', 4, {}, loader)
    await settle()
    expect(src.outstanding).toBe(67)
    // A 64th targets object does not fit and waits; a snapshot asked after it would fit but waits behind it.
    const waitingBig = start(src, 'targets', 1, {}, loader)
    const waitingSmall = start(src, 'snapshot', 1, {}, loader)
    await settle()
    expect(src.outstanding).toBe(67)
    expect(src.asked.length).toBe(67)
    // One snapshot ends (0.625 MiB left): still no room for the targets object, so neither starts.
    src.release(small.cids[0])
    await settle()
    expect(src.outstanding).toBe(66)
    expect(src.asked.length).toBe(67)
    // One targets object ends (1.625 MiB left): both start, the targets object first.
    src.release(big.cids[0])
    await settle()
    expect(src.asked.slice(67).map((a) => a.cid)).toEqual([waitingBig.cids[0]!.toString(), waitingSmall.cids[0]!.toString()])
    expect(src.outstanding).toBe(67)
  })

  it('BOUND-BYTES: the caller\'s signal and the cap reach the source with every fetch', async () => {
    const src = held()
    const ac = new AbortController()
    start(src, 'root', 2, { signal: ac.signal })
    start(src, 'root', 1)
    await settle()
    expect(src.asked.map((a) => [a.maxBytes, a.signal])).toEqual([[MAX_BLOCK_BYTES.root, ac.signal], [MAX_BLOCK_BYTES.root, ac.signal], [MAX_BLOCK_BYTES.root, undefined]])
  })
})

describe('the loader\'s caches when a fetch fails after its CID was forgotten', () => {
  it('BOUND-BLOCKS: a failed fetch drops only its own cache entry: a fetch started after forget() is still shared, and counted once', async () => {
    const src = held()
    const loader = sourceLoader(src)
    const c = fresh()
    const first = loader.prefetch!('root', c)
    await settle()
    loader.forget!(c)
    const second = loader.prefetch!('root', c)
    await settle()
    expect(src.asked.length).toBe(2)
    src.fail(c, new BlockError('ERR_TIMEOUT', 'slow'))
    expect(await first).toBeUndefined()
    // The second fetch's entry survives the first one's failure: a third prefetch shares it.
    const third = loader.prefetch!('root', c)
    await settle()
    expect(src.asked.length).toBe(2)
    src.release(c)
    expect((await second)?.byteLength).toBe(8)
    expect(await third).toBe(await second)
    expect(loader.stats.blocks).toBe(2)
  })

  it('ENC-CID: a failed load drops only its own decoded entry: a load started after forget() is still shared (the same envelope)', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const src = held()
    src.answerWith(() => root.bytes)
    const loader = sourceLoader(src)
    const first = loader.load('root', root.cid)
    await settle()
    loader.forget!(root.cid)
    const second = loader.load('root', root.cid)
    await settle()
    expect(src.asked.length).toBe(2)
    src.fail(root.cid, new BlockError('ERR_TIMEOUT', 'slow'))
    expect((await caught(() => first)).code).toBe('ERR_TIMEOUT')
    src.release(root.cid)
    const env = await second
    expect(env.cid.equals(root.cid)).toBe(true)
    // Still cached: the same decoded object, no new fetch.
    expect(await loader.load('root', root.cid)).toBe(env)
    expect(src.asked.length).toBe(2)
  })
})
