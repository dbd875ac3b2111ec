#!/usr/bin/env node
/**
 * Build the client's start-up snapshot, dist/cli/client.blob, which
 * bin/dagtuf runs the client commands from (src/client-snapshot.ts says why
 * and what is in it).
 *
 * 1. Bundle src/client-snapshot.ts as one CommonJS file
 *    (dist/cli/client-snapshot.cjs): a snapshot cannot load modules at run
 *    time, so every dependency the client commands use is inside. What they
 *    must not use from a snapshot (Helia, libp2p, the publisher, the other
 *    commands) is replaced by a stub module that throws: src/cli/fast-path.ts
 *    sends the invocations that need them to bin/dagtuf.js, and a stub that
 *    is reached anyway is an internal error (exit 3), not a quiet difference.
 * 2. Make a small repository with the ordinary CLI (two publishes, a few
 *    hundred targets, one multi-block file) and export it as CAR files: the
 *    fixture of the warm-up.
 * 3. `node --snapshot-blob dist/cli/client.blob --build-snapshot
 *    dist/cli/client-snapshot.cjs`: evaluates the bundle, runs the warm-up
 *    (real client commands on the fixture) and writes the heap. A warm-up
 *    that fails fails the build, and no blob is left behind.
 *
 * The blob only fits the Node binary that made it (Node refuses any other):
 * dist/cli/client.blob.node records which one (inode, size, times), and
 * bin/dagtuf uses the blob only when the `node` on PATH is that very file.
 * The blob is not in the npm package (package.json `files`): it is made
 * where it runs, by `npm run build` or `prepare`.
 *
 * Usage: node scripts/build-snapshot.mjs [--optional]   (after tsc and build-cli.mjs)
 * With --optional (`npm run build`, `prepare`), a failed build is a warning:
 * without a blob the command is the ordinary CLI, slower to start and
 * otherwise the same. The tests' global setup builds it without.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'
import { NODE_BUNDLE } from './build-cli.mjs'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const OUTDIR = join(ROOT, 'dist', 'cli')
export const BLOB = join(OUTDIR, 'client.blob')
const ENTRY = join(ROOT, 'src', 'client-snapshot.ts')
const BUNDLE = join(OUTDIR, 'client-snapshot.cjs')
const JS_BIN = join(ROOT, 'bin', 'dagtuf.js')

/** Packages the snapshot must not hold (they need `import()` at run time, or are large and never used by its commands). */
const STUB_PACKAGES = /^(helia$|@helia\/|libp2p$|@libp2p\/|@chainsafe\/|ioredis$|pkcs11js$|@opentelemetry\/sdk)/
/** Modules of ours the client commands reach only through the options fast-path.ts sends elsewhere. */
const STUB_MODULES = [
  /\/src\/publish\//,
  /\/src\/server\//,
  /\/src\/blocks\/(peer-source|repo-node|repo-files|helia-runtime|helia)\.ts$/,
  /\/src\/cli\/commands\/(?!client)[^/]+\.ts$/
]

