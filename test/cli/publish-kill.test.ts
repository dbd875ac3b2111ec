/**
 * A publish killed mid-way (SIGKILL to a child process running the built
 * CLI) leaves a repository whose head still verifies and that the next
 * publish continues from, and whose audit log verifies (a publish killed
 * between its audit entry and head.json is listed as incomplete).
 * DAGTUF_TEST_PAUSE_AT makes the child wait at a named point of the publish
 * (pausePoint of src/util/test-hooks.ts).
 */
import { spawn, execFileSync } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ok, verifyRepoHead } from './publish-helpers.js'

const ROOT = resolve(import.meta.dirname, '../..')
const BIN = join(ROOT, 'bin', 'dagtuf.js')

let work: string
let base: string
let baseHead: string

beforeAll(async () => {
  // The child runs the CLI built once by test/global-setup.ts.
  await stat(join(ROOT, 'dist', 'src', 'publish', 'engine.js'))
  work = await mkdtemp(join(tmpdir(), 'dagtuf-kill-'))
  base = join(work, 'base')
  await ok('init', '--dir', base)
  const files: string[] = []
  for (let i = 0; i < 20; i++) {
    const f = join(work, `f${i}.bin`)
    await writeFile(f, `content ${i}`)
    files.push(f)
  }
  await ok('add', '--dir', base, ...files)
  baseHead = (await ok('head', '--dir', base)).timestamp as string
}, 120_000)
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

/** Run `dagtuf publish` in a child, wait until it pauses at `point`, SIGKILL it. */
async function killAt (dir: string, point: string): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'publish', '--dir', dir, '--json'], {
    env: { ...process.env, DAGTUF_TEST_PAUSE_AT: point },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let err = ''
  const exited = new Promise<NodeJS.Signals | number | null>((res) => { child.on('exit', (code, signal) => { res(signal ?? code) }) })
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`the child never paused at ${point}: ${err}`)) }, 60_000)
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
      if (err.includes(`paused at ${point}`)) { clearTimeout(timer); res() }
    })
    child.on('exit', () => { clearTimeout(timer); rej(new Error(`the child exited before ${point}: ${err}`)) })
  })
  child.kill('SIGKILL')
  expect(await exited).toBe('SIGKILL')
}

describe('a publish killed mid-way', () => {
  it.each([
    ['before-blocks', false],
    ['mid-blocks', false],
    ['after-blocks', false],
    ['after-audit', false],
    ['after-head', true]
  ])('at %s leaves a head that verifies, and the next publish goes on', async (point, moved) => {
    const dir = join(work, point)
    await cp(base, dir, { recursive: true })
    await killAt(dir, point)
    const head = await verifyRepoHead(dir)
    const killedHead = head
    if (moved) expect(head).not.toBe(baseHead)
    else expect(head).toBe(baseHead)
    // The stale lock of the killed process does not block the next publish,
    // and staged changes are applied exactly once.
    const next = await ok('publish', '--dir', dir)
    await verifyRepoHead(dir, baseHead)
    const targets = (JSON.parse(await readFile(join(dir, 'head.json'), 'utf8')) as { targets: string }).targets
    expect(next.targets).toBe(targets)
    if (moved) expect(next.changes).toEqual([])
    else expect(next.changes).toEqual([{ role: 'targets', kind: 'targets-added', count: 20 }])
    expect((await ok('status', '--dir', dir)).staged).toEqual([])
    // The log has every head, the one whose log line was lost included.
    const log = (await ok('log', '--dir', dir)).entries as Array<{ timestamp: string }>
    expect(log[0]!.timestamp).toBe(next.timestamp)
    expect(log.map((e) => e.timestamp)).toContain(baseHead)
    expect(log.map((e) => e.timestamp)).toContain(killedHead)
    // The audit log covers every head (AUDIT-COVERS); a publish killed after
    // its entry and before head.json is reported as incomplete, not failed.
    const audit = await ok('audit', 'verify', '--dir', dir)
    expect(audit).toMatchObject({ ok: true, problems: [] })
    const incomplete = audit.incomplete as Array<{ timestamp: string, reason: string }>
    const publishes = ((await ok('audit', 'show', '--dir', dir)).entries as Array<{ action: string, details: { timestamp: string } }>).filter((e) => e.action === 'publish')
    if (point === 'after-audit') {
      // The killed publish's entry, then the next one's. Both made the same
      // DAG when they ran within the same second (signatures are
      // deterministic): then the first names a head that was published.
      expect(publishes).toHaveLength(3)
      const killed = publishes[1]!.details.timestamp
      expect(publishes[2]!.details.timestamp).toBe(next.timestamp)
      if (killed === next.timestamp) expect(incomplete).toEqual([])
      else expect(incomplete).toEqual([expect.objectContaining({ timestamp: killed, reason: expect.stringContaining('never moved') })])
    } else {
      expect(publishes).toHaveLength(moved ? 3 : 2)
      expect(incomplete).toEqual([])
    }
    // And `dagtuf verify` (the built CLI) accepts the exported CAR.
    const car = join(work, `${point}.car`)
    await ok('export', '--dir', dir, '--car', car, '--since', baseHead)
    const out = execFileSync(process.execPath, [BIN, 'verify', '--car', car, '--timestamp', next.timestamp as string, '--trusted', baseHead, '--json'], { encoding: 'utf8' })
    expect(JSON.parse(out)).not.toHaveProperty('error')
  })
})
