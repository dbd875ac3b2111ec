/**
 * Building sharded maps: bottom-up in one pass (bulk), and by rewriting only
 * the path to each changed key (update). Both produce the canonical form of
 * src/shard/node.ts, so the same entries always give the same root CID,
 * whatever the order of insertion or the history of updates.
 */
import type { CID } from 'multiformats/cid'
import { DecodeError } from '../model/errors.js'
import { BUCKET, MAX_LEVEL, SLOTS, compareKeys, encodeNode, hashKey, slotAt, type Element, type Entry, type ShardBlock, type ValueCodec } from './node.js'
import type { ShardReader } from './read.js'

/** Where new blocks go. Called once per new block, children before parents. */
export type BlockSink = (block: ShardBlock) => void

export interface BuildResult {
  readonly root: CID
  /** Blocks written (new or not) by this build. */
  readonly blocks: number
  readonly bytes: number
}

/** The root node of an empty map (the same block for every value type). */
export function emptyMap (): ShardBlock {
  return encodeNode<never>({ elements: [] }, { name: 'empty', checkKey () {}, fromWire () { throw new Error('empty') }, toWire: (v) => v })
}

function byKey<V> (a: Entry<V>, b: Entry<V>): number { return compareKeys(a.key, b.key) }

class Writer<V> {
  blocks = 0
  bytes = 0
  constructor (readonly codec: ValueCodec<V>, readonly sink: BlockSink) {}

  write (elements: Array<Element<V>>): CID {
    const block = encodeNode({ elements }, this.codec)
    this.blocks++
    this.bytes += block.bytes.byteLength
    this.sink(block)
    return block.cid
  }

  /**
   * The canonical subtree for `entries` (all sharing the path above `depth`),
   * as the elements of the node at `depth`.
   */
  elements (entries: Array<Entry<V>>, depth: number): Array<Element<V>> {
    const groups: Array<Array<Entry<V>> | undefined> = new Array(SLOTS)
    for (const e of entries) {
      const s = slotAt(e.hash, depth)
      const g = groups[s]
      if (g === undefined) groups[s] = [e]
      else g.push(e)
    }
    const out: Array<Element<V>> = []
    for (let slot = 0; slot < SLOTS; slot++) {
      const g = groups[slot]
      if (g === undefined) continue
      out.push(this.element(slot, g, depth))
    }
    return out
  }

  /** The element of `slot` at `depth` holding `entries` (non-empty). */
  element (slot: number, entries: Array<Entry<V>>, depth: number): Element<V> {
    if (entries.length <= BUCKET || depth === MAX_LEVEL) {
      if (entries.length > BUCKET) {
        // 257 bits would be needed: more than B keys with one SHA-256.
        throw new DecodeError('ERR_LIMIT', `more than ${BUCKET} keys share a whole SHA-256 hash`)
      }
      return { slot, bucket: entries.slice().sort(byKey) }
    }
    return { slot, link: this.write(this.elements(entries, depth + 1)) }
  }
}

/**
 * A key and value as a reader would accept them: the key passes the codec's
 * check and the value survives its wire form (so a builder never writes a
 * node that decoding refuses).
 *
 * @throws {DecodeError}
 */
function checked<V> (codec: ValueCodec<V>, key: string, value: V): V {
  try {
    codec.checkKey(key, codec.name)
    return codec.fromWire(codec.toWire(value), codec.name)
  } catch {
    // Again with the entry's own path in the message (the checks are
    // deterministic, so they throw the same error): built only on failure,
    // it is not paid for by a million good entries.
    const where = `${codec.name}[${JSON.stringify(key.slice(0, 64))}]`
    codec.checkKey(key, where)
    return codec.fromWire(codec.toWire(value), where)
  }
}

/**
 * Build the canonical map of `input` bottom-up in one pass. The keys are
 * hashed into one buffer and sorted by hash; every subtree is then a
 * contiguous range of that order, so nodes are made by scanning ranges,
 * without per-level copies (a million entries are mostly hashing, one sort
 * and encoding). Every block is written once, children before parents.
 *
 * @throws {DecodeError} a key given twice, a key the codec refuses, a node over the size bound
 */
