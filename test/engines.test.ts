/**
 * The Node versions we declare (package.json `engines.node`) are Node
 * versions our dependencies declare they support (issue 14 item 3: `npm ci`
 * warned EBADENGINE for nanoid 6 and p-retry 8, which require Node 22, under
 * our `>=20.19`; package.json `overrides` now pins nanoid 5 and p-retry 7,
 * same API, Node 20).
 *
 * - every package the published package pulls in (dependencies, transitively,
 *   as installed) accepts every version of our range;
 * - every installed package, the development tools included, accepts the
 *   Node 20 line of our range, the line the tests run on.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from './helpers/build.js'
import { installedClosure, parseRange, rangeWithin, satisfies } from './helpers/engines.js'

const ours = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node
/** The Node 20 part of our range (we run the tests on Node 20). */
const NODE20 = '^20.19.0'

describe('package.json engines against the installed dependencies', () => {
  it('the range helpers: subsets, gaps, odd lines, x ranges, hyphens', () => {
    expect(rangeWithin('>=20.19', '>=20.0.0')).toBe(true)
    expect(rangeWithin('>=20.19', '>=22')).toBe(false)
    expect(rangeWithin('>=20.19', '^22 || ^24 || >=26')).toBe(false)
    expect(rangeWithin('>=20.19', '^20.17.0 || >=22.9.0')).toBe(false) // 21.x and 22.0-22.8 are missing
    expect(rangeWithin('^20.19.0 || >=22.12.0', '^20.17.0 || >=22.9.0')).toBe(true)
    expect(rangeWithin('^20.19.0', '18 || 20 || >=22')).toBe(true)
    expect(rangeWithin('>=20.19', '18 || 20 || >=22')).toBe(false)
    expect(rangeWithin('>=20.19', '>= 20.19.0')).toBe(true)
    expect(rangeWithin('>=20.19', '>=20.19.1')).toBe(false)
    expect(rangeWithin('>=20.19', '4.x || >=6.0.0')).toBe(true)
    expect(rangeWithin('>=20.19', '>=0.6.11 <=0.7.0 || >=0.7.3')).toBe(true)
    expect(rangeWithin('>=20.19', '<=20')).toBe(false)
    expect(rangeWithin('^20.19.0', '1 - 20')).toBe(true)
    expect(rangeWithin('^20.19.0', '~20.19')).toBe(false)
    expect(rangeWithin('>=20.19', '*')).toBe(true)
    expect(parseRange('>=22 <20')).toEqual([])
    expect(satisfies('20.19.0', '^20.17.0 || >=22.9.0')).toBe(true)
    expect(satisfies('21.0.0', '^20.17.0 || >=22.9.0')).toBe(false)
    expect(satisfies('0.2.5', '^0.2.3')).toBe(true)
    expect(satisfies('0.3.0', '^0.2.3')).toBe(false)
    expect(() => parseRange('>=20.0.0-rc.1')).toThrow()
  })

  // A cross-check of the helper against npm's own semver, when some tool installed it.
  const semverPath = join(ROOT, 'node_modules', 'semver', 'package.json')
  it.runIf(existsSync(semverPath))('the range helper agrees with npm\'s semver.subset on every pair of installed engines ranges', () => {
    const semver = createRequire(semverPath)('semver') as { subset: (a: string, b: string) => boolean }
    const ranges = [...new Set(installedClosure(ROOT, { dev: true }).packages.flatMap((p) => p.node === undefined ? [] : [p.node]))]
    expect(ranges.length).toBeGreaterThan(20)
    for (const a of [...ranges, ours, NODE20]) {
      for (const b of ranges) expect(rangeWithin(a, b), `${a} within ${b}`).toBe(semver.subset(a, b))
    }
  })

  it('every package the library pulls in accepts every Node version of our engines range', () => {
    const { packages, missing } = installedClosure(ROOT, { dev: false })
    expect(missing).toEqual([])
    // The walk reaches deep into the tree (a walk that found nothing would pass).
    expect(packages.length).toBeGreaterThan(100)
    expect(packages.map((p) => p.name)).toEqual(expect.arrayContaining(['libp2p', 'p-retry', 'nanoid', '@libp2p/circuit-relay-v2', 'helia']))
    const bad = packages.filter((p) => p.node !== undefined && !rangeWithin(ours, p.node)).map((p) => `${p.name}@${p.version} needs node ${p.node}`)
    expect(bad, `our engines.node is ${ours}`).toEqual([])
  })

  it('every installed package, development tools included, accepts the Node 20 line of our range', () => {
    expect(rangeWithin(NODE20, ours)).toBe(true)
    const { packages, missing } = installedClosure(ROOT, { dev: true })
    expect(missing).toEqual([])
    expect(packages.map((p) => p.name)).toEqual(expect.arrayContaining(['vitest', 'typescript']))
    const bad = packages.filter((p) => p.node !== undefined && !rangeWithin(NODE20, p.node)).map((p) => `${p.name}@${p.version} needs node ${p.node}`)
    expect(bad).toEqual([])
  })
})
