/**
 * The head registry end to end: real repository folders, `dagtuf serve`'s
 * server on 127.0.0.1, pushes by `dagtuf push` and by raw HTTP, a client
 * updating from the registry. Refusals leave the registry's repository
 * (head.json, log, block files) exactly as it was.
 */
import { cp, readFile, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCar } from '../../src/blocks/car.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { parseCid } from '../../src/model/hash.js'
import { openSession, publishStaged } from '../../src/publish/engine.js'
import { exportCar } from '../../src/publish/export.js'
import { parseHead, type HeadRecord } from '../../src/publish/files.js'
import { Repo } from '../../src/publish/repo.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { fingerprint as fingerprintAll, verifyRepoHead } from '../cli/publish-helpers.js'
import { verifyAudit } from '../../src/publish/audit.js'
import { httpRequest } from './http-helpers.js'
import { redisUnavailable, startRedis, type TestRedis } from '../helpers/redis.js'
import { dagtufJson } from '../helpers/cli.js'

/**
 * A repository's files but its audit log: a refused push leaves blocks, head
 * and log byte-identical (REG-ACCEPT) and is itself counted in the audit log
 * (AUDIT-REFUSALS-BOUNDED).
 */
async function fingerprint (dir: string): Promise<Record<string, string>> {
  return Object.fromEntries(Object.entries(await fingerprintAll(dir)).filter(([k]) => !k.startsWith('audit/')))
}

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, json: Record<string, any> }

/** PUT /head with `body` (a CAR) and If-Match `head`, on its own connection. */
async function putHead (url: string, head: string | undefined, body: Uint8Array, headers: Record<string, string> = {}): Promise<Answer> {
  const h: Record<string, string> = { 'content-type': 'application/vnd.ipld.car', 'content-length': String(body.byteLength), ...headers }
  if (head !== undefined) h['if-match'] = `"${head}"`
  const r = await httpRequest(`${url}/head`, { method: 'PUT', headers: h, body: Buffer.from(body) as unknown as string })
  return { status: r.status, headers: r.headers, json: JSON.parse(r.body.toString('utf8')) as Record<string, any> }
}

/**
 * A chunked PUT of a well-formed CAR that never ends (`car`, then its
 * sections again and again) until the server answers or `limit` bytes went out.
 */
async function putEndless (url: string, head: string, car: Uint8Array, limit: number): Promise<{ status: number, sent: number, json: Record<string, any> }> {
  expect(car[0]).toBeLessThan(128)
  const sections = Buffer.from(car.subarray(1 + car[0]!))
  return await new Promise((resolve, reject) => {
    let sent = 0
    let answered = false
    const req = request(`${url}/head`, {
      method: 'PUT',
      agent: false,
      timeout: 10_000,
      headers: { 'content-type': 'application/vnd.ipld.car', 'if-match': `"${head}"`, 'transfer-encoding': 'chunked' }
    }, (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, sent, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any> }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error('test request timed out')) })
    req.on('error', (e) => { if (!answered) reject(e) })
    let first = true
    const pump = (): void => {
      while (!answered && sent < limit) {
        const chunk = first ? Buffer.from(car) : sections
        first = false
        sent += chunk.byteLength
        if (!req.write(chunk)) { req.once('drain', pump); return }
      }
      if (!answered) req.end()
    }
    pump()
  })
}

const dagtuf = dagtufJson

/** A copy of `from` without its keys: a second repository at the same head, as a mirror would hold it. */
async function mirrorOf (from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true })
  await rm(join(to, 'keys'), { recursive: true, force: true })
  await rm(join(to, 'repo.lock'), { force: true })
}

let work: TempDir
let pub: MadeRepo
const servers: RepositoryServer[] = []

beforeAll(async () => {
  work = await tempDir('dagtuf-registry-')
  pub = await makeRepo(join(work.path, 'pub'), work.path, { 'a.txt': 'A\n' })
}, 60_000)
afterAll(async () => {
  for (const s of servers) await s.close().catch(() => {})
  await work.remove()
})

async function serve (dir: string, options: Parameters<typeof serveRepository>[1] = {}): Promise<RepositoryServer> {
  const s = await serveRepository(dir, options)
  servers.push(s)
  return s
}

