/**
 * The library as a consumer sees it (issue 14 item 2): README.md's ```ts
 * blocks compiled and run as written against the built package, and the
 * published declarations of every entry point compiled with
 * `skipLibCheck: false` (so a dependency's declarations are checked too).
 *
 * One tsc run, in a temporary folder where `node_modules/dagtuf` links to
 * this package (it resolves through `exports`, to dist/, as an installed
 * copy would): a consumer file importing every entry point, and one file per
 * README block, with a Node 20 consumer's settings (ES2022, NodeNext, strict,
 * the default lib). Then each block runs with node, in README order, in that
 * folder. A block whose preceding lines name a `dagtuf serve ...` command gets
 * that server, started from the CLI (port 8080 replaced by a free one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN, ROOT, ensureBuilt } from './helpers/build.js'
import { fencedBlocks, readmeText } from './helpers/readme-blocks.js'
import { freePort } from './helpers/net.js'

const text = readmeText()
const lines = text.split('\n')
const blocks = fencedBlocks(text, 'ts')

const CONSUMER = `
import * as dagtuf from 'dagtuf'
import * as client from 'dagtuf/client'
import * as publish from 'dagtuf/publish'
import * as blocks from 'dagtuf/blocks'
import 'dagtuf/polyfill'

// A few of the published types in use, so that they are checked as a consumer uses them.
export const source: blocks.BlockSource = new dagtuf.GatewaySource('http://127.0.0.1:1')
export const options: client.UpdaterOptions = { dir: 'client', source }
export const open: (dir: string) => Promise<publish.Session> = publish.openSession
export const same: typeof dagtuf.blocks.GatewaySource = blocks.GatewaySource
export const updater: typeof client.Updater = dagtuf.Updater
`

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: false,
    outDir: 'out',
    rootDir: '.',
    typeRoots: [join(ROOT, 'node_modules', '@types')],
    types: ['node']
  },
  include: ['*.ts']
}

/** The `dagtuf serve ...` command in backticks in the few lines above a block, if any. */
function serveFor (line: number): string | undefined {
  const before = lines.slice(Math.max(0, line - 4), line - 1).join(' ')
  return /`dagtuf (serve [^`]*)`/.exec(before)?.[1]
}


async function waitFor (url: string, ms: number): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    try {
      if ((await fetch(url)).ok) return
    } catch { /* not listening yet */ }
    if (Date.now() > end) throw new Error(`${url} did not answer within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

const fileOf = (line: number): string => `readme-${line}.ts`

describe('the library as a consumer sees it', () => {
  let dir = ''
  let port = 0
  /** tsc's diagnostics, one per line (`file(line,col): error TS...`). */
  let diagnostics: string[] = []
  let failedAt: number | undefined
  const servers: ChildProcess[] = []

  beforeAll(async () => {
    await ensureBuilt()
    dir = await mkdtemp(join(tmpdir(), 'dagtuf-readme-lib-'))
    await mkdir(join(dir, 'node_modules'))
    await symlink(ROOT, join(dir, 'node_modules', 'dagtuf'))
    await writeFile(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }))
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2))
    await writeFile(join(dir, 'consumer.ts'), CONSUMER)
    port = await freePort()
    for (const b of blocks) await writeFile(join(dir, fileOf(b.line)), b.code.replace(/\b8080\b/g, String(port)))
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    const out = await promisify(execFile)(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { cwd: dir })
      .then((r) => r.stdout, (e: { stdout?: string, message: string }) => e.stdout ?? e.message)
    diagnostics = out.split('\n').filter((l) => l.includes(' error TS'))
  }, 120_000)

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL')
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('the declarations of every entry point compile with skipLibCheck false (a dependency\'s PromiseWithResolvers included) in a Node 20 consumer', () => {
    expect(diagnostics.filter((d) => !/(^|\/)readme-\d+\.ts\(/.test(d))).toEqual([])
  })

  it('finds the README\'s library blocks: a publisher and a client', () => {
    const runnable = blocks.filter((b) => b.notRun === undefined)
    expect(runnable.length).toBeGreaterThanOrEqual(2)
    expect(runnable.some((b) => b.code.includes('dagtuf/publish'))).toBe(true)
    expect(runnable.some((b) => b.code.includes('Updater.create'))).toBe(true)
  })

  for (const b of blocks) {
    const name = `README.md line ${b.line} (${b.section})`
    if (b.notRun !== undefined) {
      // Not run here (the reason is in the README), but it must compile as written.
      it(`${name}: not run (${b.notRun}); compiles`, () => {
        expect(diagnostics.filter((d) => d.startsWith(fileOf(b.line)))).toEqual([])
      })
      continue
    }
    it(`${name} compiles and runs as written`, async () => {
      if (failedAt !== undefined) throw new Error(`not run: the block at line ${failedAt} failed`)
      failedAt = b.line
      expect(diagnostics.filter((d) => d.startsWith(fileOf(b.line)))).toEqual([])
      const serve = serveFor(b.line)
      if (serve !== undefined) {
        const child = spawn(process.execPath, [BIN, ...serve.replace(/\b8080\b/g, String(port)).split(/\s+/)], { cwd: dir, stdio: 'ignore' })
        servers.push(child)
        await waitFor(`http://127.0.0.1:${port}/head`, 30_000)
      }
      try {
        const r = await promisify(execFile)(process.execPath, [join('out', fileOf(b.line).replace(/\.ts$/, '.js'))], { cwd: dir, timeout: 60_000 })
          .then((x) => ({ code: 0, ...x }), (e: { code: number, stdout: string, stderr: string }) => e)
        expect(r.code, `${name}: exit ${r.code}\n${r.stderr}\n${r.stdout}`).toBe(0)
      } finally {
        for (const s of servers.splice(0)) s.kill('SIGTERM')
      }
      failedAt = undefined
    }, 120_000)
  }

  it('the client block installed the publisher block\'s release, bytes checked', async () => {
    const { readFile } = await import('node:fs/promises')
    expect(await readFile(join(dir, 'app-2.0.checked.tgz'), 'utf8')).toBe('app 2.0')
  })
})
