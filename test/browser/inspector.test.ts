/**
 * The inspector at /ui/ of `dagtuf serve` (issue 13 item 3), in headless
 * Chromium: the page runs the browser client against the serving gateway and
 * shows the verified head, the roles with signers and thresholds, a paged,
 * searchable target list and a verified download; through a tampering
 * gateway it shows the refusal with its rule ID and the CID at fault; while
 * a hostile gateway holds a body half-sent, the page's main thread still
 * answers (the update runs in a Web Worker: src/browser/worker.ts).
 * Screenshots go to a temporary folder (printed), for people to look at.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
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
if (CHROMIUM === undefined) console.warn(`test/browser/inspector.test.ts: ${NO_CHROMIUM}`)

/** 120 targets: three pages of 50. */
const FILES: Record<string, string> = {}
for (let i = 0; i < 120; i++) FILES[`files/file-${String(i).padStart(3, '0')}.txt`] = `content of file ${i}\n`

/** 70 targets of the delegated role "team": two pages of 50. */
const TEAM_FILES: Record<string, string> = {}
for (let i = 0; i < 70; i++) TEAM_FILES[`team/doc-${String(i).padStart(2, '0')}.txt`] = `team document ${i}\n`

async function cli (...argv: string[]): Promise<string[]> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  if (code !== 0) throw new Error(`dagtuf ${argv.join(' ')}: exit ${code}: ${err.join('\n')}`)
  return out
}

