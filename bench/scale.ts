/**
 * `npm run bench:scale` — dagtuf at 1,000 to 1,000,000 targets, side by side
 * with tuf-js 5.0.1, in one run (issue 8, "Performance"). A benchmark, not a
 * test: it checks that every client got the right bytes, and measures.
 *
 * For each N (BENCH_SCALE_SIZES, default 1000,10000,100000; add 1000000):
 *
 * Publisher (each step a fresh process, bench/scale-pub.ts):
 * - create N: a dagtuf repository with N targets pkg/file-I.txt of 200 bytes.
 *   Content blocks are put straight into the repository's node (not through
 *   addFiles, whose per-file cost is measured apart, see below); at N >=
 *   BENCH_SCALE_SHARED_FROM (default 1,000,000) all targets share ONE content
 *   block (metadata-only repository: the map still has N distinct entries).
 *   Then one publishStaged of the N additions (timed alone).
 * - bulk build: buildTargetsMap of N entries, in memory.
 * - add one and publish: addFiles of one new file + publishStaged, timed
 *   in-process; new blocks and bytes counted on disk and by codec.
 * - addFiles of N real files (staging only) for N <= BENCH_SCALE_ADDFILES_MAX
 *   (default 10,000; 0 turns it off).
 *
 * Clients (each run a fresh process; median wall of BENCH_RUNS, default 3):
 * - cold: trusted root only; refresh + getTargetInfo + download of one target.
 *   dagtuf through its library (bench/client-run.ts) and its CLI
 *   (`client get --update`), over `dagtuf serve` (a child process);
 *   tuf-js as shipped and with its quadratic targets loops made linear (a
 *   patch inside the client process only, see bench/client-run.ts), over a
 *   static server of classic TUF metadata (bench/common.ts) for the same N.
 * - warm: the client already trusts the head before the add-one publish; the
 *   same steps for the new target after it.
 * Bytes (response bodies) and requests are counted by a proxy in front of
 * each server. "metadata bytes" = bytes minus the target's own bytes.
 * Stock tuf-js runs are cut at BENCH_SCALE_TIMEOUT_S (default 180 s) and
 * run once when the first run takes over 60 s; it is not started at an N
 * where its time at a smaller N, scaled by n², predicts more than the
 * timeout (nor after it was cut).
 *
 * The tables go to stdout and to bench/results/scale-<date>.md.
 */
import '../src/polyfill.js'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { GatewaySource } from '../src/blocks/gateway-source.js'
import { Updater } from '../src/client/updater.js'
import {
  ClassicRepo, GNU_TIME, LAUNCHER, ROOT, RUN, RunTimeout, content, countingProxy, median, resultsFile, run, startServe, staticServer, type Counted
} from './common.js'

const PUB = join(ROOT, 'dist', 'bench', 'scale-pub.js')
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SIZES = (process.env.BENCH_SCALE_SIZES ?? '1000,10000,100000').split(',').map(Number)
const SHARED_FROM = Number(process.env.BENCH_SCALE_SHARED_FROM ?? 1_000_000)
const ADDFILES_MAX = Number(process.env.BENCH_SCALE_ADDFILES_MAX ?? 10_000)
const TIMEOUT_MS = Number(process.env.BENCH_SCALE_TIMEOUT_S ?? 180) * 1000
const NEW_PATH = 'pkg/new-target.txt'
/** For create and bulk build only (their peak RSS is reported): node's default heap cap is about 4 GB. */
const BIG_HEAP = '--max-old-space-size=16384'
/** BENCH_SCALE_NO_STOCK=1: skip stock tuf-js (at 100,000 targets and up it runs into the timeout, 3 min a phase). */
const NO_STOCK = process.env.BENCH_SCALE_NO_STOCK === '1'

const log = (s: string): void => { process.stderr.write(s + '\n') }
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
const int = (x: number): string => Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '—'
const kb = (x: number): string => !Number.isFinite(x) ? '—' : x >= 1e6 ? `${(x / 1e6).toFixed(2)} MB` : `${(x / 1e3).toFixed(1)} KB`
const ratio = (a: number, b: number): string => !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '—' : a / b >= 10 ? `${(a / b).toFixed(0)}×` : `${(a / b).toFixed(2)}×`

