/**
 * The sharded map (src/shard, spec/NOTES.md §11): canonical form, lookups
 * against a plain Map model, updates that equal bulk builds, structural diffs,
 * and every single-node mutation refused with its SHARD-* rule.
 */
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { cidOf } from '../../src/model/codec.js'
import { BlockError, DecodeError, ValidationError } from '../../src/model/errors.js'
import { BUCKET, MAX_LEVEL, MAX_NODE_BYTES, ShardBudget, ShardReader, buildMap, hashKey, roleLinkCodec, shardCid, slotAt, targetsCodec, updateMap, type ShardBlock, type ValueCodec } from '../../src/shard/index.js'
import { parseTargetInfo } from '../../src/model/schema.js'
import { runs } from '../helpers/arbitraries.js'

/** Keys: any non-empty string; values: safe integers. */
const intCodec: ValueCodec<number> = {
  name: 'test',
  checkKey (key, where) { if (key.length === 0) throw new DecodeError('ERR_SCHEMA', `${where}: empty key`) },
  fromWire (w, where) {
    if (typeof w !== 'number' || !Number.isSafeInteger(w)) throw new DecodeError('ERR_SCHEMA', `${where}: not an integer`)
    return w
  },
  toWire: (v) => v
}

function store (): { mem: MemoryBlockStore, sink: (b: ShardBlock) => void } {
  const mem = new MemoryBlockStore()
  return { mem, sink: (b) => { mem.unsafePut(b.cid, b.bytes) } }
}

function build (entries: Iterable<readonly [string, number]>, mem?: MemoryBlockStore): { root: CID, mem: MemoryBlockStore } {
  const s = mem === undefined ? store() : { mem, sink: (b: ShardBlock) => { mem.unsafePut(b.cid, b.bytes) } }
  return { root: buildMap(entries, intCodec, s.sink).root, mem: s.mem }
}

async function expectRule (p: Promise<unknown>, rule: string): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => e instanceof ValidationError && e.code === rule)
}

const arbKey = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
const arbEntries = fc.uniqueArray(fc.tuple(arbKey, fc.integer({ min: -1e6, max: 1e6 })), { selector: ([k]) => k, maxLength: 300 })