/**
 * `n` different successors of `base` (a head record of the repository in
 * `dir`, whose keys it holds): each a refresh of snapshot and timestamp at
 * another clock, exported as a CAR since `base`. The repository's head is
 * put back on `base` after each.
 */
async function successors (dir: string, base: HeadRecord, n: number, t0: number): Promise<Array<{ head: HeadRecord, car: Uint8Array }>> {
  const session = await openSession(dir, { lock: true })
  const out: Array<{ head: HeadRecord, car: Uint8Array }> = []
  try {
    for (let i = 0; i < n; i++) {
      const bytes = await session.repo.headBytes()
      await session.repo.moveHead(base, bytes)
      const r = await publishStaged({ ...session, now: new Date(t0 + i * 1000) })
      if (r.kind !== 'published') throw new Error('expected a publish')
      const file = join(work.path, `succ-${t0}-${i}.car`)
      await exportCar(session.node, sourceLoader(session.node), r.head.timestamp, file, { since: base.timestamp })
      out.push({ head: r.head, car: await readFile(file) })
    }
    await session.repo.moveHead(base, await session.repo.headBytes())
  } finally {
    await session.repo.close()
  }
  return out
}

async function headOf (dir: string): Promise<string> {
  return (JSON.parse(await readFile(join(dir, 'head.json'), 'utf8')) as { timestamp: string }).timestamp
}

