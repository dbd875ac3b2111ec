/**
 * dagtuf serve against the trustless gateway spec (ipfs/specs,
 * src/http-gateways/trustless-gateway.md), one requirement per test, the
 * spec's section in each name. Handlers without sockets, except where the
 * requirement is about the wire (streaming, cutting a response).
 *
 * Fixtures: a UnixFS file of 7 small leaves under two levels of dag-pb
 * nodes (so byte ranges select some blocks and not others), a UnixFS
 * directory, and a dag-json DAG that links one block twice and an identity
 * CID once.
 */
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { beforeAll, describe, expect, it } from 'vitest'
import { readCar } from '../../src/blocks/car.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import type { BlockSource } from '../../src/blocks/types.js'
import { gatewayHandler, type GatewayHandlerOptions, type GatewayRequest, type GatewayResponse } from '../../src/server/gateway-handlers.js'
import { PREFETCH, parseEntityBytes, resolveRange, walkDag, type WalkOptions } from '../../src/server/car-scopes.js'
import { CODEC_DAG_JSON, CODEC_DAG_PB } from '../../src/model/hash.js'
import { cidOf, pseudoRandomBytes, rawBlock } from '../blocks/helpers.js'
import { pbNodeOf, unixfsData } from '../helpers/unixfs-nodes.js'
import { httpRequest, servers } from './http-helpers.js'

type Block = { cid: CID, bytes: Uint8Array }

const LEAF = 100
/** The file: root -> [mid1 -> [l0, l1, l2], mid2 -> [l3, l4, l5], l6], leaves of 100 bytes (l6: 50). */
let leaves: Block[]
let mid1: Block
let mid2: Block
let fileRoot: Block
let fileBytes: Uint8Array
let dir: Block
/** dag-json: top -> { a: shared, b: { c: shared, d: other }, e: identity } */
let shared: Block
let other: Block
let top: Block
let idLink: CID
let store: MemoryBlockStore

function jsonOf (value: unknown): Block {
  const bytes = dagJson.encode(value)
  return { cid: cidOf(bytes, CODEC_DAG_JSON), bytes }
}

beforeAll(async () => {
  fileBytes = pseudoRandomBytes(6 * LEAF + 50, 77)
  leaves = Array.from({ length: 7 }, (_, i) => {
    const bytes = fileBytes.slice(i * LEAF, Math.min((i + 1) * LEAF, fileBytes.byteLength))
    return { cid: cidOf(bytes), bytes }
  })
  const node = (kids: Block[]): Block => pbNodeOf(unixfsData({ filesizes: [BigInt(kids.reduce((n, k) => n + sizeOf(k), 0))], sizes: kids.map((k) => BigInt(sizeOf(k))) }), kids.map((k) => k.cid))
  const sizes = new Map<string, number>()
  const sizeOf = (b: Block): number => sizes.get(b.cid.toString()) ?? b.bytes.byteLength
  mid1 = node(leaves.slice(0, 3)); sizes.set(mid1.cid.toString(), 3 * LEAF)
  mid2 = node(leaves.slice(3, 6)); sizes.set(mid2.cid.toString(), 3 * LEAF)
  fileRoot = node([mid1, mid2, leaves[6]!])
  const dirBytes = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [{ Hash: fileRoot.cid, Name: 'file.bin', Tsize: 1000 }] }))
  dir = { cid: cidOf(dirBytes, CODEC_DAG_PB), bytes: dirBytes }
  shared = rawBlock('shared leaf')
  other = rawBlock('other leaf')
  idLink = CID.createV1(0x55, identity.digest(new TextEncoder().encode('inline')))
  top = jsonOf({ a: shared.cid, b: { c: shared.cid, d: other.cid }, e: idLink })
  store = new MemoryBlockStore()
  for (const b of [...leaves, mid1, mid2, fileRoot, dir, shared, other, top]) await store.put(b.cid, b.bytes)
})

