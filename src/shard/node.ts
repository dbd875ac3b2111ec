/**
 * Shard nodes: the unsigned blocks of a sharded map (spec/NOTES.md §11).
 *
 * A sharded map is a canonical hash-array-mapped trie (HAMT) of dag-cbor
 * blocks. A key is a string; its *hash* is the SHA-256 of its UTF-8 bytes,
 * read four bits at a time, high nibble first: the nibble at depth d picks
 * one of 16 slots of the node at depth d. A node is
 *
 *     [ bitmap, data ]
 *
 * where `bitmap` is 2 bytes (slot i is bit 7 - (i mod 8) of byte i div 8,
 * i.e. most significant bit first) and `data` lists one element per set bit,
 * in slot order. An element is a link to the child node at depth d + 1 (a
 * CIDv1 dag-cbor sha2-256) or an inline bucket: a list of 1..B `[key, value]`
 * pairs, strictly increasing by the keys' UTF-8 bytes.
 *
 * Canonical form (one shape for one set of entries, whatever the history):
 * a slot holds a bucket exactly when the entries below it number at most B,
 * and a link otherwise. Locally: every bucket has 1..B entries, every entry
 * sits in the slot its hash names (with the nibbles of the path above it),
 * and a node other than the root holds a link or more than B entries. By
 * induction over the nodes of a tree, these local checks are the global rule,
 * so a reader that checks each node it fetches never accepts a node out of
 * place, and a lookup has exactly one answer.
 *
 * Decoding is strict (SHARD-ENC): the CID's hash is checked, @ipld/dag-cbor
 * decodes in strict mode, and re-encoding must give the same bytes.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { ValidationError } from '../model/errors.js'
import type { RuleId } from '../model/rules.js'
import { CODEC_DAG_CBOR, HASH_SHA2_256, compareBytes, equalBytes, sha256 } from '../model/hash.js'
import { nodeCrypto } from '../util/node-builtins.js'
import { DecodeError } from '../model/errors.js'
import { encodeCanonical } from './cbor.js'

/** Multicodec of shard nodes. */
export { CODEC_DAG_CBOR }
/** Bits of the key hash consumed per level: 16 slots a node. */
export const BITS = 4
export const SLOTS = 1 << BITS
/** Entries an inline bucket holds at most (B). */
export const BUCKET = 3
/** Levels a 256-bit hash provides: nodes live at depth 0..MAX_LEVEL. */
export const MAX_LEVEL = 256 / BITS - 1
/** Largest shard node block (BOUND-SHARD-NODE): bitswap- and gateway-safe. */
export const MAX_NODE_BYTES = 1024 * 1024
/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 4096

/** How a map's values travel: checked from `unknown`, written back as a wire value. */
export interface ValueCodec<V> {
  /** A short name for messages ("targets", "delegated-targets"...). */
  readonly name: string
  /** Check a key (e.g. a safe target path). @throws {DecodeError} */
  checkKey: (key: string, where: string) => void
  /** The typed value of a wire value. @throws {DecodeError} */
  fromWire: (wire: unknown, where: string) => V
  /** The wire value of a typed value (IPLD data model: CIDs, maps, lists...). */
  toWire: (value: V) => unknown
}

export interface Entry<V> {
  readonly key: string
  /** SHA-256 of the key's UTF-8 bytes. */
  readonly hash: Uint8Array
  readonly value: V
}

export type Element<V> =
  | { readonly slot: number, readonly link: CID, readonly bucket?: undefined }
  | { readonly slot: number, readonly link?: undefined, readonly bucket: ReadonlyArray<Entry<V>> }

export interface ShardNode<V> {
  /** Elements in slot order, one per set bit. */
  readonly elements: ReadonlyArray<Element<V>>
}

export interface ShardBlock {
  readonly cid: CID
  readonly bytes: Uint8Array
}

const utf8 = new TextEncoder()

let oneShot: ((data: string) => Uint8Array) | undefined
// crypto.hash (Node >= 20.12) hashes in one call, about twice as fast as createHash for short keys;
// given a string it hashes its UTF-8 bytes (lone surrogates as U+FFFD, as TextEncoder writes them).
// node:crypto comes through src/util/node-builtins.ts (undefined in the browser build).
const h = (nodeCrypto as unknown as { hash?: (alg: string, data: string, enc: 'buffer') => Uint8Array } | undefined)?.hash
if (typeof h === 'function') oneShot = (s) => h('sha256', s, 'buffer')

