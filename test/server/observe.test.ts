/**
 * What an operator of `dagtuf serve` observes (issue 17): the audit entries
 * of signing sessions and online re-signing (NOTES 10.3), /metrics scraped
 * by a real Prometheus (Debian's package, started on loopback here; skipped
 * with a message where it is absent), its bounded labels, /healthz and
 * /readyz in each state, and `dagtuf status --json`'s horizon.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveRepository } from '../../src/cli/commands/serve.js'
import { toHexSig, type Signer } from '../../src/model/keys.js'
import { verifyAudit } from '../../src/publish/audit.js'
import { readKeyFile, signerFromKeyFile } from '../../src/publish/keyfile.js'
import { OnlineResigner } from '../../src/publish/online.js'
import { Repo } from '../../src/publish/repo.js'
import { SigningSessions, type DraftView } from '../../src/publish/sessions.js'
import { Metrics, MAX_CODES, MAX_ROLES, routeOf } from '../../src/server/metrics-handlers.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { httpRequest } from './http-helpers.js'
import { freePort } from '../helpers/net.js'
import { dagtufJson, dagtufOk } from '../helpers/cli.js'

const PROMETHEUS = '/usr/bin/prometheus'
const DAY = 86400

const dagtuf = dagtufJson

const ok = dagtufOk

let work: TempDir
/** init with root=30d, the root and targets keys moved to a vault (a service's repository). */
let base: string
let vault: string
let offline: { root: Signer, targets: Signer }

beforeAll(async () => {
  work = await tempDir('dagtuf-observe-')
  base = join(work.path, 'base')
  await ok('init', '--dir', base, '--expiry', 'root=30d')
  vault = join(work.path, 'vault')
  await mkdir(vault)
  for (const n of await readdir(join(base, 'keys'))) {
    if (n.startsWith('root-')) await rename(join(base, 'keys', n), join(vault, 'root.json'))
    if (n.startsWith('targets-')) await rename(join(base, 'keys', n), join(vault, 'targets.json'))
  }
  offline = {
    root: await signerFromKeyFile(await readKeyFile(join(vault, 'root.json')), undefined),
    targets: await signerFromKeyFile(await readKeyFile(join(vault, 'targets.json')), undefined)
  }
}, 60_000)
afterAll(async () => { await work.remove() })

let copies = 0
async function copyOfBase (): Promise<string> {
  const dir = join(work.path, `r${++copies}`)
  await cp(base, dir, { recursive: true })
  return dir
}

/** Every private key seed of the test (the service's keys and the vault's), as hex and base64. */
async function secrets (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const d of [join(dir, 'keys'), vault]) {
    for (const n of await readdir(d)) {
      const j = JSON.parse(await readFile(join(d, n), 'utf8')) as { seed?: string }
      if (j.seed !== undefined) out.push(j.seed, Buffer.from(j.seed, 'hex').toString('base64'), Buffer.from(j.seed, 'hex').toString('base64url'))
    }
  }
  expect(out.length).toBeGreaterThanOrEqual(12)
  return out
}

async function sigFor (signer: Signer, view: DraftView, role: string): Promise<{ role: string, keyid: string, sig: string }> {
  const obj = view.objects!.find((o) => o.role === role)!
  return { role, keyid: signer.keyid, sig: toHexSig(await signer.sign(new Uint8Array(Buffer.from(obj.message, 'base64')))) }
}

