/**
 * The history graph (src/history, issue 13 item 4): what a client would
 * walk, checked structurally on a simulated repository with a delegation,
 * a root rotation and a retired role; the witness of `<-*`; the DOT and SVG
 * drawings (escaped, bounded, well-formed XML).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { buildHistory, toDot, toSvg, withWitness, SVG_LIMITS, type History } from '../../src/history/index.js'
import { RepoSim } from '../helpers/history.js'
import { text } from '../helpers/client-sim.js'

const ONE = { keys: 1, threshold: 1 }
const NOW = '2026-01-01T12:00:00Z'

interface SaxParser { onerror: (e: Error) => void, onopentag: (t: { name: string }) => void, write: (s: string) => { close: () => void } }
const sax = createRequire(import.meta.url)('sax') as { parser: (strict: boolean) => SaxParser }

/** Parse `svg` as strict XML; returns the element names, throws on any well-formedness error. */
function elementsOf (svg: string): string[] {
  const p = sax.parser(true)
  const names: string[] = []
  p.onerror = (e) => { throw e }
  p.onopentag = (t) => { names.push(t.name) }
  p.write(svg).close()
  return names
}

/**
 * v1: targets and d1; v2: d1 changes; v3: a root rotation (targets keys);
 * v4: d1 retired (a tombstone) and d2 delegated; v5: only the timestamp is new.
 */
async function story () {
  const sim = await RepoSim.create({ seed: 41, topKeys: { root: ONE, targets: ONE, snapshot: ONE, timestamp: ONE } })
  await sim.addTarget('targets', 'app.tgz', text('app v1'))
  sim.delegate('targets', 'd1')
  await sim.addTarget('d1', 'd1/a', text('a1'))
  const v1 = await sim.publish()
  await sim.addTarget('d1', 'd1/a', text('a2'))
  const v2 = await sim.publish()
  sim.rotate('targets', { keys: 2, threshold: 2 })
  const v3 = await sim.publish()
  sim.undelegate('targets', 'd1')
  sim.delegate('targets', 'd2')
  await sim.addTarget('d2', 'd2/b', text('b1'))
  const v4 = await sim.publish()
  const v5 = await sim.refreshTimestamp()
  return { sim, v1, v2, v3, v4, v5 }
}

function lane (h: History, role: string) {
  const l = h.lanes.find((x) => x.role === role)
  if (l === undefined) throw new Error(`no lane ${role}`)
  return l
}

function node (h: History, id: { toString: () => string }) {
  const n = h.nodes.find((x) => x.id === id.toString())
  if (n === undefined) throw new Error(`no node ${id.toString()}`)
  return n
}