export function buildMap<V> (input: Iterable<readonly [string, V]>, codec: ValueCodec<V>, sink: BlockSink): BuildResult {
  const w = new Writer(codec, sink)
  const keys: string[] = []
  const values: V[] = []
  for (const [key, value] of input) {
    keys.push(key)
    values.push(checked(codec, key, value))
  }
  const n = keys.length
  const hashes = new Uint8Array(n * 32)
  const lead = new Float64Array(n) // the first 6 bytes of each hash, for a fast first comparison
  for (let i = 0; i < n; i++) {
    const h = hashKey(keys[i]!)
    const o = i * 32
    hashes.set(h, o)
    lead[i] = (h[0]! * 2 ** 40) + (h[1]! * 2 ** 32) + (h[2]! * 2 ** 24) + (h[3]! * 2 ** 16) + (h[4]! * 2 ** 8) + h[5]!
  }
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  order.sort((a, b) => {
    const d = lead[a]! - lead[b]!
    if (d !== 0) return d
    for (let k = 6; k < 32; k++) {
      const x = hashes[a * 32 + k]! - hashes[b * 32 + k]!
      if (x !== 0) return x
    }
    return compareKeys(keys[a]!, keys[b]!)
  })
  // The same key twice has the same hash: the two are neighbours.
  for (let k = 1; k < n; k++) {
    if (keys[order[k]!] === keys[order[k - 1]!]) throw new DecodeError('ERR_SCHEMA', `${codec.name}: key ${JSON.stringify(keys[order[k]!])} given twice`)
  }
  const nibble = (k: number, depth: number): number => {
    const b = hashes[order[k]! * 32 + (depth >> 1)]!
    return (depth & 1) === 0 ? b >> 4 : b & 0x0f
  }
  const entry = (k: number): Entry<V> => {
    const i = order[k]!
    return { key: keys[i]!, hash: hashes.subarray(i * 32, i * 32 + 32), value: values[i]! }
  }
  /** The elements of the node at `depth` holding the entries in order[lo..hi). */
  const node = (lo: number, hi: number, depth: number): Array<Element<V>> => {
    const out: Array<Element<V>> = []
    for (let k = lo; k < hi;) {
      const slot = nibble(k, depth)
      let end = k + 1
      while (end < hi && nibble(end, depth) === slot) end++
      const count = end - k
      if (count <= BUCKET || depth === MAX_LEVEL) {
        if (count > BUCKET) throw new DecodeError('ERR_LIMIT', `more than ${BUCKET} keys share a whole SHA-256 hash`)
        const bucket: Array<Entry<V>> = []
        for (let j = k; j < end; j++) bucket.push(entry(j))
        out.push({ slot, bucket: bucket.sort(byKey) })
      } else {
        out.push({ slot, link: w.write(node(k, end, depth + 1)) })
      }
      k = end
    }
    return out
  }
  const root = w.write(node(0, n, 0))
  return { root, blocks: w.blocks, bytes: w.bytes }
}

/** A change to a map: a new value for a key, or null to remove it. */
export type Changes<V> = ReadonlyMap<string, V | null>

type Outcome<V> =
  | { readonly kind: 'node', readonly elements: Array<Element<V>> }
  /** A non-root subtree left with at most B entries and no links: it becomes a bucket. */
  | { readonly kind: 'collapse', readonly entries: Array<Entry<V>> }

/**
 * Apply `changes` to the map at `root`, rewriting only the nodes on the paths
 * to the changed keys. Removing a key that is absent is a no-op; the result
 * is the canonical map of the new entries (the same root CID a bulk build of
 * them would give).
 *
 * @throws {ValidationError} SHARD-* when an existing node is malformed
 * @throws {BlockError} when an existing node cannot be fetched
 */
export async function updateMap<V> (reader: ShardReader<V>, root: CID, changes: Changes<V>, sink: BlockSink): Promise<BuildResult> {
  const w = new Writer(reader.codec, sink)
  const list: Array<{ key: string, hash: Uint8Array, value: V | null }> = []
  for (const [key, value] of changes) {
    list.push({ key, hash: hashKey(key), value: value === null ? null : checked(reader.codec, key, value) })
  }
  if (list.length === 0) return { root, blocks: 0, bytes: 0 }

  async function apply (cid: CID, depth: number, path: number[], todo: typeof list): Promise<Outcome<V>> {
    const node = await reader.node(cid, depth, path)
    const bySlot = new Map<number, typeof list>()
    for (const c of todo) {
      const s = slotAt(c.hash, depth)
      const g = bySlot.get(s)
      if (g === undefined) bySlot.set(s, [c])
      else g.push(c)
    }
    const elements: Array<Element<V>> = []
    const present = new Map<number, Element<V>>()
    for (const el of node.elements) present.set(el.slot, el)
    for (let slot = 0; slot < SLOTS; slot++) {
      const el = present.get(slot)
      const slotChanges = bySlot.get(slot)
      if (slotChanges === undefined) {
        if (el !== undefined) elements.push(el)
        continue
      }
      if (el?.link !== undefined) {
        const sub = await apply(el.link, depth + 1, [...path, slot], slotChanges)
        if (sub.kind === 'collapse') {
          if (sub.entries.length > 0) elements.push({ slot, bucket: sub.entries.slice().sort(byKey) })
        } else {
          elements.push({ slot, link: w.write(sub.elements) })
        }
        continue
      }
      // An inline bucket (or an empty slot): merge, then bucket or subtree.
      const merged = new Map<string, Entry<V>>()
      for (const e of el?.bucket ?? []) merged.set(e.key, e)
      for (const c of slotChanges) {
        if (c.value === null) merged.delete(c.key)
        else merged.set(c.key, { key: c.key, hash: c.hash, value: c.value })
      }
      if (merged.size > 0) elements.push(w.element(slot, [...merged.values()], depth))
    }
    if (depth > 0) {
      let links = 0
      let entries = 0
      for (const el of elements) {
        if (el.link !== undefined) links++
        else entries += el.bucket.length
      }
      if (links === 0 && entries <= BUCKET) {
        return { kind: 'collapse', entries: elements.flatMap((el) => el.bucket ?? []) }
      }
    }
    return { kind: 'node', elements }
  }

  // The root never collapses (apply returns 'collapse' only below depth 0).
  const out = await apply(root, 0, [], list)
  return { root: w.write(out.kind === 'node' ? out.elements : out.entries.length === 0 ? [] : w.elements(out.entries, 0)), blocks: w.blocks, bytes: w.bytes }
}
