/**
 * `npm run bench:serve [-- --quick]`: `dagtuf serve` under load on loopback
 * (issue 16). Not a test: it prints figures and writes them to
 * bench/results/serve-<date>.md.
 *
 * The server is `dagtuf serve` as a child process (default limits), so its
 * resident set is its own: sampled from /proc/<pid>/status (VmRSS) every
 * 50 ms, the peak of each scenario reported. The repository: 1,000 targets of
 * 1 KiB published, plus 16 raw blocks of 1 MiB put in its node (what the
 * leaves of three 5 MiB UnixFS targets are). The load generator
 * (bench/serve-load.ts) runs each scenario in a worker thread of this
 * process (the mixed one in two: the small-route clients apart from the
 * large downloads), on raw sockets read into one reused buffer (HTTP/1.1
 * keep-alive, one request at a time per connection unless pipelining,
 * bodies counted and dropped): in the first profiles the generator's
 * garbage collector took half its CPU, and the small-route latencies were
 * partly those of the generator's own event loop. A request unanswered
 * after 10 s counts as a timeout and its connection is dropped.
 * A 503 (over the connection cap, or no block slot in time) is counted
 * apart: the connection closes and the client reconnects after Retry-After
 * (1 s).
 *
 * Scenarios, in order: idle; small routes (/head, 1 KiB blocks) at c=10;
 * 1 MiB raw blocks at c=10, 100, then at c=100 again over 512 blocks asked
 * for in a cycle (more than the server's 32 MiB block cache holds: every
 * request misses it, so that figure is the store's: a read and a hash per
 * block), then c=1000; the CAR route (1 MiB) at c=100;
 * small routes while 50 connections download 1 MiB blocks; 100 sockets x 20
 * pipelined 1 MiB GETs that read nothing for 15 s (the server's write
 * timeout is 10 s), then read what is left: cut off or not; then
 * the RSS after a quiet minute. --quick: 3 s per scenario instead of 10, and
 * 15 s of quiet instead of 60 (the "after" figure is then after 15 s).
 * The "cache hits" column is the server's block-cache hit rate over the
 * scenario (dagtuf_block_cache_hits_total and _misses_total of /metrics).
 * BENCH_SERVE_ONLY=mixed,c=10 runs only the scenarios whose names contain
 * one of those parts.
 * BENCH_SERVE_ARGS adds flags to `dagtuf serve` (e.g. "--max-connections 512"),
 * BENCH_SERVE_NODE_ARGS flags to the server's node (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof": the profile is written when it exits).
 */
import '../src/polyfill.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { initRepo, openSession, publishStaged } from '../src/publish/engine.js'
import { addFiles } from '../src/publish/stage.js'
import { BIN, ROOT, resultsFile, writeTargetFiles } from './common.js'
import { loadInWorker, runLoad, type Tally } from './serve-load.js'

const QUICK = process.argv.includes('--quick')
const SCENARIO_MS = QUICK ? 3_000 : 10_000
const QUIET_MS = QUICK ? 15_000 : 60_000
const REQUEST_TIMEOUT_MS = 10_000
const MiB = 1024 * 1024
/** Distinct 1 MiB blocks of the cache-miss scenario. */
const MANY = 512

// ---------------------------------------------------------------------------
// The server and its resident set

function rssKb (pid: number): number {
  try {
    const m = /VmRSS:\s*(\d+)\s*kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1])
  } catch {
    return 0
  }
}

class Sampler {
  peak = 0
  readonly #timer: NodeJS.Timeout
  constructor (readonly pid: number) {
    this.peak = rssKb(pid)
    this.#timer = setInterval(() => { this.peak = Math.max(this.peak, rssKb(pid)) }, 50)
  }

