import * as dagPb from '@ipld/dag-pb'
import { unixfs as heliaUnixfs } from '@helia/unixfs'
import fc from 'fast-check'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { addContent, readContent, readContentBytes } from '../../src/blocks/unixfs.js'
import type { BlockSource } from '../../src/blocks/types.js'
import { CODEC_DAG_PB, CODEC_RAW } from '../../src/model/hash.js'
import { pbNodeOf, unixfsData } from '../helpers/unixfs-nodes.js'
import { cidOf, expectSameBytes, jsonBlock, pseudoRandomBytes, rejectsWith, tempDir } from './helpers.js'

const MiB = 1024 * 1024

/** A dag-pb UnixFS node, stored without any consistency check of ours. */
async function pbNode (store: MemoryBlockStore, init: { type?: 'file' | 'directory' | 'raw', data?: Uint8Array, links?: CID[], sizes?: bigint[] }): Promise<CID> {
  const fsNode = new UnixFS({ type: init.type ?? 'file', data: init.data, blockSizes: init.sizes ?? [] })
  const bytes = dagPb.encode(dagPb.prepare({ Data: fsNode.marshal(), Links: (init.links ?? []).map((Hash) => ({ Hash })) }))
  const cid = cidOf(bytes, CODEC_DAG_PB)
  await store.put(cid, bytes)
  return cid
}

async function rawLeaf (store: MemoryBlockStore, bytes: Uint8Array): Promise<CID> {
  const cid = cidOf(bytes, CODEC_RAW)
  await store.put(cid, bytes)
  return cid
}

/** A dag-pb node over hand-written UnixFS data. */
async function pbRawData (store: MemoryBlockStore, data: Uint8Array, links: CID[] = []): Promise<CID> {
  const { cid, bytes } = pbNodeOf(data, links)
  await store.put(cid, bytes)
  return cid
}

/** Collects what the sink received, to check nothing beyond the length was written. */
function collector (): { sink: (c: Uint8Array) => void, written: () => number, bytes: () => Uint8Array } {
  const chunks: Uint8Array[] = []
  return {
    sink: (c) => { chunks.push(c.slice()) },
    written: () => chunks.reduce((n, c) => n + c.byteLength, 0),
    bytes: () => Buffer.concat(chunks)
  }
}

