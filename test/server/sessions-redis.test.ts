/**
 * Signing sessions on the Redis backend (issue 11 item 4, NOTES 10.2, 10.3):
 * two `dagtuf serve --redis URL --sessions` replicas, each over its own copy
 * of one repository folder (holding only the online keys), sharing the
 * drafts and the head in a real redis-server on loopback. The core of
 * test/server/sessions.test.ts runs here again over Redis: a root rotation
 * signed through two replicas, the refusals (Redis left as it was), withdraw,
 * expiry, and publishing once (SESS-ONCE) when replicas race.
 */
import { mkdir, readdir, readFile, rename, cp } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { signingMessage, toHexSig, type Signer } from '../../src/model/keys.js'
import { readKeyFile, signerFromKeyFile } from '../../src/publish/keyfile.js'
import { Repo } from '../../src/publish/repo.js'
import { SigningSessions } from '../../src/publish/sessions.js'
import { OnlineResigner } from '../../src/publish/online.js'
import { loadCurrent } from '../../src/publish/state.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { assertValidTimestamp } from '../../src/validate/valid.js'
import { applySignatures, draftText, parseDraft } from '../../src/publish/drafts.js'
import { RedisHeadStore } from '../../src/server/redis-store.js'
import { redisSessionBackend } from '../../src/server/redis-sessions.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { redisUnavailable, startRedis, type TestRedis } from '../helpers/redis.js'
import { httpRequest } from './http-helpers.js'

interface Answer { status: number, json: Record<string, any> }

async function call (url: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const text = body === undefined ? undefined : JSON.stringify(body)
  const h: Record<string, string> = text === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }
  const r = await httpRequest(`${url}${path}`, { method, headers: h, ...(text !== undefined ? { body: text } : {}) })
  return { status: r.status, json: JSON.parse(r.body.toString('utf8') || '{}') as Record<string, any> }
}

async function ok (...argv: string[]): Promise<Record<string, any>> {
  const out: string[] = []
  const code = await main([...argv, '--json'], { out: (l) => out.push(l), err: () => {}, tty: false })
  const json = JSON.parse(out[0] ?? '{}') as Record<string, any>
  expect(code, `dagtuf ${argv.join(' ')} -> ${JSON.stringify(json)}`).toBe(0)
  return json
}

async function sigFor (signer: Signer, view: Record<string, any>, role: string): Promise<{ role: string, keyid: string, sig: string }> {
  const obj = (view.objects as Array<{ role: string, message: string }>).find((o) => o.role === role)!
  return { role, keyid: signer.keyid, sig: toHexSig(await signer.sign(new Uint8Array(Buffer.from(obj.message, 'base64')))) }
}

async function keyIn (dir: string, prefix: string): Promise<string> {
  const name = (await readdir(dir)).find((n) => n.startsWith(prefix) && n.endsWith('.json'))
  if (name === undefined) throw new Error(`no ${prefix} key in ${dir}`)
  return join(dir, name)
}

/** Everything a prefix holds in Redis except blocks: head, log, drafts (a refusal must leave it as it was). */
async function redisState (store: RedisHeadStore): Promise<string> {
  const ids = await store.draftIds()
  const drafts: string[] = []
  for (const id of ids) drafts.push(Buffer.from((await store.draftBytes(id)) ?? new Uint8Array()).toString('base64'))
  return JSON.stringify({ head: Buffer.from((await store.headBytes()) ?? new Uint8Array()).toString('base64'), log: await store.log(), ids, drafts, blocks: (await store.blockCids()).sort() })
}

