/**
 * `npm run bench:catchup` — what an update costs a client that is behind
 * (issue 9) and one that is cold at PEP 458 scale (issue 8, item 6). Not a
 * test: it prints a table of measured figures.
 *
 * The repositories are built in process, straight from the model's builders
 * (no CLI, no disk for the repository): a memory block store that counts the
 * blocks and bytes a client asks for. The client is the real Updater with a
 * real trusted-state folder in a temporary directory (its cache writes are
 * durable, as in use).
 *
 * Scenarios (each in this process, one after the other; `--quick` shrinks them;
 * `--refresh-only K`, `--one-target-only N K` and `--bins-only B [K [M]]` run one;
 * with `--process`, `--variants defaults,frugal,cli` picks the client processes):
 *   refresh-only   K publishes that change nothing but the snapshot and
 *                  timestamp (3 delegated roles): a client at the first
 *                  catches up to the last.
 *   one-target     a repository of N targets in the top-level role, then K
 *                  publishes that each change one target: catch-up.
 *   bins           2^b succinct hash bins holding M targets: a cold update,
 *                  one lookup, then K publishes that each change one bin and
 *                  a catch-up.
 * Columns: blocks and bytes fetched, rounds (sequential round trips, an upper
 * bound: a request made after one of depth d completed has depth d + 1;
 * `--latency MS` delays each request as a network would), chained (round
 * trips by data dependency: one more than the response that first named the
 * CID asked for), the bytes of the objects and nodes that
 * changed (the lower bound for any client), wall time, and the growth of the
 * process's peak RSS (VmHWM) during the update. The table also goes to
 * bench/results/catchup-<date>.md.
 */
import '../src/polyfill.js'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { linksOf } from '../src/blocks/closure.js'
import { MemoryBlockStore } from '../src/blocks/memory.js'
import type { BlockSource, GetOptions } from '../src/blocks/types.js'
import { Updater } from '../src/client/updater.js'
import { expiresIn, makeRoot, makeSnapshot, makeTargets, makeTimestamp, type RoleSpec } from '../src/model/build.js'
import { CID as CIDClass } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { CODEC_RAW, HASH_SHA2_256, sha256 } from '../src/model/hash.js'
import { keyPairFromSeed, seedSigner, type KeyPair } from '../src/model/keys.js'
import { signEnvelope } from '../src/model/sign.js'
import { GNU_TIME, LAUNCHER, resultsFile } from './common.js'
import type { Envelope, Signed, SnapshotSigned, TargetInfo } from '../src/model/types.js'
import { binName, binOfHash } from '../src/model/delegations.js'
import { ShardReader, buildRolesMap, buildTargetsMap, emptyMap, targetsCodec, updateMap, type ShardBlock } from '../src/shard/index.js'
import { pathHash } from '../src/validate/delegation.js'

const QUICK = process.argv.includes('--quick')
/** Lines printed before the table. */
const notes: string[] = []
/** --process: each catch-up runs in a fresh client process over loopback HTTP (its own peak RSS). */
const PROCESS = process.argv.includes('--process')
/** --variants a,b: which of the --process variants to run (defaults, frugal, cli; all by default). */
const variantsAt = process.argv.indexOf('--variants')
const VARIANTS = (variantsAt >= 0 ? (process.argv[variantsAt + 1] ?? '').split(',') : ['defaults', 'frugal', 'cli']).map((v) => {
  if (v !== 'defaults' && v !== 'frugal' && v !== 'cli') throw new Error(`--variants: ${v} is not defaults, frugal or cli`)
  return v
})
const latencyAt = process.argv.indexOf('--latency')
/** Delay of each request (--latency MS): a stand-in for a network's round trip. */
const LATENCY_MS = latencyAt >= 0 ? Number(process.argv[latencyAt + 1]) : 0
const NOW = new Date()

function vmHwmKiB (): number {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))
  return m === null ? 0 : Number(m[1])
}

