/**
 * `npm run bench:startup` — how long the everyday commands take from a cold
 * start (issue 14 item 7: "status, head, log, drafts and client get on a
 * fresh state under 300 ms", `--help` too), each a fresh `node
 * bin/dagtuf.js ...` process, timed from spawn to exit, with its peak RSS.
 *
 * The state: a repository made by `dagtuf init` with three small targets
 * published, a client that trusts it (client init + update over `dagtuf
 * serve`), and that serve running for `client get --gateway` (which fetches
 * the target's content: a get does). `node -e ''` is measured too, as the
 * floor no command can go below. The commands are run round-robin, RUNS
 * times each (BENCH_STARTUP_RUNS, default 11), so that load changes on a
 * shared machine touch all of them alike; the median, min and max are
 * printed and written to bench/results/startup-<date>.md with the load
 * average before and after. BENCH_STARTUP_BIN=path/to/bin/dagtuf.js measures
 * another build (an older commit's, for a before/after on the same machine).
 * Not a test: nothing is asserted.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { BIN as OUR_BIN, MAXRSS_HOOK, median, resultsFile, run, startServe } from './common.js'

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? '11')
/** Another build's bin/dagtuf.js to measure (e.g. a checkout of an older commit, for a before/after on the same machine). */
const BIN = process.env.BENCH_STARTUP_BIN ?? OUR_BIN
const log = (s: string): void => { process.stderr.write(s + '\n') }

async function cli (...args: string[]): Promise<string> {
  const { spawn } = await import('node:child_process')
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('exit', (code) => { if (code === 0) resolve(out); else reject(new Error(`dagtuf ${args.join(' ')} exited ${code}: ${err}`)) })
  })
}

async function main (): Promise<void> {
  const started = new Date()
  const loadBefore = loadavg()
  const work = await mkdtemp(join(tmpdir(), 'dagtuf-bench-startup-'))
  const repo = join(work, 'repo')
  const client = join(work, 'client')
  log(`setting up in ${work}`)
  await cli('init', '--dir', repo)
  for (const n of ['a', 'b', 'c']) await writeFile(join(work, `${n}.txt`), `${n}\n`)
  await cli('add', '--dir', repo, join(work, 'a.txt'), join(work, 'b.txt'), join(work, 'c.txt'))
  await cli('publish', '--dir', repo)
  const serve = await startServe(repo)
  try {
    const root = (JSON.parse(await cli('head', '--dir', repo, '--json')) as { root: string }).root
    await cli('client', 'init', '--dir', client, '--root', root, '--gateway', serve.url)
    await cli('client', 'update', '--dir', client, '--gateway', serve.url)

    const commands: Array<{ name: string, args: string[] }> = [
      { name: "node -e ''", args: ['-e', ''] },
      { name: '--help', args: [BIN, '--help'] },
      { name: 'status', args: [BIN, 'status', '--dir', repo] },
      { name: 'head', args: [BIN, 'head', '--dir', repo] },
      { name: 'log', args: [BIN, 'log', '--dir', repo] },
      { name: 'drafts', args: [BIN, 'drafts', '--dir', repo] },
      { name: 'client get --gateway', args: [BIN, 'client', 'get', '--dir', client, 'a.txt', '-o', join(work, 'a.out'), '--gateway', serve.url] }
    ]
    const ms = new Map<string, number[]>(commands.map((c) => [c.name, []]))
    const rss = new Map<string, number[]>(commands.map((c) => [c.name, []]))
    // One warm-up round (file system caches), not counted.
    for (const c of commands) await run(['--import', MAXRSS_HOOK, ...c.args])
    for (let i = 0; i < RUNS; i++) {
      for (const c of commands) {
        const r = await run(['--import', MAXRSS_HOOK, ...c.args])
        ms.get(c.name)!.push(r.ms)
        rss.get(c.name)!.push(r.maxrssKb / 1024)
      }
      log(`round ${i + 1}/${RUNS}`)
    }
    const loadAfter = loadavg()
    const rows = commands.map((c) => {
      const xs = ms.get(c.name)!
      return `| \`${c.name}\` | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${median(rss.get(c.name)!).toFixed(0)} |`
    })
    const fmt = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ')
    const text = [
      `# bench:startup, ${started.toISOString()}`,
      '',
      `\`${BIN}\`; ${cpus().length} cores, Node ${process.version}, load average ${fmt(loadBefore)} before, ${fmt(loadAfter)} after; ${RUNS} runs each, round-robin, after one warm-up round.`,
      '',
      '| command | median ms | min ms | max ms | peak RSS MB (median) |',
      '|---|---:|---:|---:|---:|',
      ...rows,
      ''
    ].join('\n')
    process.stdout.write(text)
    const file = resultsFile('startup', started)
    writeFileSync(file, text)
    log(`written to ${file}`)
  } finally {
    await serve.stop()
    await rm(work, { recursive: true, force: true })
  }
}

await main()