const stubs = {
  name: 'dagtuf-snapshot-stubs',
  setup (build) {
    // The top-level await of node-builtins.ts cannot be in CommonJS: its twin has the same exports.
    build.onResolve({ filter: /node-builtins\.js$/ }, (args) => ({ path: join(ROOT, 'src', 'util', 'node-builtins.snapshot.ts') }))
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || args.kind === 'entry-point') return undefined
      return STUB_PACKAGES.test(args.path) ? { path: args.path, namespace: 'stub' } : undefined
    })
    build.onResolve({ filter: /^\./ }, (args) => {
      const full = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'))
      return STUB_MODULES.some((re) => re.test(full)) ? { path: full, namespace: 'stub' } : undefined
    })
    build.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`dagtuf: internal error: ${args.path.replace(ROOT + '/', '')} is not in the client snapshot (src/cli/fast-path.ts should have sent this command to bin/dagtuf.js)`)})`,
      loader: 'js'
    }))
  }
}

export async function bundleSnapshot () {
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    outfile: BUNDLE,
    ...NODE_BUNDLE,
    format: 'cjs',
    plugins: [stubs]
  })
  return result.metafile.outputs[BUNDLE.replace(ROOT + '/', '')]?.bytes ?? statSync(BUNDLE).size
}

function dagtuf (cwd, ...args) {
  return JSON.parse(execFileSync(process.execPath, [JS_BIN, '--json', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))
}

/** A small repository with two published heads, exported as CAR files; returns the fixture folder. */
export function makeFixture () {
  const dir = mkdtempSync(join(tmpdir(), 'dagtuf-snapshot-fixture-'))
  const repo = join(dir, 'repo')
  const init = dagtuf(dir, 'init', '--dir', repo)
  const files = join(dir, 'files')
  mkdirSync(files)
  for (let i = 0; i < 300; i++) writeFileSync(join(files, `f-${i}.txt`), `file ${i}\n`)
  // One file of several blocks (UnixFS chunks), so that the check of a dag-pb target is warmed too.
  writeFileSync(join(files, 'big.bin'), Buffer.alloc(600 * 1024, 7))
  dagtuf(dir, 'add', '--dir', repo, files, '--path', 'pkg')
  const first = dagtuf(dir, 'publish', '--dir', repo)
  writeFileSync(join(dir, 'new.txt'), 'new\n')
  dagtuf(dir, 'add', '--dir', repo, join(dir, 'new.txt'), '--path', 'pkg/new.txt')
  dagtuf(dir, 'publish', '--dir', repo)
  const car = join(dir, 'repo.car')
  dagtuf(dir, 'export', '--dir', repo, '--car', car, '--since', first.timestamp, '--content')
  writeFileSync(join(dir, 'fixture.json'), JSON.stringify({ car, root: init.root, first: first.timestamp, path: 'pkg/big.bin' }))
  return dir
}

/** This node binary's inode, size, modification and change times (seconds), as GNU `stat -L -c '%i %s %Y %Z'` prints them. */
export function nodeFingerprint () {
  const st = statSync(realpathSync(process.execPath), { bigint: true })
  return `${st.ino} ${st.size} ${st.mtimeMs / 1000n} ${st.ctimeMs / 1000n}`
}

export async function buildSnapshot () {
  rmSync(BLOB, { force: true })
  rmSync(BLOB + '.node', { force: true })
  const bytes = await bundleSnapshot()
  const fixture = makeFixture()
  try {
    execFileSync(process.execPath, ['--snapshot-blob', BLOB, '--build-snapshot', BUNDLE], {
      cwd: ROOT,
      env: { ...process.env, DAGTUF_SNAPSHOT_FIXTURE: fixture },
      stdio: ['ignore', 'inherit', 'inherit']
    })
    if (!existsSync(join(fixture, 'warmed'))) throw new Error('the snapshot warm-up did not finish')
  } catch (e) {
    rmSync(BLOB, { force: true })
    throw e
  } finally {
    rmSync(fixture, { recursive: true, force: true })
  }
  // Which node made it (bin/dagtuf compares with `stat -L -c '%i %s %Y %Z'` of the node it would run).
  writeFileSync(BLOB + '.node', nodeFingerprint() + '\n')
  return { bundleBytes: bytes, blobBytes: statSync(BLOB).size }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = performance.now()
  let r
  try {
    r = await buildSnapshot()
  } catch (e) {
    if (!process.argv.includes('--optional')) throw e
    console.warn(`warning: the client snapshot was not built (bin/dagtuf runs the ordinary CLI instead): ${e instanceof Error ? e.message : String(e)}`)
    process.exit(0)
  }
  console.log(`${BLOB.replace(ROOT + '/', '')}: ${(r.blobBytes / 1048576).toFixed(1)} MiB (bundle ${(r.bundleBytes / 1024).toFixed(1)} KiB), ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}