type ClientName = 'dagtuf library' | 'dagtuf CLI' | 'dagtuf CLI, no snapshot' | 'tuf-js linear' | 'tuf-js stock' | 'dagtuf CLI, inherited env' | 'tuf-js linear, inherited env'
const CLIENTS: ClientName[] = ['dagtuf library', 'dagtuf CLI', 'dagtuf CLI, no snapshot', 'tuf-js linear', 'tuf-js stock']

/**
 * The environment of every client process. By default Node's own: without
 * NODE_OPTIONS and NODE_EXTRA_CA_CERTS. The second matters here: the VM this
 * project is developed on sets NODE_EXTRA_CA_CERTS to the system bundle,
 * and Node then reads and parses 140,000 lines of certificates before any
 * script starts (about 45 ms of every process, measured with `node -e ''`:
 * 29 ms without, 75 ms with). When the benchmark's own environment has it,
 * the cold clients also run with it (INHERITED_CLIENTS, their own rows).
 * BENCH_SCALE_INHERIT_ENV=1 runs every client with the environment as inherited.
 */
const INHERIT_ENV = process.env.BENCH_SCALE_INHERIT_ENV === '1'
const CLIENT_ENV: NodeJS.ProcessEnv = { ...process.env }
if (!INHERIT_ENV) { delete CLIENT_ENV.NODE_OPTIONS; delete CLIENT_ENV.NODE_EXTRA_CA_CERTS }
const INHERITED_CLIENTS: ClientName[] = !INHERIT_ENV && process.env.NODE_EXTRA_CA_CERTS !== undefined ? ['dagtuf CLI, inherited env', 'tuf-js linear, inherited env'] : []
const envOf = (name: ClientName): NodeJS.ProcessEnv => name.endsWith('inherited env') ? process.env : name === 'dagtuf CLI, no snapshot' ? { ...CLIENT_ENV, DAGTUF_NO_SNAPSHOT: '1' } : CLIENT_ENV
/** The CLI runs: the launcher under GNU time (for its peak RSS). */
const isCli = (name: ClientName): boolean => name.startsWith('dagtuf CLI')

interface ClientResult {
  runs: number[]
  ms: number
  bytes: number
  requests: number
  /** Bytes minus the downloaded target's own bytes. */
  metaBytes: number
  rssMb: number
  /** Medians of the library runners' own phases (bench/client-run.ts): Node's start-up, the client's imports, the work after them. */
  phases?: { bootMs: number, importMs: number, workMs: number }
  /** Set when the runs were cut (timeout). */
  cut?: string
}

interface Publisher {
  contentMs: number
  createMs: number
  createRssMb: number
  bulkMs: number
  bulkBlocks: number
  bulkBytes: number
  addOpenMs: number
  addMs: number
  addPublishMs: number
  addRssMb: number
  newBlocks: number
  newBytes: number
  putBlocks: number
  byCodec: string
  addFilesMs?: number
  classicMs: number
  classicAddMs: number
}

interface SizeResult {
  n: number
  shared: boolean
  cold: Partial<Record<ClientName, ClientResult>>
  warm: Partial<Record<ClientName, ClientResult>>
  pub: Publisher
}

/** Stock tuf-js: cut at some N (timeout), or the last N it finished, per phase. */
const stock: Record<'cold' | 'warm', { cutAt?: number, last?: { n: number, ms: number } }> = { cold: {}, warm: {} }

