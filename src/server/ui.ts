/**
 * The inspector, served by `dagtuf serve` at /ui/ (issue 13): one static
 * page and the browser bundle (dist/browser/dagtuf.js, built by
 * `npm run build` / `build:browser`). The page runs the browser client
 * itself: given a root CID and a gateway (default: the serving origin), it
 * trusts the root, updates, and shows what the client verified (the head,
 * the roles with signers and thresholds, a paged, searchable target list, a
 * verified download) or the refusal, with its rule ID and the CID at fault.
 * Nothing on the page is trusted because this server sent it: the client
 * checks every block it fetches. The page is usable with any gateway that
 * allows cross-origin reads (dagtuf serve's gateway answers
 * access-control-allow-origin: *), and the page itself can be served by any
 * static host.
 *
 * Routes: GET|HEAD /ui/ (and /ui, redirected), /ui/dagtuf.js. When the
 * bundle is not built, /ui/dagtuf.js is 404 ERR_UI_NOT_BUILT, saying how.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { GatewayErrorCode, GatewayRequest, GatewayResponse } from './gateway-handlers.js'

/** Where the bundle is: beside dist/src/server (built package) or under dist/ (running from src/). */
const BUNDLE_CANDIDATES = ['../../browser/dagtuf.js', '../../dist/browser/dagtuf.js'].map((p) => fileURLToPath(new URL(p, import.meta.url)))

export function isUiRoute (req: Pick<GatewayRequest, 'url'>): boolean {
  const path = req.url.split('?')[0]
  return path === '/ui' || path === '/ui/' || path === '/ui/index.html' || path === '/ui/dagtuf.js'
}

let bundle: Promise<Uint8Array | undefined> | undefined

async function loadBundle (): Promise<Uint8Array | undefined> {
  for (const p of BUNDLE_CANDIDATES) {
    try {
      return new Uint8Array(await readFile(p))
    } catch {}
  }
  return undefined
}

function answer (method: string, status: number, headers: Record<string, string | number>, body: Uint8Array): GatewayResponse {
  const h = { ...headers, 'content-length': body.byteLength, 'x-content-type-options': 'nosniff' }
  return method === 'HEAD' ? { status, headers: h } : { status, headers: h, body }
}

function jsonError (method: string, status: number, code: GatewayErrorCode, message: string, extra: Record<string, string> = {}): GatewayResponse {
  return answer(method, status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...extra }, new TextEncoder().encode(JSON.stringify({ error: { code, message } })))
}

/** GET|HEAD /ui/, /ui/dagtuf.js. */
export async function uiHandler (req: GatewayRequest): Promise<GatewayResponse> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return jsonError(req.method, 405, 'ERR_METHOD_NOT_ALLOWED', 'only GET and HEAD are allowed', { allow: 'GET, HEAD' })
  const [path, query] = req.url.split('?') as [string, string | undefined]
  if (path === '/ui') {
    return answer(req.method, 308, { location: `/ui/${query === undefined ? '' : `?${query}`}`, 'content-type': 'text/plain; charset=utf-8' }, new TextEncoder().encode('/ui/\n'))
  }
  if (path === '/ui/dagtuf.js') {
    const b = await (bundle ??= loadBundle())
    if (b === undefined) {
      bundle = undefined
      return jsonError(req.method, 404, 'ERR_UI_NOT_BUILT', 'the browser bundle is not built: run npm run build:browser')
    }
    return answer(req.method, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }, b)
  }
  return answer(req.method, 200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-cache',
    // The page's own script and the bundle; fetches to any gateway the user names.
    'content-security-policy': "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src *; img-src 'self' data: blob:; worker-src 'self' blob:"
  }, PAGE)
}

