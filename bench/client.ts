/**
 * `npm run bench:client`: a cold dagtuf client against tuf-js 5.0.1, on this
 * machine, for 1,000 and 10,000 targets.
 *
 * dagtuf: a repository made with the publisher's API, served by
 * `dagtuf serve` (a child process); each run is a fresh process over a
 * trusted-state folder that trusts only the root, which updates to the
 * timestamp CID over the loopback gateway, finds one target and downloads
 * it (bench/client-run.ts). Also measured: the same through the CLI
 * (`dagtuf client get --update`), start-up of the whole command line included.
 *
 * tuf-js: a classic TUF repository with the same targets (metadata written
 * here: canonical JSON, ed25519 via node:crypto), served by a tiny static
 * HTTP server; each run is a fresh process with only the trusted root.json
 * that runs refresh, getTargetInfo and downloadTarget.
 *
 * Reported: median wall time of RUNS runs (default 3; BENCH_RUNS), bytes
 * over HTTP (response bodies, counted by a proxy in front of each server),
 * and the peak resident set of the client process. Not a test.
 */
import '../src/polyfill.js'
import { spawn } from 'node:child_process'
import { createHash, generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, normalize, resolve } from 'node:path'
import { GatewaySource } from '../src/blocks/gateway-source.js'
import { Updater } from '../src/client/updater.js'
import { initRepo, openSession, publishStaged } from '../src/publish/engine.js'
import { addFiles } from '../src/publish/stage.js'

const ROOT = resolve(import.meta.dirname, '../..')
const BIN = join(ROOT, 'bin', 'dagtuf.js')
const RUN = join(ROOT, 'dist', 'bench', 'client-run.js')
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SIZES = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number)
const MAXRSS_HOOK = 'data:text/javascript,process.on("exit",()=>process.stdout.write("RESULT maxrss_kb="+process.resourceUsage().maxRSS+"\\n"))'

function content (i: number): string {
  return `target file number ${i}\n`.padEnd(200, '.') + '\n'
}

// ---------------------------------------------------------------------------
// HTTP: a counting proxy and a static file server

interface Counted { url: string, bytes: () => number, reset: () => void, close: () => Promise<void> }

async function listen (server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function close (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
}

/** A pass-through proxy to `upstream` that counts response body bytes. */
async function countingProxy (upstream: string): Promise<Counted> {
  let bytes = 0
  const server = createServer((req, res) => {
    const fwd = request(upstream + (req.url ?? '/'), { method: req.method, headers: { ...req.headers, host: new URL(upstream).host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.on('data', (c: Buffer) => { bytes += c.length })
      up.pipe(res)
    })
    fwd.on('error', () => { res.writeHead(502); res.end() })
    req.pipe(fwd)
  })
  const url = await listen(server)
  return { url, bytes: () => bytes, reset: () => { bytes = 0 }, close: async () => { await close(server) } }
}

/** GET files under `dir` (no listing, no escaping the folder). */
async function staticServer (dir: string): Promise<{ url: string, close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname))
    const file = join(dir, path)
    if (!file.startsWith(dir + '/')) { res.writeHead(400); res.end(); return }
    readFile(file).then((body) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
      res.end(body)
    }, () => { res.writeHead(404); res.end() })
  })
  const url = await listen(server)
  return { url, close: async () => { await close(server) } }
}

// ---------------------------------------------------------------------------
// Child processes

interface RunResult { ms: number, maxrssKb: number }

async function run (args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  const started = process.hrtime.bigint()
  return await new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      const m = /RESULT maxrss_kb=(\d+)/.exec(out)
      if (code !== 0 || m === null) reject(new Error(`${args.slice(0, 3).join(' ')} exited ${code}: ${err.slice(0, 2000)}`))
      else resolvePromise({ ms, maxrssKb: Number(m[1]) })
    })
  })
}

async function startServe (dir: string): Promise<{ url: string, stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--dir', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const url = await new Promise<string>((resolvePromise, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) resolvePromise(out.split('\n')[0]!.trim())
    })
    child.on('exit', (code) => { reject(new Error(`dagtuf serve exited ${code}`)) })
  })
  const exited = new Promise((r) => child.on('exit', r))
  return { url, stop: async () => { child.kill('SIGTERM'); await exited } }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

