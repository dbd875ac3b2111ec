/**
 * `dagtuf serve --allow-push` (the built CLI in a child process) and
 * `dagtuf push` (in-process): the flags, and how push reports each answer
 * of a registry, against the real one and against a scripted one.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jsonBlock } from '../blocks/helpers.js'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { httpRequest, testServer, type TestServer } from '../server/http-helpers.js'
import { fingerprint } from './publish-helpers.js'
import { dagtufJson } from '../helpers/cli.js'

let work: TempDir
let pub: MadeRepo
const cleanups: Array<() => Promise<void>> = []

beforeAll(async () => {
  work = await tempDir('dagtuf-cli-push-')
  pub = await makeRepo(join(work.path, 'pub'), work.path, { 'a.txt': 'A\n' })
}, 60_000)
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
  await work.remove()
})

const dagtuf = dagtufJson

/** `dagtuf serve ARGS --json` as a child process; resolves with its ready object. */
async function spawnServe (args: string[]): Promise<{ ready: Record<string, any>, child: ChildProcess }> {
  await ensureBuilt()
  const child = spawn(process.execPath, [BIN, 'serve', ...args, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  cleanups.push(async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const ready = await new Promise<Record<string, any>>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as Record<string, any>)
    })
    child.on('exit', () => { reject(new Error(`serve exited: ${err}`)) })
  })
  return { ready, child }
}

/** A scripted registry: GET /head answers `head`, PUT /head answers `status` and `body`. */
async function fakeRegistry (head: string, status: number, body: unknown): Promise<TestServer & { puts: () => number }> {
  let puts = 0
  const s = await testServer((req, res) => {
    if (req.method === 'GET' && req.url === '/head') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`${head}\n`); return }
    if (req.method === 'PUT' && req.url === '/head') {
      puts++
      req.resume()
      req.on('end', () => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) })
      return
    }
    res.writeHead(404); res.end()
  })
  cleanups.push(s.close)
  return { ...s, puts: () => puts }
}

describe('dagtuf serve --allow-push and dagtuf push', () => {
  it('serve --allow-push --push-rate N announces pushes and its limits; push advances it; serve without the flag stays read-only', async () => {
    const mirror = join(work.path, 'mirror')
    await cp(pub.dir, mirror, { recursive: true })
    await rm(join(mirror, 'keys'), { recursive: true })
    const { ready, child } = await spawnServe(['--dir', mirror, '--port', '0', '--allow-push', '--push-rate', '5', '--max-push-bytes', '1000000'])
    expect(ready).toMatchObject({ pushes: true, head: pub.timestamps[1] })
    const config = JSON.parse((await httpRequest(`${ready.url as string}/config`)).body.toString('utf8')) as Record<string, unknown>
    expect(config).toMatchObject({ pushes: true, maxBodyBytes: 1_000_000, rateLimit: { burst: 5, perMinute: 5 }, root: pub.root })
    const v2 = await publishMore(pub, work.path, { 'b.txt': 'B\n' })
    const pushed = await dagtuf('push', '--server', ready.url as string, '--dir', pub.dir)
    expect(pushed.code, JSON.stringify(pushed.json)).toBe(0)
    expect(pushed.json).toMatchObject({ head: v2, pushed: true })
    expect((await httpRequest(`${ready.url as string}/head`)).body.toString('utf8').trim()).toBe(v2)
    child.kill('SIGTERM')

    const ro = await spawnServe(['--dir', mirror, '--port', '0'])
    expect(ro.ready).toMatchObject({ pushes: false, head: v2 })
    const put = await httpRequest(`${ro.ready.url as string}/head`, { method: 'PUT', headers: { 'content-type': 'application/vnd.ipld.car', 'if-match': `"${v2}"`, 'content-length': '0' } })
    expect(put.status).toBe(405)
    expect(JSON.parse(put.body.toString('utf8'))).toMatchObject({ error: { code: 'ERR_PUSH_DISABLED' } })
    ro.child.kill('SIGTERM')
  }, 180_000)

  it('push reports a moved head as ERR_HEAD_MOVED and other refusals as ERR_PUSH_REFUSED with the rule; the local repository is untouched', async () => {
    const before = await fingerprint(pub.dir)
    const moved = await fakeRegistry(pub.timestamps[0]!, 412, { error: { code: 'ERR_HEAD_MOVED', message: 'moved' } })
    const a = await dagtuf('push', '--server', moved.url, '--dir', pub.dir)
    expect(a.code).toBe(1)
    expect(a.json.error).toMatchObject({ code: 'ERR_HEAD_MOVED', status: 412, serverCode: 'ERR_HEAD_MOVED' })
    expect(moved.puts()).toBe(1)
    const invalid = await fakeRegistry(pub.timestamps[0]!, 422, { error: { code: 'ERR_NOT_SUCCESSOR', message: 'fork', rule: 'SUCC-TS-SNAPSHOT' } })
    const b = await dagtuf('push', '--server', invalid.url, '--dir', pub.dir)
    expect(b.json.error).toMatchObject({ code: 'ERR_PUSH_REFUSED', status: 422, serverCode: 'ERR_NOT_SUCCESSOR', rule: 'SUCC-TS-SNAPSHOT' })
    // A server head this repository never had: nothing is sent.
    const stranger = await fakeRegistry(jsonBlock({ signed: { _type: 'timestamp' } }).cid.toString(), 200, {})
    const c = await dagtuf('push', '--server', stranger.url, '--dir', pub.dir)
    expect(c.json.error).toMatchObject({ code: 'ERR_NOT_SUCCESSOR' })
    expect(stranger.puts()).toBe(0)
    expect(await fingerprint(pub.dir)).toEqual(before)
  }, 60_000)

  it('push and serve refuse bad arguments with usage errors (exit 2)', async () => {
    expect((await dagtuf('push', '--dir', pub.dir)).code).toBe(2)
    expect((await dagtuf('push', '--server', 'ftp://example.invalid', '--dir', pub.dir)).code).toBe(2)
    expect((await dagtuf('push', '--server', 'not a url', '--dir', pub.dir)).code).toBe(2)
    expect((await dagtuf('serve', '--dir', pub.dir, '--push-rate', 'lots')).code).toBe(2)
    expect((await dagtuf('serve', '--dir', pub.dir, '--max-push-bytes', '0')).code).toBe(2)
  })
})
