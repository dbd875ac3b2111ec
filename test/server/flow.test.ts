/**
 * The limits of `dagtuf serve` under load (issue 16): connections over the
 * cap are refused cleanly, pipelined requests start only as earlier
 * responses finish, a pipeliner that never reads is cut off with what the
 * server buffered for it bounded, and block bodies held at once are capped.
 * Bytes and counts are asserted (the server's own counters), never times.
 */
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeCar, readCar } from '../../src/blocks/car.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import type { BlockSource } from '../../src/blocks/types.js'
import { BodyPool, CHUNK } from '../../src/server/flow.js'
import { carOfOne, carPrefix, gatewayHandler } from '../../src/server/gateway-handlers.js'
import { MAX_QUEUED, SMALL_BLOCK, startServer, type RunningServer, type ServerOptions } from '../../src/server/http-server.js'
import { cidOf, pseudoRandomBytes, rawBlock } from '../blocks/helpers.js'
import { httpRequest } from './http-helpers.js'
import { serveRepository } from '../../src/cli/commands/serve.js'
import { tempDir } from '../helpers/client-sim.js'
import { makeRepo } from '../helpers/repo.js'

const MiB = 1024 * 1024

/** A raw TCP connection to `url`, with everything it received and whether it closed. */
async function rawConnection (url: string): Promise<{ socket: Socket, received: () => Buffer, closed: Promise<void> }> {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
  return { socket, received: () => Buffer.concat(chunks), closed }
}

