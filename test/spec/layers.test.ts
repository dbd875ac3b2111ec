/**
 * Imports in src/ point down the layers only.
 *
 *   cli/                      commands (may use the server)
 *   server/   browser/        the HTTP service; the browser entry point (dagtuf/browser)
 *   client/   publish/        the two workflows (neither uses the other)
 *   history/                  the history graph and its drawings (no Node built-in)
 *   relations/                <-, <-?, <-* over a loader
 *   validate/                 VALID (pure: no block source, no file system)
 *   shard/                    sharded maps: canonical HAMT nodes, lookups, updates, diffs
 *   blocks/                   where bytes live (uses model/ for errors, caps, hashes)
 *   model/                    types, codec, keys, errors
 *   util/                     shared helpers at the bottom
 *
 * `src/index.ts` and the other modules at the top of src/ are the package's
 * front doors and may import any layer. A relative import (static `from`,
 * `export ... from` or dynamic `import()`) whose target is in a layer that
 * the importing layer may not use fails this test.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src')

/** For each layer, the layers it may import (besides itself). */
export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  util: [],
  model: ['util'],
  blocks: ['model', 'util'],
  shard: ['model', 'util'],
  validate: ['shard', 'model', 'util'],
  relations: ['validate', 'shard', 'model', 'util'],
  client: ['relations', 'validate', 'shard', 'blocks', 'model', 'util'],
  publish: ['relations', 'validate', 'shard', 'blocks', 'model', 'util'],
  history: ['relations', 'validate', 'shard', 'model', 'util'],
  server: ['client', 'publish', 'relations', 'validate', 'shard', 'blocks', 'model', 'util'],
  browser: ['client', 'history', 'blocks', 'shard', 'validate', 'relations', 'model', 'util'],
  cli: ['server', 'client', 'history', 'publish', 'relations', 'validate', 'shard', 'blocks', 'model', 'util']
}

const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)'(\.{1,2}\/[^']+)'/g

/** The relative module specifiers a source file imports or re-exports. */
export function relativeImports (source: string): string[] {
  return [...source.matchAll(SPEC)].map((m) => m[1]!)
}

/** The layer of a file under src/ (its first folder), or '' for the front modules at the top. */
export function layerOf (file: string): string {
  const parts = relative(SRC, file).split(sep)
  return parts.length === 1 ? '' : parts[0]!
}

/** Whether a file in layer `from` may import a file in layer `to`. */
export function mayImport (from: string, to: string): boolean {
  if (from === '' || from === to) return true
  const allowed = MAY_IMPORT[from]
  return allowed !== undefined && allowed.includes(to)
}

function sourceFiles (dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...sourceFiles(p))
    else if (e.name.endsWith('.ts')) out.push(p)
  }
  return out
}

describe('layers of src/', () => {
  it('the import scanner finds static, re-exported, side-effect and dynamic relative imports', () => {
    const src = "import { a } from '../model/a.js'\nexport * from './b.js'\nimport '../polyfill.js'\nconst m = await import('../blocks/c.js')\nimport x from 'node:fs'"
    expect(relativeImports(src)).toEqual(['../model/a.js', './b.js', '../polyfill.js', '../blocks/c.js'])
    expect(mayImport('client', 'blocks')).toBe(true)
    expect(mayImport('blocks', 'client')).toBe(false)
    expect(mayImport('client', 'publish')).toBe(false)
    expect(mayImport('validate', 'blocks')).toBe(false)
    expect(mayImport('', 'cli')).toBe(true)
  })

  it('every folder of src/ is a known layer', () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()
    expect(folders).toEqual(Object.keys(MAY_IMPORT).sort())
  })

  it('no import in src/ points up a layer or sideways between the workflows', () => {
    const files = sourceFiles(SRC)
    expect(files.length).toBeGreaterThan(20)
    const bad: string[] = []
    let seen = 0
    for (const f of files) {
      const from = layerOf(f)
      for (const spec of relativeImports(readFileSync(f, 'utf8'))) {
        const target = resolve(dirname(f), spec)
        const to = relative(SRC, target).startsWith('..') ? '(outside src)' : layerOf(target)
        seen++
        if (!mayImport(from, to)) bad.push(`${relative(SRC, f)} imports ${spec} (${from} -> ${to})`)
      }
    }
    expect(seen).toBeGreaterThan(100)
    expect(bad, bad.join('\n')).toEqual([])
  })
})