/** One client, RUNS fresh processes; `prepare(i)` returns the argv of run i. */
async function measure (name: ClientName, phase: 'cold' | 'warm', n: number, proxy: Counted, prepare: (i: number) => Promise<{ args: string[], out: string }>, expected: string): Promise<ClientResult> {
  const skipped = (cut: string): ClientResult => { log(`[${n}]   ${name}: ${cut}`); return { runs: [], ms: NaN, bytes: NaN, requests: NaN, metaBytes: NaN, rssMb: NaN, cut } }
  if (name === 'tuf-js stock' && NO_STOCK) return skipped('not run (BENCH_SCALE_NO_STOCK=1)')
  if (name === 'tuf-js stock') {
    const s = stock[phase]
    if (s.cutAt !== undefined) return skipped(`not run: cut at ${int(s.cutAt)}`)
    // Its time grows as n²: do not start a run that cannot end before the timeout.
    const predicted = s.last === undefined ? 0 : s.last.ms * (n / s.last.n) ** 2
    if (predicted > TIMEOUT_MS) return skipped(`not run: ${secs(s.last!.ms)} at ${int(s.last!.n)} predicts ≈ ${secs(predicted)} (n²)`)
  }
  const ms: number[] = []
  const rss: number[] = []
  const phases: { bootMs: number[], importMs: number[], workMs: number[] } = { bootMs: [], importMs: [], workMs: [] }
  let bytes = 0
  let requests = 0
  let cut: string | undefined
  for (let i = 0; i < RUNS; i++) {
    const { args, out } = await prepare(i)
    proxy.reset()
    let r
    try {
      r = await run(args, { timeoutMs: TIMEOUT_MS, env: envOf(name), ...(isCli(name) ? { command: GNU_TIME } : {}) })
    } catch (e) {
      // A client that fails is reported as such; the other clients still run.
      if (!(e instanceof RunTimeout)) return skipped(`FAILED: ${(e instanceof Error ? e.message : String(e)).split('\n').slice(0, 3).join(' / ').slice(0, 300)}`)
      if (name === 'tuf-js stock') stock[phase].cutAt = n
      cut = `killed after ${TIMEOUT_MS / 1000} s`
      if (ms.length === 0) return skipped(cut)
      break
    }
    if (name === 'tuf-js linear' && !(Number(r.results.linear_calls) > 0)) throw new Error('the tuf-js patch did not apply')
    if (await readFile(out, 'utf8') !== expected) throw new Error(`${name} downloaded the wrong bytes`)
    ms.push(r.ms)
    rss.push(r.maxrssKb)
    if (r.results.work_ms !== undefined) {
      phases.bootMs.push(Number(r.results.boot_ms))
      phases.importMs.push(Number(r.results.import_ms))
      phases.workMs.push(Number(r.results.work_ms))
    }
    bytes = proxy.bytes()
    requests = proxy.requests()
    if (r.ms > 60_000) { cut = 'one run (over 60 s)'; break }
  }
  log(`[${n}]   ${name}: ${ms.map((x) => x.toFixed(0)).join(', ')} ms, ${bytes.toLocaleString('en')} B, ${requests} requests`)
  if (name === 'tuf-js stock') stock[phase].last = { n, ms: median(ms) }
  const result: ClientResult = { runs: ms, ms: median(ms), bytes, requests, metaBytes: bytes - Buffer.byteLength(expected), rssMb: median(rss) / 1024 }
  if (phases.workMs.length > 0) result.phases = { bootMs: median(phases.bootMs), importMs: median(phases.importMs), workMs: median(phases.workMs) }
  if (cut !== undefined) result.cut = cut
  return result
}