  stop (): number {
    clearInterval(this.#timer)
    return Math.max(this.peak, rssKb(this.pid))
  }
}

async function startServer (dir: string): Promise<{ url: string, child: ChildProcess, stop: () => Promise<void> }> {
  const extra = (process.env.BENCH_SERVE_ARGS ?? '').split(/\s+/).filter((s) => s !== '')
  const nodeArgs = (process.env.BENCH_SERVE_NODE_ARGS ?? '').split(/\s+/).filter((s) => s !== '')
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'serve', '--dir', dir, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) resolve(out.split('\n')[0]!.trim())
    })
    child.on('exit', (code) => { reject(new Error(`dagtuf serve exited ${code}`)) })
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  return { url, child, stop: async () => { child.kill('SIGTERM'); await exited } }
}

function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}

// ---------------------------------------------------------------------------

const lines: string[] = []
function report (line: string): void {
  console.log(line)
  lines.push(line)
}

let metricsUrl = ''
/** The server's block-cache hits and misses so far (GET /metrics). */
async function cacheCounts (): Promise<{ hits: number, misses: number }> {
  const text = await (await fetch(metricsUrl)).text()
  const count = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN)
  return { hits: count('dagtuf_block_cache_hits_total'), misses: count('dagtuf_block_cache_misses_total') }
}

/** The cache hit rate between two readings, as a percentage ("-" without lookups). */
function hitRate (before: { hits: number, misses: number }, after: { hits: number, misses: number }): string {
  const hits = after.hits - before.hits
  const all = hits + after.misses - before.misses
  return all === 0 || Number.isNaN(all) ? '-' : `${(100 * hits / all).toFixed(0)}%`
}

function row (name: string, t: Tally, seconds: number, peakKb: number, hits: string): void {
  const mb = t.bytes / MiB / seconds
  report(`| ${name} | ${(t.ok / seconds).toFixed(0)} | ${mb.toFixed(1)} | ${percentile(t.latencies, 50).toFixed(1)} | ${percentile(t.latencies, 99).toFixed(1)} | ${t.busy} | ${t.timeouts} | ${t.errors + t.other} | ${hits} | ${(peakKb / 1024).toFixed(0)} |`)
}

/** BENCH_SERVE_ONLY=mixed,c=10: only the scenarios whose names contain one of these (to iterate; the file says so). */
const ONLY = (process.env.BENCH_SERVE_ONLY ?? '').split(',').filter((s) => s !== '')
const wanted = (name: string): boolean => ONLY.length === 0 || ONLY.some((part) => name.includes(part))

async function load (port: number, name: string, c: number, paths: string[], pid: number): Promise<void> {
  if (!wanted(name)) return
  const before = await cacheCounts()
  const sampler = new Sampler(pid)
  const t0 = performance.now()
  const t = await loadInWorker({ port, c, paths, until: Date.now() + SCENARIO_MS, timeoutMs: REQUEST_TIMEOUT_MS })
  const seconds = (performance.now() - t0) / 1000
  const peak = sampler.stop()
  row(name, t, seconds, peak, hitRate(before, await cacheCounts()))
}

/**
 * `sockets` connections each pipelining `depth` GETs of a 1 MiB block and
 * reading nothing for `holdMs`; then each reads what is left. A connection
 * the server cut off gets fewer than depth x 1 MiB before it closes.
 */
async function nonReaders (port: number, sockets: number, depth: number, request: string, holdMs: number): Promise<{ cut: number, ms: number }> {
  const t0 = performance.now()
  const got = await Promise.all(Array.from({ length: sockets }, async () => await new Promise<number>((resolve) => {
    const s = connect(port, '127.0.0.1')
    let bytes = 0
    s.on('error', () => {})
    s.on('data', (c: Buffer) => { bytes += c.length })
    s.pause()
    s.on('connect', () => { s.write(request.repeat(depth)) })
    setTimeout(() => {
      s.resume()
      // Served in full, the connection stays open (keep-alive): stop after 10 s.
      const stop = setTimeout(() => { s.destroy() }, 10_000)
      s.on('close', () => { clearTimeout(stop); resolve(bytes) })
    }, holdMs)
  })))
  return { cut: got.filter((b) => b < depth * MiB).length, ms: performance.now() - t0 }
}

