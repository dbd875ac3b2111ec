#!/usr/bin/env node
/**
 * Build the command's bundle: src/bin.ts -> dist/cli/dagtuf.js plus the
 * chunks its commands load on demand (dist/cli/chunks/), ESM, for Node.
 *
 * Why: a cold `dagtuf client get` spent more time in Node's ESM loader than
 * in TUF. Unbundled it loads 98 modules (51 of ours, 47 of its
 * dependencies), each resolved, read, compiled and linked on its own; the
 * bundle loads about 30 chunks holding less than half the bytes (comments
 * and whitespace gone), which saves about 40 ms of CPU of about 190 on this
 * machine (bench/results/cli-bundle-*.md). Every command still loads only
 * what it needs: each dynamic import of src/cli/main.ts's command table
 * stays a separate chunk (esbuild's code splitting).
 *
 * Not minified beyond whitespace and syntax: names stay, so a stack trace
 * (exit 3, "please report") reads as the source; a linked source map sits
 * beside each file.
 *
 * Which dependencies are bundled: only the small, pure ESM ones the client's
 * path loads (BUNDLED below: multiformats, the IPLD codecs, cborg, noble).
 * Every other package (Helia, libp2p, ioredis, the optional native
 * pkcs11js, OpenTelemetry...) stays an import resolved from node_modules at
 * run time, exactly as without the bundle: some of them read files relative
 * to their own location (`require('../../package.json')`), which a bundle
 * would break.
 *
 * The library (`dagtuf`, `dagtuf/client`, ...) is not affected: its exports
 * stay tsc's per-module output in dist/src/.
 *
 * Usage: node scripts/build-cli.mjs
 */
import { rmSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const ENTRY = join(ROOT, 'src', 'bin.ts')
export const OUTDIR = join(ROOT, 'dist', 'cli')

/** Packages bundled into the chunks (by name, or scope with a trailing /). */
export const BUNDLED = ['multiformats', 'cborg', '@ipld/', '@noble/']

/** Every bare import outside BUNDLED stays external. */
const externalPackages = {
  name: 'dagtuf-cli-externals',
  setup (build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind === 'entry-point' || args.path.startsWith('node:')) return undefined
      const bundled = BUNDLED.some((b) => b.endsWith('/') ? args.path.startsWith(b) : args.path === b || args.path.startsWith(b + '/'))
      return bundled ? undefined : { path: args.path, external: true }
    })
  }
}

/** What both Node bundles share (this one and scripts/build-snapshot.mjs): Node 20, whitespace and syntax minified, names kept, linked source maps. */
export const NODE_BUNDLE = {
  bundle: true,
  platform: 'node',
  target: ['node20'],
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'silent',
  legalComments: 'none'
}

export async function buildCli ({ outdir = OUTDIR } = {}) {
  rmSync(outdir, { recursive: true, force: true })
  const result = await esbuild.build({
    entryPoints: { dagtuf: ENTRY },
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    ...NODE_BUNDLE,
    splitting: true,
    format: 'esm',
    plugins: [externalPackages]
  })
  const outputs = Object.keys(result.metafile.outputs).filter((p) => p.endsWith('.js'))
  return { outdir, files: outputs.length, bytes: outputs.reduce((n, p) => n + result.metafile.outputs[p].bytes, 0) }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const r = await buildCli()
    console.log(`${relative(ROOT, r.outdir)}/dagtuf.js: ${r.files} files, ${(r.bytes / 1024).toFixed(1)} KiB`)
  } catch (e) {
    for (const err of e?.errors ?? []) console.error(`error: ${err.text}${err.location ? ` (${err.location.file}:${err.location.line})` : ''}`)
    if ((e?.errors ?? []).length === 0) console.error(`error: ${e?.message ?? e}`)
    process.exit(1)
  }
}