describe('sharded map: canonical form and lookups', () => {
  it('an empty map is one empty root node, and lookups in it find nothing', async () => {
    const { root, mem } = build([])
    const r = new ShardReader(mem, intCodec)
    expect(await r.get(root, 'x')).toBeUndefined()
    expect(await new ShardReader(mem, intCodec).verify(root)).toEqual({ entries: 0, nodes: 1 })
  })

  it('lookups agree with a plain Map model, and a lookup fetches only its path', async () => {
    const model = new Map<string, number>()
    for (let i = 0; i < 5000; i++) model.set(`pkg/${i}.tgz`, i)
    const { root, mem } = build(model)
    const all = new ShardReader(mem, intCodec)
    const { entries, nodes } = await all.verify(root)
    expect(entries).toBe(5000)
    for (const key of ['pkg/0.tgz', 'pkg/4999.tgz', 'pkg/1234.tgz', 'absent', 'pkg/5000.tgz']) {
      const r = new ShardReader(mem, intCodec)
      expect(await r.get(root, key)).toBe(model.get(key))
      // The path: at most depth + 1 nodes, far fewer than the tree.
      expect(r.budget.blocks).toBeLessThanOrEqual(6)
      expect(r.budget.blocks).toBeLessThan(nodes / 50)
    }
  })

  it('property: insertion order never changes the root CID', async () => {
    await fc.assert(fc.property(arbEntries, fc.integer(), (entries, seed) => {
      const shuffled = entries.slice()
      let x = seed >>> 0
      for (let i = shuffled.length - 1; i > 0; i--) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0
        const j = x % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
      }
      expect(build(shuffled).root.equals(build(entries).root)).toBe(true)
    }), runs(100))
  })

  it('property: lookups and iteration agree with a Map model', async () => {
    await fc.assert(fc.asyncProperty(arbEntries, fc.array(arbKey, { maxLength: 20 }), async (entries, probes) => {
      const model = new Map(entries)
      const { root, mem } = build(entries)
      const r = new ShardReader(mem, intCodec)
      for (const k of [...model.keys(), ...probes]) expect(await r.get(root, k)).toBe(model.get(k))
      const seen = new Map<string, number>()
      for await (const e of r.entries(root)) seen.set(e.key, e.value)
      expect(seen).toEqual(model)
    }), runs(60))
  })

  it('property: any history of updates gives the root a bulk build of the final entries gives', async () => {
    const arbOps = fc.array(fc.array(fc.tuple(arbKey, fc.option(fc.integer({ min: 0, max: 99 }), { nil: null })), { minLength: 1, maxLength: 40 }), { maxLength: 8 })
    await fc.assert(fc.asyncProperty(arbEntries, arbOps, async (initial, batches) => {
      const model = new Map(initial)
      const { mem, sink } = store()
      let root = buildMap(initial, intCodec, sink).root
      const r = new ShardReader(mem, intCodec)
      for (const batch of batches) {
        const changes = new Map(batch)
        root = (await updateMap(r, root, changes, sink)).root
        for (const [k, v] of changes) { if (v === null) model.delete(k); else model.set(k, v) }
        expect(root.equals(build(model).root)).toBe(true)
      }
      expect(await new ShardReader(mem, intCodec).verify(root)).toMatchObject({ entries: model.size })
    }), runs(60))
  })

  it('removing every entry and putting them back restores the original root', async () => {
    const entries = Array.from({ length: 400 }, (_, i) => [`k${i}`, i] as const)
    const { mem, sink } = store()
    const r = new ShardReader(mem, intCodec)
    const root0 = buildMap(entries, intCodec, sink).root
    const empty = await updateMap(r, root0, new Map(entries.map(([k]) => [k, null])), sink)
    expect(empty.root.equals(build([]).root)).toBe(true)
    const back = await updateMap(r, empty.root, new Map(entries), sink)
    expect(back.root.equals(root0)).toBe(true)
  })

  it('one change rewrites only the path: a handful of blocks in 20,000 entries', async () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => [`a/${i}`, i] as const)
    const { mem, sink } = store()
    const root = buildMap(entries, intCodec, sink).root
    const up = await updateMap(new ShardReader(mem, intCodec), root, new Map([['a/new', 1]]), sink)
    expect(up.blocks).toBeGreaterThan(0)
    expect(up.blocks).toBeLessThanOrEqual(MAX_LEVEL) // in practice depth + 2
    expect(up.blocks).toBeLessThanOrEqual(7)
  })

  it('property: diff yields exactly the changed keys, reading only where the trees differ', async () => {
    await fc.assert(fc.asyncProperty(arbEntries, arbEntries, async (a, b) => {
      const { mem } = build(a)
      const rootA = build(a, mem).root
      const rootB = build(b, mem).root
      const ma = new Map(a)
      const mb = new Map(b)
      const expected = new Map<string, [number | undefined, number | undefined]>()
      for (const k of new Set([...ma.keys(), ...mb.keys()])) {
        if (ma.get(k) !== mb.get(k)) expected.set(k, [ma.get(k), mb.get(k)])
      }
      const got = new Map<string, [number | undefined, number | undefined]>()
      for await (const c of new ShardReader(mem, intCodec).diff(rootB, rootA)) got.set(c.key, [c.before, c.after])
      expect(got).toEqual(expected)
    }), runs(60))
  })

  it('a diff of one change in 20,000 entries reads a few nodes, not the tree', async () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => [`a/${i}`, i] as const)
    const { mem, sink } = store()
    const root = buildMap(entries, intCodec, sink).root
    const next = (await updateMap(new ShardReader(mem, intCodec), root, new Map([['a/77', -1]]), sink)).root
    const r = new ShardReader(mem, intCodec)
    const changes = []
    for await (const c of r.diff(next, root)) changes.push(c)
    expect(changes).toEqual([{ key: 'a/77', before: 77, after: -1 }])
    expect(r.budget.blocks).toBeLessThanOrEqual(12)
  })

  it('diff and get tell onRead every node they read, of both maps with its side, and no other', async () => {
    const entries = Array.from({ length: 5_000 }, (_, i) => [`a/${i}`, i] as const)
    const { mem, sink } = store()
    const root = buildMap(entries, intCodec, sink).root
    const next = (await updateMap(new ShardReader(mem, intCodec), root, new Map([['a/77', -1], ['b/new', 1]]), sink)).root
    const fetched: string[] = []
    const counting = { get: async (cid: CID, o?: { maxBytes?: number }) => { fetched.push(cid.toString()); return await mem.get(cid, o) } }
    const told: string[] = []
    const sides = { newer: new Set<string>(), older: new Set<string>() }
    const r = new ShardReader(counting, intCodec)
    for await (const _ of r.diff(next, root, (c, newer) => { told.push(c.toString()); sides[newer ? 'newer' : 'older'].add(c.toString()) })) { /* drain */ }
    expect(told).toContain(root.toString())
    expect(told).toContain(next.toString())
    expect(new Set(told)).toEqual(new Set(fetched))
    expect(fetched.length).toBeGreaterThan(2)
    // Each node is told with its side: the newer map's nodes and the older one's.
    const all = async (m: CID): Promise<Set<string>> => { const out = new Set<string>(); for await (const c of new ShardReader(mem, intCodec).nodes(m)) out.add(c.toString()); return out }
    const [ofNext, ofRoot] = [await all(next), await all(root)]
    expect(sides.newer.size).toBeGreaterThan(1)
    expect(sides.older.size).toBeGreaterThan(1)
    for (const c of sides.newer) expect(ofNext.has(c)).toBe(true)
    for (const c of sides.older) expect(ofRoot.has(c)).toBe(true)
    const onPath: string[] = []
    fetched.length = 0
    expect(await new ShardReader(counting, intCodec).get(next, 'a/77', (c) => { onPath.push(c.toString()) })).toBe(-1)
    expect(onPath).toEqual(fetched)
    expect(onPath[0]).toBe(next.toString())
  })

  it('the node cache holds at most cacheBytes of blocks and cacheNodes nodes, least recently used out', async () => {
    const { mem, sink } = store()
    const roots = ['x', 'y', 'z'].map((k) => buildMap([[k, 1]], intCodec, sink).root)
    const [x, y, z] = roots as [CID, CID, CID]
    const fetched: string[] = []
    const counting = { get: async (cid: CID, o?: { maxBytes?: number }) => { fetched.push(cid.toString()); return await mem.get(cid, o) } }
    const count = (c: CID): number => fetched.filter((f) => f === c.toString()).length
    // Two nodes at most: X, Y, X again (a hit: X is now the most recent), Z drops Y, not X.
    const r = new ShardReader(counting, intCodec, { cacheNodes: 2 })
    for (const c of [x, y, x, z, x]) await r.node(c, 0, [])
    expect([count(x), count(y), count(z)]).toEqual([1, 1, 1])
    await r.node(y, 0, [])
    expect(count(y)).toBe(2)
    // A byte cap below one node keeps only the node just read.
    fetched.length = 0
    const tiny = new ShardReader(counting, intCodec, { cacheBytes: 1 })
    for (const c of [x, x, y, x]) await tiny.node(c, 0, [])
    expect([count(x), count(y)]).toEqual([2, 1])
    // The default keeps them all.
    fetched.length = 0
    const roomy = new ShardReader(counting, intCodec)
    for (const c of [x, y, z, x, y, z]) await roomy.node(c, 0, [])
    expect(fetched.length).toBe(3)
  })

  it('property: the targets codec\'s quick path for { cid, length } gives exactly what the general schema gives', async () => {
    const raw = cidOf(new TextEncoder().encode('x'))
    const content = CID.createV1(0x55, raw.multihash)
    const pb = CID.createV1(0x70, raw.multihash)
    const arbWire = fc.oneof(
      fc.record({ cid: fc.constantFrom(content, pb, raw, CID.parse('bafkqaaa'), 'x', null), length: fc.oneof(fc.nat(), fc.constantFrom(-1, -0, 1.5, 2 ** 53, NaN), fc.string()) }),
      fc.record({ cid: fc.constant(content), length: fc.nat(), custom: fc.jsonValue() }),
      fc.record({ cid: fc.constant(content), length: fc.nat(), extra: fc.nat() }),
      fc.record({ cid: fc.constant(content) }),
      fc.anything()
    )
    fc.assert(fc.property(arbWire, (w) => {
      let general: unknown
      let generalError: string | undefined
      try { general = parseTargetInfo(w, 'targets["a"]') } catch (e) { generalError = (e as DecodeError).code }
      let quick: unknown
      let quickError: string | undefined
      try { quick = targetsCodec.fromWire(w, 'targets["a"]') } catch (e) { quickError = (e as DecodeError).code }
      if (generalError !== undefined) expect(quickError).toBe(generalError)
      else {
        // Only a custom value can be refused by the codec beyond the schema (dag-cbor's limits).
        if ((general as { custom?: unknown }).custom === undefined) expect(quickError).toBeUndefined()
        if (quickError === undefined) expect(quick).toEqual(general)
      }
    }), runs(300))
  })

  it('role-link maps carry CIDs of targets objects and refuse unsafe role names', async () => {
    const cid = cidOf(new TextEncoder().encode('{}'))
    const { mem, sink } = store()
    const root = buildMap([['bins-0', cid]], roleLinkCodec, sink).root
    expect((await new ShardReader(mem, roleLinkCodec).get(root, 'bins-0'))?.equals(cid)).toBe(true)
    expect(() => buildMap([['../x', cid]], roleLinkCodec, sink)).toThrow(DecodeError)
  })
})

