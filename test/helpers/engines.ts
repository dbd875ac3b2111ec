/**
 * Node version ranges (the `engines.node` field of package.json) as unions of
 * closed intervals of versions, to ask whether every Node version our
 * package.json accepts is accepted by each installed dependency (issue 14
 * item 3). Written here rather than taken from a dependency; the syntax is
 * npm's range grammar without pre-releases: `||`, space-separated
 * comparators, >=, >, <=, <, =, ^, ~, partial versions and x ranges
 * (`20`, `20.x`, `*`), and hyphen ranges (`1.2 - 3`).
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** A version as one integer: major * 1e6 + minor * 1e3 + patch (minor and patch stay below 1000). */
type V = number
const MAX: V = Number.MAX_SAFE_INTEGER

export interface Interval { lo: V, hi: V }

const enc = (major: number, minor: number, patch: number): V => major * 1e6 + minor * 1e3 + patch

interface Partial { major?: number, minor?: number, patch?: number }

function parseVersion (text: string): Partial {
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$/.exec(text)
  if (m === null) throw new Error(`not a version: ${JSON.stringify(text)}`)
  const num = (s: string | undefined): number | undefined => s === undefined || /^[xX*]$/.test(s) ? undefined : Number(s)
  const major = num(m[1]); const minor = major === undefined ? undefined : num(m[2]); const patch = minor === undefined ? undefined : num(m[3])
  for (const n of [major, minor, patch]) if (n !== undefined && n >= 1000 && n !== major) throw new Error(`version part too large: ${text}`)
  return { ...(major !== undefined ? { major } : {}), ...(minor !== undefined ? { minor } : {}), ...(patch !== undefined ? { patch } : {}) }
}

/** The lowest version a partial version names, and the first version after all it names. */
function bounds (p: Partial): { lo: V, next: V } {
  if (p.major === undefined) return { lo: 0, next: MAX }
  if (p.minor === undefined) return { lo: enc(p.major, 0, 0), next: enc(p.major + 1, 0, 0) }
  if (p.patch === undefined) return { lo: enc(p.major, p.minor, 0), next: enc(p.major, p.minor + 1, 0) }
  const v = enc(p.major, p.minor, p.patch)
  return { lo: v, next: v + 1 }
}

/** One comparator as an interval. */
function comparator (c: string): Interval {
  const m = /^(>=|<=|>|<|=|\^|~)?\s*(.+)$/.exec(c)
  if (m === null) throw new Error(`not a comparator: ${c}`)
  const op = m[1] ?? '='
  const p = parseVersion(m[2]!)
  const { lo, next } = bounds(p)
  switch (op) {
    case '=': return { lo, hi: next === MAX ? MAX : next - 1 }
    case '>=': return { lo, hi: MAX }
    case '>': return { lo: next, hi: MAX }
    case '<': return { lo: 0, hi: lo - 1 }
    case '<=': return { lo: 0, hi: next === MAX ? MAX : next - 1 }
    case '~': {
      // ~1.2.3 := >=1.2.3 <1.3.0; ~1 := >=1.0.0 <2.0.0
      const top = p.major === undefined ? MAX : p.minor === undefined ? enc(p.major + 1, 0, 0) : enc(p.major, p.minor + 1, 0)
      return { lo, hi: top === MAX ? MAX : top - 1 }
    }
    default: {
      // ^: the left-most non-zero part may not change.
      let top: V
      if (p.major === undefined) top = MAX
      else if (p.major > 0 || p.minor === undefined) top = enc(p.major + 1, 0, 0)
      else if (p.minor > 0 || p.patch === undefined) top = enc(0, p.minor + 1, 0)
      else top = enc(0, 0, p.patch + 1)
      return { lo, hi: top === MAX ? MAX : top - 1 }
    }
  }
}

function intersect (a: Interval, b: Interval): Interval { return { lo: Math.max(a.lo, b.lo), hi: Math.min(a.hi, b.hi) } }

/** A range as a union of non-empty intervals. @throws on syntax it does not know */
export function parseRange (text: string): Interval[] {
  const out: Interval[] = []
  for (const part of text.split('||')) {
    let set = part.trim()
    let iv: Interval = { lo: 0, hi: MAX }
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(set)
    if (hyphen !== null) {
      const a = bounds(parseVersion(hyphen[1]!)); const b = bounds(parseVersion(hyphen[2]!))
      iv = { lo: a.lo, hi: b.next === MAX ? MAX : b.next - 1 }
      set = ''
    }
    // "> = 1.2" is not npm syntax, but ">= 1.2" is: join an operator to its version.
    for (const c of set.replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter((x) => x !== '')) iv = intersect(iv, comparator(c))
    if (iv.lo <= iv.hi) out.push(iv)
  }
  return out
}

/** Whether every version in `sub` is in `dom` (both ranges as text). */
export function rangeWithin (sub: string, dom: string): boolean {
  const cover = parseRange(dom).sort((a, b) => a.lo - b.lo)
  for (const need of parseRange(sub)) {
    let at = need.lo
    for (const c of cover) {
      if (c.lo > at) break
      if (c.hi >= at) at = c.hi === MAX ? MAX : c.hi + 1
      if (at > need.hi || at === MAX) break
    }
    if (at <= need.hi && at !== MAX) return false
  }
  return true
}

/** Whether the version `v` ("20.19.2") is in `range`. */
export function satisfies (v: string, range: string): boolean {
  const p = parseVersion(v)
  const x = bounds(p).lo
  return parseRange(range).some((i) => i.lo <= x && x <= i.hi)
}

export interface Installed { name: string, version: string, dir: string, node?: string }

/**
 * The packages installed under `root`/node_modules that `root`'s package
 * needs, found the way Node resolves them (the nearest node_modules upward),
 * following `dependencies`, and `optionalDependencies` and
 * `peerDependencies` when installed. With `dev`, the root's
 * devDependencies are followed too.
 */
export function installedClosure (root: string, options: { dev: boolean }): { packages: Installed[], missing: string[] } {
  const seen = new Map<string, Installed>()
  const missing: string[] = []
  const read = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>
  const resolveFrom = (from: string, name: string): string | undefined => {
    for (let cur = from; ; cur = dirname(cur)) {
      const candidate = join(cur, 'node_modules', name)
      if (existsSync(join(candidate, 'package.json'))) return candidate
      if (cur === root || dirname(cur) === cur) return undefined
    }
  }
  const visit = (from: string, pkg: Record<string, unknown>, withDev: boolean): void => {
    const deps = (field: string): string[] => Object.keys((pkg[field] ?? {}) as Record<string, string>)
    const wanted: Array<[string, boolean]> = [
      ...deps('dependencies').map((n): [string, boolean] => [n, true]),
      ...(withDev ? deps('devDependencies').map((n): [string, boolean] => [n, true]) : []),
      ...deps('optionalDependencies').map((n): [string, boolean] => [n, false]),
      ...deps('peerDependencies').map((n): [string, boolean] => [n, false])
    ]
    for (const [name, required] of wanted) {
      const dir = resolveFrom(from, name)
      if (dir === undefined) { if (required) missing.push(`${name} (from ${from})`); continue }
      if (seen.has(dir)) continue
      const j = read(dir)
      const node = (j.engines as Record<string, string> | undefined)?.node
      seen.set(dir, { name: String(j.name), version: String(j.version), dir, ...(typeof node === 'string' ? { node } : {}) })
      visit(dir, j, false)
    }
  }
  visit(root, read(root), options.dev)
  return { packages: [...seen.values()], missing }
}
