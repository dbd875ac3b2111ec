/**
 * bin/dagtuf.js runs the bundle of scripts/build-cli.mjs (dist/cli/). What it
 * must keep: a cold client command loads the bundle's files only (the client's
 * dependencies are inside it), and nothing of Helia, libp2p or the publisher;
 * a command that needs Helia still finds it in node_modules.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'

let dir: string
let hooks: string

/** Run the CLI with a loader hook that writes every module URL it loads to stderr. */
async function loadsOf (args: string[]): Promise<{ code: number, urls: string[], out: string }> {
  const r = await promisify(execFile)(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, BIN, ...args], { cwd: dir })
    .then((x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }), (e: { code: number, stdout: string, stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }))
  const urls = r.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7))
  return { code: r.code, urls, out: r.stdout + r.stderr }
}

beforeAll(async () => {
  await ensureBuilt()
  dir = await mkdtemp(join(tmpdir(), 'dagtuf-bundle-'))
  hooks = join(dir, 'hooks.mjs')
  await writeFile(hooks, "export async function load (url, ctx, next) { if (url.startsWith('file:')) process.stderr.write('LOADED ' + url + '\\n'); return next(url, ctx) }\n")
  await writeFile(join(dir, 'register.mjs'), `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(hooks).href)})\n`)
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('cli: the bundle bin/dagtuf.js runs', () => {
  it('a cold client command loads only files of dist/cli (its dependencies bundled), none of Helia, libp2p or the publisher', async () => {
    const r = await loadsOf(['client', 'get', '--dir', join(dir, 'none'), '--gateway', 'http://127.0.0.1:9', 'a.txt', '-o', join(dir, 'out'), '--json'])
    expect(r.code).toBe(1)
    expect(r.out).toContain('ERR_STATE_MISSING')
    const cli = pathToFileURL(join(ROOT, 'dist', 'cli')).href + '/'
    const ours = r.urls.filter((u) => !u.startsWith(pathToFileURL(dir).href))
    expect(ours).toContain(pathToFileURL(BIN).href)
    const outside = ours.filter((u) => u !== pathToFileURL(BIN).href && !u.startsWith(cli))
    expect(outside).toEqual([])
    expect(ours.some((u) => /helia|libp2p|publish|engine/.test(u))).toBe(false)
  })

  it('a command that opens a repository node loads Helia from node_modules', async () => {
    const r = await loadsOf(['init', '--dir', join(dir, 'repo')])
    expect(r.code).toBe(0)
    expect(r.urls.some((u) => u.includes('/node_modules/helia/') || u.includes('/node_modules/@helia/'))).toBe(true)
    expect(r.urls.some((u) => u.startsWith(pathToFileURL(join(ROOT, 'dist', 'src')).href))).toBe(false)
  })
})

describe('cli: process settings before a command runs', () => {
  /** In a fresh process: run the bundle's prepareProcess(argv), and say whether it asked V8 for a frugal heap. */
  async function frugalAfter (argv: string[]): Promise<boolean> {
    const bundle = pathToFileURL(join(ROOT, 'dist', 'cli', 'dagtuf.js')).href
    const code = `const m = await import(${JSON.stringify(bundle)}); m.prepareProcess(${JSON.stringify(argv)}); process.stdout.write(String(m.frugalHeapApplied()))`
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code])
    return JSON.parse(stdout) as boolean
  }

  it('the client commands that may catch up, the mirror and serve ask V8 for a frugal heap (src/client/heap.ts); the other commands do not', async () => {
    expect(await frugalAfter(['client', 'update', '--dir', 'x'])).toBe(true)
    expect(await frugalAfter(['--json', 'client', 'get'])).toBe(true)
    // src/cli/heap-policy.ts: a command that walks no snapshot chain keeps V8's defaults.
    expect(await frugalAfter(['client', 'init', '--dir', 'x', '--root', 'y'])).toBe(false)
    expect(await frugalAfter(['mirror', '--once'])).toBe(true)
    expect(await frugalAfter(['publish', '--dir', 'x'])).toBe(false)
    expect(await frugalAfter(['serve', '--dir', 'x'])).toBe(true)
    expect(await frugalAfter(['add', '--dir', 'x', 'f'])).toBe(false)
    expect(await frugalAfter([])).toBe(false)
  })
})
