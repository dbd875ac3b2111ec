/**
 * The head registry's handlers without sockets (src/server/registry-handlers.ts):
 * requests in, responses out, over DAGs made by the repository simulator.
 * Every refusal leaves the store's blocks and head exactly as they were. The
 * same suite runs over each backend: a HeadStore in memory, and the Redis
 * backend (src/server/redis-store.ts) against a real redis-server started
 * on 127.0.0.1 (skipped, saying so, where the package is absent).
 */
import type { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCar } from '../../src/blocks/car.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { SPEC_VERSION } from '../../src/model/config.js'
import { seedSigner } from '../../src/model/keys.js'
import { isRegistryRoute, registryHandler, type RegistryOptions, type RegistryRequest } from '../../src/server/registry-handlers.js'
import { RepoSim } from '../helpers/history.js'
import { carOf, chunks, memoryHeadStore, redisHeadStore, type TestHeadStore } from './registry-helpers.js'
import { redisUnavailable, startRedis, type TestRedis } from '../helpers/redis.js'

const CAR_TYPE = 'application/vnd.ipld.car'

function put (head: CID | string | undefined, body: Uint8Array | AsyncIterable<Uint8Array>, headers: Record<string, string> = {}): RegistryRequest {
  const h: Record<string, string> = { 'content-type': CAR_TYPE, ...headers }
  if (head !== undefined) h['if-match'] = `"${head.toString()}"`
  return { method: 'PUT', url: '/head', headers: h, body: body instanceof Uint8Array ? chunks(body) : body, remoteAddress: '127.0.0.1' }
}

interface Answer { status: number, headers: Record<string, string | number>, json: Record<string, any> }

async function ask (handler: ReturnType<typeof registryHandler>, req: RegistryRequest): Promise<Answer> {
  const r = await handler(req)
  return { status: r.status, headers: { ...r.headers }, json: JSON.parse(new TextDecoder().decode(r.body)) as Record<string, any> }
}

let redis: TestRedis | undefined
const opened: TestHeadStore[] = []
beforeAll(async () => { if (redisUnavailable === undefined) redis = await startRedis() }, 30_000)
afterAll(async () => {
  for (const s of opened) await s.close()
  await redis?.stop()
})

interface Backend { readonly name: string, readonly skip?: string, make: (from: MemoryBlockStore, head: CID) => Promise<TestHeadStore> }
const BACKENDS: Backend[] = [
  { name: 'memory', make: async (from, head) => await memoryHeadStore(from, head) },
  {
    name: 'redis',
    ...(redisUnavailable === undefined ? {} : { skip: redisUnavailable }),
    make: async (from, head) => {
      const s = await redisHeadStore(redis!.url, from, head)
      opened.push(s)
      return s
    }
  }
]

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip !== undefined)(`head registry handlers over the ${backend.name} backend${backend.skip !== undefined ? ` (skipped: ${backend.skip})` : ''}`, () => {
    suite(backend)
  })
}

/** A simulator at v0, a registry store holding v0, and v1 published in the simulator only. */
async function setup (backend: Backend, options: Partial<RegistryOptions> = {}): Promise<{ sim: RepoSim, sibling: RepoSim, store: TestHeadStore, handler: ReturnType<typeof registryHandler>, v0: CID, v1: CID, car1: Uint8Array }> {
  const sim = await RepoSim.create({ seed: 11 })
  const v0 = sim.head.timestamp.cid
  const store = await backend.make(sim.store, v0)
  // Another publisher with the same keys, also at v0 (same block store).
  const sibling = sim.fork(8)
  await sim.addTarget('targets', 'a.txt', new TextEncoder().encode('A'))
  const v1 = (await sim.publish()).timestamp.cid
  const car1 = await carOf(v1, sim.store, store.blocks)
  const handler = registryHandler({ store, pushes: true, rateLimit: false, ...options })
  return { sim, sibling, store, handler, v0, v1, car1 }
}

