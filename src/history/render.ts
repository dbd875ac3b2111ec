/**
 * Drawings of a History (model.ts): Graphviz DOT and a self-contained SVG.
 *
 * Guarantees:
 * - every string from the data (role names, CIDs, dates) is escaped for the
 *   format it lands in (XML text and attributes; DOT quoted strings), so a
 *   role named `<script>` or `"]; x -> y [` is drawn as text, never markup;
 * - the SVG is one self-contained document: no external reference, no
 *   script, styles inline;
 * - bounded: at most SVG_LIMITS.maxNodes nodes are drawn (the rest counted
 *   as "N more not drawn"), names are cut to SVG_LIMITS.maxLabel characters,
 *   and what the model left out (earlier snapshots, older versions, more
 *   roles) is said on the drawing.
 *
 * No Node built-in is imported here: the browser inspector may reuse it.
 */
import type { History, HistoryEdge, HistoryNode } from './model.js'

export const SVG_LIMITS = Object.freeze({ maxNodes: 400, maxLabel: 28 })

const COL_W = 156
const ROW_H = 66
const LABEL_W = 170
const BOX_W = 140
const BOX_H = 40
const TOP = 40

/** XML text and attribute values. */
export function escapeXml (s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
    // Characters XML 1.0 does not allow at all are replaced, not escaped.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
}

/** A DOT double-quoted string's content. */
export function escapeDot (s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n|\r/g, '\\n')
}

function cut (s: string, max: number = SVG_LIMITS.maxLabel): string {
  const chars = [...s]
  return chars.length <= max ? s : chars.slice(0, max - 1).join('') + '…'
}

/** The end of a CID (their starts are all alike: multibase, version, codec). */
function shortCid (id: string): string {
  return id.length <= 14 ? id : `…${id.slice(-12)}`
}

/** The second line of a node's label. */
function detail (n: HistoryNode): string {
  const parts: string[] = []
  if (n.height !== undefined) parts.push(`h=${n.height}`)
  if (n.version !== undefined) parts.push(`v${n.version}`)
  if (n.retired === true) parts.push('tombstone')
  if (n.keyChanges !== undefined && n.keyChanges.length > 0) parts.push('rotation')
  if (n.first === true) parts.push('first')
  parts.push(n.expired ? `EXPIRED ${n.expires.slice(0, 10)}` : `exp ${n.expires.slice(0, 10)}`)
  return parts.join(' ')
}

function tooltip (n: HistoryNode): string {
  const lines = [`${n.kind} ${n.role}`, n.id, `expires ${n.expires}${n.expired ? ' (expired)' : ''}`]
  if (n.height !== undefined) lines.push(`height ${n.height}`)
  if (n.version !== undefined) lines.push(`version ${n.version} of the root`)
  for (const k of n.keyChanges ?? []) lines.push(`${k.role}: +${k.added} -${k.removed} keys, threshold ${k.threshold[0]} -> ${k.threshold[1]}`)
  return lines.join('\n')
}

/** Which edges and nodes the witness marks: consecutive path entries, in either order. */
function witnessSets (h: History): { nodes: Set<string>, pairs: Set<string> } {
  const path = h.witness?.path ?? []
  const pairs = new Set<string>()
  for (let i = 0; i + 1 < path.length; i++) {
    pairs.add(`${path[i]} ${path[i + 1]}`)
    pairs.add(`${path[i + 1]} ${path[i]}`)
  }
  return { nodes: new Set(path), pairs }
}

