/**
 * Shared parts of the client benchmarks (`npm run bench:client`,
 * `npm run bench:scale`): HTTP helpers (a counting proxy, a static file
 * server), child processes measured from outside (wall time, peak RSS),
 * `dagtuf serve` as a child, and classic TUF metadata written here for
 * tuf-js (canonical JSON, ed25519 via node:crypto). Not a test.
 */
import { existsSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { createHash, generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, normalize, resolve } from 'node:path'
import { PEAK_RSS_HOOK } from './peak-rss.js'
import { initRepo, openSession, publishStaged } from '../src/publish/engine.js'
import { addFiles } from '../src/publish/stage.js'

export const ROOT = resolve(import.meta.dirname, '../..')
export const BIN = join(ROOT, 'bin', 'dagtuf.js')
/** The `dagtuf` command as a user runs it: the launcher, which starts the client commands from their snapshot (bin/dagtuf). */
export const LAUNCHER = join(ROOT, 'bin', 'dagtuf')
/** GNU time, which reports the peak RSS of a command that is not ours to instrument (the launcher's snapshot takes no --import). */
export const GNU_TIME = '/usr/bin/time'
export const RUN = join(ROOT, 'dist', 'bench', 'client-run.js')
/** A preload that prints the peak RSS when a process exits (for the CLI, which prints its own output). */
export const MAXRSS_HOOK = PEAK_RSS_HOOK

/** The bytes of target file number `i` (200 bytes). */
export function content (i: number): string {
  return `target file number ${i}\n`.padEnd(200, '.') + '\n'
}

/** Write target files 0..n-1 into `dir` (created); their paths, in order. */
export async function writeTargetFiles (dir: string, n: number): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const paths: string[] = []
  for (let i = 0; i < n; i++) {
    const f = join(dir, `file-${i}.txt`)
    await writeFile(f, content(i))
    paths.push(f)
  }
  return paths
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

// ---------------------------------------------------------------------------
// HTTP: a counting proxy and a static file server

export interface Counted {
  url: string
  /** Response body bytes since the last reset. */
  bytes: () => number
  /** Requests since the last reset. */
  requests: () => number
  reset: () => void
  close: () => Promise<void>
}

export async function listen (server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

export async function closeServer (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
}

/** A pass-through proxy to `upstream` that counts requests and response body bytes. */
export async function countingProxy (upstream: string): Promise<Counted> {
  let bytes = 0
  let requests = 0
  const server = createServer((req, res) => {
    requests++
    const fwd = request(upstream + (req.url ?? '/'), { method: req.method, headers: { ...req.headers, host: new URL(upstream).host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.on('data', (c: Buffer) => { bytes += c.length })
      up.pipe(res)
    })
    fwd.on('error', () => { res.writeHead(502); res.end() })
    req.pipe(fwd)
  })
  const url = await listen(server)
  return {
    url,
    bytes: () => bytes,
    requests: () => requests,
    reset: () => { bytes = 0; requests = 0 },
    close: async () => { await closeServer(server) }
  }
}

/** GET files under `dir` (no listing, no escaping the folder). */
export async function staticServer (dir: string): Promise<{ url: string, close: () => Promise<void> }> {
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
  return { url, close: async () => { await closeServer(server) } }
}

// ---------------------------------------------------------------------------
// Child processes

export interface RunResult {
  ms: number
  maxrssKb: number
  /** Every `RESULT key=value` line the child printed. */
  results: Record<string, string>
}

export class RunTimeout extends Error {}

/**
 * Run `node ...args` (or `command ...args`) to completion; wall time is measured from spawn to exit.
 * The child must print `RESULT maxrss_kb=N` (its own peak RSS: bench/peak-rss.ts). With `timeoutMs`, a child still
 * running then is killed and RunTimeout is thrown.
 */
export async function run (args: string[], options: { env?: NodeJS.ProcessEnv, timeoutMs?: number, command?: string } = {}): Promise<RunResult> {
  const started = process.hrtime.bigint()
  return await new Promise((resolvePromise, reject) => {
    const child = spawn(options.command ?? process.execPath, args, { cwd: ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    let timedOut = false
    const timer = options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, options.timeoutMs)
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('exit', (code) => {
      if (timer !== undefined) clearTimeout(timer)
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      if (timedOut) { reject(new RunTimeout(`${args.slice(0, 3).join(' ')} killed after ${options.timeoutMs} ms`)); return }
      const results: Record<string, string> = {}
      // GNU time (-f 'RESULT maxrss_kb=%M') writes on stderr.
      for (const m of (out + '\n' + err).matchAll(/^RESULT (\w+)=(.*)$/gm)) results[m[1]!] = m[2]!
      if (code !== 0 || results.maxrss_kb === undefined) reject(new Error(`${args.slice(0, 3).join(' ')} exited ${code}: ${err.slice(0, 2000)}`))
      else resolvePromise({ ms, maxrssKb: Number(results.maxrss_kb), results })
    })
  })
}

/** `dagtuf serve --dir DIR` as a child process; resolves once it prints its URL. */
export async function startServe (dir: string): Promise<{ url: string, stop: () => Promise<void> }> {
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

// ---------------------------------------------------------------------------
// Classic TUF metadata, written here

/** OLPC canonical JSON as TUF uses it (keys sorted; our values are ASCII). */
export function canonical (v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
}

export interface ClassicKey { id: string, key: Record<string, unknown>, priv: KeyObject }

export function classicKey (): ClassicKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex')
  const key = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: pub } }
  return { id: createHash('sha256').update(canonical(key)).digest('hex'), key, priv: privateKey }
}

export function signed (body: Record<string, unknown>, k: ClassicKey): string {
  const sig = edSign(null, Buffer.from(canonical(body)), k.priv).toString('hex')
  return JSON.stringify({ signatures: [{ keyid: k.id, sig }], signed: body })
}

export interface ClassicTarget { path: string, body: string }

/**
 * A classic TUF repository (consistent_snapshot false: metadata/root.json,
 * timestamp.json, snapshot.json, targets.json; targets/PATH) that tuf-js
 * reads. Targets are given as (path, index); only the files listed in
 * `files` are written to disk (a client downloads only those), every target
 * is listed in targets.json with its length and sha256.
 */
export class ClassicRepo {
  readonly keys = { root: classicKey(), targets: classicKey(), snapshot: classicKey(), timestamp: classicKey() }
  readonly expires = new Date(Date.now() + 30 * 86400_000).toISOString().slice(0, 19) + 'Z'
  readonly targets: Record<string, { length: number, hashes: { sha256: string } }> = {}
  version = 0
  rootJson = ''

  constructor (readonly dir: string) {}

  /** List a target (and write its file when `write`). */
  async add (path: string, body: string, write: boolean): Promise<void> {
    const bytes = Buffer.from(body)
    this.targets[path] = { length: bytes.length, hashes: { sha256: createHash('sha256').update(bytes).digest('hex') } }
    if (write) {
      const file = join(this.dir, 'targets', path)
      await mkdir(join(file, '..'), { recursive: true })
      await writeFile(file, bytes)
    }
  }

  /** Write the root (first time) and a new version of targets, snapshot and timestamp. */
  async publish (): Promise<void> {
    const { keys, expires, dir } = this
    await mkdir(join(dir, 'metadata'), { recursive: true })
    if (this.version === 0) {
      const root = {
        _type: 'root',
        spec_version: '1.0.31',
        version: 1,
        expires,
        consistent_snapshot: false,
        keys: Object.fromEntries(Object.values(keys).map((k) => [k.id, k.key])),
        roles: Object.fromEntries(Object.entries(keys).map(([r, k]) => [r, { keyids: [k.id], threshold: 1 }]))
      }
      this.rootJson = signed(root, keys.root)
      await writeFile(join(dir, 'metadata', '1.root.json'), this.rootJson)
      await writeFile(join(dir, 'metadata', 'root.json'), this.rootJson)
    }
    const version = ++this.version
    // Lengths in snapshot and timestamp: tuf-js then reads up to them instead
    // of its defaults (targets.json over 5 MB is refused without one).
    const targets = signed({ _type: 'targets', spec_version: '1.0.31', version, expires, targets: this.targets }, keys.targets)
    const snapshot = signed({ _type: 'snapshot', spec_version: '1.0.31', version, expires, meta: { 'targets.json': { version, length: Buffer.byteLength(targets) } } }, keys.snapshot)
    const timestamp = signed({ _type: 'timestamp', spec_version: '1.0.31', version, expires, meta: { 'snapshot.json': { version, length: Buffer.byteLength(snapshot) } } }, keys.timestamp)
    await writeFile(join(dir, 'metadata', 'targets.json'), targets)
    await writeFile(join(dir, 'metadata', 'snapshot.json'), snapshot)
    await writeFile(join(dir, 'metadata', 'timestamp.json'), timestamp)
  }
}

/**
 * Where a benchmark writes its results: bench/results/<name>-<date>.md, or
 * <name>-<date>-<HHMM>.md when a run of the same day is already there, or
 * -<HHMMSS>.md (then -<HHMMSS>-2 ...) within the same minute (a later run must
 * not overwrite an earlier one's figures).
 */
export function resultsFile (name: string, startedAt: Date): string {
  const iso = startedAt.toISOString()
  const at = (suffix: string): string => join(ROOT, 'bench', 'results', `${name}-${iso.slice(0, 10)}${suffix}.md`)
  const hhmm = `${iso.slice(11, 13)}${iso.slice(14, 16)}`
  const hhmmss = `${hhmm}${iso.slice(17, 19)}`
  // Runs of the same day, then of the same minute (three bench:catchup runs once overwrote each other), keep their own files.
  for (const suffix of ['', `-${hhmm}`, `-${hhmmss}`]) if (!existsSync(at(suffix))) return at(suffix)
  for (let i = 2; ; i++) if (!existsSync(at(`-${hhmmss}-${i}`))) return at(`-${hhmmss}-${i}`)
}

/**
 * A repository in `dir` (one root key) with `n` target files, written under
 * `filesDir`, published under pkg/: what several benchmarks start from.
 */
export async function benchRepo (dir: string, filesDir: string, n: number): Promise<{ root: string, timestamp: string }> {
  const paths = await writeTargetFiles(filesDir, n)
  const init = await initRepo(dir, { rootKeys: 1, rootThreshold: 1 })
  const root = init.head.root.toString()
  await init.repo.close()
  const session = await openSession(dir, { lock: true })
  try {
    await addFiles(session, paths, { path: 'pkg' })
    const r = await publishStaged(session)
    if (r.kind !== 'published') throw new Error('publish did not complete')
    return { root, timestamp: r.head.timestamp.toString() }
  } finally {
    await session.repo.close()
  }
}
