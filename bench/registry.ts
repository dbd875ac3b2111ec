/**
 * `npm run bench:registry`: head pushes to `dagtuf serve --allow-push` (its
 * server in this process, on loopback) against a repository with
 * BENCH_TARGETS targets (default 1,000).
 *
 * A writer repository makes BENCH_PUSHES (default 40) successive heads
 * (snapshot and timestamp refreshes), each exported as a CAR since the one
 * before (outside the timing). They are then pushed in order, one at a time:
 * each PUT /head is read, hash-checked, VALID, `<-*`, stored, flushed and
 * the head moved before the next starts. Reported: pushes per second and
 * p50/p99 latency of one push; then 16 writers racing with successors of
 * one head (one wins, 15 get 412), its wall time. Not a test.
 */
import '../src/polyfill.js'
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serveRepository } from '../src/cli/commands/serve.js'
import { openSession, publishStaged } from '../src/publish/engine.js'
import { exportCar } from '../src/publish/export.js'
import type { HeadRecord } from '../src/publish/files.js'
import { sourceLoader } from '../src/validate/loader.js'
import { benchRepo } from './common.js'

const TARGETS = Number(process.env.BENCH_TARGETS ?? 1000)
const PUSHES = Number(process.env.BENCH_PUSHES ?? 40)

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}

async function put (url: string, ifMatch: string, car: Uint8Array): Promise<number> {
  const r = await fetch(`${url}/head`, { method: 'PUT', headers: { 'content-type': 'application/vnd.ipld.car', 'if-match': `"${ifMatch}"` }, body: Buffer.from(car) })
  await r.arrayBuffer()
  return r.status
}

/** Heads made in `dir` from its head: a chain (`chain`) or siblings of it. */
async function successors (dir: string, work: string, n: number, chain: boolean, t0: number): Promise<Array<{ base: string, head: HeadRecord, car: Uint8Array }>> {
  const session = await openSession(dir, { lock: true })
  const out: Array<{ base: string, head: HeadRecord, car: Uint8Array }> = []
  try {
    const start = await session.repo.head()
    let base = start
    for (let i = 0; i < n; i++) {
      if (!chain) await session.repo.moveHead(start, await session.repo.headBytes())
      const r = await publishStaged({ ...session, now: new Date(t0 + i * 1000) })
      if (r.kind !== 'published') throw new Error('expected a publish')
      const file = join(work, `succ-${t0}-${i}.car`)
      await exportCar(session.node, sourceLoader(session.node), r.head.timestamp, file, { since: base.timestamp })
      out.push({ base: base.timestamp.toString(), head: r.head, car: await readFile(file) })
      if (chain) base = r.head
    }
    if (!chain) await session.repo.moveHead(start, await session.repo.headBytes())
  } finally {
    await session.repo.close()
  }
  return out
}

const work = await mkdtemp(join(tmpdir(), 'dagtuf-bench-registry-'))
try {
  const writer = join(work, 'writer')
  await benchRepo(writer, join(work, 'files'), TARGETS)
  const mirror = join(work, 'mirror')
  await cp(writer, mirror, { recursive: true })
  await rm(join(mirror, 'keys'), { recursive: true })
  const server = await serveRepository(mirror, { allowPush: true, rateLimit: false })
  try {
    const chain = await successors(writer, work, PUSHES, true, Date.now() + 86_400_000)
    const bytes = chain.reduce((n, c) => n + c.car.byteLength, 0)
    const times: number[] = []
    const t0 = performance.now()
    for (const c of chain) {
      const t = performance.now()
      const status = await put(server.url, c.base, c.car)
      times.push(performance.now() - t)
      if (status !== 200) throw new Error(`push answered ${status}`)
    }
    const total = (performance.now() - t0) / 1000
    console.log(`targets ${TARGETS}; ${PUSHES} sequential pushes, CARs of ${Math.round(bytes / PUSHES / 1024)} KiB on average`)
    console.log(`  ${(PUSHES / total).toFixed(1)} pushes/s; latency p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms`)

    const racing = await successors(writer, work, 16, false, Date.now() + 2 * 86_400_000)
    const r0 = performance.now()
    const statuses = await Promise.all(racing.map(async (c) => await put(server.url, c.base, c.car)))
    const wall = performance.now() - r0
    const won = statuses.filter((s) => s === 200).length
    const lost = statuses.filter((s) => s === 412).length
    console.log(`  16 racing writers: ${won} accepted, ${lost} got 412, in ${wall.toFixed(0)} ms`)
    if (won !== 1 || lost !== 15) throw new Error(`race: ${JSON.stringify(statuses)}`)
  } finally {
    await server.close()
  }
} finally {
  await rm(work, { recursive: true, force: true })
}