/** Graphviz DOT: a cluster per lane, edges by kind, the witness in bold orange. */
export function toDot (h: History): string {
  const w = witnessSets(h)
  const out = ['digraph history {', '  rankdir=RL;', '  node [shape=box, style="rounded", fontname="monospace", fontsize=10];']
  h.lanes.forEach((lane, i) => {
    out.push(`  subgraph "cluster_${i}" {`, `    label="${escapeDot(lane.retired === true ? `${lane.role} (retired)` : lane.role)}";`)
    for (const id of lane.nodes) {
      const n = h.nodes.find((x) => x.id === id)
      if (n === undefined) continue
      const attrs = [`label="${escapeDot(`${n.kind} ${cut(n.role)}\n${shortCid(n.id)}\n${detail(n)}`)}"`]
      if (n.expired) attrs.push('color="red"')
      if (n.retired === true) attrs.push('style="rounded,dashed"')
      if (w.nodes.has(id)) attrs.push('penwidth=3', 'color="darkorange"')
      out.push(`    "${escapeDot(id)}" [${attrs.join(', ')}];`)
    }
    if (lane.more) out.push(`    "more_${i}" [label="${escapeDot(`older ${lane.role} versions not drawn`)}", shape=plaintext];`)
    out.push('  }')
  })
  for (const e of h.edges) {
    const attrs: string[] = [`label="${e.kind}"`]
    if (e.kind === 'skip') attrs.push('style=dotted')
    if (e.kind === 'names') attrs.push('style=dashed', 'color="gray"')
    if (e.kind === 'retires') attrs.push('style=dashed', 'color="firebrick"')
    if (w.pairs.has(`${e.from} ${e.to}`)) attrs.push('penwidth=3', 'color="darkorange"')
    out.push(`  "${escapeDot(e.from)}" -> "${escapeDot(e.to)}" [${attrs.join(', ')}];`)
  }
  if (h.omitted.snapshots > 0) out.push(`  "omitted" [label="${h.omitted.snapshots} earlier snapshots not drawn", shape=plaintext];`)
  if (h.omitted.roles > 0) out.push(`  "omitted_roles" [label="${h.omitted.roles} more roles not drawn", shape=plaintext];`)
  out.push('}')
  return out.join('\n') + '\n'
}

interface Placed { n: HistoryNode, x: number, y: number }

