#!/usr/bin/env node
/**
 * Build the browser bundle: src/browser/index.ts -> dist/browser/dagtuf.js
 * (ESM, minified, esbuild with platform 'browser').
 *
 * No Node built-in may reach the bundle. Two rules make that hold, and the
 * build FAILS (exit 1, naming the import and its importer) on any break:
 * - a module X.ts of src/ with a twin X.browser.ts beside it is replaced by
 *   the twin (src/util/node-builtins.ts, src/client/node-io.ts: the only
 *   places where browser-reachable code touches Node);
 * - any other import of a Node built-in (`node:fs`, `fs`, `crypto`...) is
 *   an error, and the bundle's input list (esbuild's metafile) is checked
 *   again afterwards for anything under `node:` or a built-in name.
 *
 * Usage: node scripts/build-browser.mjs [--entry FILE] [--outfile FILE] [--report]
 * `--report` prints the bundle's raw and gzipped sizes (npm run bench:browser).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const ENTRY = join(ROOT, 'src', 'browser', 'index.ts')
export const OUTFILE = join(ROOT, 'dist', 'browser', 'dagtuf.js')
/** The goal of issue 13, gzipped. */
export const GOAL_GZIP_BYTES = 150 * 1024

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split('/')[0]]))

/** Whether an import path names a Node built-in. */
export function isNodeBuiltin (path) {
  if (path.startsWith('node:')) return true
  return BUILTINS.has(path) || BUILTINS.has(path.split('/')[0])
}

export const browserTwins = {
  name: 'dagtuf-browser-twins',
  setup (build) {
    // Relative imports of src/ modules: a twin X.browser.ts replaces X.ts.
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.startsWith(join(ROOT, 'src') + '/')) return undefined
      const abs = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'))
      if (abs.endsWith('.browser.ts')) return undefined
      const twin = abs.replace(/\.ts$/, '.browser.ts')
      return existsSync(twin) ? { path: twin } : undefined
    })
    // Every Node built-in, by either name, is an error.
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point' || !isNodeBuiltin(args.path)) return undefined
      return { errors: [{ text: `the Node built-in "${args.path}" would reach the browser bundle (imported by ${relative(ROOT, args.importer)})` }] }
    })
  }
}

/**
 * Build the bundle. Resolves with its bytes and sizes; rejects (an esbuild
 * error naming every offending import) when a Node built-in is reached.
 */
export async function buildBrowser ({ entry = ENTRY, outfile = OUTFILE, minify = true } = {}) {
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify,
    sourcemap: false,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
    plugins: [browserTwins]
  })
  const inputs = Object.keys(result.metafile.inputs)
  const leaked = inputs.filter((p) => p.startsWith('node:') || isNodeBuiltin(p))
  if (leaked.length > 0) throw new Error(`Node built-ins in the browser bundle: ${leaked.join(', ')}`)
  const bytes = readFileSync(outfile)
  return { outfile, inputs, bytes: bytes.byteLength, gzipBytes: gzipSync(bytes, { level: 9 }).byteLength }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const opt = (name) => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1] }
  const entry = opt('--entry') ?? ENTRY
  const outfile = opt('--outfile') ?? OUTFILE
  mkdirSync(dirname(outfile), { recursive: true })
  try {
    const r = await buildBrowser({ entry, outfile })
    const kb = (n) => (n / 1024).toFixed(1)
    if (args.includes('--report')) {
      console.log(`browser bundle ${relative(ROOT, r.outfile)}: ${kb(r.bytes)} KiB, ${kb(r.gzipBytes)} KiB gzipped (goal <= ${kb(GOAL_GZIP_BYTES)} KiB gzipped: ${r.gzipBytes <= GOAL_GZIP_BYTES ? 'met' : 'NOT met'}), ${r.inputs.length} modules`)
      writeFileSync(join(dirname(outfile), 'size.json'), JSON.stringify({ bytes: r.bytes, gzipBytes: r.gzipBytes, modules: r.inputs.length }) + '\n')
    } else {
      console.log(`${relative(ROOT, r.outfile)}: ${kb(r.bytes)} KiB (${kb(r.gzipBytes)} KiB gzipped)`)
    }
  } catch (e) {
    const errors = e?.errors ?? []
    for (const err of errors) console.error(`error: ${err.text}${err.location ? ` (${err.location.file}:${err.location.line})` : ''}`)
    if (errors.length === 0) console.error(`error: ${e?.message ?? e}`)
    process.exit(1)
  }
}