const startedAt = new Date()
const work = await mkdtemp(join(tmpdir(), 'dagtuf-bench-serve-'))
try {
  const dir = join(work, 'repo')
  const init = await initRepo(dir, { rootKeys: 1, rootThreshold: 1 })
  await init.repo.close()
  const big: CID[] = []
  const session = await openSession(dir, { lock: true })
  try {
    await addFiles(session, await writeTargetFiles(join(work, 'files'), 1000), { path: 'pkg' })
    if ((await publishStaged(session)).kind !== 'published') throw new Error('publish did not complete')
    for (let i = 0; i < 16; i++) {
      const bytes = randomBytes(MiB)
      const cid = CID.createV1(raw.code, await sha256.digest(bytes))
      await session.node.put(cid, bytes)
      big.push(cid)
    }
    await session.node.flush(big)
  } finally {
    await session.repo.close()
  }
  // More 1 MiB blocks than the server's block cache holds (32 MiB by
  // default), asked for in a cycle: every request misses the cache.
  const many: CID[] = []
  {
    const s = await openSession(dir, { lock: true })
    try {
      for (let i = 0; i < MANY; i++) {
        const bytes = randomBytes(MiB)
        const cid = CID.createV1(raw.code, await sha256.digest(bytes))
        await s.node.put(cid, bytes)
        many.push(cid)
      }
    } finally {
      await s.repo.close()
    }
  }
  // A few small blocks: 1 KiB raw blocks put the same way.
  const small: CID[] = []
  {
    const s = await openSession(dir, { lock: true })
    try {
      for (let i = 0; i < 64; i++) {
        const bytes = randomBytes(1024)
        const cid = CID.createV1(raw.code, await sha256.digest(bytes))
        await s.node.put(cid, bytes)
        small.push(cid)
      }
    } finally {
      await s.repo.close()
    }
  }

  const server = await startServer(dir)
  const pid = server.child.pid!
  const port = Number(new URL(server.url).port)
  metricsUrl = `${server.url}/metrics`
  const reqOf = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`
  const rawBig = big.map((cid) => `/ipfs/${cid.toString()}?format=raw`)
  const rawMany = many.map((cid) => `/ipfs/${cid.toString()}?format=raw`)
  const carBig = big.map((cid) => `/ipfs/${cid.toString()}?format=car`)
  // /head and the small blocks in turn.
  const smallReq = Array.from({ length: 2 * small.length }, (_, j) => j % 2 === 0 ? '/head' : `/ipfs/${small[j % small.length]!.toString()}?format=raw`)
  try {
    // Warm up: every block read once.
    await load(port, 'warm-up (not a scenario)', 4, rawBig, pid)
    lines.length = 0
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const idleKb = rssKb(pid)
    report(`# dagtuf serve under load (${startedAt.toISOString()}${QUICK ? ', --quick' : ''})`)
    report('')
    report(`Loopback, child-process server with default limits${process.env.BENCH_SERVE_ARGS !== undefined ? ` plus \`${process.env.BENCH_SERVE_ARGS}\`` : ''}; ${SCENARIO_MS / 1000} s per scenario; load generator in worker threads of the parent process (same 2-core machine, shared).`)
    if ((process.env.BENCH_SERVE_NODE_ARGS ?? '').trim() !== '') report(`Server node flags (BENCH_SERVE_NODE_ARGS): \`${process.env.BENCH_SERVE_NODE_ARGS!.trim()}\`.`)
    report('')
    if (ONLY.length > 0) report(`Only the scenarios matching BENCH_SERVE_ONLY=${ONLY.join(',')}.`)
    report(`Load average (1, 5, 15 min) at the start: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`)
    report('')
    report(`Idle RSS after warm-up: ${(idleKb / 1024).toFixed(0)} MB`)
    report('')
    report('| scenario | req/s | MB/s | p50 ms | p99 ms | 503 | timeouts | errors | cache hits | peak RSS MB |')
    report('|---|---|---|---|---|---|---|---|---|---|')
    let peakAll = idleKb
    const track = (): void => { peakAll = Math.max(peakAll, rssKb(pid)) }
    const tracker = setInterval(track, 50)
    await load(port, 'small routes (/head, 1 KiB blocks) c=10', 10, smallReq, pid)
    await load(port, '1 MiB raw c=10', 10, rawBig, pid)
    await load(port, '1 MiB raw c=100', 100, rawBig, pid)
    await load(port, `1 MiB raw c=100, ${MANY} blocks in a cycle (cache misses)`, 100, rawMany, pid)
    await load(port, '1 MiB raw c=1000', 1000, rawBig, pid)
    await load(port, '1 MiB CAR c=100', 100, carBig, pid)
    if (wanted('mixed')) {
      // Small routes while 50 connections pull 1 MiB blocks.
      // Each part in a worker thread of its own.
      const before = await cacheCounts()
      const sampler = new Sampler(pid)
      const t0 = performance.now()
      const until = Date.now() + SCENARIO_MS
      const [bigT, smallT] = await Promise.all([
        loadInWorker({ port, c: 50, paths: rawBig, until, timeoutMs: REQUEST_TIMEOUT_MS }),
        loadInWorker({ port, c: 10, paths: smallReq, until, timeoutMs: REQUEST_TIMEOUT_MS })
      ])
      const seconds = (performance.now() - t0) / 1000
      const peak = sampler.stop()
      const hits = hitRate(before, await cacheCounts())
      row('mixed: 1 MiB raw c=50 (the large part)', bigT, seconds, peak, hits)
      row('mixed: small routes c=10 during it', smallT, seconds, peak, hits)
    }
    if (wanted('pipeliners')) {
      const sampler = new Sampler(pid)
      const probe: Tally = { ok: 0, busy: 0, other: 0, timeouts: 0, errors: 0, bytes: 0, latencies: [] }
      const stopProbe = Date.now() + 60_000
      let probing = true
      const probeRun = (async () => {
        while (probing && Date.now() < stopProbe) {
          const t = await runLoad({ port, c: 1, paths: smallReq, until: Math.min(stopProbe, Date.now() + 1_000), timeoutMs: REQUEST_TIMEOUT_MS })
          for (const k of ['ok', 'busy', 'other', 'timeouts', 'errors', 'bytes'] as const) probe[k] += t[k]
          probe.latencies.push(...t.latencies)
        }
      })()
      const r = await nonReaders(port, 100, 20, reqOf(`/ipfs/${big[0]!.toString()}?format=raw`), 15_000)
      probing = false
      await probeRun
      const peak = sampler.stop()
      report(`| 100 pipeliners x 20 x 1 MiB reading nothing for 15 s (${r.cut}/100 cut off by the server); small routes c=1 during it | ${(probe.ok / (r.ms / 1000)).toFixed(0)} | - | ${percentile(probe.latencies, 50).toFixed(1)} | ${percentile(probe.latencies, 99).toFixed(1)} | ${probe.busy} | ${probe.timeouts} | ${probe.errors + probe.other} | - | ${(peak / 1024).toFixed(0)} |`)
    }
    clearInterval(tracker)
    track()
    const endKb = rssKb(pid)
    await new Promise((resolve) => setTimeout(resolve, ONLY.length === 0 ? QUIET_MS : 0))
    const afterKb = rssKb(pid)
    report('')
    report(`Peak RSS over all scenarios: ${(peakAll / 1024).toFixed(0)} MB (goal <= 300 MB)`)
    report(`Load average (1, 5, 15 min) at the end: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`)
    report(`RSS when the load stopped: ${(endKb / 1024).toFixed(0)} MB; after ${QUIET_MS / 1000} s quiet: ${(afterKb / 1024).toFixed(0)} MB = ${(afterKb / idleKb).toFixed(2)} x idle (goal <= 1.5 x idle after 60 s)`)
  } finally {
    await server.stop()
  }
  const file = resultsFile('serve', startedAt)
  await writeFile(file, lines.join('\n') + '\n')
  console.log(`\nwritten to ${file}`)
} finally {
  await rm(work, { recursive: true, force: true })
}
