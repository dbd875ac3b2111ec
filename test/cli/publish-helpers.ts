/**
 * Helpers for the publisher's end-to-end tests: run the CLI in-process and
 * capture its one JSON object, fingerprint a repository's state, and check a
 * CAR or a repository's head with the verify code (VALID over a loader).
 */
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { expect } from 'vitest'
import { readCar } from '../../src/blocks/car.js'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { main } from '../../src/cli/main.js'
import { parseCid } from '../../src/model/hash.js'
import { succStar } from '../../src/relations/index.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { validateTimestamp } from '../../src/validate/valid.js'

export interface Ran {
  code: number
  json: Record<string, unknown>
  errorCode?: string
}

/** Run `dagtuf ...args --json` in this process. */
export async function cli (...args: string[]): Promise<Ran> {
  const out: string[] = []
  const code = await main([...args, '--json'], { out: (l) => { out.push(l) }, err: () => {}, tty: false })
  expect(out, `exactly one JSON object from dagtuf ${args.join(' ')}`).toHaveLength(1)
  const json = JSON.parse(out[0]!) as Record<string, unknown>
  const err = json.error as { code?: string } | undefined
  return { code, json, ...(err?.code !== undefined ? { errorCode: err.code } : {}) }
}

/** Like cli() but the command must succeed. */
export async function ok (...args: string[]): Promise<Record<string, unknown>> {
  const r = await cli(...args)
  expect(r.code, `dagtuf ${args.join(' ')} -> ${JSON.stringify(r.json)}`).toBe(0)
  return r.json
}

async function walk (dir: string, root: string, out: Map<string, string>): Promise<void> {
  let names: string[]
  try { names = await readdir(dir) } catch { return }
  for (const n of names.sort()) {
    const p = join(dir, n)
    const rel = relative(root, p)
    if (rel === 'datastore' || rel === 'repo.lock') continue
    const st = await stat(p)
    if (st.isDirectory()) await walk(p, root, out)
    else out.set(rel, rel.startsWith('blocks') ? 'block' : createHash('sha256').update(await readFile(p)).digest('hex'))
  }
}

/** Every file of a repository (block files by name only), for before/after comparisons. */
export async function fingerprint (dir: string): Promise<Record<string, string>> {
  const m = new Map<string, string>()
  await walk(dir, dir, m)
  return Object.fromEntries(m)
}

/** VALID of a timestamp read from a CAR file alone. */
export async function verifyCar (car: string, ts?: string): Promise<{ valid: boolean, rules: string[] }> {
  const source = await readCar(car)
  const root = ts ?? source.roots[0]!.toString()
  const r = await validateTimestamp(sourceLoader(source), parseCid(root))
  return { valid: r.valid, rules: r.violations.map((v) => v.rule) }
}

/** The repository's head: VALID, and (when given) a successor of `previous`. */
export async function verifyRepoHead (dir: string, previous?: string): Promise<string> {
  const head = JSON.parse(await readFile(join(dir, 'head.json'), 'utf8')) as { timestamp: string }
  const node = await openRepoNode(dir)
  try {
    const loader = sourceLoader(node)
    const r = await validateTimestamp(loader, parseCid(head.timestamp))
    expect(r.violations).toEqual([])
    if (previous !== undefined) {
      const rel = await succStar(loader, 'timestamp', parseCid(head.timestamp), parseCid(previous))
      expect(rel.violations).toEqual([])
      expect(rel.holds).toBe(true)
    }
  } finally {
    await node.close()
  }
  return head.timestamp
}
