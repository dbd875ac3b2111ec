/**
 * The browser bundle (scripts/build-browser.mjs): it builds, no Node
 * built-in reaches it, and the build FAILS when one would.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error: a plain .mjs script without declarations
import { buildBrowser, isNodeBuiltin, GOAL_GZIP_BYTES, ROOT } from '../../scripts/build-browser.mjs'

interface Built { outfile: string, inputs: string[], bytes: number, gzipBytes: number }
const build = buildBrowser as (o?: { entry?: string, outfile?: string }) => Promise<Built>

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'dagtuf-browser-build-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

async function failureOf (entrySource: string, name: string): Promise<string> {
  const entry = join(ROOT as string, 'src', 'browser', `.test-entry-${name}-${process.pid}.ts`)
  await writeFile(entry, entrySource)
  try {
    await build({ entry, outfile: join(dir, `${name}.js`) })
    return 'built'
  } catch (e) {
    const errors = (e as { errors?: Array<{ text: string }> }).errors
    return errors !== undefined && errors.length > 0 ? errors.map((x) => x.text).join('\n') : String(e)
  } finally {
    await rm(entry, { force: true })
  }
}

describe('the browser bundle', () => {
  it('builds src/browser/index.ts without any Node built-in, replacing the node-only modules by their .browser twins', async () => {
    const r = await build({ outfile: join(dir, 'dagtuf.js') })
    expect(r.inputs.length).toBeGreaterThan(50)
    expect(r.inputs.filter((p) => isNodeBuiltin(p) as boolean)).toEqual([])
    expect(r.inputs).toContain('src/util/node-builtins.browser.ts')
    expect(r.inputs).toContain('src/client/node-io.browser.ts')
    expect(r.inputs).not.toContain('src/util/node-builtins.ts')
    expect(r.inputs).not.toContain('src/client/node-io.ts')
    expect(r.inputs).not.toContain('src/client/store.ts')
    expect(r.inputs).toContain('src/client/idb-store.ts')
    // The size goal of issue 13 (npm run bench:browser prints the figure).
    expect(r.gzipBytes).toBeLessThanOrEqual(GOAL_GZIP_BYTES as number)
  }, 60_000)

  it('fails, naming the import and the importer, when a Node built-in would reach it (node: or bare, static or dynamic, directly or through src/)', async () => {
    expect(await failureOf("import { readFile } from 'node:fs/promises'\nexport const f = readFile\n", 'prefixed')).toMatch(/the Node built-in "node:fs\/promises" would reach the browser bundle \(imported by src\/browser\/\.test-entry-prefixed/)
    expect(await failureOf("import { createHash } from 'crypto'\nexport const f = createHash\n", 'bare')).toMatch(/the Node built-in "crypto" would reach/)
    expect(await failureOf("export const f = async () => await import('node:os')\n", 'dynamic')).toMatch(/the Node built-in "node:os" would reach/)
    // A module of src/ without a browser twin that uses the file system.
    expect(await failureOf("export { writeFileAtomic } from '../util/durable-fs.js'\n", 'indirect')).toMatch(/the Node built-in "node:fs(\/promises)?" would reach the browser bundle \(imported by src\/util\/durable-fs\.ts\)/)
    // The same entry that imports a module with a twin builds.
    expect(await failureOf("export { nodeCrypto } from '../util/node-builtins.js'\n", 'twin')).toBe('built')
  }, 60_000)

  it('is what npm run build:browser and bench:browser run, and what package.json exports as dagtuf/browser', async () => {
    const { readFile } = await import('node:fs/promises')
    const pkg = JSON.parse(await readFile(join(ROOT as string, 'package.json'), 'utf8')) as { exports: Record<string, unknown>, scripts: Record<string, string> }
    expect(pkg.exports['./browser']).toEqual({ types: './dist/src/browser/index.d.ts', default: './dist/browser/dagtuf.js' })
    expect(pkg.scripts['build:browser']).toBe('node scripts/build-browser.mjs')
    expect(pkg.scripts['bench:browser']).toBe('node scripts/build-browser.mjs --report')
  })
})
