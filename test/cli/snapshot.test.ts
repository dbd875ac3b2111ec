/**
 * The `dagtuf` launcher (bin/dagtuf) and the client's start-up snapshot
 * (dist/cli/client.blob, scripts/build-snapshot.mjs, src/client-snapshot.ts),
 * run as a user runs them: real child processes against a real `dagtuf
 * serve` on 127.0.0.1. The global setup builds the blob (a failed build
 * fails the run).
 */
import { execFile } from 'node:child_process'
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { snapshotCanRun } from '../../src/cli/fast-path.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { tamperingProxy } from '../server/http-helpers.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const LAUNCHER = join(ROOT, 'bin', 'dagtuf')
const BLOB = join(ROOT, 'dist', 'cli', 'client.blob')

let work: TempDir
let repo: MadeRepo
let server: RepositoryServer
let first: string
let second: string

interface Ran { code: number, out: string, err: string, launch: string[] }

/** Run `launcher ARGS` in a child process with the launcher's trace on; `env` adds to (or, undefined, removes from) the environment. */
async function launch (args: string[], env: Record<string, string | undefined> = {}, launcher = LAUNCHER): Promise<Ran> {
  const e: NodeJS.ProcessEnv = { ...process.env, DAGTUF_LAUNCH_TRACE: '1' }
  delete e.NODE_OPTIONS
  delete e.DAGTUF_NO_SNAPSHOT
  for (const [k, v] of Object.entries(env)) { if (v === undefined) delete e[k]; else e[k] = v }
  return await new Promise((resolvePromise) => {
    execFile(launcher, args, { env: e, cwd: work.path, timeout: 60_000 }, (error, out, err) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
      const launch = [...err.matchAll(/^dagtuf: launch: (.*)$/gm)].map((m) => m[1]!)
      resolvePromise({ code, out, err: err.replace(/^dagtuf: launch: .*\n/gm, ''), launch })
    })
  })
}

