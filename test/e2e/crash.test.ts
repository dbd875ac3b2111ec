/**
 * CLIENT-STATE-ATOMIC under SIGKILL: `dagtuf client update` (the built CLI,
 * a child process) killed at random points, many times, always leaves the
 * old trusted state or the new one, never a torn or mixed one, and the
 * next update (in a new process) succeeds from whichever it is.
 *
 * DAGTUF_TEST_SLOW_MS makes the child announce and pause at each of its
 * slow points (after loading, after VALID, before the fsync of each new
 * cached block, after the blocks' batch, inside the atomic write of the
 * state, after the state write), so kills land inside the update
 * and not only while node starts.
 */
import { spawn } from 'node:child_process'
import { cp, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { readCar } from '../../src/blocks/car.js'
import { Updater } from '../../src/client/updater.js'
import { parseState } from '../../src/client/statefile.js'
import { exportCar } from '../../src/publish/export.js'
import { Repo } from '../../src/publish/repo.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore } from '../helpers/repo.js'

const KILLS = Number(process.env.DAGTUF_CRASH_KILLS ?? 30)
const SLOW_MS = 25

let work: TempDir
let base: string
let car2: string
let oldState: string
let ts1: string
let ts2: string

/** A seeded PRNG so a failing run can be reproduced (DAGTUF_SEED). */
let seed = Number(process.env.DAGTUF_SEED ?? 20261122) >>> 0
function random (): number {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

beforeAll(async () => {
  await ensureBuilt()
  work = await tempDir('dagtuf-crash-')
  const files: Record<string, string> = {}
  for (let i = 0; i < 8; i++) files[`pkg/f${i}.txt`] = `file ${i}\n`
  const repo = await makeRepo(join(work.path, 'repo'), work.path, files)
  ts1 = repo.timestamps[1]!
  ts2 = await publishMore(repo, work.path, { 'pkg/f0.txt': 'file 0, second version\n', 'pkg/new.txt': 'new\n' })
  const r = await Repo.open(repo.dir)
  try {
    const node = await r.node()
    car2 = join(work.path, 'v2.car')
    await exportCar(node, sourceLoader(node), CID.parse(ts2), car2, { since: CID.parse(ts1) })
    // The trusted state every kill starts from: the root, then ts1.
    base = join(work.path, 'base')
    const up = await Updater.create({ dir: base, source: node })
    await up.init(repo.root)
    await up.refresh(ts1)
  } finally {
    await r.close()
  }
  oldState = await readFile(join(base, 'state.json'), 'utf8')
}, 120_000)
afterAll(async () => { await work?.remove() })

/** Run `client update` on a copy of the base state; SIGKILL it at slow point `at` (0: at a random time during start-up). */
async function killedUpdate (dir: string, at: number, extraMs: number): Promise<string> {
  await cp(base, dir, { recursive: true })
  const child = spawn(process.execPath, [BIN, 'client', 'update', '--dir', dir, '--car', car2, '--json'], {
    cwd: ROOT,
    env: { ...process.env, DAGTUF_TEST_SLOW_MS: String(SLOW_MS) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<string>((resolve) => { child.on('exit', (code, signal) => { resolve(signal ?? `exit ${code}`) }) })
  let seen = 0
  const kill = (): void => { setTimeout(() => { child.kill('SIGKILL') }, extraMs) }
  if (at === 0) kill()
  child.stderr.on('data', (d: Buffer) => {
    const before = seen
    seen += d.toString().split('dagtuf-test: slow point').length - 1
    if (at > 0 && before < at && seen >= at) kill()
  })
  const safety = setTimeout(() => { child.kill('SIGKILL') }, 60_000)
  const how = await exited
  clearTimeout(safety)
  return how
}

it(`CLIENT-STATE-ATOMIC: ${KILLS} SIGKILLs during client update leave the old or the new state, never a torn one`, async () => {
  const outcomes = { old: 0, new: 0, finished: 0 }
  const log: string[] = []
  const jobs: Array<() => Promise<void>> = []
  for (let i = 0; i < KILLS; i++) {
    // Spread kills over start-up and each of the update's eight slow points
    // (loaded, VALID, before the fsync of each of the three new cached blocks,
    // after the batch's directory fsync, before the state's fsync, after its
    // rename), with more around the state write (points 7 and 8).
    const r = random()
    const at = i % 5 === 0 ? 0 : r < 0.3 ? 7 + Math.floor(random() * 2) : 1 + Math.floor(random() * 8)
    const extraMs = at === 0 ? Math.floor(random() * 2500) : Math.floor(random() * SLOW_MS)
    jobs.push(async () => {
      const dir = join(work.path, `kill-${i}`)
      const how = await killedUpdate(dir, at, extraMs)
      if (how !== 'SIGKILL') outcomes.finished++
      const text = await readFile(join(dir, 'state.json'), 'utf8')
      log.push(`${at}:${how === 'SIGKILL' ? 'k' : 'f'}${text === oldState ? 'o' : 'n'}`)
      const state = parseState(new TextEncoder().encode(text)) // never torn: a strict parse succeeds
      if (text === oldState) outcomes.old++
      else {
        expect(state.trusted?.timestamp.toString(), `kill ${i} at ${at}+${extraMs}ms`).toBe(ts2)
        outcomes.new++
      }
      // The next update, in a new process over the same folder, succeeds from either state
      // (a lock left by the killed process is taken over).
      const up = await Updater.create({ dir, source: await readCar(car2) })
      const r = await up.refresh(ts2)
      expect(r.timestamp).toBe(ts2)
      expect(r.continuity).toBe(text === oldState ? 'descends' : 'same')
      // A lookup through a source keeps the shard path it read in the cache
      // (format 2: an update does not read the top-level targets map); after
      // that, the new trusted DAG answers it without any source.
      expect((await up.getTargetInfo('pkg/new.txt'))?.length).toBe(4)
      const offline = await Updater.create({ dir })
      expect((await offline.getTargetInfo('pkg/new.txt'))?.length).toBe(4)
    })
  }
  // Two children at a time (two cores).
  const running = new Set<Promise<void>>()
  for (const job of jobs) {
    const p = job().finally(() => running.delete(p))
    running.add(p)
    if (running.size >= 2) await Promise.race(running)
  }
  await Promise.all(running)
  console.log(`crash test: ${KILLS} kills -> old state ${outcomes.old}, new state ${outcomes.new} (${outcomes.finished} finished before the kill) ${log.sort().join(' ')}`)
  expect(outcomes.old + outcomes.new).toBe(KILLS)
  expect(outcomes.old).toBeGreaterThan(0)
  expect(outcomes.new).toBeGreaterThan(0)
}, 240_000)