async function benchSize (n: number): Promise<SizeResult> {
  const work = await mkdtemp(join(tmpdir(), `dagtuf-scale-${n}-`))
  const shared = n >= SHARED_FROM
  const body = (i: number): string => shared ? content(0) : content(i)
  const coldPath = `pkg/file-${Math.floor(n / 2)}.txt`
  const coldBody = body(Math.floor(n / 2))
  const newBody = content(n)
  const cold: SizeResult['cold'] = {}
  const warm: SizeResult['warm'] = {}
  try {
    // -- Publisher: create N, bulk build, (addFiles of N real files).
    const dir = join(work, 'dagtuf-repo')
    log(`[${n}] create: ${n.toLocaleString('en')} targets${shared ? ' (one shared content block)' : ''}...`)
    const c = await run([BIG_HEAP, PUB, 'create', dir, String(n), shared ? '1' : '0'])
    const root = c.results.root!
    const ts1 = c.results.timestamp!
    log(`[${n}]   content ${secs(Number(c.results.content_ms))}, publish ${secs(Number(c.results.publish_ms))}, peak RSS ${(c.maxrssKb / 1024).toFixed(0)} MB`)
    const b = await run([BIG_HEAP, PUB, 'bulk', String(n)])
    log(`[${n}]   bulk build ${Number(b.results.bulk_ms).toFixed(0)} ms`)
    let addFilesMs: number | undefined
    if (n <= ADDFILES_MAX) {
      const a = await run([PUB, 'addfiles', join(work, 'addfiles'), String(n)])
      addFilesMs = Number(a.results.addfiles_ms)
      await rm(join(work, 'addfiles'), { recursive: true, force: true })
      log(`[${n}]   addFiles of ${n} files ${secs(addFilesMs)}`)
    }

    // -- The classic repository for tuf-js (only the two downloaded files on disk).
    let t0 = performance.now()
    const classic = new ClassicRepo(join(work, 'classic'))
    for (let i = 0; i < n; i++) await classic.add(`pkg/file-${i}.txt`, body(i), i === Math.floor(n / 2))
    await classic.publish()
    const classicMs = performance.now() - t0
    log(`[${n}]   classic metadata ${secs(classicMs)}`)

    // -- Servers and client templates.
    const serve = await startServe(dir)
    const proxy = await countingProxy(serve.url)
    const stat = await staticServer(classic.dir)
    const cproxy = await countingProxy(stat.url)
    try {
      const template = join(work, 'client-template')
      await (await Updater.create({ dir: template, source: new GatewaySource(serve.url) })).init(root)
      const tufTemplate = join(work, 'tufjs-template', 'metadata')
      await mkdir(tufTemplate, { recursive: true })
      await writeFile(join(tufTemplate, 'root.json'), classic.rootJson)
      let k = 0
      const fresh = async (from: string): Promise<{ dir: string, out: string }> => {
        const d = join(work, `run-${k++}`)
        await cp(from, join(d, 'state'), { recursive: true })
        return { dir: join(d, 'state'), out: join(d, 'out', 'target.txt') }
      }
      const clients = (ts: string, path: string, dagState: string, tufState: string): Record<ClientName, (i: number) => Promise<{ args: string[], out: string }>> => {
        // `dagtuf client get --update` through the launcher, as a user types it; GNU time prints its peak RSS on stderr.
        const cli = async (): Promise<{ args: string[], out: string }> => {
          const f = await fresh(dagState)
          await mkdir(join(f.out, '..'), { recursive: true })
          return { args: ['-f', 'RESULT maxrss_kb=%M', LAUNCHER, 'client', 'get', '--dir', f.dir, '--update', '--timestamp', ts, '--gateway', proxy.url, path, '-o', f.out], out: f.out }
        }
        return {
        'dagtuf library': async () => { const f = await fresh(dagState); return { args: [RUN, 'dagtuf', f.dir, proxy.url, ts, path, f.out], out: f.out } },
        'dagtuf CLI': cli,
        'dagtuf CLI, no snapshot': cli,
        'dagtuf CLI, inherited env': cli,
        'tuf-js linear, inherited env': async () => { const f = await fresh(tufState); return { args: [RUN, 'tufjs-linear', f.dir, cproxy.url, path, f.out], out: f.out } },
        'tuf-js linear': async () => { const f = await fresh(tufState); return { args: [RUN, 'tufjs-linear', f.dir, cproxy.url, path, f.out], out: f.out } },
        'tuf-js stock': async () => { const f = await fresh(tufState); return { args: [RUN, 'tufjs', f.dir, cproxy.url, path, f.out], out: f.out } }
        }
      }

      // -- Cold clients.
      log(`[${n}] cold clients (${coldPath})`)
      const coldRuns = clients(ts1, coldPath, template, tufTemplate)
      for (const name of [...CLIENTS, ...INHERITED_CLIENTS]) {
        cold[name] = await measure(name, 'cold', n, name.startsWith('dagtuf') ? proxy : cproxy, coldRuns[name], coldBody)
      }

      // -- Warm state: each client has updated to the first head.
      const warmDag = join(work, 'warm-dagtuf')
      await cp(template, warmDag, { recursive: true })
      await (await Updater.create({ dir: warmDag, source: new GatewaySource(serve.url) })).refresh(ts1)
      const warmTuf = join(work, 'warm-tufjs', 'metadata')
      await cp(tufTemplate, warmTuf, { recursive: true })
      await run([RUN, 'tufjs-linear', warmTuf, stat.url, coldPath, join(work, 'warm-tufjs', 'out', 'target.txt')])

      // -- Add one target and publish, both sides.
      log(`[${n}] add one target and publish`)
      const newFile = join(work, 'new-target.txt')
      await writeFile(newFile, newBody)
      const a = await run([PUB, 'add-one', dir, newFile, NEW_PATH])
      const ts2 = a.results.timestamp!
      log(`[${n}]   open ${a.results.open_ms} ms, add ${a.results.add_ms} ms, publish ${a.results.publish_ms} ms, ${a.results.new_block_files} new blocks (${a.results.put_by_codec}), ${a.results.new_block_bytes} B`)
      if (a.results.new_block_files !== a.results.put_new_blocks) log(`[${n}]   note: ${a.results.new_block_files} new block files on disk, ${a.results.put_new_blocks} new blocks put`)
      t0 = performance.now()
      await classic.add(NEW_PATH, newBody, true)
      await classic.publish()
      const classicAddMs = performance.now() - t0

      // -- Warm clients.
      log(`[${n}] warm clients (${NEW_PATH})`)
      const warmRuns = clients(ts2, NEW_PATH, warmDag, warmTuf)
      for (const name of CLIENTS) {
        warm[name] = await measure(name, 'warm', n, name.startsWith('dagtuf') ? proxy : cproxy, warmRuns[name], newBody)
      }

      const pub: Publisher = {
        contentMs: Number(c.results.content_ms),
        createMs: Number(c.results.publish_ms),
        createRssMb: c.maxrssKb / 1024,
        bulkMs: Number(b.results.bulk_ms),
        bulkBlocks: Number(b.results.blocks),
        bulkBytes: Number(b.results.bytes),
        addOpenMs: Number(a.results.open_ms),
        addMs: Number(a.results.add_ms),
        addPublishMs: Number(a.results.publish_ms),
        addRssMb: a.maxrssKb / 1024,
        newBlocks: Number(a.results.new_block_files),
        newBytes: Number(a.results.new_block_bytes),
        putBlocks: Number(a.results.put_new_blocks),
        byCodec: a.results.put_by_codec ?? '',
        classicMs,
        classicAddMs
      }
      if (addFilesMs !== undefined) pub.addFilesMs = addFilesMs
      return { n, shared, cold, warm, pub }
    } finally {
      await proxy.close()
      await serve.stop()
      await cproxy.close()
      await stat.close()
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------
// Tables


function table (header: string[], rows: string[][], right: (i: number) => boolean = (i) => i > 0): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => right(i) ? '---:' : ':---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`)
  ].join('\n')
}

function clientRows (results: SizeResult[], pick: (r: SizeResult) => SizeResult['cold']): string[][] {
  const rows: string[][] = []
  for (const r of results) {
    for (const name of [...CLIENTS, ...INHERITED_CLIENTS]) {
      const c = pick(r)[name]
      if (c === undefined) continue
      if (c.runs.length === 0) { rows.push([int(r.n), name, c.cut ?? 'not run', '', '', '', '', '', '']); continue }
      const ph = c.phases === undefined ? '—' : `${int(c.phases.bootMs)} / ${int(c.phases.importMs)} / ${int(c.phases.workMs)}`
      rows.push([int(r.n), name, `${int(c.ms)}${c.cut !== undefined ? ` (${c.cut})` : ''}`, c.runs.map((x) => x.toFixed(0)).join(', '), ph, int(c.bytes), kb(c.metaBytes), int(c.requests), Number.isFinite(c.rssMb) ? c.rssMb.toFixed(0) : '—'])
    }
  }
  return rows
}

type Verdict = 'met' | 'NOT met' | 'not measured' | '(no goal)'
function verdict (ok: boolean | undefined): Verdict { return ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met' }

function report (results: SizeResult[], load: { before: string, after: string }, startedAt: Date, wallMs: number): string {
  const at = (n: number): SizeResult | undefined => results.find((r) => r.n === n)
  const lines: string[] = []
  lines.push(`# npm run bench:scale — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`)
  lines.push('')
  lines.push(`node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; load average before ${load.before}, after ${load.after}; whole run ${secs(wallMs)}.`)
  lines.push('Peak RSS is each process\'s own high-water mark (VmHWM in /proc/self/status), not getrusage\'s maxRSS, which on Linux carries the parent\'s resident set across fork + exec (bench/peak-rss.ts).')
  lines.push(`The publisher's create and bulk-build processes run with ${BIG_HEAP} (node's default heap cap is about 4 GB); their peak RSS is reported.`)
  lines.push(INHERIT_ENV
    ? 'Every client ran with the environment as inherited (BENCH_SCALE_INHERIT_ENV=1).'
    : `Every client ran in Node's default environment: NODE_OPTIONS and NODE_EXTRA_CA_CERTS removed${process.env.NODE_EXTRA_CA_CERTS !== undefined ? ` (this machine sets NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS}, which costs every Node process about 45 ms before its first line runs; the rows "inherited env" are the cold CLI and tuf-js linear with it)` : ''}.`)
  lines.push('"dagtuf CLI" is `bin/dagtuf client get --update` as a user runs it: the launcher, which starts the client commands from their V8 start-up snapshot (dist/cli/client.blob); "no snapshot" is the same with DAGTUF_NO_SNAPSHOT=1 (bin/dagtuf.js). Their peak RSS comes from GNU time (%M).')
  lines.push(`Median of ${RUNS} fresh-process runs over loopback HTTP. tuf-js 5.0.1; "tuf-js linear" = tuf-js with the O(n²) spreads in Targets.fromJSON and Targets#toJSON replaced by a linear loop inside the client process (bench/client-run.ts).`)
  const sharedAt = results.filter((r) => r.shared).map((r) => int(r.n))
  lines.push(sharedAt.length > 0
    ? `At ${sharedAt.join(', ')} targets every target names ONE shared 200-byte content block (metadata-only repository; the maps have that many distinct entries). Below that, every target has its own content block.`
    : 'Every target has its own 200-byte content block.')
  lines.push('')

  lines.push('## Ratios (issue 8 goals are against tuf-js with the loop fixed)')
  lines.push('')
  const base = results[0]
  lines.push(table(
    ['targets', 'cold: dagtuf lib / tuf-js linear', 'speed-up', 'cold: dagtuf CLI', 'CLI speed-up', 'vs tuf-js stock', 'metadata bytes dagtuf / tuf-js', 'fewer bytes', 'peak RSS dagtuf / tuf-js linear', 'warm: dagtuf ms / bytes / requests', 'warm: tuf-js linear ms / bytes', `warm dagtuf bytes vs ${base !== undefined ? int(base.n) : ''}`, 'add one + publish: new blocks / ms (add + publish)', 'bulk build'],
    results.map((r) => {
      const d = r.cold['dagtuf library']
      const cli = r.cold['dagtuf CLI']
      const t = r.cold['tuf-js linear']
      const s = r.cold['tuf-js stock']
      const wd = r.warm['dagtuf library']
      const wt = r.warm['tuf-js linear']
      const wb = base?.warm['dagtuf library']
      return [
        int(r.n),
        `${int(d?.ms ?? NaN)} / ${int(t?.ms ?? NaN)} ms`,
        ratio(t?.ms ?? NaN, d?.ms ?? NaN),
        `${int(cli?.ms ?? NaN)} ms`,
        ratio(t?.ms ?? NaN, cli?.ms ?? NaN),
        s === undefined || s.runs.length === 0 ? (s?.cut ?? 'not run') : ratio(s.ms, d?.ms ?? NaN),
        `${kb(d?.metaBytes ?? NaN)} / ${kb(t?.metaBytes ?? NaN)}`,
        ratio(t?.metaBytes ?? NaN, d?.metaBytes ?? NaN),
        `${d?.rssMb.toFixed(0) ?? '—'} / ${t?.rssMb.toFixed(0) ?? '—'} MB`,
        `${int(wd?.ms ?? NaN)} / ${kb(wd?.bytes ?? NaN)} / ${wd?.requests ?? '—'}`,
        `${int(wt?.ms ?? NaN)} / ${kb(wt?.bytes ?? NaN)}`,
        ratio(wd?.bytes ?? NaN, wb?.bytes ?? NaN),
        `${r.pub.newBlocks} / ${r.pub.addMs.toFixed(0)} + ${r.pub.addPublishMs.toFixed(0)}`,
        `${int(r.pub.bulkMs)} ms`
      ]
    })))
  lines.push('')

  // Goals of issue 8, checked against what was measured.
  const k100 = at(100_000)
  const m1 = at(1_000_000)
  const k1 = at(1_000)
  const g: Array<[string, string, Verdict]> = []
  const c100 = k100?.cold['dagtuf library']
  const t100 = k100?.cold['tuf-js linear']
  // Both cold clients are reported; the verdict is the CLI's (`dagtuf client get --update`,
  // what a user runs in a fresh process), and the library runner's ratio is shown beside it.
  const cli100 = k100?.cold['dagtuf CLI']
  g.push(['100k: cold client ≥ 10× faster than tuf-js linear (verdict: the CLI)', cli100 !== undefined && c100 !== undefined && t100 !== undefined ? `CLI ${ratio(t100.ms, cli100.ms)} (${int(cli100.ms)} vs ${int(t100.ms)} ms); library runner ${ratio(t100.ms, c100.ms)}` : '', verdict(cli100 && t100 && t100.ms / cli100.ms >= 10)])
  const cliNs100 = k100?.cold['dagtuf CLI, no snapshot']
  if (cliNs100 !== undefined && t100 !== undefined) g.push(['(for reference) 100k: the CLI without its start-up snapshot (DAGTUF_NO_SNAPSHOT=1)', `${ratio(t100.ms, cliNs100.ms)} (${int(cliNs100.ms)} ms)`, '(no goal)'])
  const cliInh100 = k100?.cold['dagtuf CLI, inherited env']
  const tInh100 = k100?.cold['tuf-js linear, inherited env']
  if (cliInh100 !== undefined && tInh100 !== undefined) g.push(['(for reference) 100k: the CLI and tuf-js linear with NODE_EXTRA_CA_CERTS as this machine sets it', `${ratio(tInh100.ms, cliInh100.ms)} (${int(cliInh100.ms)} vs ${int(tInh100.ms)} ms)`, '(no goal)'])
  if (c100?.phases !== undefined && t100?.phases !== undefined) {
    g.push(['(for reference) 100k: the same, counting only the work after the imports (library runners)', `${int(c100.phases.workMs)} vs ${int(t100.phases.workMs)} ms: ${ratio(t100.phases.workMs, c100.phases.workMs)}; Node's own start-up ${int(c100.phases.bootMs)} / ${int(t100.phases.bootMs)} ms, imports ${int(c100.phases.importMs)} / ${int(t100.phases.importMs)} ms`, '(no goal)'])
  }
  g.push(['100k: ≥ 1,000× fewer metadata bytes (≤ 13 KB)', c100 !== undefined && t100 !== undefined ? `${kb(c100.metaBytes)}, ${ratio(t100.metaBytes, c100.metaBytes)}` : '', verdict(c100 && t100 && t100.metaBytes / c100.metaBytes >= 1000 && c100.metaBytes <= 13_000)])
  g.push(['100k: peak RSS ≤ 80 MB (library runner)', c100 !== undefined ? `${c100.rssMb.toFixed(0)} MB` : '', verdict(c100 && c100.rssMb <= 80)])
  const c1m = m1?.cold['dagtuf library']
  g.push(['1M: metadata bytes within 1.5× of 100k', c1m !== undefined && c100 !== undefined ? `${kb(c1m.metaBytes)} vs ${kb(c100.metaBytes)} (${ratio(c1m.metaBytes, c100.metaBytes)})` : '', verdict(c1m && c100 && c1m.metaBytes <= 1.5 * c100.metaBytes)])
  const warmRows = results.map((r) => r.warm['dagtuf library']).filter((x) => x !== undefined)
  g.push(['warm update: bytes and time grow no faster than log n (verdict on bytes: ≤ 2× those at the smallest N)', results.map((r) => `${int(r.n)}: ${kb(r.warm['dagtuf library']?.bytes ?? NaN)}, ${int(r.warm['dagtuf library']?.ms ?? NaN)} ms`).join('; '), warmRows.length < 2 ? 'not measured' : verdict(warmRows.every((w) => w.bytes <= 2 * warmRows[0]!.bytes))])
  g.push(['1M: add one + publish ≤ 20 new blocks, ≤ 100 ms in-process', m1 !== undefined ? `${m1.pub.newBlocks} blocks, add ${m1.pub.addMs.toFixed(0)} + publish ${m1.pub.addPublishMs.toFixed(0)} ms` : '', verdict(m1 && m1.pub.newBlocks <= 20 && m1.pub.addMs + m1.pub.addPublishMs <= 100)])
  g.push(['1M: bulk build ≤ 10 s', m1 !== undefined ? `${secs(m1.pub.bulkMs)}` : '', verdict(m1 && m1.pub.bulkMs <= 10_000)])
  const af = results.filter((r) => r.pub.addFilesMs !== undefined).at(-1)
  g.push(['`add` of 100,000 small files ≤ 60 s', af !== undefined ? `addFiles of ${int(af.n)} files: ${secs(af.pub.addFilesMs!)} (${(af.pub.addFilesMs! / af.n).toFixed(2)} ms a file${af.n < 100_000 ? `, ≈ ${secs(af.pub.addFilesMs! / af.n * 100_000)} for 100k if linear` : ''})` : '', af !== undefined && af.n >= 100_000 ? verdict(af.pub.addFilesMs! <= 60_000) : 'not measured'])
  const c1 = k1?.cold['dagtuf library']
  const t1 = k1?.cold['tuf-js linear']
  const s1raw = k1?.cold['tuf-js stock']
  // Stock tuf-js skipped (BENCH_SCALE_NO_STOCK) or cut: no figure to compare with.
  const s1 = s1raw !== undefined && s1raw.runs.length > 0 ? s1raw : undefined
  g.push(['1k: cold client not slower than tuf-js', c1 !== undefined && t1 !== undefined ? `${int(c1.ms)} ms vs ${int(t1.ms)} (linear), ${int(s1?.ms ?? NaN)} (stock); CLI ${int(k1?.cold['dagtuf CLI']?.ms ?? NaN)} ms` : '', verdict(c1 && t1 && c1.ms <= t1.ms && (s1 === undefined || c1.ms <= s1.ms))])
  lines.push('## Issue 8 goals')
  lines.push('')
  lines.push(table(['goal', 'measured', 'verdict'], g.map(([a, b, c]) => [a, b, c]), () => false))
  lines.push('')

  const clientHeader = ['targets', 'client', 'median wall (ms)', 'runs (ms)', 'library runners: Node start-up / imports / work (ms, medians)', 'bytes over HTTP', 'metadata bytes', 'requests', 'peak RSS (MB)']
  lines.push('## Cold client: trusted root only; refresh + getTargetInfo + download of one target')
  lines.push('')
  lines.push(table(clientHeader, clientRows(results, (r) => r.cold), (i) => i > 1))
  lines.push('')
  lines.push('## Warm update: the client trusts the previous head; one target added and published; refresh + getTargetInfo + download of the new target')
  lines.push('')
  lines.push(table(clientHeader, clientRows(results, (r) => r.warm), (i) => i > 1))
  lines.push('')
  lines.push('## Publisher (each step a fresh process)')
  lines.push('')
  lines.push(table(
    ['targets', 'content blocks put (no fsync)', 'create: publish N additions', 'create peak RSS', 'bulk build (buildTargetsMap)', 'map blocks / bytes', 'add one: open session', 'addFiles(1)', 'publish', 'new blocks (by codec)', 'new bytes', 'add-one peak RSS', `addFiles of N files (N ≤ ${int(ADDFILES_MAX)})`, 'classic metadata: write N / rewrite after add (this script)'],
    results.map((r) => {
      const p = r.pub
      return [int(r.n), r.shared ? `${int(p.contentMs)} ms (1 shared block)` : `${int(p.contentMs)} ms`, `${int(p.createMs)} ms`, `${p.createRssMb.toFixed(0)} MB`, `${int(p.bulkMs)} ms`, `${int(p.bulkBlocks)} / ${kb(p.bulkBytes)}`,
        `${int(p.addOpenMs)} ms`, `${int(p.addMs)} ms`, `${int(p.addPublishMs)} ms`, `${p.newBlocks} (${p.byCodec})${p.putBlocks !== p.newBlocks ? ` [put: ${p.putBlocks}]` : ''}`, int(p.newBytes), `${p.addRssMb.toFixed(0)} MB`,
        p.addFilesMs === undefined ? 'not run' : `${int(p.addFilesMs)} ms`, `${int(p.classicMs)} / ${int(p.classicAddMs)} ms`]
    })))
  lines.push('')
  return lines.join('\n')
}

const startedAt = new Date()
const t0 = performance.now()
const before = loadavg().map((x) => x.toFixed(2)).join(' ')
log(`bench:scale: sizes ${SIZES.join(', ')}; runs ${RUNS}; load average ${before}`)
const results: SizeResult[] = []
const failures: string[] = []
for (const n of SIZES) {
  try {
    results.push(await benchSize(n))
  } catch (e) {
    // One size failing (a crash at 1M, say) must not lose the others.
    const text = e instanceof Error ? (e.stack ?? e.message) : String(e)
    log(`[${n}] FAILED: ${text}`)
    failures.push(`- ${int(n)} targets: ${text.split('\n').slice(0, 6).join(' / ')}`)
  }
}
const after = loadavg().map((x) => x.toFixed(2)).join(' ')
let text = report(results, { before, after }, startedAt, performance.now() - t0)
if (failures.length > 0) text += `\n## Failures\n\n${failures.join('\n')}\n`
console.log('\n' + text)
const file = resultsFile('scale', startedAt)
await mkdir(join(file, '..'), { recursive: true })
await writeFile(file, text)
log(`written to ${file}`)