/** A counting source over a memory store. */
class Counting implements BlockSource {
  blocks = 0
  bytes = 0
  /**
   * Sequential round trips, an upper bound: each request's depth is one more
   * than the deepest request that had completed when it was made (whatever
   * it waited for came back at that depth or before); `rounds` is the
   * deepest. A walk that fetches one block at a time scores one per block.
   */
  rounds = 0
  /**
   * Round trips by data dependency: a request's depth is one more than that
   * of the first response that named its CID (a link inside a served block;
   * a CID no served block named, such as the head's, is at depth 1), and
   * `chained` is the deepest. It is the chain of requests that each had to
   * wait for the one before, whatever else the client did meanwhile; what
   * `rounds` adds to it is the client's own pacing (its prefetch window
   * refills when the walk has used half of it, and counts as one more round
   * each time, with nothing to wait for on the network).
   */
  chained = 0
  #completed = 0
  /** CID → depth of the first served block that links to it. */
  readonly #named = new Map<string, number>()
  constructor (readonly store: MemoryBlockStore, readonly latencyMs = LATENCY_MS) {}
  async get (cid: CID, o?: GetOptions): Promise<Uint8Array> {
    const depth = this.#completed + 1
    const chained = (this.#named.get(cid.toString()) ?? 0) + 1
    try {
      // The network's delay (--latency MS), or at least one turn of the event loop,
      // so that requests made together overlap as they would on a wire.
      await new Promise((resolve) => this.latencyMs > 0 ? setTimeout(resolve, this.latencyMs) : setImmediate(resolve))
      const b = await this.store.get(cid, o)
      this.blocks++
      this.bytes += b.length
      for (const link of linksOf(cid, b)) {
        const k = link.toString()
        if (!this.#named.has(k)) this.#named.set(k, chained)
      }
      this.chained = Math.max(this.chained, chained)
      return b
    } finally {
      this.#completed = Math.max(this.#completed, depth)
      this.rounds = Math.max(this.rounds, depth)
    }
  }

  reset (): void { this.blocks = 0; this.bytes = 0; this.rounds = 0; this.chained = 0; this.#completed = 0; this.#named.clear() }
}

let seedNo = 1
function key (): KeyPair {
  const s = new Uint8Array(32)
  s[0] = seedNo & 0xff
  s[1] = (seedNo >> 8) & 0xff
  s[31] = 0x42
  seedNo++
  return keyPairFromSeed(s)
}

/** A repository built straight from the model (one key a role). */
class Repo {
  readonly store = new MemoryBlockStore()
  /** Bytes written since the last `mark()`: what changed. */
  written = 0
  readonly sink = (b: ShardBlock): void => { this.put(b.cid, b.bytes) }
  readonly keys = { root: key(), targets: key(), snapshot: key(), timestamp: key() }
  readonly reader = new ShardReader(this.store, targetsCodec)
  rootCid!: CID
  targets!: Envelope
  targetsMap!: CID
  delegations: Parameters<typeof makeTargets>[0]['delegations'] | undefined
  succinct: Parameters<typeof makeTargets>[0]['succinct'] | undefined
  roles = new Map<string, Envelope>()
  roleMaps = new Map<string, CID>()
  snapshot: Envelope<SnapshotSigned> | null = null
  timestamp!: Envelope

  readonly #seen = new Set<string>()
  put (cid: CID, bytes: Uint8Array): void {
    const k = cid.toString()
    if (this.#seen.has(k)) return
    this.#seen.add(k)
    this.written += bytes.length
    this.store.unsafePut(cid, bytes)
  }

  readonly #signers = new Map<string, ReturnType<typeof seedSigner>>()
  async sign<S extends Signed> (signed: S, k: KeyPair): Promise<Envelope<S>> {
    let signer = this.#signers.get(k.keyid)
    if (signer === undefined) this.#signers.set(k.keyid, signer = seedSigner(k.seed))
    const env = await signEnvelope(signed, [signer])
    this.put(env.cid, env.bytes)
    return env
  }

  async init (targets: Iterable<readonly [string, TargetInfo]>): Promise<void> {
    const spec = (k: KeyPair): RoleSpec => ({ keys: [k.publicKey], threshold: 1 })
    const root = await this.sign(makeRoot({ expires: expiresIn(NOW, 365 * 86400), roles: { root: spec(this.keys.root), targets: spec(this.keys.targets), snapshot: spec(this.keys.snapshot), timestamp: spec(this.keys.timestamp) } }), this.keys.root)
    this.rootCid = root.cid
    this.targetsMap = buildTargetsMap(targets, this.sink).root
    await this.signTargets(null)
  }

  async signTargets (prev: CID | null): Promise<void> {
    this.targets = await this.sign(makeTargets({
      expires: expiresIn(NOW, 90 * 86400),
      previousVersion: prev,
      targets: this.targetsMap,
      ...(this.delegations !== undefined ? { delegations: this.delegations } : {}),
      ...(this.succinct !== undefined ? { succinct: this.succinct } : {})
    }), this.keys.targets)
  }

  async setRole (name: string, k: KeyPair, entries: Iterable<readonly [string, TargetInfo]> | Map<string, TargetInfo | null>): Promise<void> {
    const old = this.roles.get(name)
    let map: CID
    if (old !== undefined && entries instanceof Map) map = (await updateMap(this.reader, this.roleMaps.get(name)!, entries as Map<string, TargetInfo | null>, this.sink)).root
    else map = buildTargetsMap(entries as Iterable<readonly [string, TargetInfo]>, this.sink).root
    this.roleMaps.set(name, map)
    this.roles.set(name, await this.sign(makeTargets({ expires: expiresIn(NOW, 90 * 86400), previousVersion: old?.cid ?? null, targets: map }), k))
  }

  async publish (): Promise<CID> {
    const dt = buildRolesMap([...this.roles].map(([n, e]) => [n, e.cid] as const), this.sink).root
    const ret = emptyMap()
    this.sink(ret)
    this.snapshot = await this.sign(makeSnapshot({ expires: expiresIn(NOW, 7 * 86400), previous: this.snapshot ?? null, root: this.rootCid, targets: this.targets.cid, delegatedTargets: dt, retired: ret.cid }), this.keys.snapshot)
    this.timestamp = await this.sign(makeTimestamp({ expires: expiresIn(NOW, 86400), snapshot: this.snapshot.cid }), this.keys.timestamp)
    return this.timestamp.cid
  }

  async changeTopTarget (path: string, i: number): Promise<void> {
    this.targetsMap = (await updateMap(this.reader, this.targetsMap, new Map([[path, info(`changed ${i} ${path}`)]]), this.sink)).root
    await this.signTargets(this.targets.cid)
  }
}

function info (text: string): TargetInfo {
  const bytes = new TextEncoder().encode(text)
  return { cid: CIDClass.createV1(CODEC_RAW, Digest.create(HASH_SHA2_256, sha256(bytes))), length: bytes.length }
}

interface Row { scenario: string, what: string, blocks: number, rounds: number, chained: number, bytes: number, changed: number, ms: number, rssMiB: number, total?: boolean }
const rows: Row[] = []

/**
 * A catch-up in a fresh process: the repository's blocks served over loopback
 * HTTP as a trustless gateway (`/ipfs/CID?format=raw`) from this process, the
 * client (bench/catchup-client.ts) refreshing its state folder to `head`.
 * Blocks, bytes and rounds are counted here as requests arrive.
 */
async function measureProcess (scenario: string, what: string, changed: number, src: Counting, dir: string, head: CID): Promise<void> {
  src.reset()
  const server = createServer((req, res) => {
    const m = /^\/ipfs\/([a-z0-9]+)\?format=raw$/.exec(req.url ?? '')
    if (m === null) { res.statusCode = 404; res.end(); return }
    src.get(CIDClass.parse(m[1]!)).then((bytes) => {
      res.setHeader('content-type', 'application/vnd.ipld.raw')
      res.end(bytes)
    }, () => { res.statusCode = 404; res.end() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const script = fileURLToPath(new URL('./catchup-client.js', import.meta.url))
    // Three times, each from a copy of the same state: the library with its
    // defaults; the library after frugalHeap(), as the dagtuf CLI's client
    // commands call it; and the `dagtuf client update` command as a user
    // runs it (bin/dagtuf: the client's start-up snapshot), under GNU time
    // for its peak RSS.
    for (const variant of VARIANTS) {
      const copy = `${dir}-${variant}`
      await cp(dir, copy, { recursive: true })
      src.reset()
      let out: { ms: number, vmHwmMiB: number }
      if (variant === 'cli') {
        const t0 = performance.now()
        const { stderr } = await promisify(execFile)(GNU_TIME, ['-f', 'RESULT maxrss_kb=%M', LAUNCHER, 'client', 'update', '--dir', copy, '--gateway', url, '--timestamp', head.toString()], { maxBuffer: 1 << 20 })
        const kb = /^RESULT maxrss_kb=(\d+)$/m.exec(stderr)
        if (kb === null) throw new Error(`no peak RSS from GNU time: ${stderr.slice(0, 500)}`)
        out = { ms: performance.now() - t0, vmHwmMiB: Number(kb[1]) / 1024 }
      } else {
        const { stdout } = await promisify(execFile)(process.execPath, [script, copy, url, head.toString(), variant], { maxBuffer: 1 << 20 })
        out = JSON.parse(stdout.trim().split('\n').pop()!) as { ms: number, vmHwmMiB: number }
      }
      await rm(copy, { recursive: true, force: true })
      const label = `${what} (${variant === 'cli' ? '`dagtuf client update`, whole process' : variant === 'frugal' ? 'frugalHeap(), as the CLI' : 'library defaults'})`
      rows.push({ scenario, what: label, blocks: src.blocks, rounds: src.rounds, chained: src.chained, bytes: src.bytes, changed, ms: out.ms, rssMiB: out.vmHwmMiB, total: true })
      console.error(`${scenario} / ${label} (own process): ${src.blocks} blocks in ${src.rounds} rounds (${src.chained} chained), ${src.bytes} B, ${out.ms.toFixed(0)} ms, peak RSS ${out.vmHwmMiB.toFixed(0)} MiB`)
    }
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
}

async function measure (scenario: string, what: string, changed: number, src: Counting, body: () => Promise<unknown>): Promise<void> {
  src.reset()
  global.gc?.()
  const before = vmHwmKiB()
  const t0 = performance.now()
  await body()
  const ms = performance.now() - t0
  rows.push({ scenario, what, blocks: src.blocks, rounds: src.rounds, chained: src.chained, bytes: src.bytes, changed, ms, rssMiB: Math.max(0, vmHwmKiB() - before) / 1024 })
  console.error(`${scenario} / ${what}: ${src.blocks} blocks in ${src.rounds} rounds (${src.chained} chained), ${src.bytes} B (changed ${changed} B), ${ms.toFixed(0)} ms`)
}

async function client (repo: Repo, src: Counting): Promise<{ up: Updater, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'dagtuf-catchup-'))
  const up = await Updater.create({ dir, source: src })
  await up.init(repo.rootCid)
  return { up, dir }
}

async function refreshOnly (k: number): Promise<void> {
  const repo = new Repo()
  await repo.init([['app.tgz', info('app')]])
  const roleKeys = new Map(['a', 'b', 'c'].map((n) => [n, key()]))
  for (const [n, k] of roleKeys) await repo.setRole(n, k, [[`${n}/x`, info(n)]])
  repo.delegations = [...roleKeys].map(([n, k]) => ({ name: n, keys: [k.publicKey], threshold: 1, terminating: false, paths: [`${n}/*`] }))
  await repo.signTargets(null)
  const first = await repo.publish()
  const src = new Counting(repo.store)
  const { up, dir } = await client(repo, src)
  try {
    await up.refresh(first)
    repo.written = 0
    for (let i = 0; i < k; i++) await repo.publish()
    if (PROCESS) await measureProcess(`refresh-only K=${k}`, 'catch-up', repo.written, src, dir, repo.timestamp.cid)
    else await measure(`refresh-only K=${k}`, 'catch-up', repo.written, src, async () => await up.refresh(repo.timestamp.cid))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function oneTarget (n: number, k: number): Promise<void> {
  const repo = new Repo()
  await repo.init(Array.from({ length: n }, (_, i) => [`pkg/${i}.tgz`, info(`t${i}`)] as const))
  const first = await repo.publish()
  const src = new Counting(repo.store)
  const { up, dir } = await client(repo, src)
  try {
    await measure(`one-target N=${n}`, 'cold update', 0, src, async () => await up.refresh(first))
    repo.written = 0
    for (let i = 0; i < k; i++) {
      await repo.changeTopTarget(`pkg/${(i * 7919) % n}.tgz`, i)
      await repo.publish()
    }
    if (PROCESS) await measureProcess(`one-target N=${n} K=${k}`, 'catch-up', repo.written, src, dir, repo.timestamp.cid)
    else await measure(`one-target N=${n} K=${k}`, 'catch-up', repo.written, src, async () => await up.refresh(repo.timestamp.cid))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function bins (bits: number, m: number, k: number): Promise<void> {
  const repo = new Repo()
  const binKey = key()
  repo.succinct = { keys: [binKey.publicKey], threshold: 1, bitLength: bits, namePrefix: 'bins' }
  await repo.init([])
  const spec = { bitLength: bits, namePrefix: 'bins' }
  const per = new Map<string, Array<readonly [string, TargetInfo]>>()
  for (let i = 0; i < (1 << bits); i++) per.set(binName(spec, i), [])
  for (let i = 0; i < m; i++) {
    const p = `packages/p${i}/p${i}-1.0.tar.gz`
    per.get(binName(spec, binOfHash(bits, pathHash(p))))!.push([p, info(p)])
  }
  const t0 = performance.now()
  for (const [name, entries] of per) await repo.setRole(name, binKey, entries)
  const first = await repo.publish()
  console.error(`bins 2^${bits}: built ${m} targets in ${(performance.now() - t0).toFixed(0)} ms`)
  const src = new Counting(repo.store)
  const { up, dir } = await client(repo, src)
  try {
    await measure(`bins 2^${bits}, ${m} targets`, 'cold update', 0, src, async () => await up.refresh(first))
    await measure(`bins 2^${bits}, ${m} targets`, 'one lookup', 0, src, async () => {
      const got = await up.getTargetInfo('packages/p7/p7-1.0.tar.gz')
      if (got === null) throw new Error('lookup failed')
    })
    repo.written = 0
    for (let i = 0; i < k; i++) {
      const p = `packages/new${i}/new${i}-1.0.tar.gz`
      const name = binName(spec, binOfHash(bits, pathHash(p)))
      await repo.setRole(name, binKey, new Map([[p, info(p)]]))
      await repo.publish()
    }
    if (PROCESS) await measureProcess(`bins 2^${bits} K=${k}`, 'catch-up', repo.written, src, dir, repo.timestamp.cid)
    else await measure(`bins 2^${bits} K=${k}`, 'catch-up', repo.written, src, async () => await up.refresh(repo.timestamp.cid))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * A delegated role whose legal patterns cost the matcher many steps
 * (issue 9: "the catch-up cost across 100 snapshots that do not change that
 * role must be within 2x of a single update's"). An update checks VALID_top
 * only; a delegated role's paths are matched against its patterns when a
 * search visits it (VALID-DELEG-PATHS, BOUND-GLOB). So: the same catch-up
 * over K snapshots that leave the role alone, once with the costly patterns
 * and once with one cheap pattern, compared; and the costly catch-up again
 * under a glob budget of ONE step (it must pass: no pattern is matched),
 * then a lookup in the role under that budget (refused: that is where the
 * patterns cost).
 */
async function costlyPatterns (k: number): Promise<void> {
  const costly = [...Array.from({ length: 16 }, (_, i) => '*' + 'a'.repeat(200) + `b${i}*`), 'pkgs/*']
  for (const [label, patterns] of [['16 costly wildcards + pkgs/*', costly], ['pkgs/* only', ['pkgs/*']]] as const) {
    const repo = new Repo()
    await repo.init([['app.tgz', info('app')]])
    const heavy = key()
    const paths = Array.from({ length: 200 }, (_, i) => [`pkgs/${'a'.repeat(240)}${i}.tgz`, info(`h${i}`)] as const)
    await repo.setRole('heavy', heavy, paths)
    repo.delegations = [{ name: 'heavy', keys: [heavy.publicKey], threshold: 1, terminating: false, paths: [...patterns] }]
    await repo.signTargets(null)
    const first = await repo.publish()
    const src = new Counting(repo.store)
    const { up, dir } = await client(repo, src)
    const tight = await mkdtemp(join(tmpdir(), 'dagtuf-catchup-'))
    try {
      await up.refresh(first)
      repo.written = 0
      for (let i = 0; i < k; i++) {
        await repo.changeTopTarget('app.tgz', i)
        await repo.publish()
      }
      await measure(`role "heavy" (${label}), K=${k} snapshots not changing it`, 'catch-up', repo.written, src, async () => await up.refresh(repo.timestamp.cid))
      if (patterns === costly) {
        const up1 = await Updater.create({ dir: tight, source: repo.store, limits: { maxGlobSteps: 1 } })
        await up1.init(repo.rootCid)
        await up1.refresh(first)
        await up1.refresh(repo.timestamp.cid)
        let lookup = 'found'
        try { await up1.getTargetInfo(paths[0]![0]) } catch (e) { lookup = (e as { code?: string }).code ?? String(e) }
        console.error(`costly patterns: the same catch-up under a glob budget of 1 step: accepted; a lookup in the role under it: ${lookup}`)
        notes.push(`costly patterns: the catch-up over ${k} snapshots also passes with a glob budget of ONE step (no pattern is matched on the way); a lookup in that role under the same budget: ${lookup}.`)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
      await rm(tight, { recursive: true, force: true })
    }
  }
}

const startedAt = new Date()

async function main (): Promise<void> {
  // --bins-only B [K [M]]: only the hash-bin scenario, with 2^B bins, K
  // publishes (10) and M targets (20,000).
  const only = process.argv.indexOf('--bins-only')
  const refreshK = process.argv.indexOf('--refresh-only')
  // --one-target-only N K: only the one-target scenario.
  const oneT = process.argv.indexOf('--one-target-only')
  const num = (at: number, fallback: number): number => /^\d+$/.test(process.argv[at] ?? '') ? Number(process.argv[at]) : fallback
  if (only >= 0) await bins(num(only + 1, 10), num(only + 3, 20_000), num(only + 2, 10))
  else if (refreshK >= 0) await refreshOnly(Number(process.argv[refreshK + 1]))
  else if (oneT >= 0) await oneTarget(Number(process.argv[oneT + 1]), Number(process.argv[oneT + 2]))
  else if (process.argv.includes('--costly-only')) await costlyPatterns(100)
  else {
    for (const k of QUICK ? [100] : [100, 1000, 10_000]) await refreshOnly(k)
    await oneTarget(QUICK ? 10_000 : 100_000, QUICK ? 100 : 1000)
    await bins(QUICK ? 10 : 14, QUICK ? 10_000 : 100_000, QUICK ? 20 : 100)
    await costlyPatterns(QUICK ? 20 : 100)
  }
  const kb = (b: number): string => (b / 1024).toFixed(1)
  const lines: string[] = [`# bench:catchup, ${startedAt.toISOString()}`, '', `\`node dist/bench/catchup.js ${process.argv.slice(2).join(' ')}\`; ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`, '']
  for (const n of notes) lines.push(n)
  lines.push(`request latency: ${LATENCY_MS > 0 ? `${LATENCY_MS} ms` : 'none (one event-loop turn)'}`)
  lines.push(PROCESS ? 'catch-ups in a fresh client process over loopback HTTP: peak RSS is that process\'s whole' : 'in process: peak RSS is the growth of this process (which holds the repository)')
  lines.push('rounds: a request made after one of depth d completed has depth d + 1 (an upper bound that also counts the client\'s own pacing); chained: a request for a CID first named by a response at depth d has depth d + 1 (the requests that had to wait for one another)')
  lines.push('')
  lines.push('| scenario | step | blocks | rounds | chained | KiB fetched | KiB changed | ms | peak RSS MiB |')
  lines.push('|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) lines.push(`| ${r.scenario} | ${r.what} | ${r.blocks} | ${r.rounds} | ${r.chained} | ${kb(r.bytes)} | ${r.changed === 0 ? '' : kb(r.changed)} | ${r.ms.toFixed(0)} | ${r.rssMiB.toFixed(1)}${r.total === true ? '' : ' (growth)'} |`)
  for (const l of lines) console.log(l)
  const file = resultsFile('catchup', startedAt)
  await writeFile(file, lines.join('\n') + '\n')
  console.error(`results: ${file}`)
}

await main()