describe('history graph', () => {
  it('timestamps -> snapshots (height, skips) -> each role chain, the root rotation with its key changes, the tombstone, expiry', async () => {
    const { sim, v1, v2, v3, v4, v5 } = await story()
    const all = sim.versions.map((v) => v.timestamp.cid)
    const h = await buildHistory(sim.loader(), v5.timestamp.cid, { timestamps: all, referenceTime: NOW })
    expect(h.head).toBe(v5.timestamp.cid.toString())
    expect(h.lanes.map((l) => l.role)).toEqual(['timestamp', 'snapshot', 'root', 'targets', 'd2', 'd1'])
    // Every published snapshot, newest first, with heights counting down to the first.
    const snaps = lane(h, 'snapshot').nodes
    const heads = [...new Set(sim.versions.map((v) => v.snapshot.cid.toString()))].reverse()
    expect(snaps).toEqual(heads)
    expect(snaps.map((id) => node(h, id).height)).toEqual(heads.map((_, i) => heads.length - i))
    expect(node(h, snaps.at(-1)!).first).toBe(true)
    expect(lane(h, 'snapshot').more).toBe(false)
    // Each snapshot links its predecessor; v5 and v4 share a snapshot (only the timestamp is new).
    expect(v5.snapshot.cid.equals(v4.snapshot.cid)).toBe(true)
    for (let i = 0; i + 1 < snaps.length; i++) expect(h.edges).toContainEqual({ from: snaps[i], to: snaps[i + 1], kind: 'previous' })
    // Timestamps point at their snapshots, in the snapshot's column.
    for (const v of [v1, v2, v3, v4, v5]) {
      expect(h.edges).toContainEqual({ from: v.timestamp.cid.toString(), to: v.snapshot.cid.toString(), kind: 'snapshot' })
      expect(node(h, v.timestamp.cid).column).toBe(node(h, v.snapshot.cid).column)
    }
    // The root: rotated once (targets: 2 keys added, 1 removed, threshold 1 -> 2).
    const roots = lane(h, 'root').nodes
    expect(roots[0]).toBe(v3.root.cid.toString())
    expect(node(h, v3.root.cid).keyChanges).toEqual([{ role: 'targets', added: 2, removed: 1, threshold: [1, 2] }])
    expect(roots.at(-1)).toBe(sim.versions[0]!.root.cid.toString())
    expect(roots.map((id) => node(h, id).version)).toEqual(roots.map((_, i) => roots.length - i))
    expect(node(h, roots.at(-1)!).keyChanges).toBeUndefined()
    // d1 retired: its lane starts at the tombstone and walks down its versions; d2 is new in v4.
    const d1 = lane(h, 'd1')
    expect(d1.retired).toBe(true)
    expect(node(h, d1.nodes[0]!).retired).toBe(true)
    expect(d1.nodes).toContain(v2.delegated.get('d1')!.cid.toString())
    expect(d1.nodes).toContain(v1.delegated.get('d1')!.cid.toString())
    expect(lane(h, 'd2').nodes).toEqual([v4.delegated.get('d2')!.cid.toString()])
    expect(node(h, v4.delegated.get('d2')!.cid).column).toBe(node(h, v4.snapshot.cid).column)
    expect(h.edges).toContainEqual({ from: v4.snapshot.cid.toString(), to: v4.delegated.get('d2')!.cid.toString(), kind: 'names' })
    // Nothing has expired at NOW; everything has a year later.
    expect(h.nodes.some((n) => n.expired)).toBe(false)
    const later = await buildHistory(sim.loader(), v5.timestamp.cid, { referenceTime: '2031-01-01T00:00:00Z' })
    expect(later.nodes.every((n) => n.expired)).toBe(true)
    expect(toSvg(h)).not.toMatch(/<g class="n [a-z ]*expired/)
    expect(toSvg(later).match(/<g class="n [a-z ]*expired/g)).toHaveLength(later.nodes.length)
    // Plain JSON.
    expect(JSON.parse(JSON.stringify(h))).toStrictEqual(h)
  })

  it('--since stops the snapshot walk at the trusted snapshot; a cap on nodes counts the snapshots left out', async () => {
    const { sim, v2, v5 } = await story()
    const h = await buildHistory(sim.loader(), v5.timestamp.cid, { since: v2.timestamp.cid, referenceTime: NOW })
    const snaps = lane(h, 'snapshot').nodes
    expect(snaps.at(-1)).toBe(v2.snapshot.cid.toString())
    expect(snaps).not.toContain(sim.versions[0]!.snapshot.cid.toString())
    expect(h.since).toBe(v2.timestamp.cid.toString())
    // The root lane stops at the root the trusted snapshot names.
    expect(lane(h, 'root').nodes.at(-1)).toBe(v2.root.cid.toString())

    for (let i = 0; i < 12; i++) {
      await sim.addTarget('targets', 'app.tgz', text(`app ${i}`))
      await sim.publish()
    }
    const head = sim.head
    const capped = await buildHistory(sim.loader(), head.timestamp.cid, { referenceTime: NOW, maxNodes: 12 })
    expect(capped.nodes.length).toBeLessThanOrEqual(12)
    const drawn = lane(capped, 'snapshot').nodes
    expect(drawn).toHaveLength(4)
    expect(capped.omitted.snapshots).toBe(head.snapshot.signed.height - 4)
    expect(lane(capped, 'snapshot').more).toBe(true)
    const svg = toSvg(capped)
    expect(svg).toContain(`${capped.omitted.snapshots} earlier snapshots not drawn`)
  })

  it('at most maxRoles role lanes are drawn, the others counted', async () => {
    const sim = await RepoSim.create({ seed: 43 })
    for (let i = 0; i < 40; i++) sim.delegate('targets', `r${String(i).padStart(2, '0')}`)
    const v = await sim.publish()
    const h = await buildHistory(sim.loader(), v.timestamp.cid, { referenceTime: NOW, maxRoles: 32 })
    expect(h.lanes.filter((l) => /^r\d\d$/.test(l.role))).toHaveLength(32)
    expect(h.lanes.filter((l) => /^r\d\d$/.test(l.role)).map((l) => l.role)[0]).toBe('r00')
    expect(h.omitted.roles).toBe(8)
    expect(toSvg(h)).toContain('8 more roles not drawn')
    expect(toDot(h)).toContain('8 more roles not drawn')
  })

  it('the witness of <-* between two snapshots is their chain; between timestamps, the snapshot chain; refused with SUCC-STAR when it does not hold', async () => {
    const { sim, v1, v3, v5 } = await story()
    const loader = sim.loader()
    const h = await buildHistory(loader, v5.timestamp.cid, { timestamps: sim.versions.map((v) => v.timestamp.cid), referenceTime: NOW })
    const w = await withWitness(loader, h, v3.snapshot.cid, v1.snapshot.cid)
    expect(w.witness).toEqual({ kind: 'snapshot', from: v3.snapshot.cid.toString(), to: v1.snapshot.cid.toString(), path: [v3.snapshot.cid.toString(), sim.versions[2]!.snapshot.cid.toString(), v1.snapshot.cid.toString()] })
    const t = await withWitness(loader, h, v5.timestamp.cid, v3.timestamp.cid)
    expect(t.witness!.path[0]).toBe(v5.timestamp.cid.toString())
    expect(t.witness!.path).toContain(v3.snapshot.cid.toString())
    expect(t.witness!.path.at(-1)).toBe(v3.timestamp.cid.toString())
    // Backwards: no witness; the relation's rule ID, with its violations.
    await expect(withWitness(loader, h, v1.snapshot.cid, v3.snapshot.cid)).rejects.toMatchObject({ code: 'SUCC-STAR' })
    const e = await withWitness(loader, h, v1.snapshot.cid, v3.snapshot.cid).catch((x: { details: { violations: unknown[] } }) => x)
    expect((e as { details: { violations: unknown[] } }).details.violations.length).toBeGreaterThan(0)
    // Objects of different kinds, or not in the graph, are usage errors.
    await expect(withWitness(loader, h, v1.snapshot.cid, v1.root.cid)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    await expect(withWitness(loader, h, v1.targets.cid, v1.timestamp.cid)).rejects.toMatchObject({ code: 'ERR_USAGE' })
    // The drawings mark the path.
    expect(toDot(w)).toMatch(new RegExp(`"${v3.snapshot.cid.toString()}" \\[.*penwidth=3`))
    expect(toSvg(w).match(/class="n snapshot hot"/g)).toHaveLength(3)
  })

  it('untrusted input: a head that is not a timestamp is VALID-KIND; a snapshot of the chain that fails its hash ends the chain there (lane.broken), the rest is still drawn', async () => {
    const { sim, v1, v3, v5 } = await story()
    await expect(buildHistory(sim.loader(), v5.root.cid, { referenceTime: NOW })).rejects.toMatchObject({ name: 'ValidationError', code: 'VALID-KIND', details: { cid: v5.root.cid.toString() } })
    await expect(buildHistory(sim.loader(), v5.timestamp.cid, { referenceTime: NOW, since: v5.snapshot.cid })).rejects.toMatchObject({ code: 'VALID-KIND' })
    sim.store.tamper(v1.snapshot.cid, (b) => { b[b.length - 3]! ^= 1; return b })
    const h = await buildHistory(sim.loader(), v5.timestamp.cid, { referenceTime: NOW })
    const snaps = lane(h, 'snapshot')
    expect(snaps.broken?.cid).toBe(v1.snapshot.cid.toString())
    expect(snaps.broken?.code).toMatch(/^(ENC-|ERR_)/)
    expect(snaps.nodes.at(-1)).toBe(sim.versions[2]!.snapshot.cid.toString())
    expect(lane(h, 'root').nodes).toContain(v3.root.cid.toString())
    expect(toSvg(h)).toContain('chain ends: ')
  })

  it('DOT: a cluster per lane, a node per object, an edge per edge', async () => {
    const { sim, v5 } = await story()
    const h = await buildHistory(sim.loader(), v5.timestamp.cid, { timestamps: sim.versions.map((v) => v.timestamp.cid), referenceTime: NOW })
    const dot = toDot(h)
    expect(dot.startsWith('digraph history {')).toBe(true)
    expect(dot.trimEnd().endsWith('}')).toBe(true)
    expect(dot.match(/subgraph "cluster_\d+"/g)).toHaveLength(h.lanes.length)
    const declared = [...dot.matchAll(/^ {4}"(b[a-z2-7]+)" \[/gm)].map((m) => m[1])
    expect(new Set(declared)).toEqual(new Set(h.nodes.map((n) => n.id)))
    expect(dot.match(/^ {2}"b[a-z2-7]+" -> "b[a-z2-7]+"/gm)).toHaveLength(h.edges.length)
  })

  it('SVG: well-formed XML, self-contained, every object drawn once; hostile text escaped in SVG and DOT; bounded', async () => {
    const { sim, v5 } = await story()
    const h = await buildHistory(sim.loader(), v5.timestamp.cid, { referenceTime: NOW })
    const svg = toSvg(h)
    const els = elementsOf(svg)
    expect(els[0]).toBe('svg')
    expect(els.filter((e) => e === 'rect').length).toBe(h.nodes.length + 1)
    expect(svg).not.toMatch(/<script|href=|xlink|@import|url\((?!#arrow\))/i)

    // A history from hostile data: role names and dates that are markup.
    const evil = '<script>alert(1)</script>&"]; x -> y [label="'
    const hostile: History = {
      ...h,
      lanes: [...h.lanes, { role: evil, kind: 'targets', nodes: ['z<img src=x onerror=alert(1)>'], more: true, broken: { cid: '</text><script>', code: '"><x' } }],
      nodes: [...h.nodes, { id: 'z<img src=x onerror=alert(1)>', kind: 'targets', role: evil, expires: '<b>2027</b>', expired: false }]
    }
    const bad = toSvg(hostile)
    expect(elementsOf(bad).filter((e) => ['script', 'img', 'b', 'x'].includes(e))).toEqual([])
    expect(bad).toContain('&lt;script&gt;')
    const dot = toDot(hostile)
    // Every quoted string stays closed: the evil label is one DOT string.
    expect(dot).toContain('label="<script>alert(1)</script>&\\"]; x -> y [label=\\""')
    expect(dot).not.toMatch(/[^\\]"\]; x -> y/)

    // A drawing is bounded: past SVG_LIMITS.maxNodes the rest is counted.
    const many: History = {
      ...h,
      nodes: Array.from({ length: SVG_LIMITS.maxNodes + 50 }, (_, i) => ({ id: `n${i}`, kind: 'targets' as const, role: 'r', expires: NOW, expired: true })),
      lanes: [{ role: 'r', kind: 'targets', nodes: Array.from({ length: SVG_LIMITS.maxNodes + 50 }, (_, i) => `n${i}`), more: false }],
      edges: []
    }
    const big = toSvg(many)
    expect(elementsOf(big).filter((e) => e === 'g')).toHaveLength(SVG_LIMITS.maxNodes)
    expect(big).toContain('50 more not drawn')
  })

  it('src/history imports no Node built-in and nothing that does (blocks/, client/, publish/): the browser may reuse it', () => {
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'history')
    for (const f of readdirSync(dir)) {
      const src = readFileSync(join(dir, f), 'utf8')
      expect(src, f).not.toMatch(/from '(node:|fs|path|os|crypto)|import\('node:/)
      expect(src, f).not.toMatch(/from '\.\.\/(blocks|client|publish|server|cli)\//)
    }
  })
})
