/**
 * The gateway's handlers without sockets: a GatewayRequest in, a
 * GatewayResponse out. test/server/gateway.test.ts covers the same routes
 * through node:http and a real client.
 */
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { identity } from 'multiformats/hashes/identity'
import { describe, expect, it } from 'vitest'
import { readCar } from '../../src/blocks/car.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import type { BlockSource } from '../../src/blocks/types.js'
import { gatewayHandler, type GatewayHandlerOptions, type GatewayRequest, type GatewayResponse } from '../../src/server/gateway-handlers.js'
import { rawBlock } from '../blocks/helpers.js'

function ipnsName (seed: number): string {
  const protobuf = Uint8Array.from([0x08, 0x01, 0x12, 0x20, ...new Uint8Array(32).fill(seed)])
  return CID.createV1(0x72, identity.digest(protobuf)).toString(base36)
}

function get (url: string, headers: GatewayRequest['headers'] = {}, method = 'GET'): GatewayRequest {
  return { method, url, headers }
}

function errorCode (res: GatewayResponse): string {
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
  return (JSON.parse(new TextDecoder().decode(res.body)) as { error: { code: string } }).error.code
}

async function storeWith (...blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<MemoryBlockStore> {
  const store = new MemoryBlockStore()
  for (const b of blocks) await store.put(b.cid, b.bytes)
  return store
}

function handler (source: BlockSource, extra: Partial<GatewayHandlerOptions> = {}): ReturnType<typeof gatewayHandler> {
  return gatewayHandler({ source, head: async () => null, ...extra })
}

describe('gateway handlers', () => {
  it('a raw block: 200 with the trustless-gateway headers; HEAD has the same headers and no body', async () => {
    const a = rawBlock('block a')
    const h = handler(await storeWith(a))
    const res = await h(get(`/ipfs/${a.cid}?format=raw`))
    expect(res.status).toBe(200)
    expect(res.body).toEqual(a.bytes)
    expect(res.headers).toMatchObject({
      'content-type': 'application/vnd.ipld.raw',
      'content-length': a.bytes.byteLength,
      etag: `"${a.cid}.raw"`,
      'cache-control': 'public, max-age=29030400, immutable',
      'x-ipfs-roots': a.cid.toString(),
      // Readable by browser clients of any origin.
      'access-control-allow-origin': '*'
    })
    const head = await h(get(`/ipfs/${a.cid}`, { accept: 'application/vnd.ipld.raw' }, 'HEAD'))
    expect(head.status).toBe(200)
    expect(head.body).toBeUndefined()
    expect(head.headers['content-length']).toBe(a.bytes.byteLength)
  })

  it('a CAR of one block, chosen by the Accept header by q-value', async () => {
    const a = rawBlock('block in a car')
    const h = handler(await storeWith(a))
    const res = await h(get(`/ipfs/${a.cid}`, { accept: 'application/vnd.ipld.raw;q=0.5, application/vnd.ipld.car;q=0.9' }))
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/vnd.ipld.car; version=1; order=dfs; dups=n')
    const car = await readCar(res.body!)
    expect(car.roots.map(String)).toEqual([a.cid.toString()])
    expect(car.cids().map(String)).toEqual([a.cid.toString()])
    expect(await car.get(a.cid)).toEqual(a.bytes)
  })

  it('If-None-Match with the etag answers 304 without touching the source', async () => {
    const a = rawBlock('cached')
    let gets = 0
    const source: BlockSource = { get: async () => { gets++; return a.bytes } }
    const res = await handler(source)(get(`/ipfs/${a.cid}?format=raw`, { 'if-none-match': `W/"${a.cid}.raw"` }))
    expect(res.status).toBe(304)
    expect(res.body).toBeUndefined()
    expect(gets).toBe(0)
  })

  it('refusals come as JSON error responses with their status and code', async () => {
    const a = rawBlock('x')
    const h = handler(await storeWith(a))
    const cases: Array<[GatewayRequest, number, string]> = [
      [get('/ipfs/not-a-cid?format=raw'), 400, 'ERR_BAD_CID'],
      [get(`/ipfs/${a.cid}?format=tar`), 400, 'ERR_BAD_FORMAT'],
      [get(`/ipfs/${a.cid}?format=car&dag-scope=dag`), 400, 'ERR_BAD_SCOPE'],
      [get(`/ipfs/${a.cid}?format=raw&entity-bytes=0:1`), 400, 'ERR_BAD_PARAMETER'],
      [get(`/ipfs/${a.cid}`, { accept: '*/*' }), 400, 'ERR_FORMAT_REQUIRED'],
      [get(`/ipfs/${a.cid}`, { accept: 'text/html, */*;q=0.8' }), 406, 'ERR_NOT_ACCEPTABLE'],
      [get(`/ipfs/${rawBlock('absent').cid}?format=raw`), 404, 'ERR_BLOCK_NOT_FOUND'],
      [get('/etc/passwd'), 404, 'ERR_NOT_FOUND'],
      [get('http://elsewhere/ipfs/x'), 400, 'ERR_BAD_REQUEST'],
      [get(`/ipfs/${a.cid}?format=raw`, {}, 'POST'), 405, 'ERR_METHOD_NOT_ALLOWED'],
      [get(`/ipfs/${a.cid}?format=raw`, { 'content-length': '7' }), 413, 'ERR_BODY_NOT_ALLOWED'],
      [get(`/ipfs/${a.cid}?format=raw`, { 'transfer-encoding': 'chunked' }), 413, 'ERR_BODY_NOT_ALLOWED'],
      [get(`/ipfs/${a.cid}?format=raw&pad=${'a'.repeat(3000)}`), 414, 'ERR_URI_TOO_LONG'],
      [get('/ipfs/%E0%A4%A'), 400, 'ERR_BAD_CID'],
      [get('/ipns/not-a-name?format=ipns-record'), 400, 'ERR_BAD_NAME']
    ]
    for (const [req, status, code] of cases) {
      const res = await h(req)
      expect({ url: req.url.slice(0, 80), status: res.status, code: errorCode(res) }).toEqual({ url: req.url.slice(0, 80), status, code })
    }
    expect((await h(get(`/ipfs/${a.cid}`, {}, 'DELETE'))).headers.allow).toBe('GET, HEAD')
    expect((await h(get(`/ipfs/${a.cid}`, { 'content-length': '1' }))).headers.connection).toBe('close')
  })

  it('source failures: a corrupted store is 502 with its code, a broken source 500, a slow one 504, a cancelled request 503', async () => {
    const a = rawBlock('will be corrupted')
    const store = await storeWith(a)
    store.tamper(a.cid, (b) => { b[0] = (b[0] ?? 0) ^ 1; return b })
    const corrupted = await handler(store)(get(`/ipfs/${a.cid}?format=raw`))
    expect([corrupted.status, errorCode(corrupted)]).toEqual([502, 'ERR_HASH_MISMATCH'])

    const broken = await handler({ get: async () => { throw new Error('bug') } })(get(`/ipfs/${a.cid}?format=raw`))
    expect([broken.status, errorCode(broken)]).toEqual([500, 'ERR_INTERNAL'])

    const never: BlockSource = {
      get: async (_cid, o) => await new Promise<Uint8Array>((_resolve, reject) => {
        o?.signal?.addEventListener('abort', () => { reject(Object.assign(new Error('aborted'), { code: 'ERR_ABORTED' })) })
      })
    }
    const slow = await handler(never, { blockTimeoutMs: 50 })(get(`/ipfs/${a.cid}?format=raw`))
    expect([slow.status, errorCode(slow)]).toEqual([504, 'ERR_TIMEOUT'])

    const gone = new AbortController()
    const pending = handler(never)(get(`/ipfs/${a.cid}?format=raw`), { signal: gone.signal })
    gone.abort()
    const cancelled = await pending
    expect([cancelled.status, errorCode(cancelled)]).toEqual([503, 'ERR_ABORTED'])
  })

  it('/head: 404 before any head, the CID as text after, 500 when it cannot be read', async () => {
    const a = rawBlock('head')
    let current: CID | null = null
    const h = handler(new MemoryBlockStore(), { head: async () => current })
    const none = await h(get('/head'))
    expect([none.status, errorCode(none)]).toEqual([404, 'ERR_NO_HEAD'])
    current = a.cid
    const res = await h(get('/head'))
    expect(res.status).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(new TextDecoder().decode(res.body)).toBe(`${a.cid}\n`)
    const failing = await handler(new MemoryBlockStore(), { head: async () => { throw new Error('disk') } })(get('/head'))
    expect([failing.status, errorCode(failing)]).toEqual([500, 'ERR_INTERNAL'])
  })

  it('/ipns/: only the server\'s own name, only as a record, never cached', async () => {
    const own = ipnsName(1)
    const record = new Uint8Array([1, 2, 3])
    const h = handler(new MemoryBlockStore(), { ipns: async () => ({ name: `/ipns/${own}`, record }) })
    const res = await h(get(`/ipns/${own}`, { accept: 'application/vnd.ipfs.ipns-record' }))
    expect(res.status).toBe(200)
    expect(res.body).toEqual(record)
    expect(res.headers).toMatchObject({ 'content-type': 'application/vnd.ipfs.ipns-record', 'cache-control': 'no-store' })
    const other = await h(get(`/ipns/${ipnsName(2)}?format=ipns-record`))
    expect([other.status, errorCode(other)]).toEqual([404, 'ERR_NAME_NOT_FOUND'])
    const notAsked = await h(get(`/ipns/${own}`, { accept: 'application/vnd.ipfs.ipns-record;q=0' }))
    expect([notAsked.status, errorCode(notAsked)]).toEqual([406, 'ERR_NOT_ACCEPTABLE'])
    const none = await handler(new MemoryBlockStore())(get(`/ipns/${own}?format=ipns-record`))
    expect([none.status, errorCode(none)]).toEqual([404, 'ERR_NAME_NOT_FOUND'])
    const tooBig = await handler(new MemoryBlockStore(), { ipns: async () => ({ name: own, record: new Uint8Array(11 * 1024) }) })(get(`/ipns/${own}?format=ipns-record`))
    expect([tooBig.status, errorCode(tooBig)]).toEqual([500, 'ERR_INTERNAL'])
  })

  it('bad options are usage errors', () => {
    expect(() => gatewayHandler({ source: null as never, head: async () => null })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }))
    expect(() => gatewayHandler({ source: new MemoryBlockStore(), head: 'x' as never })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }))
    expect(() => gatewayHandler({ source: new MemoryBlockStore(), head: async () => null, blockTimeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }))
  })
})