/** A self-contained SVG: a row per lane, a column per snapshot (oldest left), the witness in orange. */
export function toSvg (h: History): string {
  const columns = Math.max(1, ...h.nodes.map((n) => (n.column ?? 0) + 1))
  const byId = new Map(h.nodes.map((n) => [n.id, n]))
  const placed = new Map<string, Placed>()
  let drawn = 0
  const laneMarks: string[] = []
  h.lanes.forEach((lane, row) => {
    const y = TOP + row * ROW_H
    // Newest first: a node without a column goes a column left of the newer one (half a column would overlap it).
    let cursor = columns
    const used = new Map<number, number>()
    for (const id of lane.nodes) {
      const n = byId.get(id)
      if (n === undefined || drawn >= SVG_LIMITS.maxNodes) continue
      const col = n.column ?? cursor - 1
      cursor = Math.min(cursor, col)
      const k = used.get(col) ?? 0
      used.set(col, k + 1)
      placed.set(id, { n, x: col * COL_W + k * 7, y: y + k * 5 })
      drawn++
    }
    const label = lane.retired === true ? `${cut(lane.role)} (retired)` : cut(lane.role)
    laneMarks.push(`<text x="8" y="${y + BOX_H / 2 + 4}" class="lane" data-lane="${escapeXml(lane.role)}">${escapeXml(label)}</text>`)
    if (lane.more) laneMarks.push(`<text x="${LABEL_W - 14}" y="${y + BOX_H / 2 + 4}" class="more">…</text>`)
    if (lane.broken !== undefined) laneMarks.push(`<text x="8" y="${y + BOX_H + 12}" class="broken" data-code="${escapeXml(lane.broken.code)}" data-cid="${escapeXml(lane.broken.cid)}">${escapeXml(`chain ends: ${lane.broken.code} at ${shortCid(lane.broken.cid)}`)}</text>`)
  })
  // Nodes older than the oldest snapshot drawn sit left of column 0: shift everything right of the lane labels.
  const shift = -Math.min(0, ...[...placed.values()].map((p) => Math.floor(p.x / COL_W)))
  for (const p of placed.values()) p.x += LABEL_W + shift * COL_W
  const notDrawn = h.nodes.length - drawn
  const w = witnessSets(h)
  const width = Math.max(820, LABEL_W + (columns + shift + 0.5) * COL_W)
  const notes: string[] = []
  if (h.omitted.snapshots > 0) notes.push(`${h.omitted.snapshots} earlier snapshots not drawn`)
  if (h.omitted.roles > 0) notes.push(`${h.omitted.roles} more roles not drawn`)
  if (notDrawn > 0) notes.push(`${notDrawn} more not drawn`)
  notes.push('arrows: previous-version (solid), skip (dotted), snapshot names the object it introduces (grey dashed), retires (red dashed)')
  notes.push('boxes: red = expired at the reference time, dashed = tombstone of a retired role; ... = older versions not drawn')
  if (h.witness !== undefined) notes.push(`witness of ${shortCid(h.witness.from)} <-* ${shortCid(h.witness.to)}: ${h.witness.path.length} objects (orange)`)
  const height = TOP + h.lanes.length * ROW_H + 20 + notes.length * 16 + 24

  const edgeSvg = (e: HistoryEdge): string => {
    const a = placed.get(e.from)
    const b = placed.get(e.to)
    if (a === undefined || b === undefined) return ''
    const hot = w.pairs.has(`${e.from} ${e.to}`)
    const cls = `e ${e.kind}${hot ? ' hot' : ''}`
    if (e.kind === 'previous') {
      return `<line class="${cls}" x1="${a.x}" y1="${a.y + BOX_H / 2}" x2="${b.x + BOX_W}" y2="${b.y + BOX_H / 2}" marker-end="url(#arrow)"/>`
    }
    if (e.kind === 'skip') {
      const x1 = a.x + BOX_W / 2
      const x2 = b.x + BOX_W / 2
      return `<path class="${cls}" d="M${x1},${a.y} C${x1},${a.y - 26} ${x2},${b.y - 26} ${x2},${b.y}" marker-end="url(#arrow)"/>`
    }
    const down = b.y > a.y
    return `<line class="${cls}" x1="${a.x + BOX_W / 2}" y1="${down ? a.y + BOX_H : a.y}" x2="${b.x + BOX_W / 2}" y2="${down ? b.y : b.y + BOX_H}" marker-end="url(#arrow)"/>`
  }
  const nodeSvg = ({ n, x, y }: Placed): string => {
    const cls = ['n', n.kind, n.expired ? 'expired' : '', n.retired === true ? 'retired' : '', w.nodes.has(n.id) ? 'hot' : ''].filter((c) => c !== '').join(' ')
    return `<g class="${cls}" data-cid="${escapeXml(n.id)}" data-role="${escapeXml(n.role)}"><title>${escapeXml(tooltip(n))}</title>` +
      `<rect x="${x}" y="${y}" width="${BOX_W}" height="${BOX_H}" rx="6"/>` +
      `<text x="${x + 6}" y="${y + 16}">${escapeXml(shortCid(n.id))}</text>` +
      `<text x="${x + 6}" y="${y + 32}" class="d">${escapeXml(cut(detail(n), 26))}</text></g>`
  }
  const style = [
    'text{font-family:monospace;font-size:11px;fill:#222}',
    '.lane{font-size:12px;font-weight:bold}', '.more{font-size:16px;fill:#888}', '.broken{fill:#b00;font-size:10px}',
    '.n rect{fill:#fff;stroke:#555;stroke-width:1.2}', '.n.timestamp rect{fill:#eef6ff}', '.n.snapshot rect{fill:#f3f0ff}',
    '.n.root rect{fill:#fff7e6}', '.n.retired rect{fill:#eee;stroke-dasharray:4 3}', '.n.expired rect{stroke:#c00;stroke-width:2}',
    '.n.hot rect{stroke:#f28c00;stroke-width:3.5}', '.d{font-size:9px;fill:#555}', '.n.expired .d{fill:#c00}',
    '.e{stroke:#777;stroke-width:1.2;fill:none}', '.e.names{stroke:#bbb;stroke-dasharray:3 3}', '.e.skip{stroke:#96c;stroke-dasharray:1 3}',
    '.e.retires{stroke:#a33;stroke-dasharray:5 3}', '.e.hot{stroke:#f28c00;stroke-width:3.5;stroke-dasharray:none}', '.note{font-size:11px;fill:#444}'
  ].join('')
  const parts = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${Math.ceil(height)}" viewBox="0 0 ${Math.ceil(width)} ${Math.ceil(height)}">`,
    `<title>${escapeXml(`dagtuf history of ${h.head}`)}</title>`,
    `<style>${style}</style>`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>',
    '<rect x="0" y="0" width="100%" height="100%" fill="#fff"/>',
    `<text x="8" y="20" class="lane">${escapeXml(`history of ${shortCid(h.head)}${h.since === null ? '' : ` since ${shortCid(h.since)}`} at ${h.referenceTime}`)}</text>`,
    ...laneMarks,
    ...h.edges.map(edgeSvg).filter((s) => s !== ''),
    ...[...placed.values()].map(nodeSvg),
    ...notes.map((t, i) => `<text x="8" y="${TOP + h.lanes.length * ROW_H + 20 + i * 16}" class="note">${escapeXml(t)}</text>`),
    '</svg>'
  ]
  return parts.join('\n') + '\n'
}