describe.skipIf(CHROMIUM === undefined)('the inspector at /ui/ in headless Chromium', () => {
  let work: TempDir
  let shots: string
  let repo: MadeRepo
  let serve: Served
  let pages: PageServer
  let browser: Browser
  let page: Page

  const text = async (selector: string): Promise<string> => await page.$eval(selector, (e) => (e as HTMLElement).innerText)
  const rows = async (selector: string): Promise<number> => await page.$$eval(`${selector} tbody tr`, (r) => r.length)

  const runInspector = async (url: string): Promise<void> => { await runInspectorAt(page, url) }

  beforeAll(async () => {
    work = await tempDir('dagtuf-inspector-')
    shots = await mkdtemp(join(tmpdir(), 'dagtuf-inspector-shots-'))
    repo = await makeRepo(join(work.path, 'repo'), work.path, FILES)
    // A delegated role "team" listing TEAM_FILES, published with its key.
    const key = join(work.path, 'team.key')
    await cli('keygen', '--out', key)
    await cli('delegate', '--dir', repo.dir, 'team', '--key', `${key}.pub`, '--threshold', '1', '--paths', 'team/*')
    for (const [path, content] of Object.entries(TEAM_FILES)) {
      const f = join(work.path, path.replace('/', '-'))
      await writeFile(f, content)
      await cli('add', '--dir', repo.dir, f, '--path', path, '--role', 'team')
    }
    repo.timestamps.push((JSON.parse((await cli('publish', '--dir', repo.dir, '--key', key, '--json'))[0]!) as { timestamp: string }).timestamp)
    // The bundle /ui/dagtuf.js serves (dist/browser/dagtuf.js).
    await (buildBrowser as () => Promise<unknown>)()
    serve = await serveRepo(repo.dir)
    // The same page on another origin, whose /gw/flip forwards to a tampering gateway.
    const ui = await inspectorPages(serve.url)
    pages = await pageServer(serve.url, ui.bundle, ui.pages)
    browser = await launchChromium(CHROMIUM!)
    page = await browser.newPage()
    await page.setViewportSize({ width: 1280, height: 1000 })
    console.log(`inspector screenshots: ${shots}`)
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await pages?.close()
    await serve?.close()
    await work?.remove()
  })

  it('shows the verified head and a role table with signers and thresholds (screenshot)', async () => {
    await runInspector(`${serve.url}/ui/?root=${repo.root}&name=insp1`)
    expect(await page.evaluate(() => (window as unknown as { inspector: { error: unknown } }).inspector.error)).toBeNull()
    const head = await text('#head-table')
    expect(head).toContain(repo.timestamps.at(-1))
    expect(head).toContain(repo.root)
    const roles = await text('#roles-table')
    for (const role of ['root', 'timestamp', 'snapshot', 'targets']) expect(roles).toMatch(new RegExp(`^${role}\\t1 of 1\\t[0-9a-f]{16}\\.\\.\\.`, 'm'))
    await page.screenshot({ path: join(shots, 'inspector-head.png'), fullPage: false })
  }, 90_000)

  it('lists the targets 50 at a time, searches them, and downloads one verified', async () => {
    expect(await rows('#targets-table')).toBe(50)
    expect(await text('#t-count')).toContain('50 shown, 50 read')
    await page.click('#more')
    await page.waitForFunction(() => document.querySelectorAll('#targets-table tbody tr').length === 100)
    await page.click('#more')
    await page.waitForFunction(() => document.getElementById('t-count')!.innerText.includes('end of list'))
    expect(await rows('#targets-table')).toBe(120)
    await page.fill('#query', 'FILE-07')
    await page.click('#search')
    await page.waitForFunction(() => document.getElementById('t-count')!.innerText.includes('10 shown'))
    const paths = await page.$$eval('#targets-table tbody tr td:first-child', (tds) => tds.map((t) => (t as HTMLElement).innerText))
    // In the map's order (by path hash), not sorted.
    expect([...paths].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `files/file-07${i}.txt`))
    await page.click('#targets-table tbody tr:first-child button')
    await page.waitForFunction(() => (window as unknown as { inspector: { download?: unknown } }).inspector.download !== undefined)
    const want = FILES[paths[0]!]!
    expect(await page.evaluate(() => (window as unknown as { inspector: { download: unknown } }).inspector.download)).toMatchObject({ path: paths[0], length: want.length, sha256: createHash('sha256').update(want).digest('hex') })
    expect(await text('#d-out')).toContain('verified')
    await page.screenshot({ path: join(shots, 'inspector-targets.png'), fullPage: true })
  }, 90_000)

  it('lists a delegated role\'s targets, paged and searchable, and downloads one through the delegation', async () => {
    expect(await page.$$eval('#t-roles option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['targets', 'team'])
    await page.fill('#query', '')
    await page.selectOption('#t-roles', 'team')
    await page.waitForFunction(() => document.getElementById('t-role')!.innerText.includes('team'))
    await page.waitForFunction(() => document.getElementById('t-count')!.innerText.includes('50 shown'))
    await page.click('#more')
    await page.waitForFunction(() => document.getElementById('t-count')!.innerText.includes('end of list'))
    const all = await page.$$eval('#targets-table tbody tr td:first-child', (tds) => tds.map((t) => (t as HTMLElement).innerText))
    expect([...all].sort()).toEqual(Object.keys(TEAM_FILES).sort())
    await page.fill('#query', 'DOC-6')
    await page.click('#search')
    await page.waitForFunction(() => document.getElementById('t-count')!.innerText.includes('end of list') && document.querySelectorAll('#targets-table tbody tr').length === 10)
    const found = await page.$$eval('#targets-table tbody tr td:first-child', (tds) => tds.map((t) => (t as HTMLElement).innerText))
    expect([...found].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `team/doc-6${i}.txt`))
    await page.evaluate(() => { delete (window as unknown as { inspector: { download?: unknown } }).inspector.download })
    await page.click('#targets-table tbody tr:first-child button')
    await page.waitForFunction(() => (window as unknown as { inspector: { download?: unknown } }).inspector.download !== undefined)
    const want = TEAM_FILES[found[0]!]!
    expect(await page.evaluate(() => (window as unknown as { inspector: { download: unknown } }).inspector.download)).toMatchObject({ path: found[0], length: want.length, sha256: createHash('sha256').update(want).digest('hex') })
    expect(await text('#d-out')).toContain('signed by role team')
    await page.screenshot({ path: join(shots, 'inspector-team.png'), fullPage: true })
    await page.selectOption('#t-roles', 'targets')
    await page.waitForFunction(() => document.getElementById('t-role')!.innerText.includes('top-level'))
  }, 90_000)

  it('through a tampering gateway shows the refusal: rule ENC-CID and the CID at fault (screenshot)', async () => {
    await runInspector(`${pages.url}/ui/?root=${repo.root}&name=insp2&gateway=${encodeURIComponent(`${pages.url}/gw/flip`)}`)
    expect(await page.evaluate(() => (window as unknown as { inspector: { error: unknown } }).inspector.error)).toMatchObject({ code: 'ENC-CID', cid: repo.root })
    expect(await page.$eval('#refusal', (e) => (e as HTMLElement).hidden)).toBe(false)
    expect(await text('#r-code')).toBe('ENC-CID')
    expect(await text('#r-cid')).toBe(repo.root)
    await page.screenshot({ path: join(shots, 'inspector-refusal.png') })
  }, 90_000)

  it('while a hostile gateway holds a large body half-sent, the main thread still answers; then BOUND-BLOCK-SIZE, the trusted state unchanged, and an honest update is accepted', async () => {
    const honest = `${pages.url}/gw/serve`
    await runInspector(`${pages.url}/ui/?root=${repo.root}&name=drip&gateway=${encodeURIComponent(honest)}`)
    expect(await page.evaluate(() => (window as unknown as { inspector: { error: unknown } }).inspector.error)).toBeNull()
    const trustedBefore = await text('#head-table')
    const h1 = repo.timestamps.at(-1)!
    expect(trustedBefore).toContain(h1)
    const h2 = await publishMore(repo, work.path, { 'new.txt': 'new\n' })
    // A heartbeat on the page's main thread: a setTimeout chain and requestAnimationFrame, counted.
    await page.evaluate(() => {
      const w = window as unknown as { beats: { timer: number, frames: number } }
      w.beats = { timer: 0, frames: 0 }
      const tick = (): void => { w.beats.timer++; setTimeout(tick, 0) }
      const frame = (): void => { w.beats.frames++; requestAnimationFrame(frame) }
      tick()
      requestAnimationFrame(frame)
    })
    const beats = async (): Promise<{ timer: number, frames: number }> => await page.evaluate(() => ({ ...(window as unknown as { beats: { timer: number, frames: number } }).beats }))
    const replies = async (): Promise<number> => await page.evaluate(() => (window as unknown as { inspector: { workerReplies: number } }).inspector.workerReplies)
    const repliesBefore = await replies()
    await page.fill('#gateway', `${pages.url}/gw/drip`)
    await page.evaluate(() => { (window as unknown as { inspector: { done: boolean } }).inspector.done = false })
    await page.click('#update')
    // The gateway has sent 64 KiB of a block and holds the rest: the update is under way.
    await pages.drip.started()
    const during1 = await beats()
    // Two animation frames later (this evaluation itself needs the main thread)...
    await page.evaluate(async () => { await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))) })
    const during2 = await beats()
    expect(await page.evaluate(() => (window as unknown as { inspector: { done: boolean } }).inspector.done)).toBe(false)
    expect(during2.frames).toBeGreaterThan(during1.frames)
    expect(during2.timer).toBeGreaterThan(during1.timer)
    pages.drip.release()
    await page.waitForFunction(() => (window as unknown as { inspector?: { done: boolean } }).inspector?.done === true, undefined, { timeout: 60_000 })
    expect(await page.evaluate(() => (window as unknown as { inspector: { error: unknown } }).inspector.error)).toMatchObject({ code: 'BOUND-BLOCK-SIZE' })
    expect(await text('#r-code')).toBe('BOUND-BLOCK-SIZE')
    // The refusal came back from the update worker (the update did not run on the page's thread).
    expect(await replies()).toBe(repliesBefore + 1)
    // The page shows the state from before: still h1.
    expect(await text('#head-table')).toBe(trustedBefore)
    await page.screenshot({ path: join(shots, 'inspector-drip-refusal.png') })
    await page.fill('#gateway', honest)
    await page.evaluate(() => { (window as unknown as { inspector: { done: boolean } }).inspector.done = false })
    await page.click('#update')
    await page.waitForFunction(() => (window as unknown as { inspector?: { done: boolean } }).inspector?.done === true, undefined, { timeout: 60_000 })
    expect(await page.evaluate(() => (window as unknown as { inspector: { error: unknown } }).inspector.error)).toBeNull()
    expect(await text('#head-table')).toContain(h2)
  }, 120_000)
})
