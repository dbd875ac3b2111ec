/**
 * `npm run bench:add` — `dagtuf add` of N small files through the CLI, one
 * folder argument (issue 8: "add of 100,000 small files <= 60 s").
 *
 * Writes N files of 200 bytes (bench/common.ts content(i)) under a folder
 * tree of at most 1,000 files a folder, creates a repository with
 * `dagtuf init`, then times `dagtuf add --dir REPO FOLDER` in a fresh process
 * (wall time from spawn to exit, its peak RSS from VmHWM through the
 * bench/peak-rss.ts hook). Staging only: nothing is published. The sizes come
 * from BENCH_ADD_SIZES (default 10000,100000); the result is printed and
 * written to bench/results/add-<date>.md.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN, MAXRSS_HOOK, ROOT, content, resultsFile } from './common.js'

const SIZES = (process.env.BENCH_ADD_SIZES ?? '10000,100000').split(',').map(Number)
const PER_FOLDER = 1000
const log = (s: string): void => { process.stderr.write(s + '\n') }

interface Ran { ms: number, rssMb: number, out: string }

/** `node ...args`; wall time, its peak RSS (the hook prints `RESULT maxrss_kb=N` at exit), stdout. */
async function node (args: string[]): Promise<Ran> {
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', MAXRSS_HOOK, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('exit', (code) => {
      const ms = performance.now() - started
      const rss = /RESULT maxrss_kb=(\d+)/.exec(out + err)
      if (code !== 0) reject(new Error(`${args.join(' ').slice(0, 200)} exited ${code}: ${err.slice(0, 2000)}`))
      else resolve({ ms, rssMb: rss === null ? NaN : Number(rss[1]) / 1024, out })
    })
  })
}

async function writeFiles (dir: string, n: number): Promise<void> {
  for (let f = 0; f * PER_FOLDER < n; f++) {
    const sub = join(dir, `d${String(f).padStart(4, '0')}`)
    await mkdir(sub, { recursive: true })
    const writes: Array<Promise<void>> = []
    for (let i = f * PER_FOLDER; i < Math.min(n, (f + 1) * PER_FOLDER); i++) writes.push(writeFile(join(sub, `file-${i}.txt`), content(i)))
    await Promise.all(writes)
  }
}

const rows: string[] = []
const before = loadavg().map((x) => x.toFixed(2)).join(' ')
const startedAt = new Date()
for (const n of SIZES) {
  const work = await mkdtemp(join(tmpdir(), `dagtuf-add-${n}-`))
  try {
    const files = join(work, 'pkg')
    await writeFiles(files, n)
    const repo = join(work, 'repo')
    await node([BIN, 'init', '--dir', repo])
    log(`[${n}] dagtuf add --dir REPO FOLDER (${n.toLocaleString('en')} files)...`)
    const r = await node([BIN, 'add', '--dir', repo, files, '--json'])
    const staged = JSON.parse(r.out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as Record<string, unknown>
    const count = Array.isArray(staged.added) ? staged.added.length : Number(staged.count ?? staged.files ?? NaN)
    const blockFiles = (await readdir(join(repo, 'blocks'), { recursive: true })).filter((f) => f.endsWith('.data')).length
    log(`[${n}]   ${(r.ms / 1000).toFixed(1)} s, ${(r.ms / n).toFixed(2)} ms a file, peak RSS ${r.rssMb.toFixed(0)} MB, ${blockFiles} block files`)
    rows.push(`| ${n.toLocaleString('en')} | ${(r.ms / 1000).toFixed(1)} s | ${(r.ms / n).toFixed(2)} ms | ${r.rssMb.toFixed(0)} MB | ${Number.isFinite(count) ? count.toLocaleString('en') : 'see --json'} | ${blockFiles.toLocaleString('en')} | ${n >= 100_000 ? (r.ms <= 60_000 ? 'met' : 'NOT met') : ''} |`)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
const after = loadavg().map((x) => x.toFixed(2)).join(' ')
const text = [
  `# npm run bench:add — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `node ${process.version}, ${cpus().length} cores; load average before ${before}, after ${after}. One run each (a fresh \`dagtuf add --dir REPO FOLDER --json\` process; wall time from spawn to exit, staging only).`,
  '',
  '| files | wall | per file | peak RSS | staged | block files | goal: 100k ≤ 60 s |',
  '|---:|---:|---:|---:|---:|---:|:---|',
  ...rows,
  ''
].join('\n')
console.log('\n' + text)
const file = resultsFile('add', startedAt)
await writeFile(file, text)
log(`written to ${file}`)
