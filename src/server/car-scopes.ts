/**
 * What a trustless-gateway CAR response holds (the `dag-scope`,
 * `entity-bytes` and `dups` parameters of the trustless gateway spec), as a
 * walk of the DAG below one root in depth-first order:
 *
 * - `block`: the root only.
 * - `entity`: for a UnixFS file, every block of the file (with
 *   `entity-bytes=from:to`, only the blocks needed to verify that byte
 *   range: a node, then those of its children whose bytes meet the range);
 *   for a UnixFS directory, the root (a HAMT-sharded directory: its shard
 *   nodes too, not the entries); for anything that is not UnixFS (dag-json
 *   metadata, dag-cbor HAMT nodes), the root only.
 * - `all`: every block reachable from the root (dag-pb, dag-json, dag-cbor
 *   links are followed; raw blocks and unknown codecs have none), which for
 *   a dagtuf timestamp is the whole history of the repository.
 *
 * Order is always depth-first, links in the order their block lists them
 * (`order=dfs`). With dups=n (the default) a block is sent once, at its
 * first visit; with dups=y every time it is visited. Links with an identity
 * multihash are never sent (the spec forbids it: their data is in the link).
 *
 * Every block comes from the BlockSource, whose `get` returns only bytes
 * that hash to the CID asked for (src/blocks/types.ts), so nothing is sent
 * that was not hash-checked. The walk is bounded: `maxBlocks` blocks and
 * `maxBytes` block bytes sent, `maxPending` links waiting on the stack, each
 * lookup under `blockTimeoutMs`; past a bound, or on a missing or bad
 * block, the walk throws and the response is cut (its status is already
 * 200: the spec's "terminate the stream"; clients find the CAR incomplete).
 * The next few links are looked up ahead of the one being sent (PREFETCH),
 * so at most PREFETCH + 1 blocks are held at once.
 */
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { createUnsafe } from 'multiformats/block'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { BlockError } from '../model/errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_JSON, CODEC_DAG_PB, CODEC_RAW } from '../model/hash.js'
import { aborted, deadline, timedOut } from '../blocks/util.js'
import type { BlockSource } from '../blocks/types.js'

export type DagScope = 'block' | 'entity' | 'all'

/** `entity-bytes=from:to` as asked: `to` null for `*`; negative values count from the end. */
export interface EntityBytes {
  readonly from: number
  readonly to: number | null
}

/** A byte range [from, to] (inclusive) within an entity, resolved against its size. */
export interface ByteRange {
  readonly from: number
  readonly to: number
}

export interface WalkOptions {
  scope: DagScope
  /** With scope entity: only the blocks of this range of a UnixFS file. */
  range?: ByteRange
  /** Send a block every time it is visited (dups=y) rather than once. */
  dups: boolean
  /** Blocks sent at most (the root included). */
  maxBlocks: number
  /** Block bytes sent at most (the root included). */
  maxBytes: number
  /** Links waiting to be visited at most. */
  maxPending: number
  /** Largest block fetched. */
  maxBlockBytes: number
  /** Time limit of one lookup, ms. */
  blockTimeoutMs: number
  signal?: AbortSignal
}

/** The identity CID of no bytes, the spec's probe (`GET /ipfs/bafkqaaa`). */
export const PROBE_CID = CID.createV1(CODEC_RAW, identity.digest(new Uint8Array(0)))

const NUMBER = /^-?(0|[1-9][0-9]{0,15})$/

/**
 * Parse `entity-bytes` (from:to, integers, `to` may be `*`).
 *
 * @returns null when the value is malformed, or names a range that is empty
 *   whatever the entity's size (both ends non-negative and to < from).
 */
export function parseEntityBytes (text: string): EntityBytes | null {
  const parts = text.split(':')
  if (parts.length !== 2) return null
  const [f = '', t = ''] = parts
  if (!NUMBER.test(f) || (t !== '*' && !NUMBER.test(t))) return null
  const from = Number(f)
  const to = t === '*' ? null : Number(t)
  if (!Number.isSafeInteger(from) || (to !== null && !Number.isSafeInteger(to))) return null
  if (Object.is(from, -0) || (to !== null && Object.is(to, -0))) return null
  if (to !== null && from >= 0 && to >= 0 && to < from) return null
  return { from, to }
}