beforeAll(async () => {
  work = await tempDir('dagtuf-snapshot-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'a.txt': 'A\n', 'pkg/b.txt': 'B\n' })
  first = repo.timestamps[repo.timestamps.length - 1]!
  second = await publishMore(repo, work.path, { 'pkg/c.txt': 'C\n' })
  server = await serveRepository(repo.dir, { host: '127.0.0.1', port: 0 })
}, 120_000)

afterAll(async () => {
  await server?.close()
  await work?.remove()
})

describe('which invocations the snapshot runs (src/cli/fast-path.ts)', () => {
  it('the four client subcommands, with or without a leading --json', () => {
    for (const sub of ['init', 'update', 'get', 'list']) {
      expect(snapshotCanRun(['client', sub, '--dir', 'd'])).toBe(true)
      expect(snapshotCanRun(['--json', 'client', sub])).toBe(true)
    }
    for (const other of [[], ['client'], ['client', '--help'], ['client', 'nope'], ['serve'], ['init'], ['--json', 'serve'], ['history', 'client']]) {
      expect(snapshotCanRun(other)).toBe(false)
    }
  })

  it('not with the options whose code needs Helia or the publisher (--peer, --ipns, --repo), in either spelling', () => {
    for (const o of ['--peer', '--ipns', '--repo']) {
      expect(snapshotCanRun(['client', 'get', o, 'x', 'a.txt'])).toBe(false)
      expect(snapshotCanRun(['client', 'update', `${o}=x`])).toBe(false)
    }
    // A value that only looks like one of them is sent to the ordinary CLI too (slower, same answer).
    expect(snapshotCanRun(['client', 'get', '--dir', '--peer', 'a.txt'])).toBe(false)
    expect(snapshotCanRun(['client', 'get', '--gateway', 'http://h', '--peerless'])).toBe(true)
  })
})

describe('bin/dagtuf', () => {
  it('runs the client commands from the snapshot, with the answers of bin/dagtuf.js: init, update, get --update, list, --json', async () => {
    const fast = join(work.path, 'fast')
    const slow = join(work.path, 'slow')
    await mkdir(join(work.path, 'out'), { recursive: true })
    const both = async (args: (dir: string, tag: string) => string[]): Promise<[Ran, Ran]> => {
      const a = await launch(args(fast, 'fast'))
      const b = await launch(args(slow, 'slow'), { DAGTUF_NO_SNAPSHOT: '1' })
      expect(a.launch).toEqual(['client snapshot'])
      expect(b.launch).toEqual(['bin/dagtuf.js'])
      return [a, b]
    }
    // The two runs may fall on either side of a second: the update's reference time is not compared.
    const timeless = (s: string): string => s.replace(/"referenceTime":"[0-9T:-]+Z"/g, '"referenceTime":"T"')
    const same = ([a, b]: [Ran, Ran]): void => {
      expect(a.code).toBe(b.code)
      expect(timeless(a.out.replaceAll('fast', 'X'))).toBe(timeless(b.out.replaceAll('slow', 'X')))
      expect(a.err.replaceAll('fast', 'X')).toBe(b.err.replaceAll('slow', 'X'))
    }
    const init = await both((d) => ['client', 'init', '--dir', d, '--root', repo.root, '--gateway', server.url])
    same(init)
    expect(init[0].code).toBe(0)
    const up = await both((d) => ['--json', 'client', 'update', '--dir', d, '--timestamp', first, '--gateway', server.url])
    same(up)
    expect(JSON.parse(up[0].out)).toMatchObject({ timestamp: first, continuity: 'first' })
    const get = await both((d, t) => ['client', 'get', '--dir', d, '--update', '--gateway', server.url, 'pkg/c.txt', '-o', join(work.path, 'out', `c-${t}.txt`)])
    same(get)
    expect(get[0].code).toBe(0)
    expect(get[0].out).toMatch(/pkg\/c\.txt: 2 bytes, bafkrei\w+, signed by role targets, verified/)
    expect(await readFile(join(work.path, 'out', 'c-fast.txt'), 'utf8')).toBe('C\n')
    const list = await both((d) => ['client', 'list', '--dir', d, '--json'])
    same(list)
    expect((JSON.parse(list[0].out) as { targets: Array<{ path: string }> }).targets.map((t) => t.path)).toEqual(['a.txt', 'pkg/b.txt', 'pkg/c.txt'])
    // The trusted state the two wrote names the same objects.
    const state = async (d: string): Promise<unknown> => {
      const s = JSON.parse(await readFile(join(d, 'state.json'), 'utf8')) as { root: string, trusted: Record<string, string> }
      return { root: s.root, timestamp: s.trusted.timestamp, snapshot: s.trusted.snapshot, targets: s.trusted.targets, roles: s.trusted.roles }
    }
    expect(await state(fast)).toEqual(await state(slow))
    expect(JSON.stringify(await state(fast))).toContain(second)
    // Mistakes keep their exit codes: a usage error (2), a target nobody lists (1).
    same(await both((d) => ['client', 'get', '--dir', d, 'a.txt']))
    const missing = await both((d) => ['client', 'get', '--dir', d, '--gateway', server.url, 'no/such.txt', '-o', join(work.path, 'out', 'x')])
    same(missing)
    expect(missing[0].code).toBe(1)
    expect(missing[0].err).toMatch(/ERR_TARGET_NOT_LISTED/)
  }, 120_000)

  it('ENC-CID from the snapshot: a gateway that alters a block is refused, the state stays byte-identical, an honest update is accepted after', async () => {
    const dir = join(work.path, 'tampered')
    expect((await launch(['client', 'init', '--dir', dir, '--root', repo.root, '--gateway', server.url])).code).toBe(0)
    const before = await readFile(join(dir, 'state.json'))
    // Flip one byte of every dag-json body the gateway returns (the blocks' CIDs no longer match).
    const proxy = await tamperingProxy(server.url, (body) => {
      if (body.length === 0 || body[0] !== 0x7b) return body
      const b = Buffer.from(body)
      b[b.length - 2]! ^= 0x01
      return b
    })
    try {
      const bad = await launch(['--json', 'client', 'update', '--dir', dir, '--gateway', proxy.url])
      expect(bad.launch).toEqual(['client snapshot'])
      expect(bad.code).toBe(1)
      expect(JSON.parse(bad.out)).toMatchObject({ error: { code: 'ENC-CID' } })
      expect(await readFile(join(dir, 'state.json'))).toEqual(before)
    } finally {
      await proxy.close()
    }
    const good = await launch(['--json', 'client', 'update', '--dir', dir, '--gateway', server.url])
    expect(good.code).toBe(0)
    expect(JSON.parse(good.out)).toMatchObject({ timestamp: second })
  }, 60_000)

  it('hands the options the snapshot does not hold (--repo here) to bin/dagtuf.js, which answers', async () => {
    const dir = join(work.path, 'by-repo')
    expect((await launch(['client', 'init', '--dir', dir, '--root', repo.root, '--gateway', server.url])).code).toBe(0)
    const r = await launch(['client', 'get', '--dir', dir, '--update', '--repo', repo.dir, 'a.txt', '-o', join(work.path, 'out', 'a-repo.txt')])
    expect(r.launch).toEqual(['client snapshot', 'handed over to bin/dagtuf.js'])
    expect(r.code).toBe(0)
    expect(await readFile(join(work.path, 'out', 'a-repo.txt'), 'utf8')).toBe('A\n')
  }, 60_000)

  it('runs bin/dagtuf.js when the blob cannot be used: missing, made by another node binary, NODE_OPTIONS set, other commands', async () => {
    // A copy of bin/ and dist/cli/ (the client commands of the ordinary CLI load only dist/cli: test/cli/bundle.test.ts).
    const copy = join(work.path, 'install')
    await cp(join(ROOT, 'bin'), join(copy, 'bin'), { recursive: true })
    await cp(join(ROOT, 'dist', 'cli'), join(copy, 'dist', 'cli'), { recursive: true })
    const launcher = join(copy, 'bin', 'dagtuf')
    const blob = join(copy, 'dist', 'cli', 'client.blob')
    const dir = join(work.path, 'fallback')
    expect((await launch(['client', 'init', '--dir', dir, '--root', repo.root, '--gateway', server.url], {}, launcher)).code).toBe(0)
    expect((await launch(['client', 'update', '--dir', dir, '--gateway', server.url], {}, launcher)).code).toBe(0)
    const list = async (env: Record<string, string | undefined> = {}): Promise<Ran> => {
      const r = await launch(['client', 'list', '--dir', dir, '--gateway', server.url], env, launcher)
      expect(r.code, r.err).toBe(0)
      return r
    }
    expect((await list()).launch).toEqual(['client snapshot'])
    expect((await list({ NODE_OPTIONS: '--no-warnings' })).launch).toEqual(['bin/dagtuf.js'])
    const help = await launch(['--help'], {}, launcher)
    expect(help.launch).toEqual(['bin/dagtuf.js'])
    // Another node binary (here: the same path, one second newer, as after a reinstall) is refused by its fingerprint.
    const built = await readFile(blob + '.node', 'utf8')
    const [ino, size, mtime, ctime] = built.trim().split(' ')
    await writeFile(blob + '.node', `${ino} ${size} ${Number(mtime) + 1} ${ctime}\n`)
    expect((await list()).launch).toEqual(['bin/dagtuf.js'])
    await writeFile(blob + '.node', built)
    expect((await list()).launch).toEqual(['client snapshot'])
    await rm(blob)
    expect((await list()).launch).toEqual(['bin/dagtuf.js'])
  }, 60_000)

  it('client commands run with two malloc arenas and one V8 worker thread (their peak memory, issue 9), unless MALLOC_ARENA_MAX is set; other commands with the defaults', async () => {
    // A `node` first on PATH that says how it was started (its fingerprint is not the blob's: the launcher falls back to bin/dagtuf.js).
    const fake = join(work.path, 'fake-node')
    await mkdir(fake, { recursive: true })
    await writeFile(join(fake, 'node'), '#!/bin/sh\necho "args: $*"\necho "arenas: ${MALLOC_ARENA_MAX:-unset}"\n', { mode: 0o755 })
    const path = `${fake}:${process.env.PATH ?? ''}`
    const client = await launch(['client', 'list', '--dir', 'x'], { PATH: path, MALLOC_ARENA_MAX: undefined })
    expect(client.code).toBe(0)
    expect(client.out).toMatch(/^args: --v8-pool-size=1 \S+\/bin\/dagtuf\.js client list --dir x$/m)
    expect(client.out).toMatch(/^arenas: 2$/m)
    const kept = await launch(['--json', 'client', 'update'], { PATH: path, MALLOC_ARENA_MAX: '8' })
    expect(kept.out).toMatch(/^args: --v8-pool-size=1 \S+\/bin\/dagtuf\.js --json client update$/m)
    expect(kept.out).toMatch(/^arenas: 8$/m)
    const serve = await launch(['serve', '--dir', 'x'], { PATH: path, MALLOC_ARENA_MAX: undefined })
    expect(serve.out).toMatch(/^args: \S+\/bin\/dagtuf\.js serve --dir x$/m)
    expect(serve.out).toMatch(/^arenas: unset$/m)
  })

  it('the snapshot loads nothing at run time but Node built-ins (everything else is bundled or a stub that throws)', async () => {
    const bundle = await readFile(join(ROOT, 'dist', 'cli', 'client-snapshot.cjs'), 'utf8')
    expect(bundle).not.toMatch(/\bimport\(/)
    const required = new Set([...bundle.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]!))
    expect(required.size).toBeGreaterThan(0)
    const { builtinModules } = await import('node:module')
    for (const id of required) expect(builtinModules.includes(id.replace(/^node:/, '')), id).toBe(true)
    // The blob names the node that made it, as the launcher reads it (GNU stat of the node on PATH).
    const { execFileSync } = await import('node:child_process')
    expect((await readFile(BLOB + '.node', 'utf8')).trim()).toBe(execFileSync('stat', ['-L', '-c', '%i %s %Y %Z', process.execPath], { encoding: 'utf8' }).trim())
  })
})
