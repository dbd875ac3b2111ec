/**
 * README.md's shell blocks, run as written (issue 14 item 4), so that the
 * walk-throughs cannot rot: every ```sh block, in order, each in a fresh
 * `bash -e -o pipefail`, all in one temporary folder (so a later block sees
 * the files an earlier one made, as a reader following the README would).
 *
 * What the test provides, as a reader in a built clone has it:
 * - `dagtuf` and `npx dagtuf` run the built CLI (`node bin/dagtuf.js`), and
 *   `bin/` is there (a link to the clone's), so `node bin/dagtuf.js` works;
 * - `npm ci` and `npm run build` do nothing (the clone is built: vitest's
 *   global setup builds it); any other npm or npx command fails, so a block
 *   that needs one must be marked as not run;
 * - `node_modules/dagtuf` links to the package, so `import('dagtuf')` works;
 * - ports 8080 to 8089 are replaced by free ports (tests run in parallel here).
 *
 * A block that cannot run here is marked on the line above its fence with
 * `<!-- not run: REASON -->` (test/helpers/readme-blocks.ts); those are listed
 * as skipped tests, and pinned below so that marking one more is deliberate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm, symlink, mkdir, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { BIN, ROOT, ensureBuilt } from './helpers/build.js'
import { fencedBlocks, readmeText } from './helpers/readme-blocks.js'
import { freePort } from './helpers/net.js'

const blocks = fencedBlocks(readmeText(), 'sh')

const PRELUDE = `
dagtuf () { node "$DAGTUF_BIN" "$@"; }
npx () {
  if [ "$1" = dagtuf ]; then shift; node "$DAGTUF_BIN" "$@"
  else echo "README test: 'npx $*' is not run here (mark the block <!-- not run: REASON -->)" >&2; return 127; fi
}
npm () {
  case "$*" in
    ci|'run build') ;;
    *) echo "README test: 'npm $*' is not run here (mark the block <!-- not run: REASON -->)" >&2; return 127 ;;
  esac
}
`

/** Whether `program` is on the PATH. */
function onPath (program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, program)))
}


interface Ran { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** Runs one block in its own process group, which is killed afterwards (a server a failed block left behind). */
async function runBlock (cwd: string, script: string, timeoutMs: number): Promise<Ran> {
  const file = join(cwd, '.readme-block.sh')
  await writeFile(file, `${PRELUDE}\n${script}\n`)
  const child = spawn('bash', ['-e', '-o', 'pipefail', file], {
    cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DAGTUF_BIN: BIN, DAGTUF_PASSPHRASE: '' }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const killGroup = (): void => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* already gone */ } }
  const timer = setTimeout(() => { stderr += `\n[README test: block timed out after ${timeoutMs} ms]`; killGroup() }, timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => { resolve([c, s]) }))
  clearTimeout(timer)
  killGroup()
  return { code, signal, stdout, stderr }
}

describe('README.md shell blocks, run as written', () => {
  let dir = ''
  /** Each port 8080..8089 a block names, and the free port used instead. */
  const ports = new Map<string, number>()
  let failedAt: number | undefined

  beforeAll(async () => {
    await ensureBuilt()
    dir = await mkdtemp(join(tmpdir(), 'dagtuf-readme-'))
    await symlink(join(ROOT, 'bin'), join(dir, 'bin'))
    await mkdir(join(dir, 'node_modules'))
    await symlink(ROOT, join(dir, 'node_modules', 'dagtuf'))
    for (let p = 8080; p <= 8089; p++) {
      let free: number
      do free = await freePort(); while ([...ports.values()].includes(free))
      ports.set(String(p), free)
    }
  })

  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('finds the README\'s shell blocks, and every block marked not run says why', () => {
    expect(blocks.length).toBeGreaterThan(8)
    for (const b of blocks) if (b.notRun !== undefined) expect(b.notRun.length, `line ${b.line}`).toBeGreaterThan(10)
    // Pinned: marking one more block as not run is a decision, made here too.
    expect(blocks.filter((b) => b.notRun !== undefined).map((b) => b.section)).toEqual([
      'Two commands', 'IPFS interop: trustless gateway, libp2p peer, Kubo'
    ])
  })

  for (const b of blocks) {
    const name = `line ${b.line} (${b.section})`
    if (b.notRun !== undefined) {
      // Not run here (the reason is in the README), but still read: it must parse as shell.
      it(`${name}: not run (${b.notRun}); parses as shell`, async () => {
        const r = await promisify(execFile)('bash', ['-n', '-c', b.code]).then(() => 0, (e: { code?: number }) => e.code ?? 1)
        expect(r).toBe(0)
      })
      continue
    }
    const absent = (b.needs ?? []).filter((p) => !onPath(p))
    if (absent.length > 0) {
      // Skipped where a program it needs is absent; still read: it must parse as shell.
      it(`${name}: skipped, ${absent.join(' and ')} not installed (.ci/run installs it); parses as shell`, async () => {
        const r = await promisify(execFile)('bash', ['-n', '-c', b.code]).then(() => 0, (e: { code?: number }) => e.code ?? 1)
        expect(r).toBe(0)
      })
      continue
    }
    it(`${name} runs`, async () => {
      // A later block builds on an earlier one's files: once one fails, say so instead of a second, confusing failure.
      if (failedAt !== undefined) throw new Error(`not run: the block at line ${failedAt} failed`)
      const script = b.code.replace(/\b808\d\b/g, (p) => String(ports.get(p)))
      const r = await runBlock(dir, script, 90_000)
      if (r.code !== 0) {
        failedAt = b.line
        throw new Error(`README.md line ${b.line}: exit ${r.code ?? r.signal}\n--- stderr\n${r.stderr.slice(-4000)}\n--- stdout\n${r.stdout.slice(-2000)}`)
      }
    }, 120_000)
  }
})