/**
 * `asked` against an entity of `size` bytes: the range clamped to the
 * entity, 'empty' when it resolves to no bytes at all (a zero-length range:
 * the spec answers as dag-scope=block), 'outside' when it starts at or past
 * the end (the spec's 400, known here before any byte is sent).
 */
export function resolveRange (asked: EntityBytes, size: number): ByteRange | 'empty' | 'outside' {
  const from = asked.from < 0 ? Math.max(0, size + asked.from) : asked.from
  if (from >= size) return 'outside'
  const to = asked.to === null ? size - 1 : asked.to < 0 ? size + asked.to : Math.min(asked.to, size - 1)
  if (to < from) return 'empty'
  return { from, to }
}

/** A UnixFS dag-pb node, decoded; null when the block is not one. */
interface PbNode { links: CID[], names: string[], unixfs: UnixFS | null }

function decodePb (bytes: Uint8Array): PbNode | null {
  try {
    const node = dagPb.decode(bytes)
    let unixfs: UnixFS | null = null
    if (node.Data !== undefined) {
      try { unixfs = UnixFS.unmarshal(node.Data) } catch { unixfs = null }
    }
    return { links: node.Links.map((l) => l.Hash), names: node.Links.map((l) => l.Name ?? ''), unixfs }
  } catch {
    return null
  }
}

/**
 * The size in bytes of the UnixFS file whose root is `cid` (raw: the block;
 * dag-pb file: its data plus its blockSizes), or null when it is not a file
 * (a directory, metadata, anything else): entity-bytes then does not apply.
 */
export function entitySize (cid: CID, bytes: Uint8Array): number | null {
  if (cid.code === CODEC_RAW) return bytes.byteLength
  if (cid.code !== CODEC_DAG_PB) return null
  const node = decodePb(bytes)
  if (node?.unixfs == null || (node.unixfs.type !== 'file' && node.unixfs.type !== 'raw')) return null
  let size = BigInt(node.unixfs.data?.byteLength ?? 0)
  for (const s of node.unixfs.blockSizes) size += s
  return size > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(size)
}

const LINKED_CODECS = new Map<number, typeof dagJson | typeof dagCbor>([[CODEC_DAG_JSON, dagJson], [CODEC_DAG_CBOR, dagCbor]])

/** One step of the walk: a link to visit, with the part of a file it must cover (entity-bytes). */
interface Visit { cid: CID, range?: ByteRange }

/**
 * The links of `cid` to follow for `scope`, in order (with a byte range,
 * the ones it needs, each with its own sub-range).
 */
function children (cid: CID, bytes: Uint8Array, scope: DagScope, range: ByteRange | undefined): Visit[] {
  if (scope === 'block') return []
  if (cid.code === CODEC_DAG_PB) {
    const node = decodePb(bytes)
    if (node === null) return []
    if (scope === 'all') return node.links.map((l) => ({ cid: l }))
    const type = node.unixfs?.type
    if (type === 'file' || type === 'raw') {
      if (range === undefined) return node.links.map((l) => ({ cid: l }))
      // Children cover consecutive byte ranges after the node's own data.
      const out: Visit[] = []
      let offset = node.unixfs?.data?.byteLength ?? 0
      const sizes = node.unixfs?.blockSizes ?? []
      for (let i = 0; i < node.links.length; i++) {
        const size = Number(sizes[i] ?? 0n)
        const start = offset
        const end = offset + size - 1
        offset += size
        if (size <= 0 || end < range.from || start > range.to) continue
        out.push({ cid: node.links[i]!, range: { from: Math.max(range.from, start) - start, to: Math.min(range.to, end) - start } })
      }
      return out
    }
    if (type === 'hamt-sharded-directory') {
      // The shard nodes (links named by their bucket prefix alone), not the entries.
      const fanout = Number(node.unixfs?.fanout ?? 256n)
      const pad = Math.max(1, (fanout - 1).toString(16).length)
      return node.links.filter((_, i) => node.names[i]!.length === pad).map((l) => ({ cid: l }))
    }
    // A directory is enumerated by its root; a symlink is its root.
    return []
  }
  // Not UnixFS: the entity is the block itself.
  if (scope !== 'all') return []
  const codec = LINKED_CODECS.get(cid.code)
  if (codec === undefined) return []
  try {
    return [...createUnsafe({ cid, bytes, codec }).links()].map(([, link]) => ({ cid: link }))
  } catch {
    // A block that does not decode (the store holds what it was given) has no links to follow.
    return []
  }
}