function handler (source: BlockSource = store, extra: Partial<GatewayHandlerOptions> = {}): ReturnType<typeof gatewayHandler> {
  return gatewayHandler({ source, head: async () => null, ...extra })
}

function get (url: string, headers: GatewayRequest['headers'] = {}, method = 'GET'): GatewayRequest {
  return { method, url, headers }
}

/** The whole body of a response, streamed or not. */
async function bodyOf (res: GatewayResponse): Promise<Uint8Array> {
  if (res.stream === undefined) return res.body ?? new Uint8Array(0)
  const chunks: Uint8Array[] = []
  for await (const c of res.stream) chunks.push(c)
  return new Uint8Array(Buffer.concat(chunks))
}

/** The CIDs of a CAR body in order, duplicates included (readCar checks every block's hash; it keeps each once). */
async function carCids (bytes: Uint8Array): Promise<{ roots: string[], cids: string[] }> {
  const car = await readCar(bytes)
  const cids: string[] = []
  // Sections in file order, duplicates too.
  const { CarBlockIterator } = await import('@ipld/car/iterator')
  const it = await CarBlockIterator.fromBytes(bytes)
  for await (const b of it) cids.push(b.cid.toString())
  return { roots: car.roots.map(String), cids }
}

async function car (url: string, headers: GatewayRequest['headers'] = {}, h = handler()): Promise<{ res: GatewayResponse, roots: string[], cids: string[] }> {
  const res = await h(get(url, headers))
  expect(res.status, `${url}: ${new TextDecoder().decode(res.body ?? new Uint8Array())}`).toBe(200)
  return { res, ...await carCids(await bodyOf(res)) }
}

function errorCode (res: GatewayResponse): string {
  return (JSON.parse(new TextDecoder().decode(res.body)) as { error: { code: string } }).error.code
}

const ids = (...blocks: Array<Block | CID>): string[] => blocks.map((b) => ('cid' in b ? b.cid : b).toString())
const FILE_DFS = (): string[] => ids(fileRoot, mid1, leaves[0]!, leaves[1]!, leaves[2]!, mid2, leaves[3]!, leaves[4]!, leaves[5]!, leaves[6]!)

