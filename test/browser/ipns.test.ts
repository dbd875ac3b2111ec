/**
 * An IPNS refresh in the browser (issue 13): the bundle's Updater with the
 * `ipns` option takes its candidate timestamp from the name's signed record
 * (fetched from the gateway as ?format=ipns-record) and keeps the highest
 * sequence accepted per name in IndexedDB (the `ipns.json` document of
 * IdbClientStore). A genuine but older record replayed by the gateway is
 * ERR_IPNS_REPLAY, the stored state unchanged, also after a page reload
 * (the floor is in IndexedDB, not in memory); the current record is still
 * accepted afterwards. The inspector (/ui/?ipns=NAME) takes its head the same way.
 */
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { publishHeadIpns, readRepoIpns } from '../../src/publish/ipns.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { NO_CHROMIUM, buildBundle, callIn, chromiumPath, inspectorPages, launchChromium, openTestPage, pageServer, serveRepo, type PageServer, type Served } from './harness.js'

const CHROMIUM = chromiumPath()
if (CHROMIUM === undefined) console.warn(`test/browser/ipns.test.ts: ${NO_CHROMIUM}`)

const DAY = 86_400_000

type Outcome<T> = { ok: T, error?: undefined } | { ok?: undefined, error: { name: string, code: string, details: Record<string, unknown> | null } }

describe.skipIf(CHROMIUM === undefined)('an IPNS refresh in headless Chromium', () => {
  let work: TempDir
  let repo: MadeRepo
  let serve: Served
  let pages: PageServer
  let browser: Browser
  let page: Page
  let name = ''
  /** Records of the repository's IPNS key: sequence 1 names timestamps[1], sequence 2 timestamps[2]. */
  let rec1: Uint8Array
  let rec2: Uint8Array
  /** What /gw/ipns/ipns/NAME answers. */
  let served: Uint8Array | undefined

  const call = async <T>(fn: string, ...args: unknown[]): Promise<T> => await callIn<T>(page, fn, ...args)
  const open = async (): Promise<void> => { await openTestPage(page, pages) }

  beforeAll(async () => {
    work = await tempDir('dagtuf-browser-ipns-')
    repo = await makeRepo(join(work.path, 'repo'), work.path, { 'hello.txt': 'hello over IPNS\n' })
    const publishIpns = async (ts: string): Promise<Uint8Array> => {
      const node = await openRepoNode(repo.dir)
      try {
        name = (await publishHeadIpns(node, CID.parse(ts), DAY)).name
      } finally {
        await node.close()
      }
      return (await readRepoIpns(repo.dir))!.record
    }
    rec1 = await publishIpns(repo.timestamps[1]!)
    await publishMore(repo, work.path, { 'b.txt': 'second\n' })
    rec2 = await publishIpns(repo.timestamps[2]!)
    const bundle = await buildBundle(join(work.path, 'bundle'))
    serve = await serveRepo(repo.dir)
    pages = await pageServer(serve.url, bundle, (await inspectorPages(serve.url)).pages, { ipnsRecord: () => served })
    browser = await launchChromium(CHROMIUM!)
    page = await browser.newPage()
    page.on('pageerror', (e) => { console.error('page error:', e) })
    await open()
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await pages?.close()
    await serve?.close()
    await work?.remove()
  })

  it('accepts the current record, refuses an older one replayed with ERR_IPNS_REPLAY (state unchanged, also after a reload), and accepts the current one again', async () => {
    expect((await call<Outcome<unknown>>('init', 'ipns', 'serve', repo.root)).ok).toBeDefined()
    served = rec2
    const first = await call<Outcome<{ timestamp: string, ipns: { name: string, sequence: string } }>>('ipnsRefresh', 'ipns', 'ipns', name)
    expect(first.error).toBeUndefined()
    expect(first.ok).toMatchObject({ timestamp: repo.timestamps[2], ipns: { sequence: '2' } })
    const before = await call<string>('rawState', 'ipns')
    expect(before).toContain(repo.timestamps[2])

    served = rec1 // genuine, signed, not expired: only older
    const replay = await call<Outcome<unknown>>('ipnsRefresh', 'ipns', 'ipns', name)
    expect(replay.error).toMatchObject({ name: 'StateError', code: 'ERR_IPNS_REPLAY', details: { sequence: '1', accepted: '2', cid: repo.timestamps[1] } })
    expect(await call<string>('rawState', 'ipns')).toBe(before)

    // The floor is stored, not remembered by the page: a reload refuses the replay the same way.
    await open()
    const again = await call<Outcome<unknown>>('ipnsRefresh', 'ipns', 'ipns', name)
    expect(again.error).toMatchObject({ code: 'ERR_IPNS_REPLAY' })
    expect(await call<string>('rawState', 'ipns')).toBe(before)

    // A fresh database has no floor: the older record is then judged by TUF alone (accepted: it moves forward from the root).
    expect((await call<Outcome<unknown>>('init', 'ipns-fresh', 'serve', repo.root)).ok).toBeDefined()
    expect((await call<Outcome<{ timestamp: string }>>('ipnsRefresh', 'ipns-fresh', 'ipns', name)).ok).toMatchObject({ timestamp: repo.timestamps[1] })

    served = rec2
    expect((await call<Outcome<{ timestamp: string }>>('ipnsRefresh', 'ipns', 'ipns', name)).ok).toMatchObject({ timestamp: repo.timestamps[2] })
    expect(await call<Outcome<unknown>>('state', 'ipns')).toMatchObject({ ok: { timestamp: repo.timestamps[2] } })
  }, 120_000)

  it('the inspector with ?ipns=NAME updates to the record\'s timestamp, and shows an older record replayed as ERR_IPNS_REPLAY', async () => {
    const done = async (): Promise<void> => { await page.waitForFunction(() => (window as unknown as { inspector?: { done: boolean } }).inspector?.done === true, undefined, { timeout: 60_000 }) }
    const error = async (): Promise<unknown> => await page.evaluate(() => (window as unknown as { inspector: { error: unknown } }).inspector.error)
    served = rec2
    await page.goto(`${pages.url}/ui/?root=${repo.root}&name=ipns-ui&ipns=${encodeURIComponent(name)}&gateway=${encodeURIComponent(`${pages.url}/gw/ipns`)}`)
    await done()
    expect(await error()).toBeNull()
    expect(await page.$eval('#head-table', (e) => (e as HTMLElement).innerText)).toContain(repo.timestamps[2])
    served = rec1
    await page.evaluate(() => { (window as unknown as { inspector: { done: boolean } }).inspector.done = false })
    await page.click('#update')
    await done()
    expect(await error()).toMatchObject({ code: 'ERR_IPNS_REPLAY' })
    expect(await page.$eval('#r-code', (e) => (e as HTMLElement).innerText)).toBe('ERR_IPNS_REPLAY')
    expect(await page.$eval('#head-table', (e) => (e as HTMLElement).innerText)).toContain(repo.timestamps[2])
  }, 120_000)
})