// ---------------------------------------------------------------------------
// dagtuf

async function dagtufRepo (work: string, n: number): Promise<{ dir: string, root: string, timestamp: string }> {
  const dir = join(work, 'dagtuf-repo')
  const files = join(work, 'files')
  await mkdir(files, { recursive: true })
  const paths: string[] = []
  for (let i = 0; i < n; i++) {
    const f = join(files, `file-${i}.txt`)
    await writeFile(f, content(i))
    paths.push(f)
  }
  const init = await initRepo(dir, { rootKeys: 1, rootThreshold: 1 })
  const root = init.head.root.toString()
  await init.repo.close()
  const session = await openSession(dir, { lock: true })
  try {
    await addFiles(session, paths, { path: 'pkg' })
    const r = await publishStaged(session)
    if (r.kind !== 'published') throw new Error('publish did not complete')
    return { dir, root, timestamp: r.head.timestamp.toString() }
  } finally {
    await session.repo.close()
  }
}

// ---------------------------------------------------------------------------
// Classic TUF metadata, written here

/** OLPC canonical JSON as TUF uses it (keys sorted; our values are ASCII). */
function canonical (v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
}

interface ClassicKey { id: string, key: Record<string, unknown>, priv: KeyObject }

function classicKey (): ClassicKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex')
  const key = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: pub } }
  return { id: createHash('sha256').update(canonical(key)).digest('hex'), key, priv: privateKey }
}

function signed (body: Record<string, unknown>, k: ClassicKey): string {
  const sig = edSign(null, Buffer.from(canonical(body)), k.priv).toString('hex')
  return JSON.stringify({ signatures: [{ keyid: k.id, sig }], signed: body })
}

async function classicRepo (work: string, n: number): Promise<{ dir: string, rootJson: string }> {
  const dir = join(work, 'classic')
  await mkdir(join(dir, 'metadata'), { recursive: true })
  await mkdir(join(dir, 'targets', 'pkg'), { recursive: true })
  const expires = new Date(Date.now() + 30 * 86400_000).toISOString().slice(0, 19) + 'Z'
  const keys = { root: classicKey(), targets: classicKey(), snapshot: classicKey(), timestamp: classicKey() }
  const root = {
    _type: 'root',
    spec_version: '1.0.31',
    version: 1,
    expires,
    consistent_snapshot: false,
    keys: Object.fromEntries(Object.values(keys).map((k) => [k.id, k.key])),
    roles: Object.fromEntries(Object.entries(keys).map(([r, k]) => [r, { keyids: [k.id], threshold: 1 }]))
  }
  const targets: Record<string, unknown> = {}
  for (let i = 0; i < n; i++) {
    const body = Buffer.from(content(i))
    await writeFile(join(dir, 'targets', 'pkg', `file-${i}.txt`), body)
    targets[`pkg/file-${i}.txt`] = { length: body.length, hashes: { sha256: createHash('sha256').update(body).digest('hex') } }
  }
  const rootJson = signed(root, keys.root)
  await writeFile(join(dir, 'metadata', '1.root.json'), rootJson)
  await writeFile(join(dir, 'metadata', 'root.json'), rootJson)
  await writeFile(join(dir, 'metadata', 'targets.json'), signed({ _type: 'targets', spec_version: '1.0.31', version: 1, expires, targets }, keys.targets))
  await writeFile(join(dir, 'metadata', 'snapshot.json'), signed({ _type: 'snapshot', spec_version: '1.0.31', version: 1, expires, meta: { 'targets.json': { version: 1 } } }, keys.snapshot))
  await writeFile(join(dir, 'metadata', 'timestamp.json'), signed({ _type: 'timestamp', spec_version: '1.0.31', version: 1, expires, meta: { 'snapshot.json': { version: 1 } } }, keys.timestamp))
  return { dir, rootJson }
}

// ---------------------------------------------------------------------------

interface Row { targets: number, client: string, ms: number, bytes: number, rssMb: number }

