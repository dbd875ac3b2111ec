/**
 * The history as a picture in the inspector (/ui/, issue 13 item 3), in
 * headless Chromium: a repository with a few publishes, a delegation added
 * then removed (a tombstone) and a root rotation. The page runs the browser
 * client, then draws the history below its trusted head with src/history
 * (the model and SVG of `dagtuf history`), and the test checks the drawing
 * in the DOM against what `dagtuf history --format json` says in Node: the
 * same snapshots, root versions and role chains, the rotation, the
 * tombstone. Through a gateway that corrupts one old snapshot, the chain
 * ends in the picture with the rule (ENC-CID) and that CID, and the trusted
 * state is unchanged. Screenshots go to a temporary folder (printed).
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { NO_CHROMIUM, chromiumPath, inspectorPages, launchChromium, pageServer, runInspector as runInspectorAt, serveRepo, type PageServer, type Served } from './harness.js'
// @ts-expect-error: a plain .mjs script without declarations
import { buildBrowser } from '../../scripts/build-browser.mjs'

const CHROMIUM = chromiumPath()
if (CHROMIUM === undefined) console.warn(`test/browser/history.test.ts: ${NO_CHROMIUM}`)

interface Graph {
  head: string
  nodes: Array<{ id: string, kind: string, role: string, retired?: boolean, keyChanges?: unknown[], version?: number }>
  lanes: Array<{ role: string, nodes: string[], retired?: boolean, broken?: { cid: string, code: string } }>
}

async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  return { code, out, err }
}

async function ok (...argv: string[]): Promise<string[]> {
  const r = await dagtuf(...argv)
  if (r.code !== 0) throw new Error(`dagtuf ${argv.join(' ')}: exit ${r.code}: ${r.err.join('\n')}`)
  return r.out
}

describe.skipIf(CHROMIUM === undefined)('the history picture of the inspector in headless Chromium', () => {
  let work: TempDir
  let shots: string
  let repo: MadeRepo
  let serve: Served
  let pages: PageServer
  let browser: Browser
  let page: Page
  /** `dagtuf history --dir --format json` of the repository, in Node. */
  let node: Graph
  /** The snapshot the first publish named (height 1): corrupted by /gw/flipsome. */
  let firstSnapshot = ''

  const inspector = async <T>(key: string): Promise<T> => await page.evaluate((k) => (window as unknown as { inspector: Record<string, unknown> }).inspector[k], key) as T
  const runInspector = async (url: string): Promise<void> => { await runInspectorAt(page, url) }
  /** The node boxes of the drawing: [data-cid, data-role, class, text]. */
  const boxes = async (): Promise<Array<[string, string, string, string]>> => await page.$$eval('#history-svg svg g[data-cid]', (gs) =>
    gs.map((g) => [g.getAttribute('data-cid') ?? '', g.getAttribute('data-role') ?? '', g.getAttribute('class') ?? '', g.textContent ?? ''] as [string, string, string, string]))

  beforeAll(async () => {
    work = await tempDir('dagtuf-inspector-history-')
    shots = await mkdtemp(join(tmpdir(), 'dagtuf-history-shots-'))
    const dir = join(work.path, 'repo')
    repo = await makeRepo(dir, work.path, { 'a.txt': 'A\n' })
    // A delegation to "team", published with its key.
    const key = join(work.path, 'team.key')
    await ok('keygen', '--out', key)
    await ok('delegate', '--dir', dir, 'team', '--key', `${key}.pub`, '--threshold', '1', '--paths', 'team/*')
    await ok('publish', '--dir', dir, '--key', key)
    await publishMore(repo, work.path, { 'b.txt': 'B\n' })
    // A root rotation: new root keys made here.
    await ok('rotate', '--dir', dir, 'root', '--keys', '1')
    await ok('publish', '--dir', dir)
    // The delegation removed: "team" is retired with a tombstone.
    await ok('undelegate', '--dir', dir, 'team')
    await ok('publish', '--dir', dir)
    const j = await ok('history', '--dir', dir, '--format', 'json')
    node = JSON.parse(j.join('\n')) as Graph
    firstSnapshot = node.lanes.find((l) => l.role === 'snapshot')!.nodes.at(-1)!
    await (buildBrowser as () => Promise<unknown>)()
    serve = await serveRepo(dir)
    const ui = await inspectorPages(serve.url)
    pages = await pageServer(serve.url, ui.bundle, ui.pages, { flipSome: (p) => p.startsWith(`/ipfs/${firstSnapshot}`) })
    browser = await launchChromium(CHROMIUM!)
    page = await browser.newPage()
    await page.setViewportSize({ width: 1400, height: 1100 })
    console.log(`history screenshots: ${shots}`)
  }, 240_000)

  afterAll(async () => {
    await browser?.close()
    await pages?.close()
    await serve?.close()
    await work?.remove()
  })

  it('draws the snapshots, the root rotation and the tombstone of the removed delegation, as dagtuf history does (screenshot)', async () => {
    await runInspector(`${serve.url}/ui/?root=${repo.root}&name=hist1`)
    expect(await inspector('error')).toBeNull()
    const graph = await inspector<Graph>('history')
    expect(node.head).toBe(graph.head)
    // The same chains as in Node (the browser draws only the head's timestamp: it walked no other).
    for (const role of ['snapshot', 'root', 'targets', 'team']) {
      expect(graph.lanes.find((l) => l.role === role)?.nodes, role).toEqual(node.lanes.find((l) => l.role === role)?.nodes)
    }
    const snapshots = node.lanes.find((l) => l.role === 'snapshot')!.nodes
    expect(snapshots.length).toBe(6) // init, files, team, b.txt, rotation, removal
    const drawn = await boxes()
    const byCid = new Map(drawn.map((b) => [b[0], b]))
    for (const s of snapshots) expect(byCid.get(s)?.[2]).toMatch(/\bsnapshot\b/)
    expect(byCid.get(graph.head)?.[2]).toMatch(/\btimestamp\b/)
    // Two roots: the newer one a rotation, both versioned from the first.
    const roots = graph.lanes.find((l) => l.role === 'root')!.nodes
    expect(roots).toHaveLength(2)
    expect(roots[1]).toBe(repo.root)
    expect(byCid.get(roots[0]!)?.[3]).toContain('v2 rotation')
    expect(byCid.get(roots[1]!)?.[3]).toContain('v1')
    // The removed delegation: its lane is marked retired and its last object is a tombstone.
    const team = graph.lanes.find((l) => l.role === 'team')!
    expect(team.retired).toBe(true)
    const tomb = byCid.get(team.nodes[0]!)
    expect(tomb?.[1]).toBe('team')
    expect(tomb?.[2]).toMatch(/\bretired\b/)
    expect(tomb?.[3]).toContain('tombstone')
    expect(await page.$eval('#history-svg svg', (s) => s.textContent ?? '')).toContain('team (retired)')
    // Every box's full CID is in its tooltip.
    for (const [cid] of drawn) expect(await page.$eval(`#history-svg g[data-cid="${cid}"] title`, (t) => t.textContent ?? '')).toContain(cid)
    expect(await page.$eval('#h-broken', (e) => (e as HTMLElement).hidden)).toBe(true)
    await page.$eval('#history', (e) => e.scrollIntoView())
    await page.screenshot({ path: join(shots, 'inspector-history.png'), fullPage: true })
  }, 120_000)

  it('an update draws the timestamp the client walked from beside the new head', async () => {
    const before = await inspector<Graph>('history')
    const newHead = await publishMore(repo, work.path, { 'c.txt': 'C\n' })
    await page.evaluate(() => { (window as unknown as { inspector: { done: boolean } }).inspector.done = false })
    await page.click('#update')
    await page.waitForFunction(() => (window as unknown as { inspector?: { done: boolean } }).inspector?.done === true, undefined, { timeout: 60_000 })
    expect(await inspector('error')).toBeNull()
    const after = await inspector<Graph>('history')
    expect(after.head).toBe(newHead)
    expect(after.lanes.find((l) => l.role === 'timestamp')!.nodes).toEqual([after.head, before.head])
    const cids = new Set((await boxes()).map((b) => b[0]))
    expect(cids.has(before.head) && cids.has(after.head)).toBe(true)
  }, 120_000)

  it('a gateway that corrupts an old snapshot: the chain ends in the picture with ENC-CID and that CID; the trusted state is unchanged', async () => {
    const gw = encodeURIComponent(`${pages.url}/gw/flipsome`)
    await runInspector(`${pages.url}/ui/?root=${repo.root}&name=hist2&gateway=${gw}`)
    // The update needs only the head's DAG: it is accepted; the picture walks back into the corrupted block.
    expect(await inspector('error')).toBeNull()
    const graph = await inspector<Graph>('history')
    const snap = graph.lanes.find((l) => l.role === 'snapshot')!
    expect(snap.broken).toEqual({ cid: firstSnapshot, code: 'ENC-CID' })
    expect(snap.nodes).not.toContain(firstSnapshot)
    expect(await page.$eval('#h-broken', (e) => (e as HTMLElement).hidden)).toBe(false)
    expect(await page.$eval('#h-broken tbody', (e) => (e as HTMLElement).innerText)).toMatch(new RegExp(`snapshot\\tENC-CID\\t${firstSnapshot}`))
    expect(await page.$eval(`#history-svg svg text.broken[data-cid="${firstSnapshot}"]`, (e) => e.getAttribute('data-code'))).toBe('ENC-CID')
    // The state the client trusts is what the update accepted, before and after drawing.
    // (A string: vitest would rewrite a dynamic import() inside a function.)
    const stateOf = async (): Promise<unknown> => await page.evaluate(`(async () => {
      const d = await import('/ui/dagtuf.js')
      const s = await (await d.IdbClientStore.open('hist2')).readState()
      return s?.trusted?.timestamp.toString() ?? null
    })()`)
    expect(await stateOf()).toBe(repo.timestamps.at(-1))
    await page.screenshot({ path: join(shots, 'inspector-history-broken.png'), fullPage: true })
  }, 120_000)
})