/** SHA-256 of a key's UTF-8 bytes. */
export function hashKey (key: string): Uint8Array {
  return oneShot !== undefined ? oneShot(key) : sha256(utf8.encode(key))
}

/** The slot a hash names at `depth`. */
export function slotAt (hash: Uint8Array, depth: number): number {
  const byte = hash[depth >> 1] ?? 0
  return (depth & 1) === 0 ? byte >> 4 : byte & 0x0f
}

/** Order of keys in a bucket: their UTF-8 bytes, compared bytewise. */
export function compareKeys (a: string, b: string): number {
  // Below U+D800, UTF-16 code units order as UTF-8 bytes do: compare them
  // directly until either string reaches a surrogate or a later code unit.
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x >= 0xd800 || y >= 0xd800) return compareBytes(utf8.encode(a.slice(i)), utf8.encode(b.slice(i)))
    if (x !== y) return x < y ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

/** The CIDv1 dag-cbor sha2-256 of some bytes. */
export function shardCid (bytes: Uint8Array): CID {
  return CID.createV1(CODEC_DAG_CBOR, Digest.create(HASH_SHA2_256, sha256(bytes)))
}

function fail (rule: RuleId, message: string, cid?: CID): never {
  throw new ValidationError(rule, message, { details: cid === undefined ? {} : { cid: cid.toString() } })
}

/** True when `cid` may name a shard node (SHARD-LINK). */
export function isShardLink (cid: CID): boolean {
  return cid.version === 1 && cid.code === CODEC_DAG_CBOR &&
    cid.multihash.code === HASH_SHA2_256 && cid.multihash.digest.byteLength === 32
}

/** Encode a node; elements must already be in canonical form. */
export function encodeNode<V> (node: ShardNode<V>, codec: ValueCodec<V>): ShardBlock {
  const bitmap = new Uint8Array(SLOTS / 8)
  const data: unknown[] = []
  for (const el of node.elements) {
    bitmap[el.slot >> 3] = (bitmap[el.slot >> 3] ?? 0) | (0x80 >> (el.slot & 7))
    data.push(el.link ?? el.bucket.map((e) => [e.key, codec.toWire(e.value)]))
  }
  let bytes: Uint8Array
  try {
    bytes = encodeCanonical([bitmap, data], 64 + 96 * data.length) ?? dagCbor.encode([bitmap, data])
  } catch (cause) {
    throw new DecodeError('ERR_SCHEMA', `a ${codec.name} shard node cannot be encoded as dag-cbor`, { cause })
  }
  if (bytes.byteLength > MAX_NODE_BYTES) {
    throw new DecodeError('ERR_LIMIT', `a ${codec.name} shard node would be ${bytes.byteLength} bytes, over ${MAX_NODE_BYTES}`)
  }
  return { cid: shardCid(bytes), bytes }
}

function popcount16 (a: number, b: number): number {
  let x = (a << 8) | b
  let n = 0
  while (x !== 0) { x &= x - 1; n++ }
  return n
}

/**
 * Decode a shard node strictly and check the parts of its canonical form that
 * do not depend on where it sits (SHARD-LINK, SHARD-SIZE, SHARD-ENC,
 * SHARD-SHAPE, SHARD-BUCKET, SHARD-ORDER). Placement and collapse are checked
 * by `checkPlacement`, which needs the node's depth and path.
 *
 * @throws {ValidationError} with a SHARD-* rule as code
 * @throws {DecodeError} when a value fails its codec's check
 */
