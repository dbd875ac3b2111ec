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
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewaySource } from '../src/blocks/gateway-source.js'
import { Updater } from '../src/client/updater.js'
import { BIN, ClassicRepo, MAXRSS_HOOK, RUN, benchRepo, content, countingProxy, median, run, startServe, staticServer } from './common.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SIZES = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number)

// ---------------------------------------------------------------------------
// dagtuf

async function dagtufRepo (work: string, n: number): Promise<{ dir: string, root: string, timestamp: string }> {
  const dir = join(work, 'dagtuf-repo')
  return { dir, ...(await benchRepo(dir, join(work, 'files'), n)) }
}

async function classicRepo (work: string, n: number): Promise<{ dir: string, rootJson: string }> {
  const repo = new ClassicRepo(join(work, 'classic'))
  for (let i = 0; i < n; i++) await repo.add(`pkg/file-${i}.txt`, content(i), true)
  await repo.publish()
  return { dir: repo.dir, rootJson: repo.rootJson }
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
