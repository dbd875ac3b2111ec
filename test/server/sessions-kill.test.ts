/**
 * A signing service killed (SIGKILL) while it publishes a draft whose last
 * signature just arrived, at each announced point of the commit
 * (DAGTUF_TEST_PAUSE_AT, src/util/test-hooks.ts): the head is the old or the
 * new one and verifies, the draft is intact or completed, never torn; the
 * restarted service completes an intact draft (SESS-ONCE) and reports the
 * timestamp it became.
 */
import { spawn } from 'node:child_process'
import { cp, mkdir, readdir, readFile, rename, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { serveRepository } from '../../src/cli/commands/serve.js'
import { toHexSig, type Signer } from '../../src/model/keys.js'
import { parseDraft } from '../../src/publish/drafts.js'
import { readKeyFile, signerFromKeyFile } from '../../src/publish/keyfile.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { verifyRepoHead } from '../cli/publish-helpers.js'
import { httpRequest } from './http-helpers.js'

const ROOT = resolve(import.meta.dirname, '../..')
const BIN = join(ROOT, 'bin', 'dagtuf.js')

async function ok (...argv: string[]): Promise<Record<string, any>> {
  const out: string[] = []
  const code = await main([...argv, '--json'], { out: (l) => out.push(l), err: () => {}, tty: false })
  expect(code, out.join('\n')).toBe(0)
  return JSON.parse(out[0]!) as Record<string, any>
}

async function post (url: string, body: unknown): Promise<{ status: number, json: Record<string, any> }> {
  const text = JSON.stringify(body)
  const r = await httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }, body: text })
  return { status: r.status, json: JSON.parse(r.body.toString('utf8')) as Record<string, any> }
}

let work: TempDir
let base: string
let targetsKey: Signer

beforeAll(async () => {
  await stat(join(ROOT, 'dist', 'src', 'publish', 'sessions.js'))
  work = await tempDir('dagtuf-sessions-kill-')
  base = join(work.path, 'base')
  await ok('init', '--dir', base)
  const vault = join(work.path, 'vault')
  await mkdir(vault)
  for (const role of ['root', 'targets']) {
    const name = (await readdir(join(base, 'keys'))).find((n) => n.startsWith(`${role}-`))!
    await rename(join(base, 'keys', name), join(vault, `${role}.json`))
  }
  targetsKey = await signerFromKeyFile(await readKeyFile(join(vault, 'targets.json')), undefined)
}, 60_000)
afterAll(async () => { await work.remove() })

/** `dagtuf serve --sessions` in a child that pauses at `point`; resolves with its URL and a way to wait for the pause. */
function serveChild (dir: string, point: string): { ready: Promise<string>, paused: Promise<void>, kill: () => Promise<NodeJS.Signals | number | null> } {
  const child = spawn(process.execPath, [BIN, 'serve', '--dir', dir, '--sessions', '--json'], {
    env: { ...process.env, DAGTUF_TEST_PAUSE_AT: point },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  const exited = new Promise<NodeJS.Signals | number | null>((res) => { child.on('exit', (code, signal) => { res(signal ?? code) }) })
  const ready = new Promise<string>((res, rej) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n')[0]!
      if (out.includes('\n')) res((JSON.parse(line) as { url: string }).url)
    })
    child.on('exit', () => { rej(new Error(`serve exited: ${err}`)) })
  })
  const paused = new Promise<void>((res, rej) => {
    const timer = setTimeout(() => { rej(new Error(`never paused at ${point}: ${err}`)) }, 60_000)
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
      if (err.includes(`paused at ${point}`)) { clearTimeout(timer); res() }
    })
  })
  return { ready, paused, kill: async () => { child.kill('SIGKILL'); return await exited } }
}

describe('a signing service killed while it publishes a draft', () => {
  it.each([
    ['before-blocks', false],
    ['mid-blocks', false],
    ['after-blocks', false],
    ['after-head', true]
  ])('SESS-ONCE: at %s leaves the old or the new head and the draft intact or completed; the restarted service completes it', async (point, moved) => {
    const dir = join(work.path, point)
    await cp(base, dir, { recursive: true })
    const before = (await ok('head', '--dir', dir)).timestamp as string
    const child = serveChild(dir, point)
    const url = await child.ready
    const proposed = await post(`${url}/drafts`, { ops: [{ op: 'refresh', role: 'targets' }] })
    expect(proposed.status).toBe(201)
    const id = proposed.json.id as string
    const message = new Uint8Array(Buffer.from(proposed.json.objects[0].message as string, 'base64'))
    const sig = { role: 'targets', keyid: targetsKey.keyid, sig: toHexSig(await targetsKey.sign(message)) }
    // The last signature: the service publishes, and stops at `point`.
    const answer = post(`${url}/drafts/${id}/signatures`, { signatures: [sig] }).catch(() => undefined)
    await child.paused
    expect(await child.kill()).toBe('SIGKILL')
    expect(await answer).toBeUndefined()

    const head = await verifyRepoHead(dir)
    if (moved) expect(head).not.toBe(before)
    else expect(head).toBe(before)
    // The draft file is whole, carrying the signature (it was saved before the publish began).
    const draft = parseDraft(new Uint8Array(await readFile(join(dir, 'drafts', `${id}.json`))), id)
    expect(draft.objects.get('targets')!.signatures.map((s) => s.keyid)).toEqual([targetsKey.keyid])

    // Restarted: an intact draft is published at start, a published one is recognized as such.
    const server = await serveRepository(dir, { sessions: true })
    try {
      const now = (await ok('head', '--dir', dir)).timestamp as string
      expect(now).not.toBe(before)
      await verifyRepoHead(dir, before)
      if (moved) expect(now).toBe(head)
      const r = await httpRequest(`${server.url}/drafts/${id}`)
      expect(JSON.parse(r.body.toString('utf8'))).toEqual({ id, state: 'published', timestamp: now })
      expect(await readdir(join(dir, 'drafts'))).toEqual([])
      // A replay is refused.
      const replay = await post(`${server.url}/drafts/${id}/signatures`, { signatures: [sig] })
      expect([replay.status, replay.json.error.code]).toEqual([409, 'ERR_DRAFT_PUBLISHED'])
    } finally {
      await server.close()
    }
  }, 120_000)
})