export function decodeNode<V> (bytes: Uint8Array, cid: CID, codec: ValueCodec<V>): ShardNode<V> {
  if (!isShardLink(cid)) fail('SHARD-LINK', `a ${codec.name} shard link is not a CIDv1 dag-cbor sha2-256: ${cid.toString()}`, cid)
  if (bytes.byteLength > MAX_NODE_BYTES) fail('SHARD-SIZE', `shard node of ${bytes.byteLength} bytes, over ${MAX_NODE_BYTES}`, cid)
  if (!equalBytes(sha256(bytes), cid.multihash.digest)) fail('SHARD-ENC', 'shard node bytes do not hash to their CID', cid)
  let wire: unknown
  try {
    wire = dagCbor.decode(bytes)
  } catch {
    fail('SHARD-ENC', 'shard node is not strict dag-cbor', cid)
  }
  let again: Uint8Array
  try {
    again = encodeCanonical(wire, bytes.byteLength) ?? dagCbor.encode(wire)
  } catch {
    fail('SHARD-ENC', 'shard node cannot be re-encoded', cid)
  }
  if (!equalBytes(again, bytes)) fail('SHARD-ENC', 'shard node is not in canonical dag-cbor form', cid)
  if (!Array.isArray(wire) || wire.length !== 2) fail('SHARD-SHAPE', 'a shard node is [bitmap, data]', cid)
  const [bitmap, data] = wire as [unknown, unknown]
  if (!(bitmap instanceof Uint8Array) || bitmap.byteLength !== SLOTS / 8) fail('SHARD-SHAPE', `the bitmap is ${SLOTS / 8} bytes`, cid)
  if (!Array.isArray(data) || data.length !== popcount16(bitmap[0] ?? 0, bitmap[1] ?? 0)) fail('SHARD-SHAPE', 'data has one element per set bit', cid)
  const elements: Array<Element<V>> = []
  let i = 0
  for (let slot = 0; slot < SLOTS; slot++) {
    if (((bitmap[slot >> 3] ?? 0) & (0x80 >> (slot & 7))) === 0) continue
    const raw: unknown = data[i++]
    const link = CID.asCID(raw)
    if (link !== null) {
      if (!isShardLink(link)) fail('SHARD-LINK', `shard child link is not a CIDv1 dag-cbor sha2-256: ${link.toString()}`, cid)
      elements.push({ slot, link })
      continue
    }
    if (!Array.isArray(raw)) fail('SHARD-SHAPE', 'an element is a link or a bucket', cid)
    if (raw.length < 1 || raw.length > BUCKET) fail('SHARD-BUCKET', `a bucket holds 1..${BUCKET} entries, not ${raw.length}`, cid)
    const bucket: Array<Entry<V>> = []
    let prev: Uint8Array | undefined
    for (const pair of raw as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') fail('SHARD-SHAPE', 'a bucket entry is [key, value]', cid)
      const key = pair[0] as string
      const kb = utf8.encode(key)
      if (kb.byteLength === 0 || kb.byteLength > MAX_KEY_BYTES) fail('SHARD-SHAPE', `a key is 1..${MAX_KEY_BYTES} UTF-8 bytes`, cid)
      if (prev !== undefined && compareBytes(prev, kb) >= 0) fail('SHARD-ORDER', 'bucket keys are not strictly increasing by UTF-8 bytes', cid)
      prev = kb
      const where = `${codec.name}[${JSON.stringify(key)}]`
      codec.checkKey(key, where)
      bucket.push({ key, hash: hashKey(key), value: codec.fromWire(pair[1], where) })
    }
    elements.push({ slot, bucket })
  }
  return { elements }
}

/**
 * Check that a decoded node is canonical where it sits: at `depth`, below the
 * slots `path` (path.length === depth).
 *
 * @throws {ValidationError} SHARD-DEPTH | SHARD-PLACEMENT | SHARD-COLLAPSE
 */
export function checkPlacement<V> (node: ShardNode<V>, cid: CID, depth: number, path: readonly number[]): void {
  if (depth > MAX_LEVEL) fail('SHARD-DEPTH', `shard node below the last level (${MAX_LEVEL})`, cid)
  let entries = 0
  let links = 0
  for (const el of node.elements) {
    if (el.link !== undefined) {
      if (depth === MAX_LEVEL) fail('SHARD-DEPTH', 'a node at the last level has no links', cid)
      links++
      continue
    }
    for (const e of el.bucket) {
      for (let d = 0; d < depth; d++) {
        if (slotAt(e.hash, d) !== path[d]) fail('SHARD-PLACEMENT', `key ${JSON.stringify(e.key)} is not under this node's path`, cid)
      }
      if (slotAt(e.hash, depth) !== el.slot) fail('SHARD-PLACEMENT', `key ${JSON.stringify(e.key)} is in slot ${el.slot}, its hash names ${slotAt(e.hash, depth)}`, cid)
      entries++
    }
  }
  if (depth > 0 && links === 0 && entries <= BUCKET) {
    fail('SHARD-COLLAPSE', `a non-root node with ${entries} entries and no links must be a bucket in its parent`, cid)
  }
}