describe('the audit log of the service', () => {
  it('AUDIT-WRITE-AHEAD AUDIT-COVERS: drafts created, signed, withdrawn and completed by signing sessions are logged, with the key rotation they publish', async () => {
    const dir = await copyOfBase()
    const repo = await Repo.open(dir)
    const published: Array<{ seconds: number, draftAgeSeconds: number }> = []
    try {
      const sessions = new SigningSessions({ repo, onPublished: (p) => published.push(p) })
      const newTargets = join(work.path, 'new-targets')
      await ok('keygen', '--out', newTargets)
      const pub = (await readKeyFile(`${newTargets}.pub`)).publicKey.public
      const withdrawn = await sessions.propose([{ op: 'rotate', role: 'targets', keys: [pub], threshold: 1 }] as any)
      await sessions.withdraw(withdrawn.id)
      const draft = await sessions.propose([{ op: 'rotate', role: 'targets', keys: [pub], threshold: 1 }] as any)
      const targetsKey = await signerFromKeyFile(await readKeyFile(newTargets), undefined)
      const signed = await sessions.sign(draft.id, [await sigFor(offline.root, draft, 'root'), await sigFor(targetsKey, draft, 'targets')])
      expect(signed.published, JSON.stringify(signed)).toBe(true)
      expect(published).toHaveLength(1)
      expect(published[0]!.draftAgeSeconds).toBeGreaterThanOrEqual(0)

      const r = await verifyAudit(dir)
      expect(r.problems).toEqual([])
      const after = r.entries.slice(2).map((e) => e.entry)
      expect(after.map((e) => e.action)).toEqual(['draft-created', 'draft-withdrawn', 'draft-created', 'draft-signed', 'publish', 'root-changed', 'draft-completed'])
      expect(after[1]!.details).toEqual({ draft: withdrawn.id })
      expect(after[2]!.details).toMatchObject({ draft: draft.id, roles: ['root', 'targets'] })
      expect(after[3]!.details).toEqual({ draft: draft.id, roles: ['root', 'targets'], keyids: [offline.root.keyid, targetsKey.keyid] })
      expect(after[4]!.details).toMatchObject({ source: draft.id, timestamp: signed.view.timestamp })
      expect(after[6]!.details).toEqual({ draft: draft.id, timestamp: signed.view.timestamp })
    } finally {
      await repo.close()
    }
  })

  it('AUDIT-NO-SECRETS: after an online re-sign the audit log, its pointer and /metrics hold no key bytes', async () => {
    const dir = await copyOfBase()
    const clock = Date.now() + 2 * DAY * 1000
    const repo = await Repo.open(dir)
    try {
      const resigned = await new OnlineResigner({ repo, now: () => new Date(clock) }).tick()
      expect(resigned).toBeDefined()
    } finally {
      await repo.close()
    }
    const r = await verifyAudit(dir)
    expect(r.problems).toEqual([])
    expect(r.entries[r.entries.length - 1]!.entry).toMatchObject({ action: 'online-resign', details: { timestamp: (await ok('head', '--dir', dir)).timestamp } })
    const server = await serveRepository(dir, { now: () => new Date(clock) })
    try {
      const metrics = (await httpRequest(`${server.url}/metrics`)).body.toString('utf8')
      expect(metrics).toContain('dagtuf_role_expiry_seconds{role="timestamp"}')
      const files = [await readFile(join(dir, 'audit', 'chain.jsonl'), 'utf8'), await readFile(join(dir, 'audit', 'pointer.json'), 'utf8'), metrics]
      for (const s of await secrets(dir)) for (const f of files) expect(f.includes(s)).toBe(false)
      // The check can fail: a seed is found where it is.
      const seed = (await secrets(dir))[0]!
      expect([await readFile(join(vault, 'root.json'), 'utf8'), ...(await Promise.all((await readdir(join(dir, 'keys'))).map(async (n) => await readFile(join(dir, 'keys', n), 'utf8'))))].some((t) => t.includes(seed))).toBe(true)
    } finally {
      await server.close()
    }
  })
})

