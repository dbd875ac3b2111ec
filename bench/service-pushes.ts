/**
 * The head-push part of `npm run bench:service`: BENCH_PUSHES (default 40)
 * successive heads (snapshot and timestamp refreshes of a repository with
 * BENCH_TARGETS targets), each a CAR since the one before made outside the
 * timing, pushed in order with PUT /head (read, hash-checked, VALID, `<-*`,
 * stored, audit entry, head compare-and-swap) to
 *   - one registry over its folder (`serve --allow-push`), and
 *   - two replicas on the Redis backend (`serve --allow-push --redis`), the
 *     pushes alternating between them, against a redis-server this bench
 *     starts on loopback (appendonly yes, appendfsync always); skipped with
 *     a message when redis-server is not installed.
 * Reported: pushes per second and p50/p99 of one push. Not a test.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serveRepository, type RepositoryServer } from '../src/cli/commands/serve.js'
import { openSession, publishStaged } from '../src/publish/engine.js'
import { exportCar } from '../src/publish/export.js'
import { sourceLoader } from '../src/validate/loader.js'
import { benchRepo } from './common.js'
import { redisUnavailable, startRedis } from './loopback.js'

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}

async function put (url: string, ifMatch: string, car: Uint8Array): Promise<number> {
  const r = await fetch(`${url}/head`, { method: 'PUT', headers: { 'content-type': 'application/vnd.ipld.car', 'if-match': `"${ifMatch}"` }, body: Buffer.from(car) })
  await r.arrayBuffer()
  return r.status
}

/** Push `chain` in order, the i-th to servers[i % n]; the latencies and the wall time. */
async function pushAll (servers: RepositoryServer[], chain: Array<{ base: string, car: Uint8Array }>): Promise<{ times: number[], seconds: number }> {
  const times: number[] = []
  const t0 = performance.now()
  for (const [i, c] of chain.entries()) {
    const t = performance.now()
    const status = await put(servers[i % servers.length]!.url, c.base, c.car)
    times.push(performance.now() - t)
    if (status !== 200) throw new Error(`push ${i} answered ${status}`)
  }
  return { times, seconds: (performance.now() - t0) / 1000 }
}

export async function benchPushes (targets: number, pushes: number): Promise<string[]> {
  const work = await mkdtemp(join(tmpdir(), 'dagtuf-bench-pushes-'))
  const out: string[] = []
  const line = (name: string, r: { times: number[], seconds: number }): string =>
    `| ${name} | ${r.times.length} | ${(r.times.length / r.seconds).toFixed(1)} | ${percentile(r.times, 50).toFixed(1)} ms | ${percentile(r.times, 99).toFixed(1)} ms |`
  try {
    const writer = join(work, 'writer')
    await benchRepo(writer, join(work, 'files'), targets)
    // The servers' folders: copies of the writer at its first head, without keys.
    const dirs = ['folder', 'replica-a', 'replica-b'].map((n) => join(work, n))
    for (const d of dirs) {
      await cp(writer, d, { recursive: true })
      await rm(join(d, 'keys'), { recursive: true })
    }
    // The chain of heads, each a CAR since the one before (outside the timing).
    const chain: Array<{ base: string, car: Uint8Array }> = []
    const session = await openSession(writer, { lock: true })
    try {
      let base = (await session.repo.head()).timestamp
      const t0 = Date.now() + 86_400_000
      for (let i = 0; i < pushes; i++) {
        const r = await publishStaged({ ...session, now: new Date(t0 + i * 1000) })
        if (r.kind !== 'published') throw new Error('expected a publish')
        const file = join(work, `succ-${i}.car`)
        await exportCar(session.node, sourceLoader(session.node), r.head.timestamp, file, { since: base })
        chain.push({ base: base.toString(), car: await readFile(file) })
        base = r.head.timestamp
      }
    } finally {
      await session.repo.close()
    }
    const bytes = chain.reduce((n, c) => n + c.car.byteLength, 0)
    out.push(`head pushes: targets ${targets}; ${pushes} sequential pushes (one client), CARs of ${Math.round(bytes / pushes / 1024)} KiB on average`)
    out.push('')
    out.push('| PUT /head to | n | pushes/s | p50 | p99 |')
    out.push('|:---|---:|---:|---:|---:|')
    const folder = await serveRepository(dirs[0]!, { allowPush: true, rateLimit: false })
    try {
      out.push(line('one registry, head in its folder', await pushAll([folder], chain)))
    } finally {
      await folder.close()
    }
    if (redisUnavailable !== undefined) {
      out.push(`| two replicas on Redis | skipped: ${redisUnavailable} | | | |`)
    } else {
      const redis = await startRedis()
      try {
        const options = { allowPush: true, rateLimit: false as const, redis: { url: redis.url, prefix: 'bench' } }
        const a = await serveRepository(dirs[1]!, options)
        const b = await serveRepository(dirs[2]!, options)
        try {
          out.push(line('two replicas on Redis, alternating (appendfsync always)', await pushAll([a, b], chain)))
        } finally {
          await a.close()
          await b.close()
        }
      } finally {
        await redis.stop()
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return out
}