const PAGE = new TextEncoder().encode(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>dagtuf inspector</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9 }
header { background: #1d2330; color: #fff; padding: 10px 20px } header h1 { font-size: 18px; margin: 0 }
main { padding: 12px 20px; max-width: 1200px } section { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: 10px 14px; margin: 10px 0 }
h2 { font-size: 15px; margin: 0 0 8px } label { margin-right: 12px } input[type=text] { font: 13px monospace; padding: 4px; width: 34em }
button { font: inherit; padding: 4px 12px; margin-right: 6px } table { border-collapse: collapse; width: 100% }
th, td { text-align: left; border-bottom: 1px solid #e3e6eb; padding: 3px 6px; vertical-align: top } th { background: #eef0f4 }
code, .cid { font: 12px monospace; word-break: break-all } .ok { color: #14652f; font-weight: 600 } .muted { color: #667 }
#refusal { border-color: #c0392b; background: #fdf0ee } #refusal[hidden], [hidden] { display: none } .rule { font: 600 14px monospace; color: #a02a1c }
</style></head>
<body><header><h1>dagtuf inspector <span class="muted" id="status"></span></h1></header>
<main>
<section><h2>Trust</h2>
<form id="form"><p><label>Root CID <input type="text" id="root" name="root" placeholder="bagu..." required></label></p>
<p><label>Gateway <input type="text" id="gateway" name="gateway"></label> <label>Client name <input type="text" id="name" name="name" style="width:12em" value="inspector"></label></p>
<p><label>IPNS name (optional: the head from its signed record, not /head) <input type="text" id="ipns" name="ipns" placeholder="k51..." style="width:30em"></label></p>
<p><button type="submit" id="go">Trust root and update</button><button type="button" id="update">Update</button>
<span class="muted">Every block is checked by the client in this page; the gateway is not trusted.</span></p></form></section>
<section id="refusal" hidden><h2>Refused</h2><p><span id="r-label">Rule</span> <span class="rule" id="r-code"></span> <span class="muted" id="r-name"></span></p>
<p>CID at fault: <span class="cid" id="r-cid"></span></p><p id="r-message"></p><p class="muted">The trusted state was not changed.</p></section>
<section id="head" hidden><h2>Verified head <span class="ok">&#10003; verified</span></h2><table id="head-table"></table></section>
<section id="roles" hidden><h2>Roles, signers and thresholds</h2><table id="roles-table"><thead><tr><th>Role</th><th>Threshold</th><th>Signers (keyids)</th><th>Delegated by</th><th>Paths</th><th>Expires</th><th>Object CID</th></tr></thead><tbody></tbody></table></section>
<section id="targets" hidden><h2>Targets <span class="muted" id="t-role"></span></h2>
<p><label>Role <select id="t-roles"><option value="targets">targets</option></select></label><label>Search <input type="text" id="query" style="width:20em"></label><button type="button" id="search">Search</button><button type="button" id="more">Next page</button><span class="muted" id="t-count"></span></p>
<table id="targets-table"><thead><tr><th>Path</th><th>Length</th><th>CID</th><th></th></tr></thead><tbody></tbody></table></section>
<section id="history" hidden><h2>History <span class="muted" id="h-info"></span></h2>
<p class="muted">What the client walked and can walk back: timestamps &rarr; snapshots (height, skips) &rarr; each role's previous-version chain, root rotations, tombstones, expiry. Hover a box for its CID.</p>
<table id="h-broken" hidden><thead><tr><th>Chain</th><th>Rule</th><th>CID at fault</th></tr></thead><tbody></tbody></table>
<div id="history-svg" style="overflow:auto; max-height:720px; border:1px solid #e3e6eb"></div></section>
<section id="download" hidden><h2>Verified download</h2><p><label>Path <input type="text" id="path" style="width:24em"></label><button type="button" id="get">Download</button></p><div id="d-out"></div></section>
</main>
<script type="module">
import * as dagtuf from './dagtuf.js'
const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
$('root').value = params.get('root') ?? ''
$('gateway').value = params.get('gateway') ?? location.origin
if (params.get('name')) $('name').value = params.get('name')
$('ipns').value = params.get('ipns') ?? ''
const state = { inspection: null, pager: null, query: '', role: 'targets', walked: new Set() }
window.inspector = { state, done: false, error: null, workerReplies: 0 }

function el (tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e }
function row (cells, cls) { const tr = el('tr'); for (const c of cells) { const td = el('td'); if (c instanceof Node) td.append(c); else td.textContent = c ?? ''; tr.append(td) } return tr }
function status (t) { $('status').textContent = t }

async function client () {
  const gateway = $('gateway').value.trim()
  const storage = await dagtuf.IdbClientStore.open($('name').value.trim() || 'inspector')
  const source = new dagtuf.GatewaySource(gateway, { timeoutMs: 30000 })
  const ipns = $('ipns').value.trim()
  if (ipns !== '') return { storage, source, updater: await dagtuf.Updater.create({ storage, source, ipns: { name: ipns } }) }
  const updater = await dagtuf.Updater.create({ storage, source, head: async ({ signal }) => { const c = await dagtuf.fetchHead(gateway, { signal }); if (c === null) throw new dagtuf.UsageError('ERR_USAGE', 'the gateway has no /head: give a timestamp'); return c } })
  return { storage, source, updater }
}

let worker = null
const pending = new Map()
let nextId = 1
function inWorker (req) {
  if (worker === null) {
    const src = 'import { serveUpdates } from ' + JSON.stringify(new URL('./dagtuf.js', location.href).href) + '; serveUpdates(self)'
    worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module', name: 'dagtuf-update' })
    worker.onmessage = (ev) => { window.inspector.workerReplies++; const f = pending.get(ev.data.id); pending.delete(ev.data.id); if (f) f(ev.data) }
    worker.onerror = (ev) => {
      // The worker could not start or failed: every request still waiting gets an error, none hangs.
      for (const f of pending.values()) f({ error: { name: 'Error', code: null, message: 'the update worker failed: ' + (ev.message || 'could not start'), details: {} } })
      pending.clear()
      worker = null
    }
  }
  const id = nextId++
  return new Promise((resolve) => { pending.set(id, resolve); worker.postMessage({ ...req, id }) })
}

function refused (e) {
  window.inspector.error = { code: e?.code ?? null, cid: e?.details?.cid ?? null, message: String(e?.message ?? e) }
  $('refusal').hidden = false
  $('r-label').textContent = e?.name === 'ValidationError' ? 'Rule' : 'Error'
  $('r-code').textContent = e?.code ?? 'error'
  $('r-name').textContent = e?.name ?? ''
  $('r-cid').textContent = e?.details?.cid ?? (e?.details?.block ?? 'none named')
  $('r-message').textContent = String(e?.message ?? e)
}

async function run (init) {
  $('refusal').hidden = true
  window.inspector.done = false
  window.inspector.error = null
  status('working...')
  let c
  try {
    c = await client()
    const before = await c.storage.readState()
    if (before?.trusted) state.walked.add(before.trusted.timestamp.toString())
    // The update itself (fetch, hash, decode, verify) runs in a Web Worker; the page reads what it stored.
    const r = await inWorker({ name: $('name').value.trim() || 'inspector', gateway: $('gateway').value.trim(), root: init ? $('root').value.trim() : null, ipns: $('ipns').value.trim() })
    if (r.error) refused(r.error)
  } catch (e) { refused(e) }
  try {
    // Whatever happened, show what the client trusts now (after a refusal: the state from before).
    if (c !== undefined) await show(await dagtuf.inspectTrusted(c.storage, c.source))
    if (c !== undefined) await drawHistory(c)
    status('')
  } catch (e) {
    if (window.inspector.error === null) refused(e)
    status('')
  }
  window.inspector.done = true
}

async function show (ins) {
  state.inspection = ins
  const h = ins.head
  const t = $('head-table'); t.replaceChildren()
  for (const [k, v] of [['Timestamp', h.timestamp], ['Snapshot', h.snapshot + '  (height ' + h.snapshotHeight + ')'], ['Root', h.root], ['Targets', h.targets], ['Accepted at', h.referenceTime], ['Expires', 'root ' + h.expires.root + ', timestamp ' + h.expires.timestamp + ', snapshot ' + h.expires.snapshot + ', targets ' + h.expires.targets], ['Stored in', ins.dir]]) {
    t.append(row([el('b', k), el('span', v, 'cid')]))
  }
  $('head').hidden = false
  const tb = $('roles-table').tBodies[0]; tb.replaceChildren()
  for (const r of ins.roles) {
    const signers = el('span', r.keyids.map((k) => k.slice(0, 16) + '...').join(', '), 'cid'); signers.title = r.keyids.join('\\n')
    tb.append(row([el('b', r.name), r.threshold + ' of ' + r.keyids.length, signers, r.delegatedBy, (r.paths ?? []).join(', ') + (r.terminating ? ' (terminating)' : ''), r.expires ?? '', el('span', r.cid ?? '', 'cid')]))
  }
  $('roles').hidden = false
  // The roles whose lists can be paged: the top-level targets and every delegated role the snapshot lists (at most 1000 named).
  const sel = $('t-roles'); sel.replaceChildren(el('option', 'targets'))
  for (const [name] of ins.listedRoles) { const o = el('option', name); o.value = name; sel.append(o) }
  if (![...sel.options].some((o) => o.value === state.role)) state.role = 'targets'
  sel.value = state.role
  $('targets').hidden = false
  $('download').hidden = false
  await newPager('')
}

async function drawHistory (c) {
  status('drawing the history...')
  const { history, svg } = await dagtuf.historyOfTrusted(c.storage, c.source, { timestamps: [...state.walked].slice(-64) })
  state.walked.add(history.head)
  window.inspector.history = history
  const doc = new DOMParser().parseFromString(svg, 'image/svg+xml')
  const root = doc.documentElement
  if (root.nodeName !== 'svg') throw new Error('the history drawing did not parse')
  $('history-svg').replaceChildren(document.importNode(root, true))
  const om = history.omitted
  $('h-info').textContent = history.nodes.length + ' objects, ' + history.lanes.length + ' lanes' +
    (om.snapshots > 0 ? ', ' + om.snapshots + ' earlier snapshots not drawn' : '') + (om.roles > 0 ? ', ' + om.roles + ' more roles not drawn' : '')
  const tb = $('h-broken').tBodies[0]; tb.replaceChildren()
  for (const l of history.lanes) if (l.broken) tb.append(row([el('b', l.role), el('span', l.broken.code, 'rule'), el('span', l.broken.cid, 'cid')]))
  $('h-broken').hidden = tb.rows.length === 0
  $('history').hidden = false
}

async function newPager (query) {
  state.query = query
  state.pager = await state.inspection.pager(state.role)
  $('t-role').textContent = state.role === 'targets' ? '(top-level targets)' : '(delegated role ' + state.role + ')'
  $('targets-table').tBodies[0].replaceChildren()
  await page()
}

async function page () {
  const p = await state.pager.next(50, state.query)
  const tb = $('targets-table').tBodies[0]
  for (const it of p.items) {
    const b = el('button', 'Download'); b.type = 'button'; b.onclick = () => { $('path').value = it.path; void download() }
    tb.append(row([el('code', it.path), String(it.length), el('span', it.cid, 'cid'), b]))
  }
  $('t-count').textContent = ' ' + tb.rows.length + ' shown, ' + p.scanned + ' read' + (p.done ? ', end of list' : '')
  $('more').disabled = p.done
}

async function download () {
  const out = $('d-out'); out.replaceChildren(el('p', 'downloading...', 'muted'))
  try {
    const { updater } = await client()
    const info = await updater.getTargetInfo($('path').value.trim())
    if (info === null) { out.replaceChildren(el('p', 'no role entitled to this path lists it')); return }
    const bytes = await updater.fetchTarget(info)
    const sha = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((x) => x.toString(16).padStart(2, '0')).join('')
    const a = el('a', 'save ' + info.path); a.href = URL.createObjectURL(new Blob([bytes])); a.download = info.path.split('/').pop()
    out.replaceChildren(el('p', 'verified: ' + bytes.byteLength + ' bytes matching ' + info.cid + ' (signed by role ' + info.role + '), SHA-256 ' + sha, 'ok'), a)
    window.inspector.download = { path: info.path, cid: info.cid.toString(), length: bytes.byteLength, sha256: sha }
  } catch (e) { refused(e); out.replaceChildren() }
}

$('form').onsubmit = (ev) => { ev.preventDefault(); void run(true) }
$('update').onclick = () => { void run(false) }
$('search').onclick = () => { void newPager($('query').value) }
$('t-roles').onchange = () => { state.role = $('t-roles').value; void newPager($('query').value) }
$('more').onclick = () => { void page() }
$('get').onclick = () => { void download() }
window.inspector.ready = true
if (params.get('root')) void run(true)
</script></body></html>
`)
