/**
 * Mirrors and several sources (issue 12 item 4), end to end on loopback:
 * real repository folders, `dagtuf serve` servers, a tampering gateway, a
 * stalled one, and the mirror and client commands.
 */
import { spawn } from 'node:child_process'
import { createServer, type Server, type Socket } from 'node:net'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewaySource, fetchHead } from '../../src/blocks/gateway-source.js'
import { main } from '../../src/cli/main.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import type { NamedHead } from '../../src/client/any-head.js'
import { flippingGateway } from '../../src/server/flipping-gateway.js'
import { Mirror, linksOf } from '../../src/server/mirror.js'
import { RepoBlockFiles } from '../../src/blocks/repo-files.js'
import { RepoError } from '../../src/model/errors.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'

let work: TempDir
let origin: MadeRepo
let originServer: RepositoryServer
let mirrorServer: RepositoryServer
let tampering: { url: string, close: () => Promise<void> }
let stalledUrl: string
let stalledServer: Server
const sockets = new Set<Socket>()
const APP_V1 = 'version one\n'
const APP_V2 = 'version two, with more bytes in it\n'

async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  return { code, out, err }
}

function headsOf (...urls: string[]): NamedHead[] {
  return urls.map((u) => ({ label: u, timeoutMs: 2_000, head: async ({ signal }) => (await fetchHead(u, { timeoutMs: 2_000, ...(signal === undefined ? {} : { signal }) }))! }))
}

/** Every block CID of a mirror, from the whole DAG of its head (linksOf from the timestamp). */
async function allBlockCids (dir: string): Promise<CID[]> {
  const files = new RepoBlockFiles(dir)
  const head = JSON.parse(await readFile(join(dir, 'head.json'), 'utf8')) as { timestamp: string }
  const seen = new Map<string, CID>()
  const todo = [CID.parse(head.timestamp)]
  while (todo.length > 0) {
    const cid = todo.pop()!
    if (seen.has(cid.toString())) continue
    seen.set(cid.toString(), cid)
    todo.push(...linksOf(cid, await files.get(cid)))
  }
  return [...seen.values()]
}

async function fileOrNull (path: string): Promise<string | null> {
  return await readFile(path, 'utf8').catch(() => null)
}

beforeAll(async () => {
  work = await tempDir('dagtuf-mirrors-')
  origin = await makeRepo(join(work.path, 'origin'), work.path, { 'app.txt': APP_V1 })
  originServer = await serveRepository(origin.dir)
  // A gateway that accepts connections and never answers.
  stalledServer = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => stalledServer.listen(0, '127.0.0.1', resolve))
  stalledUrl = `http://127.0.0.1:${(stalledServer.address() as { port: number }).port}`
}, 120_000)

afterAll(async () => {
  await tampering?.close()
  await mirrorServer?.close()
  await originServer?.close()
  for (const s of sockets) s.destroy()
  await new Promise((resolve) => stalledServer.close(resolve))
  await work.remove()
})

