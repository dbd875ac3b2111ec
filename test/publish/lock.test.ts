/**
 * The repository lock (src/publish/repo-io.ts over acquireFileLock of
 * src/util/durable-fs.ts): one holder at a time, and a stale lock (its owner is
 * dead) is taken over by exactly one process, never by two that found it
 * stale at the same time.
 */
import { execFile, spawn } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { RepoError } from '../../src/model/errors.js'
import { acquireLock } from '../../src/publish/repo-io.js'
import { ROOT, ensureBuilt } from '../helpers/build.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'

let work: TempDir
let lock: string
beforeEach(async () => {
  work = await tempDir('dagtuf-lock-')
  lock = join(work.path, 'repo.lock')
})
afterEach(async () => { await work.remove() })

/** The pid of a process that has exited. */
async function deadPid (): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid!
}

async function code (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (e) {
    expect(e).toBeInstanceOf(RepoError)
    return (e as RepoError).code
  }
}

it('a second lock from the same process is refused, and release frees it', async () => {
  const release = await acquireLock(lock)
  expect(await code(acquireLock(lock))).toBe('ERR_REPO_LOCKED')
  await release()
  const again = await acquireLock(lock)
  await again()
  await expect(stat(lock)).rejects.toThrow()
})

it('a stale lock is taken over, also one in the old pid-only format', async () => {
  for (const text of [`${await deadPid()} 0123456789abcdef`, String(await deadPid())]) {
    await writeFile(lock, text)
    const release = await acquireLock(lock)
    expect(await readFile(lock, 'utf8')).toMatch(new RegExp(`^${process.pid} [0-9a-f]{16}$`))
    await release()
  }
})

it('two takers of the same stale lock: the one that comes second does not remove the first one\'s lock', async () => {
  await writeFile(lock, `${await deadPid()} 0123456789abcdef`)
  let firstHolds!: () => void
  const held = new Promise<void>((resolve) => { firstHolds = resolve })
  // The late taker judges the lock stale, then stalls until the other has taken it over.
  const late = acquireLock(lock, { beforeTakeover: async () => { await held } })
  const first = await acquireLock(lock)
  const mine = await readFile(lock, 'utf8')
  firstHolds()
  expect(await code(late)).toBe('ERR_REPO_LOCKED')
  expect(await readFile(lock, 'utf8')).toBe(mine)
  await first()
})

it('processes racing for one stale lock never hold it at the same time', async () => {
  await ensureBuilt()
  await writeFile(lock, `${await deadPid()} 0123456789abcdef`)
  const mod = pathToFileURL(join(ROOT, 'dist', 'src', 'publish', 'repo-io.js')).href
  const script = `
    const { acquireLock } = await import(${JSON.stringify(mod)})
    try {
      const release = await acquireLock(${JSON.stringify(lock)})
      const start = Date.now()
      await new Promise((r) => setTimeout(r, 300))
      const end = Date.now()
      await release()
      console.log(JSON.stringify({ start, end }))
    } catch (e) { console.log(JSON.stringify({ code: e.code })) }`
  const runs = await Promise.all(Array.from({ length: 6 }, async () =>
    JSON.parse((await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script])).stdout) as { start?: number, end?: number, code?: string }))
  const held = runs.filter((r) => r.start !== undefined).sort((a, b) => a.start! - b.start!)
  expect(held.length).toBeGreaterThanOrEqual(1)
  for (const r of runs) if (r.start === undefined) expect(r.code).toBe('ERR_REPO_LOCKED')
  for (let i = 1; i < held.length; i++) expect(held[i]!.start!).toBeGreaterThanOrEqual(held[i - 1]!.end!)
})
