/**
 * What `dagtuf serve` does for speed (issue 16's two speed goals), asserted
 * by counting, never by timing: the verified-block cache (what it holds,
 * that it never holds a block that failed its hash, hits and misses in
 * /metrics) and the turn budget of large bodies (bytes written per turn of
 * the event loop, the order chunks and small answers are served in).
 */
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { BlockCache, cachedSource } from '../../src/server/block-cache.js'
import { CHUNK, TurnBudget } from '../../src/server/flow.js'
import { gatewayHandler } from '../../src/server/gateway-handlers.js'
import { startServer, type RunningServer } from '../../src/server/http-server.js'
import { Metrics } from '../../src/server/metrics-handlers.js'
import { cidOf, pseudoRandomBytes, rawBlock } from '../blocks/helpers.js'
import { httpRequest, servers } from './http-helpers.js'

const MiB = 1024 * 1024

function blockOf (size: number, seed: number): { cid: ReturnType<typeof cidOf>, bytes: Uint8Array } {
  const bytes = pseudoRandomBytes(size, seed)
  return { cid: cidOf(bytes), bytes }
}

describe('the verified-block cache of dagtuf serve', () => {
  const serve = servers()

  it('holds at most its budget, evicts the least recently used first, admits a block into a full cache only if asked for more often than that one, keeps no block over maxEntryBytes, and counts hits and misses', () => {
    const cache = new BlockCache(10_000, 4_000)
    /** What a server does: a hit, or the source's bytes kept. */
    const lookup = (b: { cid: ReturnType<typeof cidOf>, bytes: Uint8Array }): boolean => {
      const hit = cache.get(b.cid)
      if (hit !== undefined) {
        expect(hit).toBe(b.bytes)
        return true
      }
      cache.put(b.cid, b.bytes)
      return false
    }
    const blocks = Array.from({ length: 6 }, (_, i) => blockOf(3_000, i + 1))
    for (const b of blocks.slice(0, 3)) expect(lookup(b)).toBe(false)
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 9_000, evictions: 0, misses: 3 })
    // Using the first makes the second the least recently used.
    expect(lookup(blocks[0]!)).toBe(true)
    // Asked for once, as often as the second: not admitted.
    expect(lookup(blocks[3]!)).toBe(false)
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 9_000, evictions: 0, rejected: 1 })
    // Asked for again: more often than the second, which it replaces.
    expect(lookup(blocks[3]!)).toBe(false)
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 9_000, evictions: 1, rejected: 1 })
    expect(lookup(blocks[3]!)).toBe(true)
    expect(cache.get(blocks[1]!.cid)).toBeUndefined()
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 6 })

    // More blocks than it holds, asked for in a cycle: the cache is not churned.
    const cycled = new BlockCache(9_000, 4_000)
    const ring = Array.from({ length: 10 }, (_, i) => blockOf(3_000, 50 + i))
    let hits = 0
    for (let round = 0; round < 5; round++) {
      for (const b of ring) {
        const hit = cycled.get(b.cid)
        if (hit === undefined) cycled.put(b.cid, b.bytes)
        else hits++
      }
    }
    expect(cycled.stats()).toMatchObject({ entries: 3, evictions: 0, hits: 12 })
    expect(hits).toBe(12)
    // A block asked for more than the others gets in.
    for (let i = 0; i < 3; i++) if (cycled.get(ring[9]!.cid) === undefined) cycled.put(ring[9]!.cid, ring[9]!.bytes)
    expect(cycled.get(ring[9]!.cid)).toBe(ring[9]!.bytes)
    expect(cycled.stats().evictions).toBe(1)

    // Many more blocks of all sizes, some asked for often: the bytes held never pass the budget.
    let peak = 0
    const pool = Array.from({ length: 40 }, (_, i) => blockOf(1_000 + (i * 37) % 3_000, 100 + i))
    for (let i = 0; i < 300; i++) {
      // Skewed: some blocks far more often than others.
      lookup(pool[(i * i + (i >> 3)) % 40]!)
      peak = Math.max(peak, cache.stats().bytes)
    }
    expect(peak).toBeLessThanOrEqual(10_000)
    expect(cache.stats().evictions).toBeGreaterThan(1)
    // A block over maxEntryBytes is not kept, and what is held stays.
    const before = cache.stats()
    const large = blockOf(4_001, 999)
    for (let i = 0; i < 3; i++) lookup(large)
    expect(cache.stats()).toMatchObject({ entries: before.entries, bytes: before.bytes })
    // The same bytes under another codec are the same entry (by multihash).
    const fresh = new BlockCache(10_000, 4_000)
    fresh.put(blocks[0]!.cid, blocks[0]!.bytes)
    expect(fresh.get(cidOf(blocks[0]!.bytes, 0x70))).toBe(blocks[0]!.bytes)
    // A budget of 0 keeps nothing.
    const none = new BlockCache(0)
    none.put(blocks[0]!.cid, blocks[0]!.bytes)
    expect(none.stats()).toMatchObject({ entries: 0, bytes: 0 })
    expect(() => new BlockCache(-1)).toThrow(RangeError)
  })

  it('a block served again is not read from the source again; the bytes are the same, and a HEAD or a CAR of it is a hit too', async () => {
    const store = new MemoryBlockStore()
    const a = blockOf(200_000, 7)
    await store.put(a.cid, a.bytes)
    const server = await serve(store)
    const first = await httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`)
    const second = await httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`)
    expect(first.status).toBe(200)
    expect(new Uint8Array(second.body)).toEqual(a.bytes)
    expect(Buffer.compare(first.body, second.body)).toBe(0)
    expect(store.stats.gets).toBe(1)
    expect((await httpRequest(`${server.url}/ipfs/${a.cid}?format=car`)).status).toBe(200)
    expect((await httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`, { method: 'HEAD' })).status).toBe(200)
    expect(store.stats.gets).toBe(1)
    expect(server.stats().cache).toMatchObject({ entries: 1, bytes: a.bytes.byteLength, hits: 3, misses: 1 })
    // With blockCacheBytes 0, every request reads the source.
    const uncached = new MemoryBlockStore()
    await uncached.put(a.cid, a.bytes)
    const plain = await serve(uncached, { blockCacheBytes: 0 })
    for (let i = 0; i < 3; i++) expect((await httpRequest(`${plain.url}/ipfs/${a.cid}?format=raw`)).status).toBe(200)
    expect(uncached.stats.gets).toBe(3)
    expect(plain.stats().cache).toMatchObject({ entries: 0, hits: 0, misses: 3 })
  })

  it('a block that fails its hash is never kept nor served: 502 every time, the source asked every time; once repaired it is served', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('corrupted on disk')
    await store.put(a.cid, a.bytes)
    store.tamper(a.cid, (b) => { b[0] = (b[0] ?? 0) ^ 1; return b })
    const server = await serve(store)
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`)
      expect(res.status).toBe(502)
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: { code: 'ERR_HASH_MISMATCH' } })
    }
    expect(store.stats.gets).toBe(3)
    expect(server.stats().cache).toMatchObject({ entries: 0, bytes: 0, hits: 0 })
    // A CAR walk through the cache does not keep it either.
    const car = await httpRequest(`${server.url}/ipfs/${a.cid}?format=car`)
    expect(car.status).toBe(502)
    expect(server.stats().cache.entries).toBe(0)
    store.tamper(a.cid, () => a.bytes.slice())
    const res = await httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`)
    expect(res.status).toBe(200)
    expect(new Uint8Array(res.body)).toEqual(a.bytes)
    expect(server.stats().cache.entries).toBe(1)
  })

  it('cachedSource: a hit larger than the caller\'s maxBytes is left to the source (its own ERR_BLOCK_TOO_LARGE); errors are not kept', async () => {
    const store = new MemoryBlockStore()
    const a = blockOf(5_000, 3)
    await store.put(a.cid, a.bytes)
    const cache = new BlockCache(MiB)
    const source = cachedSource(store, cache)
    expect(await source.get(a.cid)).toEqual(a.bytes)
    expect(await source.get(a.cid)).toEqual(a.bytes)
    expect(store.stats.gets).toBe(1)
    await expect(source.get(a.cid, { maxBytes: 4_000 })).rejects.toMatchObject({ code: 'ERR_BLOCK_TOO_LARGE' })
    expect(store.stats.gets).toBe(2)
    const missing = rawBlock('not here')
    await expect(source.get(missing.cid)).rejects.toMatchObject({ code: 'ERR_BLOCK_NOT_FOUND' })
    expect(cache.stats().entries).toBe(1)
  })

  it('a CAR of one block is not joined behind its header unless `body` is read (the handler\'s answer keeps it lazy)', async () => {
    const store = new MemoryBlockStore()
    const a = blockOf(300_000, 11)
    await store.put(a.cid, a.bytes)
    const answer = await gatewayHandler({ source: store, head: async () => null })({ method: 'GET', url: `/ipfs/${a.cid}?format=car`, headers: {} })
    expect(answer.headers['access-control-allow-origin']).toBe('*')
    expect(answer.parts).toHaveLength(2)
    const body = Object.getOwnPropertyDescriptor(answer, 'body')
    expect(typeof body?.get).toBe('function')
    expect(answer.body!.byteLength).toBe(answer.headers['content-length'])
  })

  it('/metrics shows the cache: bytes held, budget, hits, misses, evictions', async () => {
    const m = new Metrics({})
    m.serverStats(() => ({ connections: 0, refusedConnections: 0, busyRequests: 0, writeTimeouts: 0, pipelineOverflows: 0, cache: { bytes: 1234, maxBytes: 5678, hits: 9, misses: 4, evictions: 2 } }))
    const text = await m.render()
    for (const line of ['dagtuf_block_cache_bytes 1234', 'dagtuf_block_cache_max_bytes 5678', 'dagtuf_block_cache_hits_total 9', 'dagtuf_block_cache_misses_total 4', 'dagtuf_block_cache_evictions_total 2']) {
      expect(text.split('\n')).toContain(line)
    }
  })
})

describe('the turn budget of large bodies', () => {
  const servers: RunningServer[] = []
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    for (const s of servers.splice(0)) await s.close()
  })

  it('TurnBudget: at most bytesPerTurn per turn of the event loop, waiters first come first served, a chunk over the budget alone in its turn', async () => {
    const budget = new TurnBudget(1000)
    // Turns are counted by a setImmediate chain started first (it runs first in each check phase).
    let turn = 0
    let counting = true
    const tick = (): void => { if (counting) { turn++; setImmediate(tick) } }
    setImmediate(tick)
    const written: Array<{ writer: number, turn: number, bytes: number }> = []
    const writer = async (id: number, chunks: number[]): Promise<void> => {
      for (const bytes of chunks) {
        const wait = budget.take(bytes)
        if (wait !== null) await wait
        written.push({ writer: id, turn, bytes })
      }
    }
    await Promise.all([writer(1, [400, 400, 400]), writer(2, [400, 400, 400]), writer(3, [2500, 100])])
    counting = false
    const perTurn = new Map<number, number>()
    for (const w of written) perTurn.set(w.turn, (perTurn.get(w.turn) ?? 0) + w.bytes)
    for (const [, bytes] of perTurn) expect(bytes === 2500 || bytes <= 1000).toBe(true)
    expect(budget.stats()).toMatchObject({ bytesPerTurn: 1000, peakBytesInTurn: 2500, waiting: 0 })
    // Writer 1's first two chunks fit the first turn; then every chunk goes
    // in the order it asked, as many as fit each turn.
    expect(written.map((w) => [w.writer, w.turn, w.bytes])).toEqual([
      [1, 0, 400], [1, 0, 400],
      [1, 1, 400], [2, 1, 400],
      [3, 2, 2500],
      [2, 3, 400], [2, 3, 400], [3, 3, 100]
    ])
    expect(budget.stats().deferred).toBe(5)
  })

  it('the server writes at most largeBytesPerTurn of large bodies per turn, and a small request sent meanwhile is answered before the large ones finish', async () => {
    const store = new MemoryBlockStore()
    const big = Array.from({ length: 4 }, (_, i) => blockOf(MiB, 40 + i))
    for (const b of big) await store.put(b.cid, b.bytes)
    const small = rawBlock('small and quick')
    await store.put(small.cid, small.bytes)
    const server = await startServer({ source: store, head: async () => null, largeBytesPerTurn: CHUNK })
    servers.push(server)
    const { port } = new URL(server.url)
    // Warm the cache, so that every large body is ready at once.
    for (const b of big) expect((await httpRequest(`${server.url}/ipfs/${b.cid}?format=raw`)).status).toBe(200)
    expect((await httpRequest(`${server.url}/ipfs/${small.cid}?format=raw`)).status).toBe(200)
    const budgetBefore = server.stats().turns.deferred

    const finished: string[] = []
    /** One GET on a connection of its own; done when the head and content-length bytes of body are in. */
    const download = async (name: string, path: string, onFirstBytes?: () => void): Promise<void> => {
      const socket = connect(Number(port), '127.0.0.1')
      sockets.push(socket)
      let got = Buffer.alloc(0)
      let received = 0
      let total = -1
      await new Promise<void>((resolve, reject) => {
        socket.on('error', reject)
        socket.on('data', (c: Buffer) => {
          if (received === 0) onFirstBytes?.()
          received += c.length
          if (total < 0) {
            got = Buffer.concat([got, c])
            const end = got.indexOf('\r\n\r\n')
            if (end >= 0) total = end + 4 + Number(/\r\ncontent-length: (\d+)/i.exec(got.subarray(0, end).toString('latin1'))?.[1])
          }
          if (total >= 0 && received >= total) { finished.push(name); resolve() }
        })
        socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      })
    }
    let started = 0
    let sendSmall: () => void = () => {}
    const allStarted = new Promise<void>((resolve) => { sendSmall = resolve })
    const large = big.map(async (b, i) => { await download(`large-${i}`, `/ipfs/${b.cid}?format=raw`, () => { if (++started === big.length) sendSmall() }) })
    await allStarted
    await download('small', `/ipfs/${small.cid}?format=raw`)
    await Promise.all(large)
    expect(finished).toHaveLength(5)
    // Large bodies: 4 x 4 chunks at one chunk a turn; the small answer was not queued behind them.
    expect(finished.indexOf('small')).toBeLessThan(4)
    const turns = server.stats().turns
    expect(turns.peakBytesInTurn).toBeLessThanOrEqual(CHUNK)
    expect(turns.deferred - budgetBefore).toBeGreaterThan(0)
    expect(turns.waiting).toBe(0)
  })
})