describe('dagtuf mirror', () => {
  it('creates a mirror from a root given out of band, copies every block clients need, and serves it; a second sync with nothing new fetches nothing', async () => {
    const dir = join(work.path, 'mirror')
    const r = await dagtuf('mirror', '--dir', dir, '--from', originServer.url, '--root', origin.root, '--content', '--once', '--json')
    expect(r.code, r.err.join('\n')).toBe(0)
    const first = JSON.parse(r.out[0]!) as { head: string, moved: boolean, fetched: { blocks: number } }
    expect(first).toMatchObject({ head: origin.timestamps[1], moved: true })
    expect(first.fetched.blocks).toBeGreaterThan(5)
    const again = await dagtuf('mirror', '--dir', dir, '--from', originServer.url, '--once', '--json')
    expect(again.code, again.err.join('\n')).toBe(0)
    expect(JSON.parse(again.out[0]!)).toMatchObject({ head: origin.timestamps[1], moved: false, fetched: { blocks: 0, bytes: 0 } })
    // A new version at the origin: the next sync copies what changed.
    await publishMore(origin, work.path, { 'app.txt': APP_V2 })
    const next = await dagtuf('mirror', '--dir', dir, '--from', originServer.url, '--once', '--json')
    expect(next.code, next.err.join('\n')).toBe(0)
    const moved = JSON.parse(next.out[0]!) as { head: string, moved: boolean, fetched: { blocks: number } }
    expect(moved).toMatchObject({ head: origin.timestamps[2], moved: true })
    expect(moved.fetched.blocks).toBeLessThan(first.fetched.blocks + 3)
    mirrorServer = await serveRepository(dir)
    expect((await mirrorServer.head())?.toString()).toBe(origin.timestamps[2])
  }, 120_000)

  it('a client updates from the mirror alone, catching up from the first head, and downloads a target verified by CID', async () => {
    const c = join(work.path, 'client-mirror-only')
    // The client trusted the first publish (from the origin), then sees only the mirror.
    expect((await dagtuf('client', 'init', '--dir', c, '--root', origin.root, '--gateway', originServer.url)).code).toBe(0)
    expect((await dagtuf('client', 'update', '--dir', c, '--gateway', originServer.url, '--timestamp', origin.timestamps[1]!)).code).toBe(0)
    const out = join(work.path, 'app-from-mirror.txt')
    const got = await dagtuf('client', 'get', '--dir', c, 'app.txt', '-o', out, '--update', '--gateway', mirrorServer.url, '--json')
    expect(got.code, got.err.join('\n')).toBe(0)
    expect(JSON.parse(got.out[0]!)).toMatchObject({ update: { timestamp: origin.timestamps[2], continuity: 'descends' } })
    expect(await readFile(out, 'utf8')).toBe(APP_V2)
  }, 60_000)

  it('CLIENT-SOURCES: three sources, one tampering (wrong bytes, an old head), one stalled, one honest: the client takes the newest head and downloads', async () => {
    tampering = await flippingGateway(originServer.url, () => true, { head: origin.timestamps[1]! })
    const c = join(work.path, 'client-three')
    const sources = ['--gateway', tampering.url, '--gateway', stalledUrl, '--gateway', mirrorServer.url, '--timeout', '1500']
    const init = await dagtuf('client', 'init', '--dir', c, '--root', origin.root, ...sources)
    expect(init.code, init.err.join('\n')).toBe(0)
    const out = join(work.path, 'app-three.txt')
    const events = join(work.path, 'three-events.ndjson')
    const got = await dagtuf('client', 'get', '--dir', c, 'app.txt', '-o', out, '--update', ...sources, '--log-json', events, '--json')
    expect(got.code, got.err.join('\n')).toBe(0)
    // The events say which source served what: the honest mirror, not the stalled or the tampering one.
    const logged = (await readFile(events, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string, fetched?: { sources: Array<{ source: string, blocks: number }> } })
    const download = logged.find((e) => e.type === 'download')!
    expect(download.fetched!.sources.map((x) => x.source)).toEqual([mirrorServer.url])
    const accepted = logged.filter((e) => e.type === 'update.accepted')
    expect(accepted.length).toBeGreaterThan(0)
    for (const e of accepted) for (const x of e.fetched!.sources) expect([mirrorServer.url]).toContain(x.source)
    const json = JSON.parse(got.out[0]!) as { update: { timestamp: string, sources: Array<{ source: string, outcome: string, code?: string }>, blocks: Array<{ label: string, excluded: boolean, failures: Record<string, number> }> } }
    expect(json.update.timestamp).toBe(origin.timestamps[2])
    expect(json.update.sources).toEqual([
      // The old head is taken first (it descends from the root), then overtaken by the honest one.
      expect.objectContaining({ source: tampering.url, outcome: 'accepted', head: origin.timestamps[1] }),
      expect.objectContaining({ source: stalledUrl, outcome: 'unreachable', code: 'ERR_TIMEOUT' }),
      expect.objectContaining({ source: mirrorServer.url, outcome: 'accepted', head: origin.timestamps[2] })
    ])
    const tamperStats = json.update.blocks.find((b) => b.label === tampering.url)!
    expect(tamperStats.excluded).toBe(true)
    expect(tamperStats.failures.ERR_HASH_MISMATCH).toBeGreaterThan(0)
    expect(await readFile(out, 'utf8')).toBe(APP_V2)
    // Now that the client trusts the newest head, the tampering source's old head is a rollback.
    const state = await readFile(join(c, 'state.json'), 'utf8')
    const up = await dagtuf('client', 'update', '--dir', c, ...sources, '--hedge', '200', '--json')
    expect(up.code, up.err.join('\n')).toBe(0)
    const upJson = JSON.parse(up.out[0]!) as { continuity: string, sources: Array<{ outcome: string, code?: string }> }
    expect(upJson.continuity).toBe('same')
    expect(upJson.sources.map((s) => [s.outcome, s.code])).toEqual([['refused', 'CLIENT-TS-DESCENDS'], ['unreachable', 'ERR_TIMEOUT'], ['same', undefined]])
    // The honest source's "same" renews the reference time; the trusted head stays the newest.
    const trusted = (text: string): unknown => (JSON.parse(text) as { trusted: { timestamp: string } }).trusted.timestamp
    expect(trusted(await readFile(join(c, 'state.json'), 'utf8'))).toBe(trusted(state))
    expect(trusted(state)).toBe(origin.timestamps[2])
  }, 90_000)

  it('CLIENT-SOURCES: when every source is refused or unreachable the update fails with the refusal, and the trusted state is unchanged', async () => {
    const c = join(work.path, 'client-none')
    expect((await dagtuf('client', 'init', '--dir', c, '--root', origin.root, '--gateway', mirrorServer.url)).code).toBe(0)
    expect((await dagtuf('client', 'update', '--dir', c, '--gateway', mirrorServer.url)).code).toBe(0)
    const state = await readFile(join(c, 'state.json'), 'utf8')
    // A source that replays the old head with honest blocks, and a stalled one.
    const replaying = await flippingGateway(originServer.url, () => false, { head: origin.timestamps[1]! })
    const bad = await dagtuf('client', 'update', '--dir', c, '--gateway', stalledUrl, '--gateway', replaying.url, '--timeout', '1000', '--json').finally(async () => { await replaying.close() })
    expect(bad.code).toBe(1)
    expect(JSON.parse(bad.out[0]!)).toMatchObject({ error: { code: 'CLIENT-TS-DESCENDS' } })
    expect(await readFile(join(c, 'state.json'), 'utf8')).toBe(state)
  }, 60_000)

  it('MIRROR-CHECKED: a mirror checks each head as a client does: a tampering source and a rollback are refused and head.json does not move', async () => {
    const dir = join(work.path, 'mirror-refuses')
    const honest = new GatewaySource(originServer.url, { timeoutMs: 5_000 })
    const m = await Mirror.create(dir, CID.parse(origin.root), honest)
    // Before any good sync: a tampering source leaves no head at all.
    const flipAll = new GatewaySource(tampering.url, { timeoutMs: 5_000 })
    await expect(m.sync({ source: flipAll, heads: headsOf(originServer.url) })).rejects.toMatchObject({ code: 'ENC-CID' })
    expect(await fileOrNull(join(dir, 'head.json'))).toBeNull()
    await m.sync({ source: honest, heads: headsOf(originServer.url) })
    const head = await readFile(join(dir, 'head.json'), 'utf8')
    // An old head announced by a source that is behind or replaying: CLIENT-TS-DESCENDS.
    await expect(m.sync({ source: honest, heads: headsOf(tampering.url) })).rejects.toMatchObject({ code: 'CLIENT-TS-DESCENDS' })
    expect(await readFile(join(dir, 'head.json'), 'utf8')).toBe(head)
    // Several heads: the honest one wins, the old one is reported refused.
    const r = await m.sync({ source: honest, heads: headsOf(tampering.url, originServer.url) })
    expect(r.moved).toBe(false)
    expect(r.sources?.map((s) => s.outcome)).toEqual(['refused', 'same'])
  }, 60_000)

  it('MIRROR-CHECKED: a sync stopped by its bounds moves nothing, and the next one resumes: blocks are stored children first, so what is stored is complete', async () => {
    const dir = join(work.path, 'mirror-bounded')
    const honest = new GatewaySource(originServer.url, { timeoutMs: 5_000 })
    const m = await Mirror.create(dir, CID.parse(origin.root), honest, { content: true })
    const fresh = await Mirror.create(join(work.path, 'mirror-fresh'), CID.parse(origin.root), honest, { content: true })
    const all = await fresh.sync({ source: honest, heads: headsOf(originServer.url) })
    const err = await m.sync({ source: honest, heads: headsOf(originServer.url), maxBlocks: all.fetched.blocks - 1 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RepoError)
    expect((err as RepoError).code).toBe('ERR_REPO_LIMIT')
    expect(await fileOrNull(join(dir, 'head.json'))).toBeNull()
    // What the stopped sync stored is complete below itself (children first).
    const files = new RepoBlockFiles(dir)
    const stored: CID[] = []
    for (const cid of await allBlockCids(join(work.path, 'mirror-fresh'))) if (await files.get(cid).then(() => true, () => false)) stored.push(cid)
    expect(stored.length).toBeGreaterThan(0)
    for (const cid of stored) {
      for (const link of linksOf(cid, await files.get(cid))) expect(await files.get(link).then(() => true, () => false)).toBe(true)
    }
    const full = await m.sync({ source: honest, heads: headsOf(originServer.url) })
    expect(full.moved).toBe(true)
    expect(full.fetched.blocks).toBe(all.fetched.blocks - stored.length)
    const headOf = async (d: string): Promise<unknown> => { const h = JSON.parse(await readFile(join(d, 'head.json'), 'utf8')) as Record<string, unknown>; delete h.published; return h }
    expect(await headOf(dir)).toEqual(await headOf(join(work.path, 'mirror-fresh')))
  }, 60_000)

  it('follows: `dagtuf mirror` without --once serves the mirror (HTTP and libp2p) and moves its head when the origin publishes, until SIGTERM', async () => {
    await ensureBuilt()
    const dir = join(work.path, 'mirror-follow')
    const child = spawn(process.execPath, [BIN, 'mirror', '--dir', dir, '--from', originServer.url, '--root', origin.root, '--interval', '1s', '--port', '0', '--libp2p', '/ip4/127.0.0.1/tcp/0', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
    try {
      const ready = await new Promise<{ url: string, head: string, multiaddrs: string[] }>((resolve, reject) => {
        let out = ''
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString()
          const nl = out.indexOf('\n')
          if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as { url: string, head: string, multiaddrs: string[] })
        })
        child.on('exit', (code) => { reject(new Error(`mirror exited ${String(code)}: ${err}`)) })
      })
      expect(ready.head).toBe(origin.timestamps.at(-1))
      const next = await publishMore(origin, work.path, { 'follow.txt': 'followed\n' })
      let seen: string | null = null
      for (let i = 0; i < 100 && seen !== next; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        seen = (await fetchHead(ready.url, { timeoutMs: 2_000 }))?.toString() ?? null
      }
      expect(seen, err).toBe(next)
      expect(err).toMatch(/now serving/)
      // The same blocks by bitswap: a client that knows the head updates from the mirror's peer alone.
      const c = join(work.path, 'client-peer')
      const peer = ready.multiaddrs[0]!
      const init = await dagtuf('client', 'init', '--dir', c, '--root', origin.root, '--peer', peer, '--timeout', '10000')
      expect(init.code, init.err.join('\n')).toBe(0)
      const up = await dagtuf('client', 'update', '--dir', c, '--peer', peer, '--timestamp', next, '--timeout', '10000', '--json')
      expect(up.code, up.err.join('\n')).toBe(0)
      expect(JSON.parse(up.out[0]!)).toMatchObject({ timestamp: next })
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    expect(child.exitCode, err).toBe(0)
    expect(err).toMatch(/stopped \(SIGTERM\)/)
  }, 60_000)

  it('refuses mistakes on the command line with ERR_USAGE and folders that are not its own', async () => {
    expect((await dagtuf('mirror', '--dir', join(work.path, 'm-x'), '--once')).err.join('')).toMatch(/--from URL/)
    const noRoot = await dagtuf('mirror', '--dir', join(work.path, 'm-y'), '--from', originServer.url, '--once')
    expect(noRoot.code).toBe(2)
    expect(noRoot.err.join('')).toMatch(/--root CID/)
    const otherRoot = await dagtuf('mirror', '--dir', join(work.path, 'mirror'), '--from', originServer.url, '--root', origin.timestamps[0]!, '--once')
    expect(otherRoot.code).toBe(2)
    // A root that is not a root: refused, and nothing half-made is left, so a right one works next.
    const notRoot = await dagtuf('mirror', '--dir', join(work.path, 'm-w'), '--from', originServer.url, '--root', origin.timestamps[0]!, '--once', '--json')
    expect(notRoot.code).toBe(1)
    expect(JSON.parse(notRoot.out[0]!)).toMatchObject({ error: { code: 'VALID-KIND' } })
    const right = await dagtuf('mirror', '--dir', join(work.path, 'm-w'), '--from', originServer.url, '--root', origin.root, '--once', '--json')
    expect(right.code, right.err.join('\n')).toBe(0)
    const onRepo = await dagtuf('mirror', '--dir', origin.dir, '--from', originServer.url, '--root', origin.root, '--once', '--json')
    expect(onRepo.code).toBe(1)
    expect(JSON.parse(onRepo.out[0]!)).toMatchObject({ error: { code: 'ERR_REPO_EXISTS' } })
    expect((await dagtuf('mirror', '--dir', join(work.path, 'm-z'), '--from', originServer.url, '--root', origin.root, '--once', '--port', '0')).code).toBe(2)
  }, 30_000)
})
