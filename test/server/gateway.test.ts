import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { readCar } from '../../src/blocks/car.js'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { GatewaySource, MAX_REDIRECTS, fetchHead } from '../../src/blocks/gateway-source.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { addContent, readContentBytes } from '../../src/blocks/unixfs.js'
import { startServer } from '../../src/server/http-server.js'
import type { RunningServer, ServerOptions } from '../../src/server/http-server.js'
import { cidOf, expectSameBytes, jsonBlock, pseudoRandomBytes, rawBlock, rejectsWith, tempDir } from '../blocks/helpers.js'
import { httpRequest, tamperingProxy, testServer } from './http-helpers.js'
import type { TestServer } from './http-helpers.js'

describe('trustless gateway: server and client on 127.0.0.1', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })

  async function serve (store: MemoryBlockStore, head: () => Promise<CID | null> = async () => null, extra: Partial<ServerOptions> = {}): Promise<RunningServer> {
    const server = await startServer({ source: store, head, ...extra })
    cleanups.push(server.close)
    return server
  }

  async function helper (server: Promise<TestServer>): Promise<TestServer> {
    const s = await server
    cleanups.push(s.close)
    return s
  }

  it('serves blocks and the head; GatewaySource and fetchHead verify them', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('raw block')
    const ts = jsonBlock({ signed: { _type: 'timestamp' } })
    for (const b of [a, ts]) await store.put(b.cid, b.bytes)
    const content = pseudoRandomBytes(1024 * 1024 + 5000, 8)
    const ref = await addContent(store, content)
    let head: CID | null = null
    const server = await serve(store, async () => head)
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

    const gw = new GatewaySource(server.url + '/', { timeoutMs: 5_000 })
    expect(await gw.get(a.cid)).toEqual(a.bytes)
    expect(await gw.get(ts.cid)).toEqual(ts.bytes)
    expectSameBytes(await readContentBytes(gw, ref.cid, ref.length), content)
    await rejectsWith(gw.get(rawBlock('absent').cid), 'ERR_BLOCK_NOT_FOUND')

    expect(await fetchHead(server.url)).toBeNull()
    head = ts.cid
    expect((await fetchHead(server.url))?.toString()).toBe(ts.cid.toString())
  })

  it('serves UnixFS content from the embedded node', async () => {
    const dir = await tempDir('dagtuf-server-')
    cleanups.push(dir.remove)
    const node = await openRepoNode(dir.path)
    cleanups.push(async () => { await node.close() })
    const content = pseudoRandomBytes(2 * 1024 * 1024 + 1, 12)
    const ref = await addContent(node, content)
    const server = await startServer({ source: node, head: async () => ref.cid })
    cleanups.push(server.close)
    const head = await fetchHead(server.url)
    expect(head?.equals(ref.cid)).toBe(true)
    expectSameBytes(await readContentBytes(new GatewaySource(server.url), head as CID, ref.length), content)
  })

  it('answers with the trustless-gateway headers, raw and car, GET and HEAD', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('headers')
    await store.put(a.cid, a.bytes)
    const server = await serve(store)
    const url = `${server.url}/ipfs/${a.cid}`

    const raw = await httpRequest(url + '?format=raw')
    expect(raw.status).toBe(200)
    expect(raw.headers['content-type']).toBe('application/vnd.ipld.raw')
    expect(raw.headers['x-content-type-options']).toBe('nosniff')
    expect(raw.headers['cache-control']).toContain('immutable')
    expect(raw.headers['content-length']).toBe(String(a.bytes.byteLength))
    expect(raw.headers.etag).toBe(`"${a.cid}.raw"`)
    expect(new Uint8Array(raw.body)).toEqual(a.bytes)

    const byAccept = await httpRequest(url, { headers: { accept: 'text/html;q=0.9, application/vnd.ipld.raw' } })
    expect(byAccept.status).toBe(200)
    expect(new Uint8Array(byAccept.body)).toEqual(a.bytes)

    const head = await httpRequest(url + '?format=raw', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe(String(a.bytes.byteLength))
    expect(head.body.byteLength).toBe(0)

    for (const car of [await httpRequest(url + '?format=car'), await httpRequest(url, { headers: { accept: 'application/vnd.ipld.car; version=1' } })]) {
      expect(car.status).toBe(200)
      expect(car.headers['content-type']).toMatch(/^application\/vnd\.ipld\.car; version=1/)
      expect(car.headers['x-content-type-options']).toBe('nosniff')
      const parsed = await readCar(new Uint8Array(car.body))
      expect(parsed.roots.map(String)).toEqual([a.cid.toString()])
      expect(parsed.size).toBe(1)
      expect(await parsed.get(a.cid)).toEqual(a.bytes)
    }

    // Any spelling of the CID is answered under its canonical form.
    const upper = await httpRequest(`${server.url}/ipfs/b${a.cid.toString().slice(1).toUpperCase()}?format=raw`)
    expect(upper.status).toBe(200)
    expect(upper.headers.etag).toBe(`"${a.cid}.raw"`)

    const notModified = await httpRequest(url + '?format=raw', { headers: { 'if-none-match': `"${a.cid}.raw"` } })
    expect(notModified.status).toBe(304)
    expect(notModified.body.byteLength).toBe(0)

    const headPath = await httpRequest(`${server.url}/head`)
    expect(headPath.status).toBe(404)
    expect(JSON.parse(headPath.body.toString())).toEqual({ error: { code: 'ERR_NO_HEAD', message: expect.any(String) } })
  })

  it('error statuses: 400 (bad CID, parameter, no format at all), 404, 405, 406, 413, 414, 431 (large headers, and more than 64 header fields), with JSON bodies', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('x')
    await store.put(a.cid, a.bytes)
    const server = await serve(store)
    const block = `${server.url}/ipfs/${a.cid}`
    const cases: Array<[string, Parameters<typeof httpRequest>[1], number, string | null]> = [
      [`${server.url}/ipfs/not-a-cid?format=raw`, {}, 400, 'ERR_BAD_CID'],
      [`${server.url}/ipfs/${CID.createV1(0x55, (await import('multiformats/hashes/identity')).identity.digest(new Uint8Array([1])))}?format=raw`, {}, 400, 'ERR_UNSUPPORTED_HASH'],
      [`${block}?format=tar`, {}, 400, 'ERR_BAD_FORMAT'],
      [`${block}?format=car&dag-scope=some`, {}, 400, 'ERR_BAD_SCOPE'],
      // No format asked for at all: 400 (trustless gateway spec, strict trustless mode); a type not served: 406.
      [block, {}, 400, 'ERR_FORMAT_REQUIRED'],
      [block, { headers: { accept: '*/*' } }, 400, 'ERR_FORMAT_REQUIRED'],
      [block, { headers: { accept: 'text/html' } }, 406, 'ERR_NOT_ACCEPTABLE'],
      [block, { headers: { accept: 'application/vnd.ipld.car; version=2' } }, 406, 'ERR_NOT_ACCEPTABLE'],
      [`${server.url}/ipfs/${rawBlock('unknown').cid}?format=raw`, {}, 404, 'ERR_BLOCK_NOT_FOUND'],
      [`${block}/sub/path?format=raw`, {}, 404, 'ERR_NOT_FOUND'],
      [`${server.url}/`, {}, 404, 'ERR_NOT_FOUND'],
      [`${server.url}/ipfs/`, {}, 404, 'ERR_NOT_FOUND'],
      [`${server.url}/etc/passwd`, {}, 404, 'ERR_NOT_FOUND'],
      [`${block}?format=raw`, { method: 'POST' }, 405, 'ERR_METHOD_NOT_ALLOWED'],
      [`${server.url}/head`, { method: 'PUT' }, 405, 'ERR_METHOD_NOT_ALLOWED'],
      [`${block}?format=raw`, { method: 'GET', body: 'payload', headers: { 'content-length': '7' } }, 413, 'ERR_BODY_NOT_ALLOWED'],
      [`${block}?format=raw&pad=${'a'.repeat(3000)}`, {}, 414, 'ERR_URI_TOO_LONG'],
      [`${block}?format=raw`, { headers: { 'x-big': 'b'.repeat(10_000) } }, 431, null],
      // 100 small header fields: node alone would keep 64 and drop the rest silently.
      [`${block}?format=raw`, { headers: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-h${i}`, 'v'])) }, 431, 'ERR_TOO_MANY_HEADERS'],
      [`${block}?format=raw`, { headers: { accept: 'application/vnd.ipld.raw', ...Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`x-h${i}`, 'v'])) } }, 200, null]
    ]
    for (const [url, init, status, code] of cases) {
      const res = await httpRequest(url, init)
      expect({ url: url.slice(0, 120), status: res.status }).toEqual({ url: url.slice(0, 120), status })
      if (code !== null) {
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
        expect(res.headers['x-content-type-options']).toBe('nosniff')
        expect(JSON.parse(res.body.toString())).toEqual({ error: { code, message: expect.any(String) } })
      }
      if (status === 405) expect(res.headers.allow).toBe('GET, HEAD')
    }
  })

  it('a proxy that flips one byte of every body makes GatewaySource fail with ERR_HASH_MISMATCH, without retrying', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('honest bytes')
    await store.put(a.cid, a.bytes)
    const server = await serve(store)
    const proxy = await helper(tamperingProxy(server.url, (body) => {
      if (body.byteLength > 0) body[body.byteLength - 1] = (body[body.byteLength - 1] ?? 0) ^ 1
      return body
    }))
    const gw = new GatewaySource(proxy.url, { timeoutMs: 5_000, retries: 3, backoffMs: 1 })
    await rejectsWith(gw.get(a.cid), 'ERR_HASH_MISMATCH')
    expect(proxy.requests()).toBe(1)
    // The head through the proxy is no longer a canonical CID either.
    const ts = jsonBlock({ t: 1 })
    const withHead = await serve(store, async () => ts.cid)
    const headProxy = await helper(tamperingProxy(withHead.url, (body) => { body[3] = 'Z'.charCodeAt(0); return body }))
    await rejectsWith(fetchHead(headProxy.url), 'ERR_BAD_CID')
  })

  it('caps bodies: announced, streamed without length, and per get', async () => {
    const a = rawBlock('y'.repeat(5000))
    const store = new MemoryBlockStore()
    await store.put(a.cid, a.bytes)
    const server = await serve(store)
    await rejectsWith(new GatewaySource(server.url).get(a.cid, { maxBytes: 4999 }), 'ERR_BLOCK_TOO_LARGE')

    // A hostile gateway that streams forever without a Content-Length.
    let written = 0
    const endless = await helper(testServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw' })
      const chunk = Buffer.alloc(16 * 1024, 1)
      const pump = (): void => {
        while (!res.destroyed && written < 64 * 1024 * 1024) {
          written += chunk.byteLength
          if (!res.write(chunk)) { res.once('drain', pump); return }
        }
        res.end()
      }
      pump()
    }))
    await rejectsWith(new GatewaySource(endless.url, { timeoutMs: 5_000 }).get(a.cid, { maxBytes: 100_000 }), 'ERR_BLOCK_TOO_LARGE')
    expect(written).toBeLessThan(32 * 1024 * 1024)

    // One that announces a huge Content-Length.
    const liar = await helper(testServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 * 1024 * 1024) })
      res.write(Buffer.alloc(10))
    }))
    await rejectsWith(new GatewaySource(liar.url, { timeoutMs: 5_000 }).get(a.cid), 'ERR_BLOCK_TOO_LARGE')

    // A /head body longer than any CID.
    const longHead = await helper(testServer((_req, res) => { res.end('b'.repeat(1000)) }))
    await rejectsWith(fetchHead(longHead.url), 'ERR_BLOCK_TOO_LARGE')
  })

  it('retries 5xx and network errors with backoff, not 404', async () => {
    const a = rawBlock('retry me')
    const flaky = await helper(testServer((_req, res, n) => {
      if (n <= 2) { res.writeHead(503); res.end(); return }
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw' })
      res.end(Buffer.from(a.bytes))
    }))
    expect(await new GatewaySource(flaky.url, { retries: 2, backoffMs: 5 }).get(a.cid)).toEqual(a.bytes)
    expect(flaky.requests()).toBe(3)

    const down = await helper(testServer((_req, res) => { res.writeHead(500); res.end() }))
    const err = await rejectsWith(new GatewaySource(down.url, { retries: 1, backoffMs: 5 }).get(a.cid), 'ERR_TRANSPORT')
    expect(err.details.status).toBe(500)
    expect(down.requests()).toBe(2)

    const missing = await helper(testServer((_req, res) => { res.writeHead(404); res.end() }))
    await rejectsWith(new GatewaySource(missing.url, { retries: 3, backoffMs: 5 }).get(a.cid), 'ERR_BLOCK_NOT_FOUND')
    expect(missing.requests()).toBe(1)

    const forbidden = await helper(testServer((_req, res) => { res.writeHead(403); res.end() }))
    expect((await rejectsWith(new GatewaySource(forbidden.url, { retries: 3, backoffMs: 5 }).get(a.cid), 'ERR_TRANSPORT')).details.status).toBe(403)
    expect(forbidden.requests()).toBe(1)

    // Nothing listens: a network error, retried, then ERR_TRANSPORT.
    const gone = await testServer(() => {})
    await gone.close()
    await rejectsWith(new GatewaySource(gone.url, { retries: 1, backoffMs: 5 }).get(a.cid), 'ERR_TRANSPORT')
  })

  it('times out a silent gateway, and honours the caller signal', async () => {
    const a = rawBlock('slow')
    const silent = await helper(testServer(() => { /* never answers */ }))
    const started = Date.now()
    await rejectsWith(new GatewaySource(silent.url, { timeoutMs: 300, retries: 1, backoffMs: 10 }).get(a.cid), 'ERR_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(silent.requests()).toBe(2)
    const ac = new AbortController()
    setTimeout(() => { ac.abort() }, 100)
    await rejectsWith(new GatewaySource(silent.url, { timeoutMs: 10_000 }).get(a.cid, { signal: ac.signal }), 'ERR_ABORTED')
  })

  it('node:http transport: follows at most MAX_REDIRECTS http(s) redirects, stops a stalled body, and a given fetch replaces it', async () => {
    const a = rawBlock('redirected bytes')
    // /ipfs/... -> /hop/1 -> ... -> /hop/K -> the block.
    const chain = (hops: number): ReturnType<typeof testServer> => testServer((req, res) => {
      const m = /^\/hop\/(\d+)$/.exec(req.url ?? '')
      const at = m === null ? 0 : Number(m[1])
      if (at < hops) { res.writeHead(at % 2 === 0 ? 302 : 308, { location: `/hop/${at + 1}` }); res.end(); return }
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw' })
      res.end(Buffer.from(a.bytes))
    })
    const ok = await helper(chain(MAX_REDIRECTS))
    expect(await new GatewaySource(ok.url, { retries: 0 }).get(a.cid)).toEqual(a.bytes)
    expect(ok.requests()).toBe(MAX_REDIRECTS + 1)
    const tooMany = await helper(chain(MAX_REDIRECTS + 1))
    await rejectsWith(new GatewaySource(tooMany.url, { retries: 0 }).get(a.cid), 'ERR_TRANSPORT')
    expect(tooMany.requests()).toBe(MAX_REDIRECTS + 1)
    const elsewhere = await helper(testServer((_req, res) => { res.writeHead(302, { location: 'file:///etc/passwd' }); res.end() }))
    await rejectsWith(new GatewaySource(elsewhere.url, { retries: 0 }).get(a.cid), 'ERR_TRANSPORT')

    // Headers and a first chunk, then nothing: the attempt's time limit covers the body.
    const stalled = await helper(testServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.raw' })
      res.write(Buffer.from(a.bytes.subarray(0, 4)))
    }))
    await rejectsWith(new GatewaySource(stalled.url, { timeoutMs: 300, retries: 0 }).get(a.cid), 'ERR_TIMEOUT')
    const ac = new AbortController()
    setTimeout(() => { ac.abort() }, 100)
    await rejectsWith(new GatewaySource(stalled.url, { timeoutMs: 10_000, retries: 0 }).get(a.cid, { signal: ac.signal }), 'ERR_ABORTED')

    // An explicit fetch is used instead of node:http (and sees the Accept header).
    const seen: string[] = []
    const counting: typeof fetch = async (input, init) => {
      seen.push(`${String(input)} ${new Headers(init?.headers).get('accept') ?? ''}`)
      return await fetch(input, init)
    }
    expect(await new GatewaySource(ok.url, { fetch: counting }).get(a.cid)).toEqual(a.bytes)
    expect(seen).toEqual([`${ok.url}/ipfs/${a.cid}?format=raw application/vnd.ipld.raw`])
    expect(() => new GatewaySource(ok.url, { fetch: 'no' as unknown as typeof fetch })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }))
  })

  it('the server reports a corrupted store as 502 and a slow source as 504', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('will be corrupted')
    await store.put(a.cid, a.bytes)
    store.tamper(a.cid, (b) => { b[0] = (b[0] ?? 0) ^ 1; return b })
    const server = await serve(store)
    const res = await httpRequest(`${server.url}/ipfs/${a.cid}?format=raw`)
    expect(res.status).toBe(502)
    expect(JSON.parse(res.body.toString()).error.code).toBe('ERR_HASH_MISMATCH')

    const never = { get: async (_cid: CID, o?: { signal?: AbortSignal }) => await new Promise<Uint8Array>((_resolve, reject) => { o?.signal?.addEventListener('abort', () => { reject(new Error('aborted')) }) }) }
    const slow = await startServer({ source: never, head: async () => null, blockTimeoutMs: 200 })
    cleanups.push(slow.close)
    expect((await httpRequest(`${slow.url}/ipfs/${a.cid}?format=raw`)).status).toBe(504)
  })

  it('fetchHead is strict about what it accepts', async () => {
    const good = jsonBlock({ t: 2 }).cid
    const bodies: Array<[string, string]> = [
      ['', 'ERR_BAD_CID'],
      ['not a cid', 'ERR_BAD_CID'],
      [`${good}\n\n`, 'ERR_BAD_CID'],
      [` ${good}`, 'ERR_BAD_CID'],
      [good.toString().toUpperCase(), 'ERR_BAD_CID'],
      [good.toV1().toString(await import('multiformats/bases/base58').then((m) => m.base58btc)), 'ERR_BAD_CID'],
      [CID.createV0(cidOf(new Uint8Array([1]), 0x70).multihash as Parameters<typeof CID.createV0>[0]).toString(), 'ERR_BAD_CID']
    ]
    let current = ''
    const s = await helper(testServer((_req, res) => { res.end(current) }))
    for (const [body, code] of bodies) {
      current = body
      await rejectsWith(fetchHead(s.url), code)
    }
    current = `${good}\n`
    expect((await fetchHead(s.url))?.equals(good)).toBe(true)
    current = good.toString()
    expect((await fetchHead(s.url))?.equals(good)).toBe(true)
  })

  it('rejects bad base URLs and options', () => {
    for (const bad of ['ftp://example.com', 'not a url', 'http://user:pw@example.com', 'http://example.com/?q=1']) {
      expect(() => new GatewaySource(bad)).toThrow(expect.objectContaining({ name: 'UsageError', code: 'ERR_ARGUMENT' }))
    }
    expect(() => new GatewaySource('http://127.0.0.1:1', { retries: -1 })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }))
  })

  it('close() ends keep-alive connections promptly and is idempotent', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('keep-alive')
    await store.put(a.cid, a.bytes)
    const server = await startServer({ source: store, head: async () => null, idleTimeoutMs: 60_000, closeGraceMs: 10_000 })
    // fetch keeps its connection alive after the response.
    const res = await fetch(`${server.url}/ipfs/${a.cid}?format=raw`)
    expect(res.status).toBe(200)
    await res.arrayBuffer()
    const started = Date.now()
    await server.close()
    await server.close()
    expect(Date.now() - started).toBeLessThan(2_000)
    await expect(fetch(`${server.url}/head`)).rejects.toThrow()
  })
})