// ---------------------------------------------------------------------------
// Hand-made nodes and mutations.

type WireNode = [Uint8Array, unknown[]]

function bitmapOf (slots: number[]): Uint8Array {
  const b = new Uint8Array(2)
  for (const s of slots) b[s >> 3] = (b[s >> 3] ?? 0) | (0x80 >> (s & 7))
  return b
}

function put (mem: MemoryBlockStore, wire: unknown): CID {
  const bytes = dagCbor.encode(wire)
  const cid = shardCid(bytes)
  mem.unsafePut(cid, bytes)
  return cid
}

/** A key whose hash starts with the given nibbles. */
function keyWithPrefix (nibbles: number[], tag = ''): string {
  for (let i = 0; ; i++) {
    const k = `${tag}k${i}`
    const h = hashKey(k)
    if (nibbles.every((n, d) => slotAt(h, d) === n)) return k
  }
}

interface Located { cid: CID, wire: WireNode, parents: Array<{ wire: WireNode, index: number }> }

/** Every node of a tree, with the chain of parents (and data index) leading to it. */
async function nodesOf (mem: MemoryBlockStore, root: CID): Promise<Located[]> {
  const out: Located[] = []
  const visit = async (cid: CID, parents: Located['parents']): Promise<void> => {
    const wire = dagCbor.decode(await mem.get(cid)) as WireNode
    out.push({ cid, wire, parents })
    for (let i = 0; i < wire[1].length; i++) {
      const c = CID.asCID(wire[1][i])
      if (c !== null) await visit(c, [...parents, { wire, index: i }])
    }
  }
  await visit(root, [])
  return out
}