describe('addContent / readContent', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })

  it('content up to 1 MiB is one raw block whose CID is its sha2-256', async () => {
    const store = new MemoryBlockStore()
    for (const bytes of [new Uint8Array(0), new TextEncoder().encode('small target'), pseudoRandomBytes(MiB, 3)]) {
      const ref = await addContent(store, bytes)
      expect(ref.length).toBe(bytes.byteLength)
      expect(ref.cid.code).toBe(CODEC_RAW)
      expect(ref.cid.equals(cidOf(bytes))).toBe(true)
      expectSameBytes(await readContentBytes(store, ref.cid, ref.length), bytes)
    }
    expect(store.size).toBe(3)
  })

  it('a multi-block file (> 1 MiB) on the embedded node reads back equal, and Helia\'s UnixFS reads it too', async () => {
    const dir = await tempDir()
    cleanups.push(dir.remove)
    const node = await openRepoNode(dir.path)
    cleanups.push(async () => { await node.close() })
    const content = pseudoRandomBytes(2 * MiB + 12345, 11)
    // Streamed in odd-sized chunks.
    const stream = (async function * () {
      for (let i = 0; i < content.byteLength; i += 100_003) yield content.subarray(i, i + 100_003)
    })()
    const ref = await addContent(node, stream)
    expect(ref.length).toBe(content.byteLength)
    expect(ref.cid.code).toBe(CODEC_DAG_PB)
    expect(ref.cid.version).toBe(1)

    const out = collector()
    const result = await readContent(node, ref.cid, ref.length, out.sink)
    expect(result).toEqual({ length: content.byteLength, blocks: 4 }) // root + 3 leaves of 1 MiB
    expectSameBytes(out.bytes(), content)

    // Any IPFS implementation reads it by CID: here @helia/unixfs over the same node.
    const chunks: Uint8Array[] = []
    for await (const c of heliaUnixfs(node.helia).cat(ref.cid, { signal: AbortSignal.timeout(10_000) })) chunks.push(c)
    expectSameBytes(Buffer.concat(chunks), content)

    // Survives a reopen of the node.
    await node.close()
    const again = await openRepoNode(dir.path)
    cleanups.push(async () => { await again.close() })
    expectSameBytes(await readContentBytes(again, ref.cid, ref.length), content)
  })

  it('the expected length is enforced both ways, with nothing beyond it written', async () => {
    const store = new MemoryBlockStore()
    const content = pseudoRandomBytes(MiB + 10, 5)
    const multi = await addContent(store, content)
    const single = await addContent(store, content.subarray(0, 1000))
    for (const ref of [multi, single]) {
      for (const expected of [ref.length - 1, ref.length + 1, 0]) {
        const out = collector()
        await rejectsWith(readContent(store, ref.cid, expected, out.sink), 'ERR_LENGTH_MISMATCH')
        expect(out.written()).toBe(0)
      }
    }
  })

  it('a child larger than its parent declared is refused before it is written', async () => {
    const store = new MemoryBlockStore()
    const a = await rawLeaf(store, new Uint8Array(100).fill(1))
    const b = await rawLeaf(store, new Uint8Array(300).fill(2)) // declared 200
    const root = await pbNode(store, { links: [a, b], sizes: [100n, 200n] })
    const out = collector()
    const err = await rejectsWith(readContent(store, root, 300, out.sink), 'ERR_UNIXFS_INVALID')
    expect(err.details.cid).toBe(b.toString())
    expect(out.written()).toBe(100)
  })

  it('a child smaller than declared is refused', async () => {
    const store = new MemoryBlockStore()
    const a = await rawLeaf(store, new Uint8Array(100).fill(1))
    const root = await pbNode(store, { links: [a, a], sizes: [100n, 150n] })
    await rejectsWith(readContent(store, root, 250, () => {}), 'ERR_UNIXFS_INVALID')
  })

  it('hostile DAG shapes give typed errors', async () => {
    const store = new MemoryBlockStore()
    const leaf = await rawLeaf(store, new Uint8Array([7]))

    // Wrong codec below a file.
    const json = jsonBlock({ not: 'unixfs' })
    await store.put(json.cid, json.bytes)
    const wrongCodec = await pbNode(store, { links: [json.cid], sizes: [BigInt(json.bytes.byteLength)] })
    await rejectsWith(readContent(store, wrongCodec, json.bytes.byteLength, () => {}), 'ERR_UNIXFS_INVALID')
    await rejectsWith(readContent(store, json.cid, json.bytes.byteLength, () => {}), 'ERR_UNIXFS_INVALID')

    // Links and block sizes that do not pair up.
    const unpaired = await pbNode(store, { links: [leaf, leaf], sizes: [1n] })
    await rejectsWith(readContent(store, unpaired, 1, () => {}), 'ERR_UNIXFS_INVALID')

    // An empty child (would let a DAG grow without bytes).
    const empty = await rawLeaf(store, new Uint8Array(0))
    const withEmpty = await pbNode(store, { links: [leaf, empty], sizes: [1n, 0n] })
    await rejectsWith(readContent(store, withEmpty, 1, () => {}), 'ERR_UNIXFS_INVALID')

    // A directory is not a file.
    const dir = await pbNode(store, { type: 'directory' })
    await rejectsWith(readContent(store, dir, 0, () => {}), 'ERR_NOT_A_FILE')
    const dirInside = await pbNode(store, { links: [dir], sizes: [1n] })
    await rejectsWith(readContent(store, dirInside, 1, () => {}), 'ERR_UNIXFS_INVALID')

    // Bytes that are not dag-pb at all under a dag-pb CID.
    const junk = new Uint8Array([0xff, 0xff, 0xff])
    const junkCid = cidOf(junk, CODEC_DAG_PB)
    await store.put(junkCid, junk)
    await rejectsWith(readContent(store, junkCid, 3, () => {}), 'ERR_UNIXFS_INVALID')

    // dag-pb without UnixFS data.
    const bare = dagPb.encode(dagPb.prepare({ Links: [] }))
    const bareCid = cidOf(bare, CODEC_DAG_PB)
    await store.put(bareCid, bare)
    await rejectsWith(readContent(store, bareCid, 0, () => {}), 'ERR_UNIXFS_INVALID')
  })

  it('huge fan-out and repeated links are bounded', async () => {
    const store = new MemoryBlockStore()
    const leaf = await rawLeaf(store, new Uint8Array([7]))
    const wide = await pbNode(store, { links: new Array(9000).fill(leaf), sizes: new Array(9000).fill(1n) })
    const out = collector()
    await rejectsWith(readContent(store, wide, 9000, out.sink), 'ERR_DAG_TOO_LARGE')
    expect(out.written()).toBe(0)
    const repeated = await pbNode(store, { links: new Array(1000).fill(leaf), sizes: new Array(1000).fill(1n) })
    await rejectsWith(readContent(store, repeated, 1000, () => {}, { maxBlocks: 100 }), 'ERR_DAG_TOO_LARGE')
    expect((await readContent(store, repeated, 1000, () => {})).blocks).toBe(1001)
  })

  it('depth is bounded', async () => {
    const store = new MemoryBlockStore()
    let cid = await rawLeaf(store, new Uint8Array([1]))
    for (let i = 0; i < 20; i++) cid = await pbNode(store, { links: [cid], sizes: [1n] })
    await rejectsWith(readContent(store, cid, 1, () => {}), 'ERR_DAG_TOO_DEEP')
    expect((await readContent(store, cid, 1, () => {}, { maxDepth: 20 })).length).toBe(1)
  })

  it('CLIENT-TARGET-CONTENT: a dag-pb root of UnixFS type raw (made by go\'s trickle importer and js leafType raw) reads like a file', async () => {
    const store = new MemoryBlockStore()
    const single = await pbNode(store, { type: 'raw', data: new TextEncoder().encode('hello') })
    expectSameBytes(await readContentBytes(store, single, 5), new TextEncoder().encode('hello'))
    const leaf = await rawLeaf(store, new Uint8Array([1, 2, 3]))
    const withChild = await pbNode(store, { type: 'raw', data: new Uint8Array([0]), links: [leaf], sizes: [3n] })
    expectSameBytes(await readContentBytes(store, withChild, 4), new Uint8Array([0, 1, 2, 3]))
    // The same size checks apply as for a file root.
    await rejectsWith(readContentBytes(store, single, 6), 'ERR_LENGTH_MISMATCH')
  })

  it('CLIENT-TARGET-CONTENT: a root whose filesize lies about the bytes it yields is refused before a byte is written', async () => {
    const store = new MemoryBlockStore()
    const hello = new TextEncoder().encode('hello')
    // The hand-written encoding is the one ipfs-unixfs writes for honest data.
    expectSameBytes(unixfsData({ data: hello, filesizes: [5n] }), new UnixFS({ type: 'file', data: hello }).marshal())
    const honest = await pbRawData(store, unixfsData({ data: hello, filesizes: [5n] }))
    expectSameBytes(await readContentBytes(store, honest, 5), hello)
    // No filesize at all declares nothing, and is read as before.
    const silent = await pbRawData(store, unixfsData({ data: hello }))
    expectSameBytes(await readContentBytes(store, silent, 5), hello)

    for (const type of ['file', 'raw'] as const) {
      const liar = await pbRawData(store, unixfsData({ type, data: hello, filesizes: [999n] }))
      const out = collector()
      const e = await rejectsWith(readContent(store, liar, 5, out.sink), 'ERR_UNIXFS_INVALID')
      expect(e.details.cid).toBe(liar.toString())
      expect(e.message).toContain('999')
      expect(out.written()).toBe(0)
      // Signing the declared size instead does not help: the bytes are 5.
      await rejectsWith(readContent(store, liar, 999, () => {}), 'ERR_LENGTH_MISMATCH')
    }
  })

  it('CLIENT-TARGET-CONTENT: every filesize on the path agrees, at inner nodes and in every repeated field', async () => {
    const store = new MemoryBlockStore()
    const a = await rawLeaf(store, new Uint8Array(3).fill(1))
    const b = await rawLeaf(store, new Uint8Array(4).fill(2))
    const goodInner = await pbRawData(store, unixfsData({ filesizes: [4n], sizes: [4n] }), [b])
    const badInner = await pbRawData(store, unixfsData({ filesizes: [40n], sizes: [4n] }), [b])
    const good = await pbRawData(store, unixfsData({ filesizes: [7n], sizes: [3n, 4n] }), [a, goodInner])
    expectSameBytes(await readContentBytes(store, good, 7), new Uint8Array([1, 1, 1, 2, 2, 2, 2]))

    // An inner node that lies: refused at that node, after the bytes before it.
    const overBad = await pbRawData(store, unixfsData({ filesizes: [7n], sizes: [3n, 4n] }), [a, badInner])
    const out = collector()
    const e = await rejectsWith(readContent(store, overBad, 7, out.sink), 'ERR_UNIXFS_INVALID')
    expect(e.details.cid).toBe(badInner.toString())
    expect(out.written()).toBe(3)

    // A repeated filesize: protobuf readers keep the last, others may not; each must agree.
    for (const filesizes of [[7n, 9n], [9n, 7n], [7n, 7n, 8n]]) {
      const twice = await pbRawData(store, unixfsData({ filesizes, sizes: [3n, 4n] }), [a, goodInner])
      await rejectsWith(readContent(store, twice, 7, () => {}), 'ERR_UNIXFS_INVALID')
    }
    const same = await pbRawData(store, unixfsData({ filesizes: [7n, 7n], sizes: [3n, 4n] }), [a, goodInner])
    expect((await readContent(store, same, 7, () => {})).length).toBe(7)
  })

  it('a node\'s own data comes before its children', async () => {
    const store = new MemoryBlockStore()
    const leaf = await rawLeaf(store, new TextEncoder().encode('world'))
    const root = await pbNode(store, { data: new TextEncoder().encode('hello '), links: [leaf], sizes: [5n] })
    expect(new TextDecoder().decode(await readContentBytes(store, root, 11))).toBe('hello world')
  })

  it('source errors pass through: tampered, missing blocks', async () => {
    const store = new MemoryBlockStore()
    const ref = await addContent(store, pseudoRandomBytes(MiB + 1, 9))
    const leaves = store.cids().filter((c) => c.code === CODEC_RAW)
    store.tamper(leaves[1] as CID, (b) => { b[0] = (b[0] ?? 0) ^ 1; return b })
    const out = collector()
    await rejectsWith(readContent(store, ref.cid, ref.length, out.sink), 'ERR_HASH_MISMATCH')
    expect(out.written()).toBe(MiB)
    store.delete(leaves[0] as CID)
    await rejectsWith(readContent(store, ref.cid, ref.length, () => {}), 'ERR_BLOCK_NOT_FOUND')
  })

  it('any single flipped byte anywhere in the DAG is caught (property)', async () => {
    const content = pseudoRandomBytes(2 * MiB + 3, 21)
    const clean = new MemoryBlockStore()
    const ref = await addContent(clean, content)
    const cids = clean.cids()
    const sizes = await Promise.all(cids.map(async (c) => (await clean.get(c)).byteLength))
    await fc.assert(fc.asyncProperty(fc.nat(cids.length - 1), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), async (which, where) => {
      const store = new MemoryBlockStore()
      for (const c of cids) await store.put(c, await clean.get(c))
      const target = cids[which] as CID
      const index = Math.floor(where * (sizes[which] as number))
      store.tamper(target, (b) => { b[index] = (b[index] ?? 0) ^ 0x40; return b })
      const out = collector()
      await rejectsWith(readContent(store, ref.cid, ref.length, out.sink), 'ERR_HASH_MISMATCH')
      expect(out.written()).toBeLessThanOrEqual(ref.length)
    }), { numRuns: 12 })
  })

  it('prefetches ahead but within its window', async () => {
    const store = new MemoryBlockStore()
    const leaves: CID[] = []
    for (let i = 0; i < 40; i++) leaves.push(await rawLeaf(store, new Uint8Array([i])))
    const mid1 = await pbNode(store, { links: leaves.slice(0, 20), sizes: new Array(20).fill(1n) })
    const mid2 = await pbNode(store, { links: leaves.slice(20), sizes: new Array(20).fill(1n) })
    const root = await pbNode(store, { links: [mid1, mid2], sizes: [20n, 20n] })
    let inFlight = 0
    let most = 0
    const slow: BlockSource = {
      get: async (cid, options) => {
        inFlight++
        most = Math.max(most, inFlight)
        try {
          await new Promise((resolve) => setTimeout(resolve, 2))
          return await store.get(cid, options)
        } finally {
          inFlight--
        }
      }
    }
    const bytes = await readContentBytes(slow, root, 40, { prefetch: 4 })
    expect([...bytes]).toEqual([...Array(40).keys()])
    expect(most).toBeGreaterThan(1)
    expect(most).toBeLessThanOrEqual(5)
  })

  it('honours an abort signal', async () => {
    const store = new MemoryBlockStore()
    const ref = await addContent(store, pseudoRandomBytes(MiB + 1, 2))
    const ac = new AbortController()
    await rejectsWith(readContent(store, ref.cid, ref.length, () => { ac.abort() }, { signal: ac.signal }), 'ERR_ABORTED')
    await rejectsWith(readContent(store, ref.cid, ref.length, () => {}, { signal: AbortSignal.abort() }), 'ERR_ABORTED')
    await rejectsWith(addContent(store, new Uint8Array(10), { signal: AbortSignal.abort() }), 'ERR_ABORTED')
  })

  it('rejects bad arguments as UsageError', async () => {
    const store = new MemoryBlockStore()
    const ref = await addContent(store, new Uint8Array(3))
    await rejectsWith(readContent(store, ref.cid, -1, () => {}), 'ERR_ARGUMENT', 'UsageError')
    await rejectsWith(readContent(store, ref.cid, 1.5, () => {}), 'ERR_ARGUMENT', 'UsageError')
    await rejectsWith(addContent(store, 'text' as unknown as Uint8Array), 'ERR_ARGUMENT', 'UsageError')
    const strings = (async function * () { yield 'not bytes' })() as unknown as AsyncIterable<Uint8Array>
    await rejectsWith(addContent(store, strings), 'ERR_ARGUMENT', 'UsageError')
  })
})
