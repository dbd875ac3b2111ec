/**
 * The hand-written UnixFS reader (src/blocks/unixfs.ts, kept so that every
 * bound is ours) against the reference reader, ipfs-unixfs-exporter, on the
 * same honest DAGs: files written by ipfs-unixfs-importer with many shapes
 * (chunk sizes, balanced/trickle/flat layouts, fan-out, raw or dag-pb
 * leaves, CIDv0 and v1). Both must return the same bytes, and those bytes
 * must be the file. Hostile DAGs are the subject of unixfs.test.ts.
 */
import fc from 'fast-check'
import { exporter } from 'ipfs-unixfs-exporter'
import { importBytes, type ImporterOptions } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced, flat, trickle } from 'ipfs-unixfs-importer/layout'
import type { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { readContentBytes } from '../../src/blocks/unixfs.js'
import { expectSameBytes, pseudoRandomBytes } from './helpers.js'

interface Shape {
  length: number
  seed: number
  chunk: number
  layout: 'balanced' | 'trickle' | 'flat'
  fanout: number
  rawLeaves: boolean
  leafType: 'file' | 'raw'
  reduceSingleLeafToSelf: boolean
  cidVersion: 0 | 1
}

function importerOptions (s: Shape): ImporterOptions {
  const layout = s.layout === 'balanced'
    ? balanced({ maxChildrenPerNode: s.fanout })
    : s.layout === 'trickle' ? trickle({ maxChildrenPerNode: s.fanout, layerRepeat: 2 }) : flat()
  return {
    chunker: fixedSize({ chunkSize: s.chunk }),
    layout,
    // CIDv0 cannot name raw blocks, so v0 files have dag-pb leaves.
    rawLeaves: s.cidVersion === 1 && s.rawLeaves,
    leafType: s.leafType,
    reduceSingleLeafToSelf: s.reduceSingleLeafToSelf,
    cidVersion: s.cidVersion
  }
}

/** Write `bytes` into `store` with the importer; the root CID. */
async function write (store: MemoryBlockStore, bytes: Uint8Array, s: Shape): Promise<CID> {
  const sink = {
    put: async (cid: CID, block: Uint8Array | AsyncIterable<Uint8Array>): Promise<CID> => {
      if (!(block instanceof Uint8Array)) throw new Error('the importer streamed a block')
      await store.put(cid, block)
      return cid
    }
  }
  return (await importBytes(bytes, sink as never, importerOptions(s))).cid
}

/** The file as ipfs-unixfs-exporter reads it from the same store. */
async function exported (store: MemoryBlockStore, cid: CID): Promise<Uint8Array> {
  const blockstore = { async * get (c: CID) { yield await store.get(c) } }
  const entry = await exporter(cid, blockstore as never)
  if (entry.type !== 'file' && entry.type !== 'raw') throw new Error(`not a file: ${entry.type}`)
  const parts: Uint8Array[] = []
  for await (const part of entry.content()) parts.push(part)
  return Buffer.concat(parts)
}

const shapes: fc.Arbitrary<Shape> = fc.record({
  length: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 301, max: 40_000 })),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  chunk: fc.constantFrom(1, 7, 64, 256, 1000, 4096),
  layout: fc.constantFrom('balanced', 'trickle', 'flat'),
  fanout: fc.integer({ min: 2, max: 12 }),
  rawLeaves: fc.boolean(),
  leafType: fc.constantFrom('file', 'raw'),
  reduceSingleLeafToSelf: fc.boolean(),
  cidVersion: fc.constantFrom(0, 1)
}).filter((s) => s.length / s.chunk <= 2_000) as fc.Arbitrary<Shape>

describe('readContent agrees with ipfs-unixfs-exporter', () => {
  it('on the default shape of addContent and on hand-picked deep and wide files', async () => {
    const cases: Shape[] = [
      { length: 3 * 1024 * 1024 + 17, seed: 5, chunk: 1024 * 1024, layout: 'balanced', fanout: 1024, rawLeaves: true, leafType: 'raw', reduceSingleLeafToSelf: true, cidVersion: 1 },
      { length: 20_000, seed: 6, chunk: 10, layout: 'balanced', fanout: 2, rawLeaves: true, leafType: 'raw', reduceSingleLeafToSelf: true, cidVersion: 1 },
      { length: 20_000, seed: 7, chunk: 10, layout: 'trickle', fanout: 3, rawLeaves: false, leafType: 'file', reduceSingleLeafToSelf: false, cidVersion: 0 },
      { length: 50_000, seed: 8, chunk: 64, layout: 'flat', fanout: 2, rawLeaves: false, leafType: 'raw', reduceSingleLeafToSelf: false, cidVersion: 1 },
      { length: 0, seed: 9, chunk: 64, layout: 'balanced', fanout: 2, rawLeaves: false, leafType: 'file', reduceSingleLeafToSelf: false, cidVersion: 0 }
    ]
    for (const s of cases) {
      const store = new MemoryBlockStore()
      const bytes = pseudoRandomBytes(s.length, s.seed)
      const cid = await write(store, bytes, s)
      const ours = await readContentBytes(store, cid, s.length)
      expectSameBytes(ours, bytes)
      expectSameBytes(await exported(store, cid), ours)
    }
  })

  it('on random honest files of many shapes', async () => {
    await fc.assert(fc.asyncProperty(shapes, async (s) => {
      const store = new MemoryBlockStore()
      const bytes = pseudoRandomBytes(s.length, s.seed)
      const cid = await write(store, bytes, s)
      const ours = await readContentBytes(store, cid, s.length)
      const theirs = await exported(store, cid)
      expect(Buffer.from(ours).equals(Buffer.from(theirs)), JSON.stringify(s)).toBe(true)
      expect(Buffer.from(ours).equals(Buffer.from(bytes)), JSON.stringify(s)).toBe(true)
    }), { numRuns: 60, seed: 20240915 })
  })
})