function limitError (what: string, max: number): BlockError {
  return new BlockError('ERR_DAG_TOO_LARGE', `the CAR response would exceed ${max} ${what}`, { details: { limit: what, max } })
}

/** Lookups started ahead of the walk (the next links on the stack). */
export const PREFETCH = 8

/**
 * The blocks of the response, root first, in depth-first order. `rootBytes`
 * were already fetched (and checked) by the caller. Throws (after the blocks
 * already yielded) on a bound, a missing or bad block, a timeout or an abort.
 * The next PREFETCH links on the stack are looked up ahead (so at most
 * PREFETCH + 1 blocks are held at once); leaving the walk early aborts them.
 */
export async function * walkDag (source: BlockSource, root: CID, rootBytes: Uint8Array, options: WalkOptions): AsyncGenerator<{ cid: CID, bytes: Uint8Array }> {
  const seen = new Set<string>()
  let blocks = 0
  let bytesSent = 0
  // The stack holds the links still to visit, the next one last.
  const stack: Visit[] = [{ cid: root, ...(options.range !== undefined ? { range: options.range } : {}) }]
  const stop = new AbortController()
  const onAbort = (): void => { stop.abort(options.signal?.reason) }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  if (options.signal?.aborted === true) stop.abort(options.signal.reason)
  const ahead = new Map<string, Promise<Uint8Array>>()
  const lookup = async (cid: CID): Promise<Uint8Array> => {
    // No lookup starts once the client went away.
    if (stop.signal.aborted) throw aborted(cid)
    const d = deadline(options.blockTimeoutMs, stop.signal)
    try {
      return await source.get(cid, { signal: d.signal, maxBytes: options.maxBlockBytes })
    } catch (e) {
      if (d.timedOut()) throw timedOut(cid, options.blockTimeoutMs, e)
      throw e
    } finally {
      d.clear()
    }
  }
  const prefetch = (): void => {
    for (let i = stack.length - 1; i >= 0 && i >= stack.length - PREFETCH && ahead.size < PREFETCH && !stop.signal.aborted; i--) {
      const cid = stack[i]!.cid
      if (cid.multihash.code === identity.code) continue
      const key = cid.toString()
      if (ahead.has(key) || (!options.dups && seen.has(key))) continue
      const pending = lookup(cid)
      // Abandoned when the walk stops first: its failure is nobody's.
      pending.catch(() => {})
      ahead.set(key, pending)
    }
  }
  let first = true
  try {
    while (stack.length > 0) {
      const visit = stack.pop()!
      const cid = visit.cid
      // Identity CIDs carry their data in the link: never sent, never looked up.
      if (cid.multihash.code === identity.code) { first = false; continue }
      const key = cid.toString()
      const duplicate = seen.has(key)
      if (duplicate && !options.dups) continue
      seen.add(key)
      let bytes: Uint8Array
      if (first) {
        bytes = rootBytes
      } else {
        const pending = ahead.get(key) ?? lookup(cid)
        ahead.delete(key)
        prefetch()
        bytes = await pending
      }
      if (++blocks > options.maxBlocks) throw limitError('blocks', options.maxBlocks)
      bytesSent += bytes.byteLength
      if (bytesSent > options.maxBytes) throw limitError('bytes', options.maxBytes)
      // With dups=y a block visited again is walked again: its subtree is
      // sent every time the walk meets it (bounded by maxBlocks).
      const next = children(cid, bytes, options.scope, visit.range)
      first = false
      if (stack.length + next.length > options.maxPending) throw limitError('pending links', options.maxPending)
      for (let i = next.length - 1; i >= 0; i--) stack.push(next[i]!)
      prefetch()
      yield { cid, bytes }
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    stop.abort()
  }
}