describe('trustless gateway spec, CAR responses', () => {
  it('§dag-scope (request query parameter): the default is all, every block below the root in dfs order', async () => {
    const { roots, cids, res } = await car(`/ipfs/${fileRoot.cid}?format=car`)
    expect(roots).toEqual(ids(fileRoot))
    expect(cids).toEqual(FILE_DFS())
    // Streamed: no length is promised.
    expect(res.headers['content-length']).toBeUndefined()
    const json = await car(`/ipfs/${top.cid}`, { accept: 'application/vnd.ipld.car' })
    expect(json.cids).toEqual(ids(top, shared, other))
  })

  it('§dag-scope: block is the root only', async () => {
    for (const root of [fileRoot, top, dir]) {
      const { cids, res } = await car(`/ipfs/${root.cid}?format=car&dag-scope=block`)
      expect(cids).toEqual(ids(root))
      expect(res.headers['content-length']).toBe(res.body!.byteLength)
    }
  })

  it('§dag-scope: entity is every block of a UnixFS file, the directory node of a directory, the block itself for non-UnixFS data', async () => {
    expect((await car(`/ipfs/${fileRoot.cid}?format=car&dag-scope=entity`)).cids).toEqual(FILE_DFS())
    expect((await car(`/ipfs/${dir.cid}?format=car&dag-scope=entity`)).cids).toEqual(ids(dir))
    expect((await car(`/ipfs/${top.cid}?format=car&dag-scope=entity`)).cids).toEqual(ids(top))
    // dag-scope=all of the directory goes on into its entries.
    expect((await car(`/ipfs/${dir.cid}?format=car&dag-scope=all`)).cids).toEqual([...ids(dir), ...FILE_DFS()])
  })

  it('§entity-bytes (request query parameter): only the blocks needed to verify the range, offsets from the UnixFS blocksizes', async () => {
    const range = async (r: string): Promise<string[]> => (await car(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=${r}`)).cids
    expect(await range('0:0')).toEqual(ids(fileRoot, mid1, leaves[0]!))
    expect(await range('150:320')).toEqual(ids(fileRoot, mid1, leaves[1]!, leaves[2]!, mid2, leaves[3]!))
    expect(await range('600:*')).toEqual(ids(fileRoot, leaves[6]!))
    expect(await range('0:*')).toEqual(FILE_DFS())
    // Negative values count from the end: the last 60 bytes, and from byte 499 to 100 bytes before the end.
    expect(await range('-60:*')).toEqual(ids(fileRoot, mid2, leaves[5]!, leaves[6]!))
    expect(await range('499:-101')).toEqual(ids(fileRoot, mid2, leaves[4]!, leaves[5]!))
    // A leaf of the file is itself a file: one block whatever the range inside it.
    expect((await car(`/ipfs/${leaves[2]!.cid}?format=car&entity-bytes=10:20`)).cids).toEqual(ids(leaves[2]!))
  })

  it('§entity-bytes: implies dag-scope=entity, and is ignored where the entity is not bytes (dag-json, a directory)', async () => {
    expect((await car(`/ipfs/${top.cid}?format=car&entity-bytes=0:10`)).cids).toEqual(ids(top))
    expect((await car(`/ipfs/${dir.cid}?format=car&entity-bytes=0:10`)).cids).toEqual(ids(dir))
    expect((await car(`/ipfs/${fileRoot.cid}?format=car&dag-scope=entity&entity-bytes=0:0`)).cids).toEqual(ids(fileRoot, mid1, leaves[0]!))
    const clash = await handler()(get(`/ipfs/${fileRoot.cid}?format=car&dag-scope=all&entity-bytes=0:0`))
    expect([clash.status, errorCode(clash)]).toEqual([400, 'ERR_BAD_SCOPE'])
  })

  it('§entity-bytes: 400 for a range entirely outside the entity (known before any byte is sent); a partial overlap is clamped; a zero-length range is dag-scope=block', async () => {
    for (const r of ['650:700', '650:*', '10000:*']) {
      const res = await handler()(get(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=${r}`))
      expect([r, res.status, errorCode(res)]).toEqual([r, 400, 'ERR_BAD_RANGE'])
    }
    expect((await car(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=620:5000`)).cids).toEqual(ids(fileRoot, leaves[6]!))
    expect((await car(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=-5000:5`)).cids).toEqual(ids(fileRoot, mid1, leaves[0]!))
    // -10 from the end to -20 from the end: no bytes at all.
    expect((await car(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=-10:-20`)).cids).toEqual(ids(fileRoot))
    for (const bad of ['', '1', '1:2:3', 'a:b', '5:1', '1.5:*', '*:5', '-0:*', '01:5', `0:${'9'.repeat(20)}`]) {
      const res = await handler()(get(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=${bad}`))
      expect([bad, res.status, errorCode(res)]).toEqual([bad, 400, 'ERR_BAD_RANGE'])
    }
    expect(parseEntityBytes('-1024:*')).toEqual({ from: -1024, to: null })
    expect(resolveRange({ from: -1024, to: null }, 100)).toEqual({ from: 0, to: 99 })
  })

  it('§dag-scope and §entity-bytes: the Etag differs by scope, byte range and dups', async () => {
    const tags = new Set<string>()
    for (const q of ['', '&dag-scope=all', '&dag-scope=entity', '&dag-scope=block', '&entity-bytes=0:10', '&entity-bytes=0:11', '&car-dups=y']) {
      const res = await handler()(get(`/ipfs/${fileRoot.cid}?format=car${q}`, {}, 'HEAD'))
      expect(res.status).toBe(200)
      tags.add(String(res.headers.etag))
    }
    // '' and '&dag-scope=all' are the same response.
    expect(tags.size).toBe(6)
    // And a conditional request with one of them is 304.
    const etag = String((await handler()(get(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=0:10`, {}, 'HEAD'))).headers.etag)
    expect((await handler()(get(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=0:10`, { 'if-none-match': etag }))).status).toBe(304)
    expect((await handler()(get(`/ipfs/${fileRoot.cid}?format=car&entity-bytes=0:11`, { 'if-none-match': etag }))).status).toBe(200)
  })

  it('§CAR dups (content type parameter): n sends a block once, y every time the walk meets it; Content-Type says which', async () => {
    const n = await car(`/ipfs/${top.cid}?format=car`)
    expect(n.cids).toEqual(ids(top, shared, other))
    expect(n.res.headers['content-type']).toBe('application/vnd.ipld.car; version=1; order=dfs; dups=n')
    const y = await car(`/ipfs/${top.cid}`, { accept: 'application/vnd.ipld.car; version=1; order=dfs; dups=y' })
    expect(y.cids).toEqual(ids(top, shared, shared, other))
    expect(y.res.headers['content-type']).toBe('application/vnd.ipld.car; version=1; order=dfs; dups=y')
  })

  it('§CAR dups: blocks with an identity multihash are never in the CAR', async () => {
    for (const dups of ['n', 'y']) {
      const { cids } = await car(`/ipfs/${top.cid}?format=car&car-dups=${dups}`)
      expect(cids).not.toContain(idLink.toString())
      expect(cids.length).toBeGreaterThan(1)
    }
  })

  it('§CAR order and §car-order/car-dups/car-version (request query parameters): dfs is served (unk accepted), query parameters win over Accept, other variants are refused', async () => {
    const unk = await car(`/ipfs/${top.cid}`, { accept: 'application/vnd.ipld.car; order=unk' })
    expect(unk.res.headers['content-type']).toBe('application/vnd.ipld.car; version=1; order=dfs; dups=n')
    const q = await car(`/ipfs/${top.cid}?car-dups=y&car-order=dfs&car-version=1`, { accept: 'application/vnd.ipld.car; dups=n' })
    expect(q.cids).toEqual(ids(top, shared, shared, other))
    // The preferred variant is not served, the second choice is.
    const second = await car(`/ipfs/${top.cid}`, { accept: 'application/vnd.ipld.car;order=foo, application/vnd.ipld.car;order=dfs;dups=y;q=0.5' })
    expect(second.res.headers['content-type']).toMatch(/dups=y$/)
    const notServed = await handler()(get(`/ipfs/${top.cid}`, { accept: 'application/vnd.ipld.car; order=foo' }))
    expect([notServed.status, errorCode(notServed)]).toEqual([406, 'ERR_NOT_ACCEPTABLE'])
    for (const bad of ['car-order=foo', 'car-dups=maybe', 'car-version=2']) {
      const res = await handler()(get(`/ipfs/${top.cid}?format=car&${bad}`))
      expect([bad, res.status, errorCode(res)]).toEqual([bad, 400, 'ERR_BAD_PARAMETER'])
    }
  })

  it('§CAR version (content type parameter) and §Content-Disposition: CarV1Header.version is 1 as Content-Type says; attachment with <cid>.car', async () => {
    const { res } = await car(`/ipfs/${fileRoot.cid}?format=car`)
    expect(res.headers['content-type']).toMatch(/^application\/vnd\.ipld\.car; version=1;/)
    const header = (await import('@ipld/car/decoder')).readHeader
    const { asyncIterableReader } = await import('@ipld/car/decoder')
    const body = await bodyOf(await handler()(get(`/ipfs/${fileRoot.cid}?format=car`)))
    expect((await header(asyncIterableReader((async function * () { yield body })()))).version).toBe(1)
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${fileRoot.cid}.car"`)
  })
})

