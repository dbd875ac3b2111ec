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
  const where = `${codec.name}[${JSON.stringify(key.slice(0, 64))}]`
  codec.checkKey(key, where)
  return codec.fromWire(codec.toWire(value), where)
}

function toEntries<V> (input: Iterable<readonly [string, V]>, codec: ValueCodec<V>): Array<Entry<V>> {
  const seen = new Set<string>()
  const out: Array<Entry<V>> = []
  for (const [key, value] of input) {
    if (seen.has(key)) throw new DecodeError('ERR_SCHEMA', `${codec.name}: key ${JSON.stringify(key)} given twice`)
    seen.add(key)
    out.push({ key, hash: hashKey(key), value: checked(codec, key, value) })
  }
  return out
}

/**
 * Build the canonical map of `input` bottom-up in one pass: O(n × depth)
 * time, every block written once.
 *
 * @throws {DecodeError} a key given twice, a key the codec refuses, a node over the size bound
 */
export function buildMap<V> (input: Iterable<readonly [string, V]>, codec: ValueCodec<V>, sink: BlockSink): BuildResult {
  const w = new Writer(codec, sink)
  const root = w.write(w.elements(toEntries(input, codec), 0))
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