function get (path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`
}

/** Status codes of the HTTP/1.1 responses in `bytes`, in order. */
function statuses (bytes: Buffer): number[] {
  return [...bytes.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))
}

describe('serve under load: caps and backpressure (issue 16)', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })

  async function serve (source: BlockSource, extra: Partial<ServerOptions> = {}): Promise<RunningServer> {
    const server = await startServer({ source, head: async () => null, ...extra })
    cleanups.push(server.close)
    return server
  }

  it('a connection beyond maxConnections gets 503 ERR_BUSY with a JSON body and Connection: close, then is closed; once one leaves, a new one is served', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('capped')
    await store.put(a.cid, a.bytes)
    const server = await serve(store, { maxConnections: 2 })
    const first = await rawConnection(server.url)
    const second = await rawConnection(server.url)
    cleanups.push(async () => { first.socket.destroy(); second.socket.destroy() })
    // Both are served and stay open (keep-alive).
    for (const c of [first, second]) c.socket.write(get(`/ipfs/${a.cid}?format=raw`))
    await expect.poll(() => statuses(first.received()).length + statuses(second.received()).length).toBe(2)
    expect([...statuses(first.received()), ...statuses(second.received())]).toEqual([200, 200])
    expect(server.stats().connections).toBe(2)

    const third = await rawConnection(server.url)
    third.socket.write(get(`/ipfs/${a.cid}?format=raw`))
    await third.closed
    const answer = third.received().toString('latin1')
    expect(statuses(third.received())).toEqual([503])
    expect(answer).toMatch(/\r\nconnection: close\r\n/i)
    expect(answer).toMatch(/\r\nretry-after: 1\r\n/i)
    const body = answer.slice(answer.indexOf('\r\n\r\n') + 4)
    expect(JSON.parse(body)).toEqual({ error: { code: 'ERR_BUSY', message: expect.stringContaining('connections') } })
    expect(server.stats().refusedConnections).toBe(1)

    // The two first connections were not disturbed, and a place freed is taken again.
    first.socket.end()
    await first.closed
    await expect.poll(() => server.stats().connections).toBe(1)
    const res = await httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`)
    expect(res.status).toBe(200)
    expect(new Uint8Array(res.body)).toEqual(a.bytes)
    expect(server.stats().refusedConnections).toBe(1)
  })

  it('pipelined requests start only as earlier responses finish (maxInFlight), and a reading pipeliner gets every answer in order', async () => {
    const store = new MemoryBlockStore()
    const blocks = Array.from({ length: 12 }, (_, i) => ({ bytes: pseudoRandomBytes(200_000 + i, i + 1) }))
    const cids = blocks.map((b) => cidOf(b.bytes))
    for (const [i, b] of blocks.entries()) await store.put(cids[i]!, b.bytes)
    const server = await serve(store, { maxInFlight: 1 })
    const c = await rawConnection(server.url)
    cleanups.push(async () => { c.socket.destroy() })
    c.socket.write(cids.map((cid) => get(`/ipfs/${cid}?format=raw`)).join(''))
    const total = blocks.reduce((n, b) => n + b.bytes.byteLength, 0)
    await expect.poll(() => c.received().length >= total, { timeout: 10_000 }).toBe(true)
    await expect.poll(() => statuses(c.received()).length).toBe(12)
    // Each body follows its head, in the order asked.
    const all = c.received()
    let at = 0
    for (const b of blocks) {
      const head = all.indexOf('\r\n\r\n', at)
      expect(all.subarray(at, head).toString('latin1')).toContain(`content-length: ${b.bytes.byteLength}`)
      expect(Buffer.compare(all.subarray(head + 4, head + 4 + b.bytes.byteLength), Buffer.from(b.bytes))).toBe(0)
      at = head + 4 + b.bytes.byteLength
    }
    expect(at).toBe(all.length)
    const stats = server.stats()
    expect(stats.peakInFlightPerConnection).toBe(1)
    // The rest waited (all 12 came in one write) instead of being answered into node's buffers.
    expect(stats.peakQueuedPerConnection).toBeGreaterThan(0)
    expect(stats.peakHeldPerConnection).toBeLessThanOrEqual(200_011)
    expect(stats.slotsInUse).toBe(0)
    expect(stats.bytesHeld).toBe(0)
  })

  it('a pipeliner that never reads is cut off by the write timeout, and what the server buffered for it stays bounded', async () => {
    const store = new MemoryBlockStore()
    const big = pseudoRandomBytes(MiB, 77)
    const cid = cidOf(big)
    await store.put(cid, big)
    const maxInFlight = 2
    const server = await serve(store, { maxInFlight, writeTimeoutMs: 300 })
    const c = await rawConnection(server.url)
    cleanups.push(async () => { c.socket.destroy() })
    c.socket.pause() // never reads
    c.socket.write(Array.from({ length: 20 }, () => get(`/ipfs/${cid}?format=raw`)).join(''))
    // Closed by the server (the client never ends it): its data may still
    // sit in the kernel's buffers, unread, so ask the server.
    await expect.poll(() => server.stats().connections, { timeout: 20_000 }).toBe(0)
    const stats = server.stats()
    expect(stats.writeTimeouts).toBeGreaterThanOrEqual(1)
    // 20 MiB asked for; the kernel's loopback buffers take a few MiB, the
    // rest was never looked up: at most maxInFlight bodies held at once.
    expect(stats.peakHeldPerConnection).toBeLessThanOrEqual(maxInFlight * MiB)
    expect(stats.peakBytesHeld).toBeLessThanOrEqual(maxInFlight * MiB)
    // What node buffered per response: a chunk or two (the other response's
    // on the shared socket), not a block.
    expect(stats.peakBufferedPerResponse).toBeGreaterThan(0)
    expect(stats.peakBufferedPerResponse).toBeLessThanOrEqual(2 * CHUNK + 4096)
    expect(stats.peakInFlightPerConnection).toBeLessThanOrEqual(maxInFlight)
    // The client, reading at last, finds the connection closed before the 20th answer.
    c.socket.resume()
    await c.closed
    expect(statuses(c.received()).length).toBeLessThan(20)
    // Everything is given back once it is gone.
    expect(server.stats().bytesHeld).toBe(0)
    expect(server.stats().slotsInUse).toBe(0)
    // And the server still serves.
    const res = await httpRequest(`${server.url}/ipfs/${cid}?format=raw`)
    expect(res.status).toBe(200)
    expect(res.body.length).toBe(MiB)
  })

  it(`more than MAX_QUEUED (${MAX_QUEUED}) requests waiting on one connection close it`, async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('queued')
    await store.put(a.cid, a.bytes)
    // A lookup that never ends keeps the one request in flight, so the rest queue.
    const stuck: BlockSource = { get: async (_cid, opts) => await new Promise((_resolve, reject) => { opts?.signal?.addEventListener('abort', () => { reject(Object.assign(new Error('aborted'), { code: 'ERR_ABORTED' })) }) }) }
    const server = await serve(stuck, { maxInFlight: 1 })
    const c = await rawConnection(server.url)
    cleanups.push(async () => { c.socket.destroy() })
    c.socket.write(Array.from({ length: MAX_QUEUED + 5 }, () => get(`/ipfs/${a.cid}?format=raw`)).join(''))
    await c.closed
    expect(server.stats().pipelineOverflows).toBe(1)
    expect(server.stats().peakQueuedPerConnection).toBe(MAX_QUEUED)
    expect(statuses(c.received())).toEqual([])
    await expect.poll(() => server.stats().slotsInUse).toBe(0)
  })

  it('block bodies held at once are capped (maxHeldBlocks): a request that cannot get a slot in queueTimeoutMs is 503 ERR_BUSY', async () => {
    const a = rawBlock('slot')
    let release: (() => void) | undefined
    const gate = new Promise<void>((resolve) => { release = resolve })
    let lookups = 0
    const slow: BlockSource = {
      get: async () => {
        lookups++
        await gate
        return a.bytes
      }
    }
    const server = await serve(slow, { maxHeldBlocks: 1, queueTimeoutMs: 50 })
    const first = httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`)
    await expect.poll(() => lookups).toBe(1)
    const second = await httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`)
    expect(second.status).toBe(503)
    expect(second.headers.connection).toBe('close')
    expect(JSON.parse(second.body.toString()).error.code).toBe('ERR_BUSY')
    expect(lookups).toBe(1)
    // Small routes do not take a slot.
    expect((await httpRequest(`${server.url}/head`)).status).toBe(404)
    release?.()
    expect((await first).status).toBe(200)
    expect(server.stats()).toMatchObject({ busyRequests: 1, slotsInUse: 0, bytesHeld: 0 })
  })

  it('a block known to be small takes a pool of its own: it is served while the main pool is full, and the memory bound holds', async () => {
    const small = rawBlock('small and already served once')
    const big = pseudoRandomBytes(SMALL_BLOCK + 1, 9)
    const bigCid = cidOf(big)
    let release: (() => void) | undefined
    const gate = new Promise<void>((resolve) => { release = resolve })
    let bigLookups = 0
    const source: BlockSource = {
      get: async (cid) => {
        if (cid.equals(small.cid)) return small.bytes
        bigLookups++
        await gate
        return big
      }
    }
    const server = await serve(source, { maxHeldBlocks: 1, queueTimeoutMs: 50 })
    // First time: its size is unknown, so it goes through the main pool.
    expect((await httpRequest(`${server.url}/ipfs/${small.cid}?format=raw`)).status).toBe(200)
    const pending = httpRequest(`${server.url}/ipfs/${bigCid}?format=raw`)
    await expect.poll(() => bigLookups).toBe(1)
    expect(server.stats().slotsInUse).toBe(1)
    // The main pool is full (another unknown block gets 503), the small one is still served.
    expect((await httpRequest(`${server.url}/ipfs/${rawBlock('unknown').cid}?format=raw`)).status).toBe(503)
    const again = await httpRequest(`${server.url}/ipfs/${small.cid}?format=raw`)
    expect(again.status).toBe(200)
    expect(new Uint8Array(again.body)).toEqual(small.bytes)
    expect(server.stats().small.peakBytesHeld).toBe(small.bytes.byteLength)
    release?.()
    expect((await pending).status).toBe(200)
    // Served once, the large block is known to be large: it still takes the main pool.
    expect((await httpRequest(`${server.url}/ipfs/${bigCid}?format=raw`)).status).toBe(200)
    expect(server.stats().small.peakBytesHeld).toBe(small.bytes.byteLength)
    expect(server.stats().peakBytesHeld).toBe(big.byteLength)
  })

  it('serveRepository (dagtuf serve) passes its limits to the server: --max-connections 1 refuses a second connection', async () => {
    const work = await tempDir('dagtuf-serve-limits-')
    cleanups.push(work.remove)
    const repo = await makeRepo(join(work.path, 'repo'), work.path, { 'a.txt': 'A\n' })
    const server = await serveRepository(repo.dir, { maxConnections: 1 })
    cleanups.push(server.close)
    const first = await rawConnection(server.url)
    cleanups.push(async () => { first.socket.destroy() })
    first.socket.write(get('/head'))
    await expect.poll(() => statuses(first.received())).toEqual([200])
    const second = await rawConnection(server.url)
    second.socket.write(get('/head'))
    await second.closed
    expect(statuses(second.received())).toEqual([503])
  })

  it('BodyPool: slots and bytes bound what is held; waiters get slots first come first served; a wait ends at its limit or signal', async () => {
    const pool = new BodyPool(2, 1000)
    const a = await pool.acquire(1_000)
    const b = await pool.acquire(1_000)
    expect(a).not.toBeNull()
    expect(b).not.toBeNull()
    expect(await pool.acquire(1)).toBeNull() // no slot within the limit
    const order: string[] = []
    const c = pool.acquire(60_000).then((l) => { order.push('c'); return l })
    const d = pool.acquire(60_000).then((l) => { order.push('d'); return l })
    expect(pool.stats().waiting).toBe(2)
    a?.release()
    a?.release() // idempotent
    const lc = await c
    expect(order).toEqual(['c'])
    expect(pool.stats().slotsInUse).toBe(2)
    // Bytes: a body of 1000 bytes fills the budget, so even a free slot waits.
    lc?.hold(1000)
    expect(pool.stats()).toMatchObject({ bytesHeld: 1000, peakBytesHeld: 1000 })
    b?.release()
    expect(pool.stats().slotsInUse).toBe(1)
    await Promise.resolve()
    expect(order).toEqual(['c']) // d still waits: 1000 bytes held
    lc?.release()
    const ld = await d
    expect(order).toEqual(['c', 'd'])
    expect(pool.stats()).toMatchObject({ slotsInUse: 1, bytesHeld: 0, waiting: 0 })
    ld?.release()
    // A waiter whose signal fires leaves the queue.
    const x = await pool.acquire(1_000)
    const y = await pool.acquire(1_000)
    const abort = new AbortController()
    const z = pool.acquire(60_000, abort.signal)
    abort.abort()
    expect(await z).toBeNull()
    expect(pool.stats().waiting).toBe(0)
    x?.release()
    y?.release()
    expect(pool.stats()).toMatchObject({ slotsInUse: 0, bytesHeld: 0 })
  })

  it('a CAR of one block is the same bytes encodeCar writes, and the CAR route serves it', async () => {
    const store = new MemoryBlockStore()
    const bytes = pseudoRandomBytes(300_000, 5)
    const cid = cidOf(bytes)
    await store.put(cid, bytes)
    expect(carOfOne(cid, bytes)).toEqual(await encodeCar([cid], [{ cid, bytes }]))
    // The handler gives it in parts, the block itself not copied; `body` joins them when read.
    const stored = await store.get(cid)
    const source: BlockSource = { get: async () => stored }
    const answer = await gatewayHandler({ source, head: async () => null })({ method: 'GET', url: `/ipfs/${cid}?format=car`, headers: {} })
    expect(answer.parts).toHaveLength(2)
    expect(answer.parts![1]).toBe(stored)
    expect(answer.parts![0]).toEqual(carPrefix(cid, bytes.byteLength))
    expect(answer.body).toEqual(carOfOne(cid, bytes))
    expect(answer.headers['content-length']).toBe(carOfOne(cid, bytes).byteLength)
    const server = await serve(store)
    const res = await httpRequest(`${server.url}/ipfs/${cid}?format=car`)
    expect(res.status).toBe(200)
    const car = await readCar(new Uint8Array(res.body))
    expect(car.roots.map(String)).toEqual([cid.toString()])
    expect(await car.get(cid)).toEqual(bytes)
  })
})