/** Store a replacement for a located node and re-link its (honest) parents up to a new root. */
function replace (mem: MemoryBlockStore, at: Located, wire: unknown, raw?: Uint8Array): CID {
  let cid: CID
  if (raw !== undefined) { cid = shardCid(raw); mem.unsafePut(cid, raw) } else cid = put(mem, wire)
  for (let i = at.parents.length - 1; i >= 0; i--) {
    const p = at.parents[i]!
    const data = p.wire[1].slice()
    data[p.index] = cid
    cid = put(mem, [p.wire[0], data])
  }
  return cid
}

function bucketsOf (w: WireNode): Array<{ index: number, slot: number, bucket: Array<[string, unknown]> }> {
  const slots: number[] = []
  for (let s = 0; s < 16; s++) if (((w[0][s >> 3] ?? 0) & (0x80 >> (s & 7))) !== 0) slots.push(s)
  return w[1].flatMap((el, index) => Array.isArray(el) ? [{ index, slot: slots[index]!, bucket: el as Array<[string, unknown]> }] : [])
}

describe('sharded map: malformed nodes are refused with their rule', () => {
  it('SHARD-ENC: a node that is not canonical dag-cbor, or not the bytes its CID names', async () => {
    const { root, mem } = build([['a', 1]])
    const bytes = await mem.get(root)
    // Indefinite-length array header instead of a definite one.
    const indefinite = new Uint8Array([0x9f, ...bytes.subarray(1), 0xff])
    const bad = shardCid(indefinite)
    mem.unsafePut(bad, indefinite)
    await expectRule(new ShardReader(mem, intCodec).get(bad, 'a'), 'SHARD-ENC')
    // A source that does not check hashes: the reader checks them itself.
    const flipped = bytes.slice(); flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1
    await expectRule(new ShardReader({ get: async () => flipped }, intCodec).get(root, 'a'), 'SHARD-ENC')
  })

  it('SHARD-LINK: a link of the wrong codec or hash, at the root or inside a node', async () => {
    const mem = new MemoryBlockStore()
    const jsonCid = cidOf(new TextEncoder().encode('{}'))
    await expectRule(new ShardReader(mem, intCodec).get(jsonCid, 'a'), 'SHARD-LINK')
    const k = keyWithPrefix([3])
    const root = put(mem, [bitmapOf([3]), [jsonCid]])
    await expectRule(new ShardReader(mem, intCodec).get(root, k), 'SHARD-LINK')
  })

  it('SHARD-SIZE: a node over the bound is refused while it is received', async () => {
    const mem = new MemoryBlockStore()
    const big = new Uint8Array(MAX_NODE_BYTES + 10)
    const cid = shardCid(big)
    mem.unsafePut(cid, big)
    await expectRule(new ShardReader(mem, intCodec).get(cid, 'a'), 'SHARD-SIZE')
  })

  it('SHARD-SHAPE: not [bitmap, data], a short bitmap, or data that disagrees with the bitmap', async () => {
    const mem = new MemoryBlockStore()
    for (const wire of [[1, 2, 3], [new Uint8Array(3), []], [bitmapOf([1, 2]), [[['x', 1]]]], [bitmapOf([1]), ['x']], [bitmapOf([1]), [[['x']]]]]) {
      await expectRule(new ShardReader(mem, intCodec).verify(put(mem, wire)), 'SHARD-SHAPE')
    }
  })

  it('SHARD-BUCKET, SHARD-ORDER, SHARD-PLACEMENT, SHARD-COLLAPSE on hand-made nodes', async () => {
    const mem = new MemoryBlockStore()
    const ks = [0, 1, 2, 3, 4].map((i) => keyWithPrefix([5], `b${i}`)).sort()
    const entries = ks.map((k) => [k, 1])
    await expectRule(new ShardReader(mem, intCodec).verify(put(mem, [bitmapOf([5]), [entries.slice(0, BUCKET + 1)]])), 'SHARD-BUCKET')
    await expectRule(new ShardReader(mem, intCodec).verify(put(mem, [bitmapOf([5]), [[]]])), 'SHARD-BUCKET')
    await expectRule(new ShardReader(mem, intCodec).verify(put(mem, [bitmapOf([5]), [[entries[1], entries[0]]]])), 'SHARD-ORDER')
    await expectRule(new ShardReader(mem, intCodec).verify(put(mem, [bitmapOf([5]), [[entries[0], entries[0]]]])), 'SHARD-ORDER')
    await expectRule(new ShardReader(mem, intCodec).verify(put(mem, [bitmapOf([6]), [[entries[0]]]])), 'SHARD-PLACEMENT')
    // A child holding one entry must be a bucket in its parent.
    const child = put(mem, [bitmapOf([slotAt(hashKey(ks[0]!), 1)]), [[entries[0]]]])
    await expectRule(new ShardReader(mem, intCodec).verify(put(mem, [bitmapOf([5]), [child]])), 'SHARD-COLLAPSE')
    // The same child under the wrong slot of the root.
    await expectRule(new ShardReader(mem, intCodec).verify(put(mem, [bitmapOf([9]), [child]])), 'SHARD-PLACEMENT')
  })

  it('SHARD-DEPTH: a chain of link-only nodes deeper than the hash has nibbles', async () => {
    const mem = new MemoryBlockStore()
    let cid = put(mem, [bitmapOf([0]), [[['x', 1]]]])
    for (let i = 0; i <= MAX_LEVEL; i++) cid = put(mem, [bitmapOf([0]), [cid]])
    await expectRule(new ShardReader(mem, intCodec).verify(cid), 'SHARD-DEPTH')
  })

  it('SHARD-MISSING: a lookup whose path cannot be fetched fails with the fetch error, never "absent"', async () => {
    const model = Array.from({ length: 2000 }, (_, i) => [`p${i}`, i] as const)
    const { root, mem } = build(model)
    const nodes = await nodesOf(mem, root)
    const leaf = nodes[nodes.length - 1]!
    const victim = bucketsOf(leaf.wire)[0]!.bucket[0]![0]
    const missing = new MemoryBlockStore()
    for (const n of nodes) if (!n.cid.equals(leaf.cid)) missing.unsafePut(n.cid, await mem.get(n.cid))
    await expect(new ShardReader(missing, intCodec).get(root, victim)).rejects.toBeInstanceOf(BlockError)
  })

  it('BOUND-BLOCKS and BOUND-BYTES: shard fetches count against the update budget', async () => {
    const { root, mem } = build(Array.from({ length: 2000 }, (_, i) => [`p${i}`, i] as const))
    await expectRule(new ShardReader(mem, intCodec, { budget: new ShardBudget(3, 1e9) }).verify(root), 'BOUND-BLOCKS')
    await expectRule(new ShardReader(mem, intCodec, { budget: new ShardBudget(1e6, 2000) }).verify(root), 'BOUND-BYTES')
  })

  it('property: every single-node mutation of a shard is refused with its rule (SHARD-ORDER, SHARD-BUCKET, SHARD-PLACEMENT, SHARD-COLLAPSE, SHARD-LINK, SHARD-SHAPE, SHARD-ENC)', async () => {
    const model = Array.from({ length: 600 }, (_, i) => [`f/${i}`, i] as const)
    const { root, mem } = build(model)
    const nodes = await nodesOf(mem, root)
    const jsonCid = cidOf(new TextEncoder().encode('{}'))
    type Mutation = (n: Located) => { wire?: unknown, raw?: Uint8Array, rule: string } | undefined
    const mutations: Mutation[] = [
      (n) => { // swap the first two entries of a bucket
        const b = bucketsOf(n.wire).find((x) => x.bucket.length >= 2)
        if (b === undefined) return undefined
        const data = n.wire[1].slice(); data[b.index] = [b.bucket[1], b.bucket[0], ...b.bucket.slice(2)]
        return { wire: [n.wire[0], data], rule: 'SHARD-ORDER' }
      },
      (n) => { // a bucket over B
        const b = bucketsOf(n.wire)[0]
        if (b === undefined) return undefined
        const extra = Array.from({ length: BUCKET + 1 - b.bucket.length }, (_, i) => [`zz${i}`, 0])
        const data = n.wire[1].slice(); data[b.index] = [...b.bucket, ...extra]
        return { wire: [n.wire[0], data], rule: 'SHARD-BUCKET' }
      },
      (n) => { // move a bucket to an empty slot
        const bs = bucketsOf(n.wire)
        const b = bs[0]
        if (b === undefined) return undefined
        const used = new Set<number>()
        for (let s = 0; s < 16; s++) if (((n.wire[0][s >> 3] ?? 0) & (0x80 >> (s & 7))) !== 0) used.add(s)
        const free = [...Array(16).keys()].find((s) => !used.has(s))
        if (free === undefined) return undefined
        const slots = [...used].filter((s) => s !== b.slot).concat(free).sort((x, y) => x - y)
        const bySlot = new Map<number, unknown>()
        let i = 0
        for (let s = 0; s < 16; s++) if (used.has(s)) bySlot.set(s === b.slot ? free : s, n.wire[1][i++])
        return { wire: [bitmapOf(slots), slots.map((s) => bySlot.get(s))], rule: 'SHARD-PLACEMENT' }
      },
      (n) => { // a non-root node reduced to one entry
        if (n.parents.length === 0) return undefined
        const b = bucketsOf(n.wire)[0]
        if (b === undefined) return undefined
        return { wire: [bitmapOf([b.slot]), [[b.bucket[0]]]], rule: 'SHARD-COLLAPSE' }
      },
      (n) => { // a child link of the wrong codec
        const i = n.wire[1].findIndex((el) => CID.asCID(el) !== null)
        if (i < 0) return undefined
        const data = n.wire[1].slice(); data[i] = jsonCid
        return { wire: [n.wire[0], data], rule: 'SHARD-LINK' }
      },
      (n) => ({ wire: [n.wire[0], n.wire[1].slice(1)], rule: 'SHARD-SHAPE' }), // one element missing
      (n) => { // not canonical dag-cbor
        const bytes = dagCbor.encode(n.wire)
        return { raw: new Uint8Array([0x9f, ...bytes.subarray(1), 0xff]), rule: 'SHARD-ENC' }
      }
    ]
    await fc.assert(fc.asyncProperty(fc.nat(nodes.length - 1), fc.nat(mutations.length - 1), async (ni, mi) => {
      const n = nodes[ni]!
      const m = mutations[mi]!(n)
      fc.pre(m !== undefined)
      const bad = replace(mem, n, m!.wire, m!.raw)
      await expectRule(new ShardReader(mem, intCodec).verify(bad), m!.rule)
    }), runs(150))
  })
})
