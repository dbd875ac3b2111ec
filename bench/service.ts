/**
 * `npm run bench:service`: signature submissions to the signing sessions of
 * `dagtuf serve --sessions` (its server in this process, on loopback).
 *
 * The repository has a 3-of-3 root and BENCH_TARGETS targets (default
 * 1,000); its root and targets keys are held by the bench, as keyholders
 * would hold them. Each of BENCH_ROUNDS rounds (default 20) proposes a
 * re-sign of the root (POST /drafts) and posts one signature per root key in
 * three requests: the first two are checked (SESS-SIG-KEY, -BYTES, -ONCE)
 * and stored, the third also publishes (snapshot and timestamp by the
 * service's online keys, VALID, `<-*`, blocks flushed, head moved). Then
 * BENCH_BAD (default 200) refused submissions (a signature over other bytes:
 * nothing stored). Reported: submissions per second over the rounds, and
 * p50/p99 per kind of request. Then head pushes per second and p50/p99, to
 * one registry and to two replicas on Redis (bench/service-pushes.ts,
 * BENCH_PUSHES, default 40). Not a test.
 */
import '../src/polyfill.js'
import { mkdtemp, readdir, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serveRepository } from '../src/cli/commands/serve.js'
import { toHexSig, type Signer } from '../src/model/keys.js'
import { initRepo, openSession, publishStaged } from '../src/publish/engine.js'
import { readKeyFile, signerFromKeyFile } from '../src/publish/keyfile.js'
import { addFiles } from '../src/publish/stage.js'
import { writeTargetFiles } from './common.js'
import { benchPushes } from './service-pushes.js'

const TARGETS = Number(process.env.BENCH_TARGETS ?? 1000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20)
const BAD = Number(process.env.BENCH_BAD ?? 200)
const PUSHES = Number(process.env.BENCH_PUSHES ?? 40)

function percentile (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}

async function post (url: string, body: unknown): Promise<{ status: number, json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: r.status, json: await r.json() }
}

const line = (name: string, xs: number[]): string => `| ${name} | ${xs.length} | ${percentile(xs, 50).toFixed(1)} ms | ${percentile(xs, 99).toFixed(1)} ms |`

const work = await mkdtemp(join(tmpdir(), 'dagtuf-bench-service-'))
try {
  const dir = join(work, 'repo')
  const init = await initRepo(dir, { rootKeys: 3, rootThreshold: 3 })
  await init.repo.close()
  const session = await openSession(dir, { lock: true })
  try {
    await addFiles(session, await writeTargetFiles(join(work, 'files'), TARGETS), { path: 'pkg' })
    if ((await publishStaged(session)).kind !== 'published') throw new Error('publish did not complete')
  } finally {
    await session.repo.close()
  }
  // The offline keys leave the service's key folder (ONLINE-KEYS-ONLY).
  const roots: Signer[] = []
  for (const n of await readdir(join(dir, 'keys'))) {
    if (!n.startsWith('root-') && !n.startsWith('targets-')) continue
    await rename(join(dir, 'keys', n), join(work, n))
    if (n.startsWith('root-')) roots.push(await signerFromKeyFile(await readKeyFile(join(work, n)), undefined))
  }
  const server = await serveRepository(dir, { sessions: true, sessionRateLimit: false })
  try {
    const propose: number[] = []
    const stored: number[] = []
    const published: number[] = []
    let signing = 0
    for (let i = 0; i < ROUNDS; i++) {
      let t = performance.now()
      const p = await post(`${server.url}/drafts`, { ops: [{ op: 'refresh', role: 'root' }] })
      propose.push(performance.now() - t)
      if (p.status !== 201) throw new Error(`propose answered ${p.status}: ${JSON.stringify(p.json)}`)
      const message = new Uint8Array(Buffer.from(p.json.objects[0].message as string, 'base64'))
      for (const [k, s] of roots.entries()) {
        const sig = toHexSig(await s.sign(message))
        t = performance.now()
        const r = await post(`${server.url}/drafts/${p.json.id as string}/signatures`, { signatures: [{ role: 'root', keyid: s.keyid, sig }] })
        const ms = performance.now() - t
        signing += ms
        if (r.status !== 200) throw new Error(`signature answered ${r.status}: ${JSON.stringify(r.json)}`)
        if (k === roots.length - 1) {
          if (r.json.published !== true) throw new Error('the last signature did not publish')
          published.push(ms)
        } else stored.push(ms)
      }
    }
    // Refused: a root key's signature over other bytes.
    const p = await post(`${server.url}/drafts`, { ops: [{ op: 'refresh', role: 'root' }] })
    const other = toHexSig(await roots[0]!.sign(new TextEncoder().encode('other bytes')))
    const refused: number[] = []
    for (let i = 0; i < BAD; i++) {
      const t = performance.now()
      const r = await post(`${server.url}/drafts/${p.json.id as string}/signatures`, { signatures: [{ role: 'root', keyid: roots[0]!.keyid, sig: other }] })
      refused.push(performance.now() - t)
      if (r.status !== 422) throw new Error(`a bad signature answered ${r.status}`)
    }
    const n = stored.length + published.length
    console.log(`targets ${TARGETS}; ${ROUNDS} rounds of a 3-of-3 root re-sign: ${n} signature submissions, ${published.length} of them publishing`)
    console.log(`  ${(n / (signing / 1000)).toFixed(1)} submissions/s sustained (one client, sequential); ${(BAD / (refused.reduce((a, b) => a + b, 0) / 1000)).toFixed(0)} refused submissions/s`)
    console.log('')
    console.log('| request | n | p50 | p99 |')
    console.log('|:---|---:|---:|---:|')
    console.log(line('POST /drafts (plan, draft written atomically)', propose))
    console.log(line('POST signature, stored (checked, draft saved)', stored))
    console.log(line('POST signature, publishes (+ snapshot, timestamp, VALID, flush, head)', published))
    console.log(line('POST signature, refused (SESS-SIG-BYTES, 422)', refused))
  } finally {
    await server.close()
  }
  console.log('')
  for (const l of await benchPushes(TARGETS, PUSHES)) console.log(l)
} finally {
  await rm(work, { recursive: true, force: true })
}