/** The request is refused with `status` and `code`; the store is unchanged. */
async function refused (s: { store: TestHeadStore, handler: ReturnType<typeof registryHandler> }, req: RegistryRequest, status: number, code: string): Promise<Answer> {
  const before = await s.store.snapshot()
  const commits = s.store.commits
  const a = await ask(s.handler, req)
  expect(a.json.error?.code, JSON.stringify(a.json)).toBe(code)
  expect(a.status).toBe(status)
  expect(await s.store.snapshot()).toBe(before)
  expect(s.store.commits).toBe(commits)
  return a
}

function suite (backend: Backend): void {
  it('REG-ACCEPT: a VALID successor of the head is accepted; its blocks are stored and the head moves', async () => {
    const s = await setup(backend)
    const a = await ask(s.handler, put(s.v0, s.car1))
    expect(a.status).toBe(200)
    expect(a.json).toMatchObject({ head: s.v1.toString(), previous: s.v0.toString() })
    expect(a.json.stored).toBeGreaterThan(0)
    expect(a.headers.etag).toBe(`"${s.v1}"`)
    expect((await s.store.head())?.toString()).toBe(s.v1.toString())
    for (const cid of s.sim.store.cids()) expect(await s.store.blocks.has(cid)).toBe(true)
    // Pushing the head it already has is a no-op success.
    const again = await ask(s.handler, put(s.v1, await carOf(s.v1, s.sim.store, s.store.blocks)))
    expect(again).toMatchObject({ status: 200, json: { head: s.v1.toString(), stored: 0 } })
    expect(s.store.commits).toBe(1)
  })

  it('REG-CAS: If-Match is required (428), must be one quoted CID (400), and must name the current head (412)', async () => {
    const s = await setup(backend)
    await refused(s, put(undefined, s.car1), 428, 'ERR_PRECONDITION_REQUIRED')
    await refused(s, put(undefined, s.car1, { 'if-match': '*' }), 400, 'ERR_BAD_PRECONDITION')
    await refused(s, put(undefined, s.car1, { 'if-match': '"not-a-cid"' }), 400, 'ERR_BAD_PRECONDITION')
    await refused(s, put(undefined, s.car1, { 'if-match': s.v0.toString() }), 400, 'ERR_BAD_PRECONDITION')
    const moved = await refused(s, put(s.v1, s.car1), 412, 'ERR_HEAD_MOVED')
    expect(moved.headers.etag).toBe(`"${s.v0}"`)
    expect(moved.json.error.head).toBe(s.v0.toString())
    // And the honest push still goes through afterwards.
    expect((await ask(s.handler, put(s.v0, s.car1))).status).toBe(200)
  })

  it('REG-CAS: of 16 racing successors of one head exactly one wins, the rest get 412', async () => {
    const base = await RepoSim.create({ seed: 12 })
    const v0 = base.head.timestamp.cid
    const store = await backend.make(base.store, v0)
    const handler = registryHandler({ store, pushes: true, rateLimit: false })
    const cars: Array<{ ts: CID, car: Uint8Array }> = []
    for (let i = 0; i < 16; i++) {
      const fork = base.fork(100 + i)
      await fork.addTarget('targets', `f${i}.txt`, new TextEncoder().encode(`fork ${i}`))
      const ts = (await fork.publish()).timestamp.cid
      cars.push({ ts, car: await carOf(ts, base.store, store.blocks) })
    }
    const answers = await Promise.all(cars.map(async (c) => await ask(handler, put(v0, c.car))))
    const won = answers.filter((a) => a.status === 200)
    expect(won).toHaveLength(1)
    expect(answers.filter((a) => a.status === 412 && a.json.error.code === 'ERR_HEAD_MOVED')).toHaveLength(15)
    expect((await store.head())?.toString()).toBe(won[0]!.json.head)
    expect(store.commits).toBe(1)
  })

  it('refuses bodies over the byte cap while streaming: 413, and reads no further than the chunk that crossed it', async () => {
    const s = await setup(backend, { maxBodyBytes: 64 * 1024 })
    await refused(s, put(s.v0, s.car1, { 'content-length': String(64 * 1024 + 1) }), 413, 'ERR_BODY_TOO_LARGE')
    // A well-formed CAR that never ends: its sections repeated forever.
    expect(s.car1[0]).toBeLessThan(128)
    const sections = s.car1.subarray(1 + s.car1[0]!)
    let pulled = 0
    const endless = (async function * () {
      pulled += s.car1.byteLength
      yield s.car1
      while (true) { pulled += sections.byteLength; yield sections }
    })()
    const a = await refused(s, put(s.v0, endless), 413, 'ERR_BODY_TOO_LARGE')
    expect(a.headers.connection).toBe('close')
    expect(pulled).toBeGreaterThan(64 * 1024)
    expect(pulled).toBeLessThanOrEqual(64 * 1024 + Math.max(s.car1.byteLength, sections.byteLength))
  })

  it('refuses malformed CARs, blocks that do not hash to their CIDs, wrong roots and too many blocks (400/413)', async () => {
    const s = await setup(backend)
    await refused(s, put(s.v0, new TextEncoder().encode('not a car at all')), 400, 'ERR_BAD_CAR')
    await refused(s, put(s.v0, s.car1.subarray(0, s.car1.byteLength - 7)), 400, 'ERR_BAD_CAR')
    await refused(s, put(s.v0, new Uint8Array(0)), 400, 'ERR_BAD_CAR')
    const ts = await s.sim.store.get(s.v1)
    const forged = await encodeCar([s.v1], [{ cid: s.v1, bytes: ts.map((b, i) => i === 40 ? b ^ 1 : b) }])
    const bad = await refused(s, put(s.v0, forged), 400, 'ERR_BLOCK_HASH')
    expect(bad.json.error.cid).toBe(s.v1.toString())
    await refused(s, put(s.v0, await encodeCar([s.v1, s.v0], [{ cid: s.v1, bytes: ts }])), 400, 'ERR_BAD_CAR')
    await refused({ store: s.store, handler: registryHandler({ store: s.store, pushes: true, rateLimit: false, maxBlocks: 3 }) }, put(s.v0, s.car1), 413, 'ERR_TOO_MANY_BLOCKS')
    await refused(s, put(s.v0, s.car1, { 'content-type': 'application/octet-stream' }), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE')
  })

  it('REG-ACCEPT: a timestamp that breaks VALID is 422 naming the rule (VALID-TS-SIG); a missing block is 422 ERR_INCOMPLETE', async () => {
    const s = await setup(backend)
    const forged = await s.sim.forgeTimestamp(s.sim.head.snapshot.cid, [seedSigner(new Uint8Array(32).fill(7))])
    const a = await refused(s, put(s.v0, await carOf(forged.cid, s.sim.store, s.store.blocks)), 422, 'ERR_INVALID')
    expect(a.json.error.rule).toBe('VALID-TS-SIG')
    // Only the timestamp: its snapshot is neither stored nor pushed.
    const lone = await encodeCar([s.v1], [{ cid: s.v1, bytes: await s.sim.store.get(s.v1) }])
    const b = await refused(s, put(s.v0, lone), 422, 'ERR_INCOMPLETE')
    expect(b.json.error.cid).toBe(s.sim.head.snapshot.cid.toString())
  })

  it('REG-ACCEPT: a VALID push that does not descend from the head (rollback, fork) is 422 naming the relation\'s rule', async () => {
    const s = await setup(backend)
    expect((await ask(s.handler, put(s.v0, s.car1))).status).toBe(200)
    // A sibling of v1, made from v0 with the same keys: VALID, but a fork.
    await s.sibling.addTarget('targets', 'other.txt', new TextEncoder().encode('other'))
    const v1b = (await s.sibling.publish()).timestamp.cid
    const forkCar = await carOf(v1b, s.sibling.store, s.store.blocks)
    const a = await refused(s, put(s.v1, forkCar), 422, 'ERR_NOT_SUCCESSOR')
    expect(a.json.error.rule).toMatch(/^SUCC-/)
    // Rollback: the old head again.
    const b = await refused(s, put(s.v1, await encodeCar([s.v0], [])), 422, 'ERR_NOT_SUCCESSOR')
    expect(b.json.error.rule).toMatch(/^SUCC-/)
  })

  it('checks a bounded number of pushes at once: others wait unread (then 412 if the head moved meanwhile), or 503 past the queue', async () => {
    const s = await setup(backend, { maxConcurrentPushes: 1, maxQueuedPushes: 1 })
    // A push whose body arrives only when we say so.
    let letGo!: () => void
    const gate = new Promise<void>((resolve) => { letGo = resolve })
    const slow = (async function * () {
      yield s.car1.subarray(0, 10)
      await gate
      yield s.car1.subarray(10)
    })()
    const first = ask(s.handler, put(s.v0, slow))
    let pulled = 0
    const waiting = (async function * () { pulled++; yield s.car1 })()
    const second = ask(s.handler, put(s.v0, waiting))
    // The queue (one place) is full: a third is turned away at once.
    const busy = await refused(s, put(s.v0, s.car1), 503, 'ERR_BUSY')
    expect(busy.headers['retry-after']).toBe('1')
    letGo()
    expect((await first).status).toBe(200)
    const late = await second
    expect(late).toMatchObject({ status: 412, json: { error: { code: 'ERR_HEAD_MOVED', head: s.v1.toString() } } })
    expect(pulled).toBe(0)
  })

  it('pushes are off by default (405), and /config says so', async () => {
    const s = await setup(backend, { pushes: false })
    await refused(s, put(s.v0, s.car1), 405, 'ERR_PUSH_DISABLED')
    const c = await ask(s.handler, { method: 'GET', url: '/config', headers: {} })
    expect(c.status).toBe(200)
    expect(c.json).toEqual({
      pushes: false,
      maxBodyBytes: 64 * 1024 * 1024,
      maxBlocks: 100_000,
      specVersionMajor: Number(SPEC_VERSION.split('.')[0]),
      head: s.v0.toString(),
      root: s.sim.versions[0]!.root.cid.toString(),
      rateLimit: null
    })
    expect((await ask(s.handler, { method: 'DELETE', url: '/config', headers: {} })).status).toBe(405)
    expect(isRegistryRoute({ method: 'GET', url: '/head' })).toBe(false)
    expect(isRegistryRoute({ method: 'PUT', url: '/head' })).toBe(true)
    expect(isRegistryRoute({ method: 'GET', url: '/config?x=1' })).toBe(true)
  })

  it('rate limits pushes per remote address: 429 with Retry-After, tokens come back with time', async () => {
    let now = 1_000_000
    const s = await setup(backend, { rateLimit: { burst: 2, perMinute: 6 }, now: () => now })
    // Two refusals of other kinds still spend tokens: the limit is on attempts.
    await refused(s, put(s.v1, s.car1), 412, 'ERR_HEAD_MOVED')
    await refused(s, put(s.v1, s.car1), 412, 'ERR_HEAD_MOVED')
    const limited = await refused(s, put(s.v0, s.car1), 429, 'ERR_RATE_LIMITED')
    expect(limited.headers['retry-after']).toBe('10')
    // Another address has its own bucket.
    const other = await ask(s.handler, { ...put(s.v1, s.car1), remoteAddress: '10.0.0.2' })
    expect(other.status).toBe(412)
    now += 10_000
    expect((await ask(s.handler, put(s.v0, s.car1))).status).toBe(200)
  })
}
