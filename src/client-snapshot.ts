/**
 * The entry of the client's start-up snapshot (scripts/build-snapshot.mjs
 * bundles it as CommonJS and runs it under `node --build-snapshot`; the
 * result is dist/cli/client.blob). bin/dagtuf runs a client command as
 * `node --snapshot-blob dist/cli/client.blob bin/dagtuf.js ARGS...`.
 *
 * Why: a cold `dagtuf client get` spent about as long loading and compiling
 * its code as doing its work (issue 8's cold client). A snapshot is V8's
 * heap after this module ran, written to a file: the modules are already
 * evaluated, and every function the warm-up below called is already
 * compiled to bytecode, so a run starts where Node's own start-up ends.
 *
 * What is in it: the four client subcommands and everything they load, as
 * src/cli/fast-path.ts says; anything else (another command, `--peer`,
 * `--ipns`, `--repo`) is handed to the ordinary CLI, bin/dagtuf.js, in a
 * child process. The build replaces the modules the snapshot must not hold
 * with stubs that throw (scripts/build-snapshot.mjs): reaching one is a bug
 * (exit 3), never a silent difference.
 *
 * The warm-up runs the real commands (`client init`, `update`, `get`,
 * `list`) on a small repository exported as a CAR file: real state folders
 * in a temporary directory, real checks. Nothing of it stays in the heap
 * but compiled code and empty module caches: the state lives on disk, and
 * the folder is removed before the heap is written.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import v8 from 'node:v8'
import type { Io } from './cli/command.js'
import { main } from './cli/main.js'
import { snapshotCanRun } from './cli/fast-path.js'
import { frugalHeap } from './client/heap.js'
import { clientWantsFrugalHeap } from './cli/heap-policy.js'
import { clearKeyObjectCache } from './model/keys.js'

/**
 * What the snapshot runs. `argv` is `[JSBIN, ...ARGS]`: the ordinary CLI's
 * path (for the commands the snapshot does not hold), then the command.
 */
async function runFromSnapshot (argv: readonly string[]): Promise<number> {
  const [jsBin, ...args] = argv
  if (jsBin === undefined || !snapshotCanRun(args)) {
    if (jsBin === undefined || !existsSync(jsBin)) {
      process.stderr.write('dagtuf: the client snapshot was started without the path of bin/dagtuf.js; run bin/dagtuf instead\n')
      return 2
    }
    if (process.env.DAGTUF_LAUNCH_TRACE !== undefined && process.env.DAGTUF_LAUNCH_TRACE !== '') process.stderr.write('dagtuf: launch: handed over to bin/dagtuf.js\n')
    // Loaded here, not while the snapshot is built (Node warns about child_process in a snapshot); this file only ever runs as that CommonJS bundle.
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process')
    const r = spawnSync(process.execPath, [jsBin, ...args], { stdio: 'inherit' })
    if (r.error !== undefined) throw r.error
    return r.status ?? 1
  }
  // As bin/dagtuf.js: a closed pipe (`dagtuf ... | head`) is not an error of ours.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e })
  if (clientWantsFrugalHeap(args)) frugalHeap('client')
  return await main(args)
}

/** The fixture scripts/build-snapshot.mjs writes (fixture.json in its folder). */
interface Fixture {
  car: string
  root: string
  first: string
  path: string
}

/** Run the client commands on the fixture, so that their code is compiled into the snapshot. */
async function warmUp (folder: string): Promise<void> {
  const f = JSON.parse(readFileSync(join(folder, 'fixture.json'), 'utf8')) as Fixture
  const work = mkdtempSync(join(tmpdir(), 'dagtuf-snapshot-'))
  try {
    const run = async (args: string[], expected = 0): Promise<void> => {
      const said: string[] = []
      const io: Io = { out: () => {}, err: (line) => { said.push(line) }, tty: false }
      const code = await main(args, io)
      if (code !== expected) throw new Error(`warm-up: dagtuf ${args.join(' ')} exited ${code}, expected ${expected}: ${said.join('\n')}`)
    }
    const state = join(work, 'state')
    mkdirSync(join(work, 'out'))
    await run(['client', 'init', '--dir', state, '--root', f.root, '--car', f.car])
    await run(['client', 'update', '--dir', state, '--timestamp', f.first, '--car', f.car])
    await run(['client', 'get', '--dir', state, '--update', '--car', f.car, f.path, '-o', join(work, 'out', 'a')])
    await run(['--json', 'client', 'get', '--dir', state, '--car', f.car, f.path, '-o', join(work, 'out', 'b')])
    await run(['client', 'list', '--dir', state, '--car', f.car])
    await run(['client', 'get', '--dir', state, '--car', f.car, 'no/such/target', '-o', join(work, 'out', 'c')], 1)
    // A cold client: init, then straight to the newest head.
    const cold = join(work, 'cold')
    await run(['client', 'init', '--dir', cold, '--root', f.root, '--car', f.car])
    await run(['client', 'get', '--dir', cold, '--update', '--car', f.car, f.path, '-o', join(work, 'out', 'd')])
  } finally {
    rmSync(work, { recursive: true, force: true })
    clearKeyObjectCache()
  }
  writeFileSync(join(folder, 'warmed'), 'ok\n')
}

if (v8.startupSnapshot.isBuildingSnapshot()) {
  v8.startupSnapshot.setDeserializeMainFunction(() => {
    // `node --snapshot-blob BLOB JSBIN ARGS...`: argv[0] is node, argv[1] JSBIN.
    runFromSnapshot(process.argv.slice(1)).then((code) => { process.exitCode = code }, (e: unknown) => {
      process.stderr.write(`dagtuf: internal error (please report it): ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
      process.exitCode = 3
    })
  })
  const fixture = process.env.DAGTUF_SNAPSHOT_FIXTURE
  if (fixture !== undefined) {
    warmUp(fixture).catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
      process.exitCode = 1
    })
  }
}
