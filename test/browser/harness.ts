/**
 * What the Chromium tests share: a repository served by `dagtuf serve` (the
 * built CLI, a child process) on 127.0.0.1, the browser bundle built into a
 * temporary folder, a page server on 127.0.0.1 that serves a test page and
 * the bundle and forwards gateway paths (same origin, so no CORS):
 *
 *   /gw/serve/...   to `dagtuf serve`
 *   /gw/flip/...    to a gateway that flips a byte of every /ipfs/ body
 *   /gw/flipc/...   the same, for content blocks only (raw and dag-pb CIDs)
 *   /gw/stall/...   never answers (for timeouts)
 *   /gw/huge/...    answers every /ipfs/ request with 8 MiB, streamed without a length
 *   /gw/drip/...    /ipfs/: sends 64 KiB, holds the body until `drip.release()` (once released,
 *                   bodies are not held), then 8 MiB more without a length; else as /gw/serve
 *   /gw/flipsome/...  flips a byte of the /ipfs/ bodies `options.flipSome` chooses (none by default)
 *   /gw/ipns/...    /ipns/NAME: the bytes `options.ipnsRecord()` gives (404 when none); else as /gw/serve
 *
 * and headless Chromium (/usr/bin/chromium, or DAGTUF_CHROMIUM) driven by
 * playwright-core (never a browser download). `chromiumPath()` is undefined where there is none: the
 * tests then skip, saying so.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { flippingGateway } from '../../src/server/flipping-gateway.js'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'
// @ts-expect-error: a plain .mjs script without declarations
import { buildBrowser } from '../../scripts/build-browser.mjs'

/** The Chromium executable, or undefined when there is none. */
export function chromiumPath (): string | undefined {
  for (const p of [process.env.DAGTUF_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p === undefined || p === '') continue
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {}
  }
  return undefined
}

export const NO_CHROMIUM = 'skipped: no Chromium at /usr/bin/chromium (apt-get install chromium, or set DAGTUF_CHROMIUM)'

export interface Served { url: string, process: ChildProcess, close: () => Promise<void> }

/** `dagtuf serve --dir DIR --port 0`, started and its URL read from stdout. */
export async function serveRepo (dir: string, extra: string[] = []): Promise<Served> {
  await ensureBuilt()
  const child = spawn(process.execPath, [BIN, 'serve', '--dir', dir, '--port', '0', ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { reject(new Error(`serve did not start: ${err}`)) }, 60_000)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) { clearTimeout(timer); resolve(out.split('\n')[0]!.trim()) }
    })
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`serve exited: ${err}`)) })
  })
  return {
    url,
    process: child,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
}

export interface PageServerOptions {
  /** Which /ipfs/ paths /gw/flipsome corrupts. */
  flipSome?: (path: string) => boolean
  /** What /gw/ipns answers for /ipns/NAME (any name): a record's bytes, or undefined for 404. */
  ipnsRecord?: () => Uint8Array | undefined
}

export interface PageServer {
  url: string
  close: () => Promise<void>
  /** The /gw/drip route: `started` resolves once a body is held part-sent; `release()` lets every held body go on, and later ones are not held. */
  drip: { started: () => Promise<void>, release: () => void }
}