describe('trustless gateway spec, requests and status codes', () => {
  it('§Accept (request header): a block request with neither Accept nor format is 400 (strict trustless mode)', async () => {
    for (const headers of [{}, { accept: '*/*' }, { accept: 'application/*' }]) {
      const res = await handler()(get(`/ipfs/${top.cid}`, headers))
      expect([res.status, errorCode(res)]).toEqual([400, 'ERR_FORMAT_REQUIRED'])
    }
    // format wins over Accept.
    const res = await handler()(get(`/ipfs/${top.cid}?format=raw`, { accept: 'application/vnd.ipld.car' }))
    expect(res.headers['content-type']).toBe('application/vnd.ipld.raw')
  })

  it('§Dedicated Probe Paths: GET /ipfs/bafkqaaa is 200, empty as a raw block, and a CAR with roots [bafkqaaa] and no blocks; HEAD too', async () => {
    const h = handler({ get: async () => { throw new Error('the probe must not look anything up') } })
    const raw = await h(get('/ipfs/bafkqaaa?format=raw', { accept: 'application/vnd.ipld.raw' }))
    expect([raw.status, raw.body?.byteLength, raw.headers['content-type']]).toEqual([200, 0, 'application/vnd.ipld.raw'])
    const carRes = await h(get('/ipfs/bafkqaaa?format=car', { accept: 'application/vnd.ipld.car' }))
    expect(carRes.status).toBe(200)
    const parsed = await carCids(await bodyOf(carRes))
    expect(parsed).toEqual({ roots: ['bafkqaaa'], cids: [] })
    for (const q of ['format=raw', 'format=car']) expect((await h(get(`/ipfs/bafkqaaa?${q}`, {}, 'HEAD'))).status).toBe(200)
    // Other identity CIDs are not served.
    const other = await h(get(`/ipfs/${idLink}?format=raw`))
    expect([other.status, errorCode(other)]).toEqual([400, 'ERR_UNSUPPORTED_HASH'])
  })

  it('§404 Not Found: a root block that is not here is 404 for raw, CAR of every scope, and HEAD', async () => {
    const absent = rawBlock('not here').cid
    for (const [q, method] of [['format=raw', 'GET'], ['format=car', 'GET'], ['format=car&dag-scope=entity', 'GET'], ['format=car&dag-scope=block', 'HEAD'], ['format=raw', 'HEAD']] as const) {
      const res = await handler()(get(`/ipfs/${absent}?${q}`, {}, method))
      expect([q, method, res.status]).toEqual([q, method, 404])
    }
  })

  it('§Cache-Control: only-if-cached (request header): 412 when the root block is not here, the block when it is', async () => {
    const res = await handler()(get(`/ipfs/${rawBlock('elsewhere').cid}?format=raw`, { 'cache-control': 'only-if-cached' }))
    expect([res.status, errorCode(res)]).toEqual([412, 'ERR_NOT_CACHED'])
    expect((await handler()(get(`/ipfs/${shared.cid}?format=raw`, { 'cache-control': 'only-if-cached' }))).status).toBe(200)
  })
})