async function benchSize (n: number): Promise<Row[]> {
  const work = await mkdtemp(join(tmpdir(), `dagtuf-bench-${n}-`))
  const rows: Row[] = []
  try {
    process.stderr.write(`[${n}] building a dagtuf repository and a classic TUF repository...\n`)
    let t0 = Date.now()
    const repo = await dagtufRepo(work, n)
    process.stderr.write(`[${n}]   dagtuf publish: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
    t0 = Date.now()
    const classic = await classicRepo(work, n)
    process.stderr.write(`[${n}]   classic metadata: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
    const path = `pkg/file-${Math.floor(n / 2)}.txt`

    // dagtuf: serve, a counting proxy, a client folder that trusts only the root.
    const serve = await startServe(repo.dir)
    const proxy = await countingProxy(serve.url)
    const template = join(work, 'client-template')
    await (await Updater.create({ dir: template, source: new GatewaySource(serve.url) })).init(repo.root)
    try {
      for (const [client, argsOf] of [
        ['dagtuf (library, fresh process)', (dir: string, out: string) => [RUN, 'dagtuf', dir, proxy.url, repo.timestamp, path, out]],
        ['dagtuf (CLI: client get --update)', (dir: string, out: string) => ['--import', MAXRSS_HOOK, BIN, 'client', 'get', '--dir', dir, '--update', '--timestamp', repo.timestamp, '--gateway', proxy.url, path, '-o', out]]
      ] as const) {
        const ms: number[] = []
        const rss: number[] = []
        let bytes = 0
        for (let i = 0; i < RUNS; i++) {
          const dir = join(work, `client-${client.length}-${i}`)
          await cp(template, dir, { recursive: true })
          proxy.reset()
          const r = await run([...argsOf(dir, join(work, 'out', `${i}.txt`))])
          ms.push(r.ms)
          rss.push(r.maxrssKb)
          bytes = proxy.bytes()
          const got = await readFile(join(work, 'out', `${i}.txt`), 'utf8')
          if (got !== content(Math.floor(n / 2))) throw new Error('dagtuf downloaded the wrong bytes')
        }
        rows.push({ targets: n, client, ms: median(ms), bytes, rssMb: median(rss) / 1024 })
        process.stderr.write(`[${n}]   ${client}: ${ms.map((x) => x.toFixed(0)).join(', ')} ms\n`)
      }
    } finally {
      await proxy.close()
      await serve.stop()
    }

    // tuf-js against the classic repository.
    const server = await staticServer(classic.dir)
    const cproxy = await countingProxy(server.url)
    try {
      const ms: number[] = []
      const rss: number[] = []
      let bytes = 0
      for (let i = 0; i < RUNS; i++) {
        const meta = join(work, `tufjs-${i}`, 'metadata')
        await mkdir(meta, { recursive: true })
        await writeFile(join(meta, 'root.json'), classic.rootJson)
        cproxy.reset()
        const out = join(work, `tufjs-${i}`, 'targets', 'file.txt')
        const r = await run([RUN, 'tufjs', meta, cproxy.url, path, out])
        ms.push(r.ms)
        rss.push(r.maxrssKb)
        bytes = cproxy.bytes()
        if (await readFile(out, 'utf8') !== content(Math.floor(n / 2))) throw new Error('tuf-js downloaded the wrong bytes')
        process.stderr.write(`[${n}]   tuf-js run ${i + 1}: ${r.ms.toFixed(0)} ms\n`)
      }
      rows.push({ targets: n, client: 'tuf-js 5.0.1 (fresh process)', ms: median(ms), bytes, rssMb: median(rss) / 1024 })
    } finally {
      await cproxy.close()
      await server.close()
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return rows
}

const rows: Row[] = []
for (const n of SIZES) rows.push(...await benchSize(n))

const header = ['targets', 'client', 'median wall (ms)', 'bytes over HTTP', 'peak RSS (MB)']
const table = rows.map((r) => [r.targets.toLocaleString('en-US'), r.client, r.ms.toFixed(0), r.bytes.toLocaleString('en-US'), r.rssMb.toFixed(1)])
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)))
const line = (cells: string[]): string => `| ${cells.map((c, i) => i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join(' | ')} |`
console.log(`\ncold client: update/refresh + find one target + download it; median of ${RUNS} runs on this machine (node ${process.version})\n`)
console.log(line(header))
console.log(`|${widths.map((w, i) => (i >= 2 ? '-'.repeat(w + 1) + ':' : ':' + '-'.repeat(w + 1))).join('|')}|`)
for (const t of table) console.log(line(t))