const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>dagtuf browser test</title>
<script type="module" src="/page.js"></script>`

const PAGE_SCRIPT = readFileSync(join(import.meta.dirname, 'page.js'))

async function forward (upstream: string, path: string, res: ServerResponse): Promise<void> {
  try {
    const up = await fetch(upstream + path)
    const body = new Uint8Array(await up.arrayBuffer())
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream', 'content-length': body.byteLength })
    res.end(body)
  } catch {
    res.writeHead(502)
    res.end()
  }
}

/**
 * The page server over `serveUrl` (see the module comment). `bundle` is the
 * built dagtuf.js; `pages` maps further paths to [content type, bytes].
 */
export async function pageServer (serveUrl: string, bundle: Uint8Array, pages: Record<string, [string, Uint8Array | string]> = {}, options: PageServerOptions = {}): Promise<PageServer> {
  const flip = await flippingGateway(serveUrl, () => true)
  const flipSomeGw = await flippingGateway(serveUrl, options.flipSome ?? (() => false))
  const flipContent = await flippingGateway(serveUrl, (p) => /^\/ipfs\/(bafk|bafybei)/.test(p))
  const stalled = new Set<ServerResponse>()
  const dripStarted = Promise.withResolvers<void>()
  const dripRelease = Promise.withResolvers<void>()
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/'
    const route = (prefix: string): string | undefined => url.startsWith(prefix) ? url.slice(prefix.length - 1) : undefined
    if (url === '/' || url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(TEST_PAGE)
    } else if (url === '/dagtuf.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' })
      res.end(bundle)
    } else if (url === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' })
      res.end(PAGE_SCRIPT)
    } else if (pages[url.split('?')[0]!] !== undefined) {
      const [type, body] = pages[url.split('?')[0]!]!
      res.writeHead(200, { 'content-type': type })
      res.end(body)
    } else if (route('/gw/serve/') !== undefined) void forward(serveUrl, route('/gw/serve/')!, res)
    else if (route('/gw/flip/') !== undefined) void forward(flip.url, route('/gw/flip/')!, res)
    else if (route('/gw/flipc/') !== undefined) void forward(flipContent.url, route('/gw/flipc/')!, res)
    else if (route('/gw/drip/') !== undefined && !route('/gw/drip/')!.startsWith('/ipfs/')) void forward(serveUrl, route('/gw/drip/')!, res)
    else if (route('/gw/drip/') !== undefined) {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw' })
      res.on('error', () => {})
      const chunk = new Uint8Array(64 * 1024).fill(0x7b)
      res.write(chunk)
      stalled.add(res)
      dripStarted.resolve()
      void dripRelease.promise.then(() => {
        let sent = 0
        const more = (): void => {
          while (sent < 128 && !res.destroyed) {
            sent++
            if (!res.write(chunk)) { res.once('drain', more); return }
          }
          res.end()
        }
        more()
      })
    }
    else if (route('/gw/ipns/') !== undefined && !route('/gw/ipns/')!.startsWith('/ipns/')) void forward(serveUrl, route('/gw/ipns/')!, res)
    else if (route('/gw/ipns/') !== undefined) {
      const rec = options.ipnsRecord?.()
      res.writeHead(rec === undefined ? 404 : 200, { 'content-type': 'application/vnd.ipfs.ipns-record' })
      res.end(rec)
    }
    else if (route('/gw/flipsome/') !== undefined) void forward(flipSomeGw.url, route('/gw/flipsome/')!, res)
    else if (route('/gw/stall/') !== undefined) stalled.add(res)
    else if (route('/gw/huge/') !== undefined) {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw' })
      const chunk = new Uint8Array(64 * 1024).fill(0x7b)
      let sent = 0
      const more = (): void => {
        while (sent < 128 && !res.destroyed) {
          sent++
          if (!res.write(chunk)) { res.once('drain', more); return }
        }
        res.end()
      }
      res.on('error', () => {})
      more()
    }
    else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    drip: {
      started: async () => { await dripStarted.promise },
      release: () => { dripRelease.resolve() }
    },
    close: async () => {
      dripRelease.resolve()
      for (const r of stalled) r.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await flip.close()
      await flipContent.close()
      await flipSomeGw.close()
    }
  }
}

/** Build the browser bundle into `dir`; its bytes. */
export async function buildBundle (dir: string): Promise<Uint8Array> {
  await mkdir(dir, { recursive: true })
  const outfile = join(dir, 'dagtuf.js')
  await (buildBrowser as (o: { outfile: string }) => Promise<unknown>)({ outfile })
  return await readFile(outfile)
}

/** Headless Chromium, no sandbox (tests run as root), no GPU. */
export async function launchChromium (executablePath: string): Promise<Browser> {
  return await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    timeout: 60_000
  })
}

/** Call `window.t[fn](...args)` in a test page (test/browser/page.html's functions). */
export async function callIn<T> (page: Page, fn: string, ...args: unknown[]): Promise<T> {
  return await page.evaluate(`window.t[${JSON.stringify(fn)}](...${JSON.stringify(args)})`) as T
}

/** Open the test page of `pages` and wait (at most 30 s) until its bundle has loaded. */
export async function openTestPage (page: Page, pages: PageServer): Promise<void> {
  await page.goto(pages.url + '/')
  await page.waitForFunction('window.dagtufReady === true', undefined, { timeout: 30_000 })
}

/** Open the inspector at `url` and wait (at most 60 s) until it has finished its update. */
export async function runInspector (page: Page, url: string): Promise<void> {
  await page.goto(url)
  await page.waitForFunction(() => (window as unknown as { inspector?: { done: boolean } }).inspector?.done === true, undefined, { timeout: 60_000 })
}

/** The inspector page and bundle as `dagtuf serve` at `serveUrl` serves them, for pageServer's other origin. */
export async function inspectorPages (serveUrl: string): Promise<{ bundle: Uint8Array, pages: Record<string, [string, Uint8Array]> }> {
  const html = new Uint8Array(await (await fetch(`${serveUrl}/ui/`)).arrayBuffer())
  const bundle = new Uint8Array(await (await fetch(`${serveUrl}/ui/dagtuf.js`)).arrayBuffer())
  return { bundle, pages: { '/ui/': ['text/html; charset=utf-8', html], '/ui/dagtuf.js': ['text/javascript', bundle] } }
}
