/**
 * The browser client in real headless Chromium, against `dagtuf serve` on
 * 127.0.0.1 with a repository made by the publisher's API (issue 13 item 2):
 * the bundle (dagtuf/browser) loaded by a page, its Updater on IndexedDB
 * and fetch. Skips, saying so, where Chromium is absent (.ci/run installs it).
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewaySource } from '../../src/blocks/gateway-source.js'
import { Updater } from '../../src/client/updater.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { NO_CHROMIUM, buildBundle, callIn, chromiumPath, launchChromium, openTestPage, pageServer, serveRepo, type PageServer, type Served } from './harness.js'

const CHROMIUM = chromiumPath()
if (CHROMIUM === undefined) console.warn(`test/browser/chromium.test.ts: ${NO_CHROMIUM}`)

const V1 = 'hello from the browser, v1\n'
const V2 = 'hello from the browser, v2\n'
/** 1.5 MiB: a UnixFS file of two raw leaves under a dag-pb root. */
const BIG = new Uint8Array(1536 * 1024).map((_, i) => (i * 31 + 7) & 0xff)

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex')

interface Outcome<T> { ok?: T, error?: { name: string, code: string, message: string, cid: string | null, dagtuf: boolean } }

describe.skipIf(CHROMIUM === undefined)('the browser client in headless Chromium against dagtuf serve', () => {
  let work: TempDir
  let repo: MadeRepo
  let serve: Served
  let pages: PageServer
  let browser: Browser
  let page: Page
  /** Timestamp CIDs: v1 (app.txt = V1, big.bin), v2 (app.txt = V2). */
  let ts1: string
  let ts2: string

  const call = async <T>(fn: string, ...args: unknown[]): Promise<T> => await callIn<T>(page, fn, ...args)
  const open = async (): Promise<void> => { await openTestPage(page, pages) }

  beforeAll(async () => {
    work = await tempDir('dagtuf-chromium-')
    repo = await makeRepo(join(work.path, 'repo'), work.path, { 'app.txt': V1, 'big.bin': BIG })
    ts1 = repo.timestamps[1]!
    ts2 = await publishMore(repo, work.path, { 'app.txt': V2 })
    const bundle = await buildBundle(join(work.path, 'bundle'))
    serve = await serveRepo(repo.dir)
    pages = await pageServer(serve.url, bundle)
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

  it('init from the root CID, refresh from the head, a target downloaded as bytes checked by CID (one block, and 1.5 MiB of UnixFS)', async () => {
    expect(await call('init', 'a', 'serve', repo.root)).toEqual({ ok: { root: repo.root, changed: true } })
    const r = await call<Outcome<{ timestamp: string, continuity: string }>>('refresh', 'a', 'serve', null)
    expect(r.error).toBeUndefined()
    expect(r.ok).toMatchObject({ timestamp: ts2, continuity: 'first' })
    const app = await call<Outcome<{ length: number, sha256: string, role: string }>>('fetch', 'a', 'serve', 'app.txt')
    expect(app.ok).toMatchObject({ length: V2.length, sha256: sha256(V2), role: 'targets' })
    const big = await call<Outcome<{ length: number, sha256: string }>>('fetch', 'a', 'serve', 'big.bin')
    expect(big.ok).toMatchObject({ length: BIG.byteLength, sha256: sha256(BIG) })
  }, 60_000)

  it('keeps the trusted state across a page reload: the metadata then comes from IndexedDB (the gateway given never answers)', async () => {
    const before = await call<string>('rawState', 'a')
    expect(before).toContain(ts2)
    await page.reload()
    await page.waitForFunction('window.dagtufReady === true', undefined, { timeout: 30_000 })
    expect(await call<string>('rawState', 'a')).toBe(before)
    expect(await call('state', 'a')).toEqual({ ok: { root: repo.root, timestamp: ts2 } })
    const info = await call<Outcome<{ length: number }>>('info', 'a', 'stall', 'app.txt')
    expect(info.ok).toMatchObject({ length: V2.length })
  }, 60_000)

  it('refuses a rollback with CLIENT-TS-DESCENDS, as on Node, the stored state byte-identical; an honest update is still accepted', async () => {
    const before = await call<string>('rawState', 'a')
    const r = await call<Outcome<unknown>>('refresh', 'a', 'serve', ts1)
    expect(r.error).toMatchObject({ name: 'ValidationError', code: 'CLIENT-TS-DESCENDS', dagtuf: true })
    expect(await call<string>('rawState', 'a')).toBe(before)
    expect((await call<Outcome<{ timestamp: string }>>('refresh', 'a', 'serve', ts2)).ok).toMatchObject({ timestamp: ts2 })
  }, 60_000)

  it('refuses a tampering gateway: metadata with ENC-CID naming the CID at fault, content with CLIENT-TARGET-CONTENT; the state unchanged, then the honest gateway is accepted', async () => {
    expect((await call<Outcome<unknown>>('init', 'b', 'serve', repo.root)).ok).toBeDefined()
    const before = await call<string>('rawState', 'b')
    const r = await call<Outcome<unknown>>('refresh', 'b', 'flip', ts1)
    expect(r.error).toMatchObject({ name: 'ValidationError', code: 'ENC-CID' })
    expect(r.error!.cid).toMatch(/^bagu/)
    expect(await call<string>('rawState', 'b')).toBe(before)
    expect((await call<Outcome<{ timestamp: string }>>('refresh', 'b', 'flipc', ts1)).ok).toMatchObject({ timestamp: ts1 })
    const c = await call<Outcome<unknown>>('fetch', 'b', 'flipc', 'app.txt')
    expect(c.error).toMatchObject({ name: 'ValidationError', code: 'CLIENT-TARGET-CONTENT' })
    expect((await call<Outcome<{ sha256: string }>>('fetch', 'b', 'serve', 'app.txt')).ok).toMatchObject({ sha256: sha256(V1) })
  }, 60_000)

  it('a gateway that never answers is ERR_TIMEOUT within the source\'s time limit (AbortSignal), the state unchanged and the page responsive', async () => {
    const before = await call<string>('rawState', 'b')
    const r = await call<Outcome<unknown>>('refresh', 'b', 'stall', ts2, { timeoutMs: 500 })
    expect(r.error).toMatchObject({ name: 'BlockError', code: 'ERR_TIMEOUT' })
    expect(await call<string>('rawState', 'b')).toBe(before)
    expect(await page.evaluate('1 + 1')).toBe(2)
  }, 60_000)

  it('the lock is the Web Locks API: a second store on the same database is refused (ERR_STATE_LOCKED) until the first releases', async () => {
    expect(await call('lockTwice', 'c')).toEqual({ webLocks: true, second: 'ERR_STATE_LOCKED', afterRelease: 'granted' })
  }, 60_000)

  it('signatures: WebCrypto Ed25519 verdicts obtained ahead are used (hits) where the browser has it, and with it switched off @noble/ed25519 alone gives the same results', async () => {
    interface Sig { path: string, hits: number, misses: number, remembered: number }
    expect((await call<Sig>('signatures')).path).toBe('webcrypto')
    // Registered again: the verdicts of the earlier tests (same blocks) are forgotten.
    expect(await call('webCrypto', true)).toBe(true)
    const s0 = await call<Sig>('signatures')
    expect((await call<Outcome<unknown>>('init', 'w1', 'serve', repo.root)).ok).toBeDefined()
    expect((await call<Outcome<{ timestamp: string }>>('refresh', 'w1', 'serve', ts2)).ok).toMatchObject({ timestamp: ts2 })
    const s1 = await call<Sig>('signatures')
    expect(s1.remembered).toBeGreaterThan(s0.remembered)
    expect(s1.hits).toBeGreaterThan(s0.hits)
    expect(await call('webCrypto', false)).toBe(false)
    expect((await call<Outcome<unknown>>('init', 'w2', 'serve', repo.root)).ok).toBeDefined()
    expect((await call<Outcome<{ timestamp: string }>>('refresh', 'w2', 'serve', ts2)).ok).toMatchObject({ timestamp: ts2 })
    expect((await call<Outcome<unknown>>('refresh', 'w2', 'serve', ts1)).error).toMatchObject({ code: 'CLIENT-TS-DESCENDS' })
    const s2 = await call<Sig>('signatures')
    expect({ hits: s2.hits, remembered: s2.remembered }).toEqual({ hits: s1.hits, remembered: s1.remembered })
    expect(await call('webCrypto', true)).toBe(true)
  }, 60_000)

  it('a hostile gateway gets the same typed errors in the browser as on Node (rollback, flipped bytes, a huge streamed block, a stall), the stored state unchanged each time', async () => {
    const cases: Array<{ gw: string, to: string, from: 'root' | 'ts2', timeoutMs?: number }> = [
      { gw: 'serve', to: ts1, from: 'ts2' },
      { gw: 'flip', to: ts2, from: 'root' },
      { gw: 'huge', to: ts2, from: 'root' },
      { gw: 'stall', to: ts2, from: 'root', timeoutMs: 500 }
    ]
    const inNode: string[] = []
    const inBrowser: string[] = []
    for (const [i, c] of cases.entries()) {
      // Node: the same Updater on a folder, through the same gateway routes.
      const dir = join(work.path, `node-client-${i}`)
      const honest = await Updater.create({ dir, source: new GatewaySource(`${pages.url}/gw/serve`) })
      await honest.init(repo.root)
      if (c.from === 'ts2') await honest.refresh(ts2)
      const bad = await Updater.create({ dir, source: new GatewaySource(`${pages.url}/gw/${c.gw}`, { retries: 0, ...(c.timeoutMs === undefined ? {} : { timeoutMs: c.timeoutMs }) }) })
      inNode.push(await bad.refresh(c.to).then(() => 'accepted', (e: { name: string, code: string }) => `${e.name} ${e.code}`))
      // The browser: a fresh database brought to the same state.
      const name = `hostile-${i}`
      expect((await call<Outcome<unknown>>('init', name, 'serve', repo.root)).ok).toBeDefined()
      if (c.from === 'ts2') expect((await call<Outcome<unknown>>('refresh', name, 'serve', ts2)).ok).toBeDefined()
      const before = await call<string>('rawState', name)
      const r = await call<Outcome<unknown>>('refresh', name, c.gw, c.to, c.timeoutMs === undefined ? {} : { timeoutMs: c.timeoutMs })
      inBrowser.push(r.error === undefined ? 'accepted' : `${r.error.name} ${r.error.code}`)
      expect(await call<string>('rawState', name)).toBe(before)
    }
    expect(inBrowser).toEqual(inNode)
    expect(inBrowser).toEqual(['ValidationError CLIENT-TS-DESCENDS', 'ValidationError ENC-CID', 'ValidationError BOUND-BLOCK-SIZE', 'BlockError ERR_TIMEOUT'])
  }, 90_000)

  it('dagtuf serve is usable as a gateway from a page of another origin (CORS: access-control-allow-origin *), with the same checks', async () => {
    expect(new URL(serve.url).origin).not.toBe(new URL(pages.url).origin)
    expect((await call<Outcome<unknown>>('init', 'cors', serve.url, repo.root)).ok).toBeDefined()
    expect((await call<Outcome<{ timestamp: string }>>('refresh', 'cors', serve.url, null)).ok).toMatchObject({ timestamp: ts2 })
    expect((await call<Outcome<{ sha256: string }>>('fetch', 'cors', serve.url, 'app.txt')).ok).toMatchObject({ sha256: sha256(V2) })
    expect((await call<Outcome<unknown>>('refresh', 'cors', serve.url, ts1)).error).toMatchObject({ code: 'CLIENT-TS-DESCENDS' })
  }, 60_000)
})