describe('head registry over HTTP with real repositories', () => {
  it('REG-ACCEPT: an honest publish pushed with dagtuf push is accepted, and a client updating from the registry gets it', async () => {
    const mirror = join(work.path, 'mirror1')
    await mirrorOf(pub.dir, mirror)
    const server = await serve(mirror, { allowPush: true })
    const config = await httpRequest(`${server.url}/config`)
    expect(JSON.parse(config.body.toString('utf8'))).toMatchObject({ pushes: true, head: pub.timestamps[1], root: pub.root, specVersionMajor: 2 })

    // A client of the registry at the old head.
    const client = join(work.path, 'client1')
    expect((await dagtuf('client', 'init', '--dir', client, '--root', pub.root, '--gateway', server.url)).code).toBe(0)
    expect((await dagtuf('client', 'update', '--dir', client, '--gateway', server.url)).json).toMatchObject({ timestamp: pub.timestamps[1] })

    const v2 = await publishMore(pub, work.path, { 'b.txt': 'B\n' })
    const pushed = await dagtuf('push', '--server', server.url, '--dir', pub.dir)
    expect(pushed.code, JSON.stringify(pushed.json)).toBe(0)
    expect(pushed.json).toMatchObject({ head: v2, previous: pub.timestamps[1], pushed: true })
    expect(pushed.json.stored).toBeGreaterThan(0)
    expect(await headOf(mirror)).toBe(v2)
    expect(await verifyRepoHead(mirror, pub.timestamps[1])).toBe(v2)
    expect((await server.head())?.toString()).toBe(v2)

    const up = await dagtuf('client', 'update', '--dir', client, '--gateway', server.url)
    expect(up.code, JSON.stringify(up.json)).toBe(0)
    expect(up.json).toMatchObject({ timestamp: v2, continuity: 'descends' })
    const got = await dagtuf('client', 'get', '--dir', client, 'b.txt', '-o', join(work.path, 'b.txt'), '--gateway', server.url)
    expect(got.code, JSON.stringify(got.json)).toBe(0)
    expect(await readFile(join(work.path, 'b.txt'), 'utf8')).toBe('B\n')

    // Pushing again is a no-op; a read-only mirror refuses pushes.
    expect((await dagtuf('push', '--server', server.url, '--dir', pub.dir)).json).toMatchObject({ head: v2, pushed: false })
    const readOnly = await serve(mirror)
    await publishMore(pub, work.path, { 'c.txt': 'C\n' })
    const before = await fingerprint(mirror)
    const refused = await dagtuf('push', '--server', readOnly.url, '--dir', pub.dir)
    expect(refused.code).toBe(1)
    expect(refused.json.error).toMatchObject({ code: 'ERR_PUSH_REFUSED', status: 405, serverCode: 'ERR_PUSH_DISABLED' })
    expect(await fingerprint(mirror)).toEqual(before)
    // The accepted push and the refusal are in the mirror's audit log (AUDIT-COVERS).
    const audit = await verifyAudit(mirror)
    expect(audit.problems).toEqual([])
    const actions = audit.entries.map((e) => e.entry)
    expect(actions.find((e) => e.action === 'push-accepted')?.details).toMatchObject({ timestamp: v2, previous: pub.timestamps[1] })
    expect(actions[actions.length - 1]).toMatchObject({ action: 'push-refused', details: { code: 'ERR_PUSH_DISABLED', status: 405 } })
  }, 120_000)

  it('REG-CAS: 16 writers race with successors of the same head, twice: one wins per head, each head descends from the one before, losers get 412', async () => {
    const fork = join(work.path, 'writers')
    const mirror = join(work.path, 'mirror2')
    await cp(pub.dir, fork, { recursive: true })
    await mirrorOf(pub.dir, mirror)
    const server = await serve(mirror, { allowPush: true })
    const h0 = (await openHead(mirror))
    let base = h0
    const accepted: string[] = [h0.timestamp.toString()]
    for (const round of [0, 1]) {
      // The writers' repository must be at the registry's head to make successors of it.
      const succ = await successors(fork, base, 16, Date.now() + (round + 1) * 86_400_000)
      expect(new Set(succ.map((s) => s.head.timestamp.toString())).size).toBe(16)
      const answers = await Promise.all(succ.map(async (s) => await putHead(server.url, base.timestamp.toString(), s.car)))
      const won = answers.flatMap((a, i) => a.status === 200 ? [i] : [])
      expect(won, JSON.stringify(answers.map((a) => a.status))).toHaveLength(1)
      for (const [i, a] of answers.entries()) {
        if (i !== won[0]) expect(a).toMatchObject({ status: 412, json: { error: { code: 'ERR_HEAD_MOVED', head: succ[won[0]!]!.head.timestamp.toString() } } })
      }
      const winner = succ[won[0]!]!
      expect(await verifyRepoHead(mirror, base.timestamp.toString())).toBe(winner.head.timestamp.toString())
      accepted.push(winner.head.timestamp.toString())
      // A loser that retries against the new head is a fork of it: 422, nothing stored.
      const loser = succ[won[0] === 0 ? 1 : 0]!
      const before = await fingerprint(mirror)
      const retry = await putHead(server.url, winner.head.timestamp.toString(), loser.car)
      expect(retry.status).toBe(422)
      expect(retry.json.error).toMatchObject({ code: 'ERR_NOT_SUCCESSOR' })
      expect(retry.json.error.rule).toMatch(/^SUCC-/)
      expect(await fingerprint(mirror)).toEqual(before)
      base = winner.head
    }
    // Every accepted head is in the registry's log, in order.
    const log = (await readFile(join(mirror, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { timestamp: string }).timestamp)
    expect(log.slice(-3)).toEqual(accepted)
  }, 180_000)

  it('REG-ACCEPT: bad input over HTTP gets its status and code, and the repository stays byte-identical', async () => {
    const mirror = join(work.path, 'mirror3')
    await mirrorOf(pub.dir, mirror)
    const server = await serve(mirror, { allowPush: true, maxPushBytes: 256 * 1024 })
    const head = await headOf(mirror)
    const before = await fingerprint(mirror)
    const v = await publishMore(pub, work.path, { 'd.txt': 'D\n' })
    const file = join(work.path, 'honest.car')
    const s = await openSession(pub.dir)
    try {
      await exportCar(s.node, sourceLoader(s.node), parseCid(v), file, { since: parseCid(head) })
    } finally {
      await s.repo.close()
    }
    const car = await readFile(file)

    const cases: Array<[string, () => Promise<{ status: number, json: Record<string, any> }>, number, string]> = [
      ['no If-Match', async () => await putHead(server.url, undefined, car), 428, 'ERR_PRECONDITION_REQUIRED'],
      ['stale If-Match', async () => await putHead(server.url, pub.timestamps[0], car), 412, 'ERR_HEAD_MOVED'],
      ['declared too large', async () => await putHead(server.url, head, new Uint8Array(256 * 1024 + 1)), 413, 'ERR_BODY_TOO_LARGE'],
      ['streamed too large', async () => await putEndless(server.url, head, car, 64 * 1024 * 1024), 413, 'ERR_BODY_TOO_LARGE'],
      ['not a CAR', async () => await putHead(server.url, head, new TextEncoder().encode('hello')), 400, 'ERR_BAD_CAR'],
      ['truncated CAR', async () => await putHead(server.url, head, car.subarray(0, car.byteLength - 3)), 400, 'ERR_BAD_CAR'],
      ['a block that does not hash to its CID', async () => {
        const bytes = new Uint8Array(car.byteLength)
        bytes.set(car)
        bytes[bytes.byteLength - 5]! ^= 0xff
        return await putHead(server.url, head, bytes)
      }, 400, 'ERR_BLOCK_HASH'],
      ['a rollback to an older head', async () => await putHead(server.url, head, await encodeCar([parseCid(pub.timestamps[0]!)], [])), 422, 'ERR_NOT_SUCCESSOR'],
      ['the wrong media type', async () => await putHead(server.url, head, car, { 'content-type': 'text/plain' }), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE']
    ]
    for (const [what, run, status, code] of cases) {
      const a = await run()
      expect({ what, status: a.status, code: a.json.error?.code }).toEqual({ what, status, code })
      expect(await fingerprint(mirror), what).toEqual(before)
    }
    // The streamed body was cut off long before the client's 64 MiB went out.
    const streamed = await putEndless(server.url, head, car, 64 * 1024 * 1024)
    expect(streamed.sent).toBeLessThan(64 * 1024 * 1024)
    // While a local command holds the repository lock, a VALID push waits its turn: 503, nothing stored.
    const local = await Repo.open(mirror, { lock: true })
    try {
      const busy = await putHead(server.url, head, car)
      expect(busy).toMatchObject({ status: 503, json: { error: { code: 'ERR_BUSY' } } })
      expect(busy.headers['retry-after']).toBe('1')
    } finally {
      await local.close()
    }
    expect(await fingerprint(mirror)).toEqual(before)
    // The honest push still goes through afterwards.
    expect(await putHead(server.url, head, car)).toMatchObject({ status: 200, json: { head: v, previous: head } })
    expect(await verifyRepoHead(mirror, head)).toBe(v)
  }, 120_000)
})

async function openHead (dir: string): Promise<HeadRecord> {
  return parseHead(await readFile(join(dir, 'head.json')))
}

describe.skipIf(redisUnavailable !== undefined)(`two replicas of the registry on the Redis backend${redisUnavailable !== undefined ? ` (skipped: ${redisUnavailable})` : ''}`, () => {
  let redis: TestRedis
  beforeAll(async () => { redis = await startRedis() }, 30_000)
  afterAll(async () => { await redis?.stop() })

  it('REG-CAS: 16 writers race across two replicas, twice: one wins per head, both replicas serve it, and a push to one is served by the other', async () => {
    const fork = join(work.path, 'writers-redis')
    await cp(pub.dir, fork, { recursive: true })
    const a = join(work.path, 'replica-a')
    const b = join(work.path, 'replica-b')
    await mirrorOf(pub.dir, a)
    await mirrorOf(pub.dir, b)
    const logs: string[] = []
    const options = { allowPush: true, rateLimit: false as const, redis: { url: redis.url, prefix: 'replicas' }, log: (l: string) => logs.push(l) }
    const ra = await serve(a, options)
    const rb = await serve(b, options)
    // The first replica seeded the empty Redis from its folder; Redis is durable here, so no warning.
    expect(logs.filter((l) => l.includes('seeded'))).toHaveLength(1)
    expect(logs.filter((l) => l.includes('appendfsync'))).toHaveLength(0)
    let base = await openHead(fork)
    expect((await ra.head())?.toString()).toBe(base.timestamp.toString())
    const accepted: string[] = [base.timestamp.toString()]
    for (const round of [0, 1]) {
      const succ = await successors(fork, base, 16, Date.now() + (round + 10) * 86_400_000)
      const answers = await Promise.all(succ.map(async (s, i) => await putHead((i % 2 === 0 ? ra : rb).url, base.timestamp.toString(), s.car)))
      const won = answers.flatMap((x, i) => x.status === 200 ? [i] : [])
      expect(won, JSON.stringify(answers.map((x) => x.status))).toHaveLength(1)
      for (const [i, x] of answers.entries()) if (i !== won[0]) expect(x).toMatchObject({ status: 412, json: { error: { code: 'ERR_HEAD_MOVED' } } })
      const winner = succ[won[0]!]!.head
      expect((await ra.head())?.toString()).toBe(winner.timestamp.toString())
      expect((await rb.head())?.toString()).toBe(winner.timestamp.toString())
      accepted.push(winner.timestamp.toString())
      base = winner
    }
    // The log in Redis holds every accepted head, in order (the seed first).
    const { RedisHeadStore } = await import('../../src/server/redis-store.js')
    const { store } = await RedisHeadStore.open({ url: redis.url, prefix: 'replicas' })
    try {
      expect((await store.log()).map((l) => (JSON.parse(l) as { timestamp: string }).timestamp)).toEqual(accepted)
    } finally {
      await store.close()
    }
    // New content pushed to replica A (dagtuf push) is served by replica B: a client of B gets it.
    const session = await openSession(fork, { lock: true })
    try {
      await session.repo.moveHead(base, await session.repo.headBytes())
    } finally {
      await session.repo.close()
    }
    const writer: MadeRepo = { dir: fork, root: pub.root, timestamps: [] }
    const v = await publishMore(writer, work.path, { 'replicated.txt': 'served by the other replica\n' })
    const pushed = await dagtuf('push', '--server', ra.url, '--dir', fork)
    expect(pushed.code, JSON.stringify(pushed.json)).toBe(0)
    expect((await rb.head())?.toString()).toBe(v)
    const client = join(work.path, 'client-replica-b')
    expect((await dagtuf('client', 'init', '--dir', client, '--root', pub.root, '--gateway', rb.url)).code).toBe(0)
    const got = await dagtuf('client', 'get', '--dir', client, 'replicated.txt', '-o', join(work.path, 'replicated.txt'), '--update', '--gateway', rb.url)
    expect(got.code, JSON.stringify(got.json)).toBe(0)
    expect(await readFile(join(work.path, 'replicated.txt'), 'utf8')).toBe('served by the other replica\n')
    // Replica B's folder was only a cache: its head.json never moved.
    expect(await headOf(b)).toBe(accepted[0])
    // AUDIT-WRITE-AHEAD AUDIT-COVERS with --redis: each replica's audit log (its folder) names the pushes it accepted;
    // together they name every head Redis accepted, and a push that lost the race after its entry says so.
    const pushedTo = new Map<string, string>()
    for (const dir of [a, b]) {
      const audit = await verifyAudit(dir)
      expect(audit.problems).toEqual([])
      const entries = audit.entries.map((e) => e.entry)
      const failed = new Set(entries.filter((e) => e.action === 'publish-failed').map((e) => String(e.details.timestamp)))
      for (const e of entries.filter((x) => x.action === 'push-accepted')) {
        const ts = String(e.details.timestamp)
        if ([...accepted, v].includes(ts)) pushedTo.set(ts, dir)
        else expect(failed.has(ts), `${ts}: an entry for a push that lost without a publish-failed entry`).toBe(true)
      }
    }
    expect([...accepted.slice(1), v].filter((ts) => !pushedTo.has(ts))).toEqual([])
    expect(pushedTo.get(v)).toBe(a)
  }, 240_000)

  it('a Redis that cannot be reached is ERR_REPO_IO', async () => {
    const dir = join(work.path, 'replica-c')
    await mirrorOf(pub.dir, dir)
    await expect(serveRepository(dir, { redis: { url: 'redis://127.0.0.1:1' } })).rejects.toMatchObject({ code: 'ERR_REPO_IO' })
    await expect(serveRepository(dir, { redis: { url: 'http://127.0.0.1:1' } })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' })
    await expect(serveRepository(dir, { redis: { url: redis.url, prefix: 'bad prefix!' } })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' })
  }, 60_000)
})
