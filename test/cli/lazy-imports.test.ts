/**
 * What a cold `dagtuf client get --gateway URL` loads (bench/results/client-cost-2026-11-29.md):
 * the static imports reachable from the CLI's entry and the client command
 * must not include the publisher, the server, libp2p/Helia, the CAR reader,
 * undici or the dag-pb/UnixFS decoders; those are loaded by `import()` in the
 * code paths that need them. A static import added back fails here.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src')

/** Static `import ... from` / `export ... from` / `import '...'` specifiers, not `import type` nor `import()`. */
const STATIC = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?'([^']+)'/gm

/** Files under src/ and packages statically reachable from `entries`. */
function closure (entries: string[]): { files: Set<string>, packages: Set<string> } {
  const files = new Set<string>()
  const packages = new Set<string>()
  const queue = entries.map((e) => join(SRC, e))
  for (let f = queue.pop(); f !== undefined; f = queue.pop()) {
    if (files.has(f)) continue
    files.add(f)
    for (const m of readFileSync(f, 'utf8').matchAll(STATIC)) {
      const spec = m[1]!
      if (spec.startsWith('.')) {
        const ts = resolve(dirname(f), spec.replace(/\.js$/, '.ts'))
        if (!existsSync(ts)) throw new Error(`${relative(SRC, f)}: cannot resolve ${spec}`)
        queue.push(ts)
      } else if (!spec.startsWith('node:')) {
        const parts = spec.split('/')
        packages.add(spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!)
      }
    }
  }
  return { files: new Set([...files].map((f) => relative(SRC, f))), packages }
}

const HEAVY_PACKAGES = ['helia', '@helia/bitswap', '@helia/ipns', 'libp2p', '@libp2p/tcp', 'undici', '@ipld/dag-pb', 'ipfs-unixfs', 'ipfs-unixfs-importer', 'blockstore-fs', 'datastore-fs']

describe('cli: lazy imports on the client path', () => {
  it('the CLI entry loads no command module until a command runs', () => {
    const { files } = closure(['cli/main.ts'])
    expect([...files].filter((f) => f.startsWith('cli/commands/'))).toEqual([])
  })

  it('client get --gateway loads neither the publisher, the server, libp2p/Helia, the CAR reader, undici nor the UnixFS decoders', () => {
    const { files, packages } = closure(['cli/main.ts', 'cli/commands/client.ts'])
    // The walk does see the client itself (a walk that found nothing would pass trivially).
    expect(files.has('client/updater.ts')).toBe(true)
    expect(files.has('blocks/gateway-source.ts')).toBe(true)
    expect(packages.has('multiformats')).toBe(true)
    expect([...files].filter((f) => f.startsWith('publish/') || f.startsWith('server/') || ['blocks/car.ts', 'blocks/peer-source.ts', 'blocks/repo-node.ts', 'blocks/helia-runtime.ts'].includes(f))).toEqual([])
    expect([...packages].filter((p) => HEAVY_PACKAGES.includes(p))).toEqual([])
  })

  it('the client loads @opentelemetry/api only by import(), once an SDK registered with it (src/client/tracing.ts)', () => {
    const { files, packages } = closure(['cli/main.ts', 'cli/commands/client.ts', 'client/index.ts'])
    expect(files.has('client/tracing.ts')).toBe(true)
    expect(packages.has('@opentelemetry/api')).toBe(false)
    expect(readFileSync(join(SRC, 'client', 'tracing.ts'), 'utf8')).toContain("import('@opentelemetry/api')")
  })

  it('the commands that only read a repository (status, head, log, drafts, draft show) load neither the node, Helia, the stores, the engine nor the keys\' ciphers at start', () => {
    const { files, packages } = closure(['cli/main.ts', 'cli/commands/read.ts'])
    expect(files.has('publish/state.ts')).toBe(true)
    expect(files.has('blocks/repo-files.ts')).toBe(true)
    expect([...files].filter((f) => ['publish/engine.ts', 'publish/commit.ts', 'publish/sign.ts', 'publish/export.ts', 'publish/pkcs11.ts', 'blocks/repo-node.ts', 'blocks/helia-runtime.ts', 'blocks/car.ts'].includes(f))).toEqual([])
    expect([...packages].filter((p) => HEAVY_PACKAGES.includes(p) || p === '@ipld/car')).toEqual([])
  })
})