describe('trustless gateway spec, streaming and bounds (on 127.0.0.1)', () => {
  const serve = servers()

  it('a dag-scope=all CAR streams over HTTP (chunked) and every block of it checks against its CID', async () => {
    const server = await serve(store)
    const res = await httpRequest(`${server.url}/ipfs/${fileRoot.cid}?format=car`)
    expect(res.status).toBe(200)
    expect(res.headers['transfer-encoding']).toBe('chunked')
    const parsed = await carCids(new Uint8Array(res.body))
    expect(parsed.cids).toEqual(FILE_DFS())
    const got = await readCar(new Uint8Array(res.body))
    let total = 0
    for (const l of leaves) total += (await got.get(l.cid)).byteLength
    expect(total).toBe(fileBytes.byteLength)
  })

  it('a CAR stream never takes the pool of blocks known to be small, even for a CID served small before', async () => {
    const server = await serve(store)
    expect((await httpRequest(`${server.url}/ipfs/${fileRoot.cid}?format=raw`)).status).toBe(200)
    const res = await httpRequest(`${server.url}/ipfs/${fileRoot.cid}?format=car`)
    expect((await carCids(new Uint8Array(res.body))).cids).toEqual(FILE_DFS())
    expect(server.stats().small.peakBytesHeld).toBe(0)
    // The raw block itself, now known to be small, does take it.
    expect((await httpRequest(`${server.url}/ipfs/${fileRoot.cid}?format=raw`)).status).toBe(200)
    expect(server.stats().small.peakBytesHeld).toBe(fileRoot.bytes.byteLength)
  })

  it('at most maxCarStreams CARs stream at once: one more is 503 ERR_BUSY (its walk never starts), and is served once the first ends', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    let lookups = 0
    const held: BlockSource = {
      get: async (cid, o) => {
        lookups++
        if (cid.equals(leaves[6]!.cid)) await gate
        return await store.get(cid, o)
      }
    }
    // No block cache: every block read is a lookup of `held`, counted.
    const server = await serve(held, { maxCarStreams: 1, blockCacheBytes: 0 })
    const url = `${server.url}/ipfs/${fileRoot.cid}?format=car`
    const first = httpRequest(url)
    for (let i = 0; i < 200 && server.stats().carStreams === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(server.stats().carStreams).toBe(1)
    const before = lookups
    const second = await httpRequest(url)
    expect([second.status, (JSON.parse(second.body.toString()) as { error: { code: string } }).error.code]).toEqual([503, 'ERR_BUSY'])
    // Only the refused request's root was looked up (by the handler); no walk ran for it.
    expect(lookups).toBe(before + 1)
    release()
    expect((await carCids(new Uint8Array((await first).body))).cids).toEqual(FILE_DFS())
    for (let i = 0; i < 200 && server.stats().carStreams > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect((await carCids(new Uint8Array((await httpRequest(url)).body))).cids).toEqual(FILE_DFS())
    expect(server.stats().peakCarStreams).toBe(1)
  })

  it('§Streaming and Missing Child Blocks: a missing child after the root ends the stream, the CAR incomplete', async () => {
    const partial = new MemoryBlockStore()
    for (const b of [fileRoot, mid1, leaves[0]!]) await partial.put(b.cid, b.bytes)
    const server = await serve(partial)
    const res = await httpRequest(`${server.url}/ipfs/${fileRoot.cid}?format=car`).catch((e: unknown) => e as Error)
    // The status line was 200 and the connection is cut: the client sees an aborted body.
    expect(res).toBeInstanceOf(Error)
    // The handler's own stream says which block was missing.
    const answer = await handler(partial)(get(`/ipfs/${fileRoot.cid}?format=car`))
    expect(answer.status).toBe(200)
    await expect(bodyOf(answer)).rejects.toMatchObject({ code: 'ERR_BLOCK_NOT_FOUND' })
  })

  /** The blocks walkDag yields for `root` before it throws, and what it throws. */
  async function walkUntilError (source: BlockSource, limits: Partial<WalkOptions> = {}): Promise<{ yielded: string[], error: unknown }> {
    const yielded: string[] = []
    const options: WalkOptions = { scope: 'all', dups: false, maxBlocks: 1000, maxBytes: 1e9, maxPending: 1000, maxBlockBytes: 1 << 20, blockTimeoutMs: 5_000, ...limits }
    try {
      for await (const b of walkDag(source, fileRoot.cid, fileRoot.bytes, options)) yielded.push(b.cid.toString())
    } catch (e) {
      return { yielded, error: e }
    }
    return { yielded, error: null }
  }

  it('a tampered block in the middle of the DAG is never sent: the walk stops before it (every block is hash-checked first)', async () => {
    const bad = new MemoryBlockStore()
    for (const b of [...leaves, mid1, mid2, fileRoot]) await bad.put(b.cid, b.bytes)
    bad.tamper(leaves[1]!.cid, (b) => { b[0] = (b[0] ?? 0) ^ 1; return b })
    const walked = await walkUntilError(bad)
    expect(walked.error).toMatchObject({ code: 'ERR_HASH_MISMATCH' })
    expect(walked.yielded).toEqual(ids(fileRoot, mid1, leaves[0]!))
    // Through the handler: the response's bytes never hold the tampered block.
    const answer = await handler(bad)(get(`/ipfs/${fileRoot.cid}?format=car`))
    const sent: Uint8Array[] = []
    await expect((async () => { for await (const c of answer.stream!) sent.push(c) })()).rejects.toMatchObject({ code: 'ERR_HASH_MISMATCH' })
    const tampered = leaves[1]!.bytes.slice(); tampered[0] = (tampered[0] ?? 0) ^ 1
    expect(Buffer.concat(sent).includes(Buffer.from(tampered))).toBe(false)
  })

  it('dag-scope=all is bounded: maxCarBlocks and maxCarBytes stop the walk (ERR_DAG_TOO_LARGE) after what fits, and cut the response', async () => {
    // Exactly the bytes of the first three blocks (root, mid1, first leaf) in dfs order.
    const three = fileRoot.bytes.byteLength + mid1.bytes.byteLength + LEAF
    for (const [limits, sentBlocks] of [[{ maxBlocks: 4 }, 4], [{ maxBytes: three }, 3], [{ maxBytes: three - 1 }, 2]] as const) {
      const walked = await walkUntilError(store, limits)
      expect(walked.error).toMatchObject({ code: 'ERR_DAG_TOO_LARGE' })
      expect(walked.yielded).toEqual(FILE_DFS().slice(0, sentBlocks))
    }
    for (const limits of [{ maxCarBlocks: 4 }, { maxCarBytes: three }]) {
      const answer = await handler(store, limits)(get(`/ipfs/${fileRoot.cid}?format=car`))
      await expect(bodyOf(answer)).rejects.toMatchObject({ code: 'ERR_DAG_TOO_LARGE' })
    }
    // Under the bounds the same request is whole.
    expect((await car(`/ipfs/${fileRoot.cid}?format=car`, {}, handler(store, { maxCarBlocks: 10, maxCarBytes: 10_000 }))).cids).toEqual(FILE_DFS())
  })

  it('a client that goes away stops the walk: no lookup starts after the abort', async () => {
    let gets = 0
    let afterAbort = 0
    const gate = new AbortController()
    const counting: BlockSource = {
      get: async (cid, o) => {
        if (gate.signal.aborted) afterAbort++
        if (++gets === 3) gate.abort()
        return await store.get(cid, o)
      }
    }
    const answer = await handler(counting)(get(`/ipfs/${fileRoot.cid}?format=car`), { signal: gate.signal })
    await expect((async () => { for await (const _ of answer.stream!) { /* read */ } })()).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    expect(gets).toBe(3)
    expect(afterAbort).toBe(0)
  })

  it('lookups run ahead of the walk (at most PREFETCH at once), each block once, and the CAR keeps dfs order', async () => {
    let running = 0
    let peak = 0
    const order: string[] = []
    const slow: BlockSource = {
      get: async (cid, o) => {
        running++
        peak = Math.max(peak, running)
        order.push(cid.toString())
        await new Promise((resolve) => setTimeout(resolve, 5))
        running--
        return await store.get(cid, o)
      }
    }
    const { cids } = await car(`/ipfs/${fileRoot.cid}?format=car`, {}, handler(slow))
    expect(cids).toEqual(FILE_DFS())
    expect(peak).toBeGreaterThan(1)
    expect(peak).toBeLessThanOrEqual(PREFETCH)
    // The root (by the handler, first), then every other block once.
    expect(order[0]).toBe(fileRoot.cid.toString())
    expect([...order].sort()).toEqual([...FILE_DFS()].sort())
  })
})