describe.skipIf(redisUnavailable !== undefined)(`signing sessions on the Redis backend, two replicas${redisUnavailable !== undefined ? ` (skipped: ${redisUnavailable})` : ''}`, () => {
  let work: TempDir
  let redis: TestRedis
  let base: string
  let offline: { root: Signer, targets: Signer }
  let newRoot: Signer
  let newRootPub: string
  let n = 0

  beforeAll(async () => {
    redis = await startRedis()
    work = await tempDir('dagtuf-sessions-redis-')
    base = join(work.path, 'base')
    await ok('init', '--dir', base)
    const vault = join(work.path, 'vault')
    await mkdir(vault)
    for (const role of ['root', 'targets']) await rename(await keyIn(join(base, 'keys'), `${role}-`), join(vault, `${role}.json`))
    offline = {
      root: await signerFromKeyFile(await readKeyFile(join(vault, 'root.json')), undefined),
      targets: await signerFromKeyFile(await readKeyFile(join(vault, 'targets.json')), undefined)
    }
    await ok('keygen', '--out', join(vault, 'new-root'))
    newRoot = await signerFromKeyFile(await readKeyFile(join(vault, 'new-root')), undefined)
    newRootPub = (await readKeyFile(join(vault, 'new-root.pub'))).publicKey.public
  }, 60_000)
  afterAll(async () => { await work?.remove(); await redis?.stop() })

  /** Two replicas (each its own copy of the folder) on one fresh prefix, and a connection to look at Redis. */
  async function replicas (extra: { now?: () => Date, draftTtlSeconds?: number } = {}): Promise<{ a: RepositoryServer, b: RepositoryServer, store: RedisHeadStore, prefix: string, dirs: string[], close: () => Promise<void> }> {
    const prefix = `sess${++n}`
    const dirs = [join(work.path, `${prefix}-a`), join(work.path, `${prefix}-b`)]
    for (const d of dirs) await cp(base, d, { recursive: true })
    const options = { sessions: true, sessionRateLimit: false as const, redis: { url: redis.url, prefix }, ...extra }
    const a = await serveRepository(dirs[0]!, options)
    const b = await serveRepository(dirs[1]!, options)
    const { store } = await RedisHeadStore.open({ url: redis.url, prefix })
    return { a, b, store, prefix, dirs, close: async () => { await a.close(); await b.close(); await store.close() } }
  }

  it('SESS-SIG-KEY SESS-SIG-BYTES: a root rotation signed by two keyholders through two replicas is published in Redis, and a client of either replica follows the new root', async () => {
    const r = await replicas()
    try {
      const before = (await r.a.head())!.toString()
      expect((await r.b.head())!.toString()).toBe(before)
      const client = join(work.path, `${r.prefix}-client`)
      const rootCid = (await r.store.headRecord())!.root.toString()
      await ok('client', 'init', '--dir', client, '--root', rootCid, '--gateway', r.b.url)

      const proposed = await call(r.a.url, 'POST', '/drafts', { ops: [{ op: 'rotate', role: 'root', keys: [newRootPub], threshold: 1 }] })
      expect(proposed.status).toBe(201)
      const id = proposed.json.id as string
      // The other replica sees the draft at once: it is in Redis, not in A's folder.
      expect((await call(r.b.url, 'GET', '/drafts')).json.drafts.map((d: { id: string }) => d.id)).toEqual([id])
      expect(await readdir(join(r.dirs[0]!, 'drafts')).catch(() => [])).toEqual([])

      const first = await call(r.a.url, 'POST', `/drafts/${id}/signatures`, { signatures: [await sigFor(offline.root, proposed.json, 'root')] })
      expect(first.json).toMatchObject({ added: 1, published: false, draft: { state: 'pending' } })
      const seen = await call(r.b.url, 'GET', `/drafts/${id}`)
      expect(seen.json.objects[0].signatures).toEqual([offline.root.keyid])

      // The last signature goes to B, which publishes.
      const second = await call(r.b.url, 'POST', `/drafts/${id}/signatures`, { signatures: [await sigFor(newRoot, seen.json, 'root')] })
      expect(second.status).toBe(200)
      expect(second.json.published).toBe(true)
      const record = (await r.store.headRecord())!
      expect(record.source).toBe(id)
      expect(record.root.toString()).not.toBe(rootCid)
      expect(second.json.draft).toEqual({ id, state: 'published', timestamp: record.timestamp.toString() })
      expect((await r.a.head())!.toString()).toBe(record.timestamp.toString())
      // A knows it was published (the log in Redis names it); the draft is gone from Redis.
      expect((await call(r.a.url, 'GET', `/drafts/${id}`)).json).toEqual({ id, state: 'published', timestamp: record.timestamp.toString() })
      expect(await r.store.draftIds()).toEqual([])
      // Each replica's folder kept its own head: Redis is the one that moved.
      expect((await ok('head', '--dir', r.dirs[0]!)).timestamp).toBe(before)
      // B's audit log (its folder) has the publish; A's has the proposal.
      expect(await readFile(join(r.dirs[1]!, 'audit', (await readdir(join(r.dirs[1]!, 'audit'))).sort()[0]!), 'utf8')).toContain(record.timestamp.toString())

      // A client of replica A follows the rotation (the blocks come from Redis).
      const up = await ok('client', 'update', '--dir', client, '--gateway', r.a.url)
      expect(up).toMatchObject({ timestamp: record.timestamp.toString() })
      expect(await readFile(join(client, 'state.json'), 'utf8')).toContain(record.root.toString())
    } finally { await r.close() }
  }, 90_000)

  it('SESS-SIG-KEY SESS-SIG-BYTES SESS-SIG-ONCE SESS-ONCE: refusals through either replica leave Redis as it was; an honest signature publishes once and a replay is refused by both', async () => {
    const r = await replicas()
    try {
      const proposed = await call(r.b.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
      expect(proposed.status).toBe(201)
      const id = proposed.json.id as string
      const good = await sigFor(offline.targets, proposed.json, 'targets')
      const otherBytes = { role: 'targets', keyid: offline.targets.keyid, sig: toHexSig(await offline.targets.sign(signingMessage(new TextEncoder().encode('other bytes')))) }
      const refusals: Array<[string, RepositoryServer, unknown, number, string, string?]> = [
        ['wrong key', r.a, { signatures: [await sigFor(offline.root, proposed.json, 'targets')] }, 403, 'ERR_KEY_NOT_AUTHORIZED', 'SESS-SIG-KEY'],
        ['other bytes', r.b, { signatures: [otherBytes] }, 422, 'ERR_DRAFT_SIGNATURE', 'SESS-SIG-BYTES'],
        ['the same key twice', r.a, { signatures: [good, good] }, 409, 'ERR_DRAFT_SIGNED', 'SESS-SIG-ONCE'],
        ['good next to bad', r.b, { signatures: [good, otherBytes] }, 422, 'ERR_DRAFT_SIGNATURE', 'SESS-SIG-BYTES']
      ]
      for (const [what, server, body, status, code, rule] of refusals) {
        const before = await redisState(r.store)
        const answer = await call(server.url, 'POST', `/drafts/${id}/signatures`, body)
        expect([what, answer.status, answer.json.error?.code, answer.json.error?.rule]).toEqual([what, status, code, rule])
        expect([what, await redisState(r.store)]).toEqual([what, before])
      }
      expect((await call(r.a.url, 'POST', '/drafts/draft-0123456789abcdef/signatures', { signatures: [good] })).status).toBe(404)

      const done = await call(r.a.url, 'POST', `/drafts/${id}/signatures`, { signatures: [good] })
      expect(done.json.published).toBe(true)
      const ts = (await r.store.head())!.toString()
      expect(done.json.draft.timestamp).toBe(ts)
      const before = await redisState(r.store)
      for (const server of [r.a, r.b]) {
        const replay = await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [good] })
        expect([replay.status, replay.json.error?.code, replay.json.error?.rule, replay.json.error?.timestamp]).toEqual([409, 'ERR_DRAFT_PUBLISHED', 'SESS-ONCE', ts])
      }
      expect(await redisState(r.store)).toEqual(before)
    } finally { await r.close() }
  }, 90_000)

  it('SESS-ONCE: the same last signature posted to both replicas at the same moment publishes the draft once', async () => {
    const r = await replicas()
    try {
      const proposed = await call(r.a.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
      const id = proposed.json.id as string
      const good = await sigFor(offline.targets, proposed.json, 'targets')
      const logBefore = (await r.store.log()).length
      const answers = await Promise.all([r.a, r.b].map(async (s) => await call(s.url, 'POST', `/drafts/${id}/signatures`, { signatures: [good] })))
      const published = answers.filter((x) => x.status === 200 && x.json.published === true)
      expect(published).toHaveLength(1)
      const other = answers.find((x) => x !== published[0])!
      expect([other.status, other.json.error?.code]).toEqual([409, 'ERR_DRAFT_PUBLISHED'])
      const log = await r.store.log()
      expect(log.length).toBe(logBefore + 1)
      expect(log.filter((l) => l.includes(id))).toHaveLength(1)
    } finally { await r.close() }
  }, 90_000)

  it('SESS-ONCE: two replicas finishing one completed draft at once publish it once, by the compare-and-swap alone (no lock)', async () => {
    const r = await replicas()
    const extra: RedisHeadStore[] = []
    const repos: Repo[] = []
    try {
      const proposed = await call(r.a.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
      const id = proposed.json.id as string
      // A draft whose threshold is met but which was not published (a replica stopped after storing the signature).
      const draft = parseDraft((await r.store.draftBytes(id))!, id)
      const env = draft.objects.get('targets')!
      const sig = toHexSig(await offline.targets.sign(signingMessage(env.signedBytes)))
      const signed = { ...draft, objects: applySignatures(draft.objects, draft.needs, [{ role: 'targets', keyid: offline.targets.keyid, sig }]) }
      await r.store.putDraft(id, draftText(signed))
      const logBefore = (await r.store.log()).length

      // Two replicas' sessions whose lock does nothing: only the head's compare-and-swap stands between them.
      const sessions: SigningSessions[] = []
      for (const dir of r.dirs) {
        const { store } = await RedisHeadStore.open({ url: redis.url, prefix: r.prefix })
        extra.push(store)
        const repo = await Repo.open(dir)
        repos.push(repo)
        const backend = redisSessionBackend(store, repo)
        sessions.push(new SigningSessions({ repo, backend: { ...backend, locked: async (fn) => await fn() } }))
      }
      const results = (await Promise.all(sessions.map(async (s) => await s.resume()))).flat()
      const published = results.filter((x) => 'timestamp' in x)
      expect(published).toHaveLength(1)
      expect(results.filter((x) => 'error' in x).every((x) => 'error' in x && x.error.startsWith('ERR_HEAD_MOVED'))).toBe(true)
      const log = await r.store.log()
      expect(log.length).toBe(logBefore + 1)
      expect((await r.store.headRecord())!.source).toBe(id)
      expect(await r.store.draftIds()).toEqual([])
      // Both replicas now answer that it was published.
      for (const s of sessions) expect(await s.get(id)).toMatchObject({ state: 'published' })
    } finally {
      for (const s of extra) await s.close()
      for (const repo of repos) await repo.close()
      await r.close()
    }
  }, 90_000)

  it('SESS-ONCE: a withdrawn draft (through one replica) takes no signature at the other; an expired one is refused (410) and removed', async () => {
    let clock = Date.now()
    const r = await replicas({ now: () => new Date(clock), draftTtlSeconds: 3600 })
    try {
      const p1 = await call(r.a.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
      const w = await call(r.b.url, 'DELETE', `/drafts/${p1.json.id as string}`)
      expect(w.json).toEqual({ id: p1.json.id, state: 'withdrawn' })
      const late = await call(r.a.url, 'POST', `/drafts/${p1.json.id as string}/signatures`, { signatures: [await sigFor(offline.targets, p1.json, 'targets')] })
      expect([late.status, late.json.error?.code]).toEqual([404, 'ERR_DRAFT_NOT_FOUND'])

      const p2 = await call(r.a.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
      clock += 3601 * 1000
      const before = await redisState(r.store)
      const expired = await call(r.b.url, 'POST', `/drafts/${p2.json.id as string}/signatures`, { signatures: [await sigFor(offline.targets, p2.json, 'targets')] })
      expect([expired.status, expired.json.error?.code, expired.json.error?.rule]).toEqual([410, 'ERR_DRAFT_EXPIRED', 'SESS-ONCE'])
      expect(await redisState(r.store)).toEqual(before)
      expect((await call(r.a.url, 'GET', '/drafts')).json.drafts).toEqual([])
      expect(await r.store.draftIds()).toEqual([])
    } finally { await r.close() }
  }, 90_000)

  it('online re-signing with --redis: of two replicas due at the same moment, one re-signs each head (the lock, or the compare-and-swap alone), the other writes nothing', async () => {
    const r = await replicas()
    const stores: RedisHeadStore[] = []
    const repos: Repo[] = []
    try {
      let clock = Date.now()
      const make = async (i: number, lock: boolean): Promise<OnlineResigner> => {
        const { store } = await RedisHeadStore.open({ url: redis.url, prefix: r.prefix })
        stores.push(store)
        const repo = await Repo.open(r.dirs[i]!)
        repos.push(repo)
        const backend = redisSessionBackend(store, repo)
        return new OnlineResigner({ repo, backend: lock ? backend : { ...backend, locked: async (fn) => await fn() }, now: () => new Date(clock) })
      }
      for (const lock of [true, false]) {
        const [a, b] = [await make(0, lock), await make(1, lock)]
        const start = (await r.store.head())!.toString()
        const logBefore = (await r.store.log()).length
        // Not due yet: nothing at either.
        expect(await Promise.all([a.tick(), b.tick()])).toEqual([undefined, undefined])
        expect((await r.store.head())!.toString()).toBe(start)
        clock = (await a.due()).getTime() + 1000
        const heads = await Promise.all([a.tick(), b.tick()])
        const made = heads.filter((h) => h !== undefined)
        expect([lock, made.length]).toEqual([lock, 1])
        const now = (await r.store.headRecord())!
        expect(now.timestamp.toString()).toBe(made[0]!.timestamp.toString())
        expect(now.timestamp.toString()).not.toBe(start)
        expect((await r.store.log()).length).toBe(logBefore + 1)
        // The re-signed head is VALID, read from Redis alone; the next one is due later.
        await assertValidTimestamp(sourceLoader(r.store.source), now.timestamp)
        expect((await a.due()).getTime()).toBeGreaterThan(clock)
        expect((await b.due()).getTime()).toBeGreaterThan(clock)
      }
      // Replica A's folder head never moved: the replicas re-signed Redis's.
      const folderHead = (await loadCurrent(repos[0]!, await repos[0]!.node())).head.timestamp.toString()
      expect(folderHead).toBe((await ok('head', '--dir', r.dirs[0]!)).timestamp)
      expect(folderHead).not.toBe((await r.store.head())!.toString())
    } finally {
      for (const s of stores) await s.close()
      for (const repo of repos) await repo.close()
      await r.close()
    }
  }, 90_000)

  it('serve --redis --online-keys: two replicas started with a head already due re-sign it in Redis, and both serve the new head', async () => {
    const prefix = `online${++n}`
    const dirs = [join(work.path, `${prefix}-a`), join(work.path, `${prefix}-b`)]
    for (const d of dirs) await cp(base, d, { recursive: true })
    const { store } = await RedisHeadStore.open({ url: redis.url, prefix })
    const first = (await ok('head', '--dir', dirs[0]!)).timestamp as string
    // A day later the timestamp (1d) is past half its period: due at start.
    const later = Date.now() + 86400_000 * 0.75
    const options = { onlineKeys: true, redis: { url: redis.url, prefix }, now: () => new Date(later) }
    const a = await serveRepository(dirs[0]!, options)
    const b = await serveRepository(dirs[1]!, options)
    try {
      let head = first
      for (let i = 0; i < 200 && head === first; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        head = (await store.head())!.toString()
      }
      expect(head).not.toBe(first)
      expect((await b.head())!.toString()).toBe(head)
      await assertValidTimestamp(sourceLoader(store.source), (await store.head())!)
    } finally {
      await a.close(); await b.close(); await store.close()
    }
  }, 90_000)
})