describe('metrics', () => {
  it('METRICS-BOUNDED: labels are bounded: route templates (no CIDs), rule IDs from NOTES or "none", at most MAX_CODES codes and MAX_ROLES delegated roles', async () => {
    expect(routeOf('/ipfs/bafkqaaa?format=raw')).toBe('/ipfs/{cid}')
    expect(routeOf('/drafts/draft-0011223344/signatures')).toBe('/drafts/{id}/signatures')
    expect(routeOf('/../../etc/passwd')).toBe('other')
    const expires: Record<string, string> = { root: '2030-01-01T00:00:00Z', targets: '2030-01-01T00:00:00Z', snapshot: '2030-01-01T00:00:00Z', timestamp: '2030-01-01T00:00:00Z' }
    for (let i = 0; i < 40; i++) expires[`role-${String(i).padStart(2, '0')}`] = new Date(Date.parse('2029-01-01T00:00:00Z') + i * 3600_000).toISOString()
    const now = new Date('2028-01-01T00:00:00Z')
    const m = new Metrics({ now: () => now, head: async () => ({ head: 'bagu', published: '2027-12-31T00:00:00Z', expires, verified: true }) })
    const err = (code: string, rule?: string): Uint8Array => new TextEncoder().encode(JSON.stringify({ error: { code, message: 'x', ...(rule !== undefined ? { rule } : {}) } }))
    for (let i = 0; i < 200; i++) {
      m.request({ method: i % 2 === 0 ? 'GET' : 'BREW', url: `/ipfs/bafy${i}`, status: 404, bytes: 10, errorBody: err(`ERR_X${i}`, i % 3 === 0 ? 'SUCC-TS-SNAPSHOT' : `NOT-A-RULE-${i}`) })
    }
    const text = await m.render()
    expect(text).not.toContain('bafy')
    expect(text).not.toContain('BREW')
    expect(text).not.toContain('NOT-A-RULE')
    expect(text).toContain('dagtuf_http_requests_total{route="/ipfs/{cid}",method="GET",status="404"} 100')
    expect(text).toContain('dagtuf_http_requests_total{route="/ipfs/{cid}",method="other",status="404"} 100')
    expect(text).toContain('dagtuf_http_response_bytes_total{route="/ipfs/{cid}",method="GET",status="404"} 1000')
    const codes = new Set([...text.matchAll(/dagtuf_refusals_total\{rule="[^"]+",code="([^"]+)"\}/g)].map((x) => x[1]))
    expect(codes.size).toBe(MAX_CODES + 1)
    expect(codes.has('other')).toBe(true)
    expect(text).toMatch(/dagtuf_refusals_total\{rule="SUCC-TS-SNAPSHOT",code="ERR_X0"\} 1/)
    const roles = [...text.matchAll(/dagtuf_role_expiry_seconds\{role="([^"]+)"\} (-?\d+)/g)]
    expect(roles).toHaveLength(4 + MAX_ROLES + 1)
    expect(roles.map((x) => x[1])).toContain('role-00')
    expect(roles.map((x) => x[1])).not.toContain(`role-${MAX_ROLES}`)
    const other = roles.find((x) => x[1] === 'other')!
    expect(Number(other[2])).toBe((Date.parse(expires[`role-${MAX_ROLES}`]!) - now.getTime()) / 1000)
    expect(text).toContain('dagtuf_head_age_seconds 86400')
    // Every sample line is NAME{LABELS} VALUE, and every family has HELP and TYPE.
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) dagtuf_[a-z_]+ .+|dagtuf_[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? (-?\d+(\.\d+)?(e[-+]\d+)?|\+Inf|NaN))$/)
  })

  const describeProm = existsSync(PROMETHEUS) ? describe : describe.skip
  if (!existsSync(PROMETHEUS)) console.warn(`skipping the Prometheus scrape test: ${PROMETHEUS} is absent (apt-get install prometheus; .ci/run installs it)`)
  describeProm('scraped by a real Prometheus', () => {
    let prom: ChildProcess | undefined
    afterAll(async () => {
      if (prom !== undefined && prom.exitCode === null) {
        const exited = new Promise((resolve) => prom!.once('exit', resolve))
        prom.kill('SIGTERM')
        await exited
      }
    })

    it('Prometheus scrapes /metrics of dagtuf serve (target up) and gives back the root\'s seconds until expiry and the request counts through /api/v1/query', async () => {
      const dir = await copyOfBase()
      const startedAt = Math.floor(Date.now() / 1000)
      const server = await serveRepository(dir, {})
      try {
        const promPort = await freePort()
        const data = join(work.path, 'prom-data')
        const cfg = join(work.path, 'prometheus.yml')
        await writeFile(cfg, [
          'global:',
          '  scrape_interval: 1s',
          '  evaluation_interval: 1s',
          'scrape_configs:',
          '  - job_name: dagtuf',
          '    scrape_interval: 1s',
          '    scrape_timeout: 1s',
          '    static_configs:',
          `      - targets: ['127.0.0.1:${server.port}']`,
          ''
        ].join('\n'))
        const stderr: string[] = []
        prom = spawn(PROMETHEUS, [`--config.file=${cfg}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
        prom.stderr!.on('data', (b: Buffer) => { if (stderr.length < 200) stderr.push(b.toString('utf8')) })
        const api = `http://127.0.0.1:${promPort}/api/v1`
        // Bounded waits (up to 60 s each): Prometheus starts, scrapes every second.
        const target = await until(async () => {
          const t = JSON.parse((await httpRequest(`${api}/targets`)).body.toString('utf8')) as { data: { activeTargets: Array<{ health: string, scrapeUrl: string, lastError: string }> } }
          return t.data.activeTargets.find((x) => x.health === 'up')
        }, () => `prometheus never reported the target up: ${stderr.join('').slice(-2000)}`)
        expect(target.scrapeUrl).toBe(`${server.url}/metrics`)
        const query = async (q: string): Promise<Array<{ metric: Record<string, string>, value: [number, string] }>> => {
          const a = JSON.parse((await httpRequest(`${api}/query?query=${encodeURIComponent(q)}`)).body.toString('utf8')) as { status: string, data: { result: Array<{ metric: Record<string, string>, value: [number, string] }> } }
          expect(a.status).toBe('success')
          return a.data.result
        }
        const root = await until(async () => (await query('dagtuf_role_expiry_seconds{role="root"}'))[0], () => 'no dagtuf_role_expiry_seconds{role="root"} sample')
        expect(root.metric).toMatchObject({ job: 'dagtuf', role: 'root' })
        const expiresAt = Date.parse((await ok('status', '--dir', dir)).expires.root as string) / 1000
        const seconds = Number(root.value[1])
        // The gauge is the seconds left when it was scraped, after the test started and before the query.
        expect(seconds).toBeGreaterThanOrEqual(Math.floor(expiresAt - root.value[0]) - 1)
        expect(seconds).toBeLessThanOrEqual(expiresAt - startedAt + 1)
        const scrapes = await until(async () => (await query('dagtuf_http_requests_total{route="/metrics",status="200"}'))[0], () => 'no request count for /metrics')
        expect(Number(scrapes.value[1])).toBeGreaterThanOrEqual(1)
      } finally {
        await server.close()
      }
    }, 150_000)
  })
})

describe('health', () => {
  it('GET /healthz answers while the process serves; /readyz is 200 for a fresh head, 503 naming the role inside the horizon, 503 ERR_NO_HEAD without a head', async () => {
    const dir = await copyOfBase()
    // Ready: a fresh head (root 30d, horizon 7d; the timestamp's horizon is a quarter of its day).
    const fresh = await serveRepository(dir, {})
    try {
      expect((await httpRequest(`${fresh.url}/healthz`)).status).toBe(200)
      const ready = await httpRequest(`${fresh.url}/readyz`)
      const body = JSON.parse(ready.body.toString('utf8'))
      expect(ready.status, JSON.stringify(body)).toBe(200)
      expect(body).toMatchObject({ ready: true, warningSeconds: 7 * DAY })
      expect(body.roles.map((r: { role: string }) => r.role)).toEqual(['root', 'targets', 'snapshot', 'timestamp'])
      expect(body.roles.find((r: { role: string }) => r.role === 'timestamp').horizon).toBe(DAY / 4)
      expect((await httpRequest(`${fresh.url}/readyz`, { method: 'POST' })).status).toBe(405)
    } finally {
      await fresh.close()
    }
    // 24 days later, re-signed online: only the root (30d) is inside the horizon.
    const later = Date.now() + 24 * DAY * 1000
    const repo = await Repo.open(dir)
    try {
      expect(await new OnlineResigner({ repo, now: () => new Date(later) }).tick()).toBeDefined()
    } finally {
      await repo.close()
    }
    const aged = await serveRepository(dir, { now: () => new Date(later) })
    try {
      expect((await httpRequest(`${aged.url}/healthz`)).status).toBe(200)
      const r = await httpRequest(`${aged.url}/readyz`)
      const body = JSON.parse(r.body.toString('utf8'))
      expect(r.status).toBe(503)
      expect(body.ready).toBe(false)
      expect(body.reasons).toHaveLength(1)
      expect(body.reasons[0]).toMatchObject({ code: 'ERR_EXPIRY_HORIZON', role: 'root' })
      expect(body.reasons[0].seconds).toBeLessThan(7 * DAY)
      expect(body.reasons[0].message).toContain('root')
      // A wider horizon on the same head names more roles; status --json says the same.
      const st = await ok('status', '--dir', dir, '--now', new Date(later).toISOString())
      expect(st.horizon.warnings).toEqual(['root'])
      expect(st.horizon.roles.find((x: { role: string }) => x.role === 'root')).toMatchObject({ warn: true, expired: false, seconds: body.reasons[0].seconds })
      expect(st.horizon.roles.find((x: { role: string }) => x.role === 'targets')).toMatchObject({ warn: false })
      // No head: the head file gone while serving.
      await rm(join(dir, 'head.json'))
      const none = await httpRequest(`${aged.url}/readyz`)
      expect(none.status).toBe(503)
      expect(JSON.parse(none.body.toString('utf8')).reasons[0].code).toBe('ERR_NO_HEAD')
      expect((await httpRequest(`${aged.url}/healthz`)).status).toBe(200)
    } finally {
      await aged.close()
    }
  })

  it('GET /readyz is 503 naming the failure when the head does not verify (head.json no longer matches its DAG); /metrics says dagtuf_head_verified 0 and counts refusals by code', async () => {
    const dir = await copyOfBase()
    // A second head (snapshot and timestamp re-signed: the keys at hand).
    expect((await ok('publish', '--dir', dir)).timestamp).not.toBe((await ok('log', '--dir', dir)).entries[1].timestamp)
    const server = await serveRepository(dir, { allowPush: true })
    try {
      expect((await httpRequest(`${server.url}/readyz`)).status).toBe(200)
      expect((await httpRequest(`${server.url}/metrics`)).body.toString('utf8')).toContain('dagtuf_head_verified 1')
      // head.json names another snapshot than its timestamp's (the log's first head's).
      const head = JSON.parse(await readFile(join(dir, 'head.json'), 'utf8')) as Record<string, unknown>
      const first = JSON.parse((await readFile(join(dir, 'log.jsonl'), 'utf8')).split('\n')[0]!) as { snapshot: string }
      expect(first.snapshot).not.toBe(head.snapshot)
      await writeFile(join(dir, 'head.json'), JSON.stringify({ ...head, snapshot: first.snapshot }))
      const r = await httpRequest(`${server.url}/readyz`)
      const body = JSON.parse(r.body.toString('utf8'))
      expect(r.status).toBe(503)
      expect(body.reasons[0].code).toBe('ERR_REPO_CORRUPT')
      expect(body.reasons[0].message).toContain('does not verify')
      // A push without If-Match: refused, counted by its code (no rule).
      const refused = await httpRequest(`${server.url}/head`, { method: 'PUT', headers: { 'content-type': 'application/vnd.ipld.car', 'content-length': '0' } })
      expect(refused.status).toBe(428)
      const metrics = (await httpRequest(`${server.url}/metrics`)).body.toString('utf8')
      expect(metrics).toContain('dagtuf_head_verified 0')
      expect(metrics).not.toContain('dagtuf_role_expiry_seconds{')
      expect(metrics).toContain('dagtuf_refusals_total{rule="none",code="ERR_PRECONDITION_REQUIRED"} 1')
      expect(metrics).toContain('dagtuf_http_requests_total{route="/head",method="PUT",status="428"} 1')
      expect(metrics).toMatch(/dagtuf_http_requests_total\{route="\/readyz",method="GET",status="503"\} 1\n/)
      expect(metrics).toMatch(/\ndagtuf_http_connections [1-9]\d*\n/)
      expect(metrics).toContain('\ndagtuf_http_refused_connections_total 0\n')
    } finally {
      await server.close()
    }
    // The refusal is in the audit log too (AUDIT-REFUSALS-BOUNDED).
    const audit = await verifyAudit(dir)
    expect(audit.entries[audit.entries.length - 1]!.entry).toMatchObject({ action: 'push-refused', details: { code: 'ERR_PRECONDITION_REQUIRED', status: 428 } })
  })

  it('dagtuf status --json reports per role the seconds until expiry and the warn flag, for --expiry-warning', async () => {
    const dir = await copyOfBase()
    const st = await ok('status', '--dir', dir)
    expect(st.horizon.warningSeconds).toBe(7 * DAY)
    expect(st.horizon.warnings).toEqual([])
    const root = st.horizon.roles.find((x: { role: string }) => x.role === 'root')
    expect(root.seconds).toBeGreaterThan(29 * DAY)
    expect(root.seconds).toBeLessThanOrEqual(30 * DAY)
    expect(root).toMatchObject({ expires: st.expires.root, horizon: 7 * DAY, warn: false, expired: false })
    // A horizon wider than the root's quarter period is capped at that quarter (7.5 days): still no warning today.
    const wide = await ok('status', '--dir', dir, '--expiry-warning', '60d')
    expect(wide.horizon.roles.find((x: { role: string }) => x.role === 'root').horizon).toBe(30 * DAY / 4)
    const bad = await dagtuf('status', '--dir', dir, '--expiry-warning', 'soon')
    expect(bad.code).toBe(2)
  })
})


/** Poll `f` (every 250 ms, up to 60 s) until it gives a value. */
async function until<T> (f: () => Promise<T | undefined>, why: () => string): Promise<T> {
  const end = Date.now() + 60_000
  for (;;) {
    try {
      const v = await f()
      if (v !== undefined) return v
    } catch {}
    if (Date.now() > end) throw new Error(why())
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}
