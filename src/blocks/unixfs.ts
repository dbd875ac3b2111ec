/**
 * Target content as UnixFS files: written so that any IPFS tool reads them by
 * CID, read back from any BlockSource with every bound enforced.
 *
 * Writing (`addContent`) uses ipfs-unixfs-importer with the `unixfs-v1-2025`
 * profile (IPIP-499): CIDv1, raw leaves, 1 MiB fixed-size chunks, balanced
 * DAG of at most 1024 links per node. Content of at most 1 MiB (including
 * empty content) is therefore ONE raw block: its CID has the raw codec
 * (bafkrei...) and is simply the sha2-256 of the bytes. Larger content is a
 * dag-pb root (bafybei...) over raw leaves.
 *
 * Reading (`readContent`) is a small reader of our own over @ipld/dag-pb and
 * ipfs-unixfs rather than ipfs-unixfs-exporter, so that every bound is ours:
 * - each block comes from the BlockSource, which checks its hash and caps it
 *   at MAX_CONTENT_BLOCK_BYTES;
 * - the size a node declares (its data plus its children's blockSizes) must
 *   equal `expectedLength` at the root before a single byte is written, and
 *   every child must produce exactly the size its parent declared, so at
 *   most `expectedLength` bytes ever reach the sink, and fewer is an error;
 * - every declared size agrees with the content (CLIENT-TARGET-CONTENT): a
 *   node's `filesize` (each occurrence, when present; `UnixFS.unmarshal`
 *   drops it, so it is read from the protobuf here) equals its data plus
 *   its blockSizes, which the children are held to; other IPFS tools trust
 *   `filesize` for stat, seek and range requests;
 * - depth, links per node and total blocks are bounded; empty children are
 *   refused (honest importers never make them, and they would let a DAG grow
 *   without adding bytes);
 * - only raw and dag-pb blocks of UnixFS type file/raw are accepted.
 * Cycles cannot exist (a block cannot contain its own hash), but a DAG may
 * link the same block many times; that is bounded by the block count.
 * Blocks are fetched in order, with a small window of prefetches shared by
 * the whole walk, so memory stays bounded whatever the DAG's shape.
 */
import type * as DagPb from '@ipld/dag-pb'
import type { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { LIMITS, MAX_CONTENT_BLOCK_BYTES } from '../model/config.js'
import { BlockError, UsageError } from '../model/errors.js'
import * as Digest from 'multiformats/hashes/digest'
import { CODEC_DAG_PB, CODEC_RAW, HASH_SHA2_256, sha256 } from '../model/hash.js'
import { aborted, isOurs, nonNegativeInt, normalizeCid, positiveInt, throwIfAborted } from './util.js'
import type { BlockSource, BlockStore } from './types.js'

/** A UnixFS file: its root CID and its length in bytes. */
export interface ContentRef {
  cid: CID
  length: number
}

export interface AddContentOptions {
  signal?: AbortSignal
}

/**
 * Store `content` in `store` as a UnixFS file (see the module comment for
 * the layout) and return its CID and length.
 *
 * @throws {BlockError} from `store.put`, ERR_ABORTED
 * @throws {UsageError} ERR_ARGUMENT when content is not bytes or a byte stream
 */
export async function addContent (store: BlockStore, content: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: AddContentOptions = {}): Promise<ContentRef> {
  const { signal } = options
  throwIfAborted(signal)
  const writer = {
    put: async (cid: CID, bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<CID> => {
      throwIfAborted(signal)
      if (!(bytes instanceof Uint8Array)) throw new UsageError('ERR_ARGUMENT', 'the importer produced a streamed block')
      await store.put(cid, bytes, { signal })
      return cid
    }
  }
  let length = 0
  // (the importer's `size` is the DAG's total block bytes, not the file length)
  let result: { cid: CID }
  try {
    if (content instanceof Uint8Array && content.byteLength > 0 && content.byteLength <= SINGLE_LEAF_MAX) {
      // What the importer makes of one chunk (raw leaves, a single leaf
      // reduced to itself): the raw block. Without the importer's machinery,
      // which is most of the cost of adding many small files.
      const cid = CID.createV1(CODEC_RAW, Digest.create(HASH_SHA2_256, sha256(content)))
      await writer.put(cid, content)
      return { cid, length: content.byteLength }
    }
    // The importer is loaded only for content of more than one chunk: a
    // client, which only reads content, never pays for it (about 13 MB and
    // 0.1 s of start-up here).
    const { importByteStream, importBytes } = await import('ipfs-unixfs-importer')
    if (content instanceof Uint8Array) {
      length = content.byteLength
      result = await importBytes(content, writer, { profile: 'unixfs-v1-2025' })
    } else if (content != null && typeof content === 'object' && (Symbol.asyncIterator in content || Symbol.iterator in content)) {
      const counted = (async function * () {
        for await (const chunk of content) {
          if (!(chunk instanceof Uint8Array)) throw new UsageError('ERR_ARGUMENT', 'content: expected a stream of Uint8Array chunks')
          length += chunk.byteLength
          yield chunk
        }
      })()
      result = await importByteStream(counted, writer, { profile: 'unixfs-v1-2025' })
    } else {
      throw new UsageError('ERR_ARGUMENT', 'content: expected a Uint8Array or an iterable of Uint8Array')
    }
  } catch (e) {
    if (isOurs(e)) throw e
    if (signal?.aborted === true) throw aborted(undefined, e)
    throw new BlockError('ERR_TRANSPORT', 'importing content failed', { cause: e })
  }
  return { cid: result.cid, length }
}

/** Where readContent writes: called in order; may return a promise (backpressure). */
export type ContentSink = (chunk: Uint8Array) => void | Promise<void>

export interface ReadContentOptions {
  signal?: AbortSignal
  /** Deepest node allowed below the root (default 16: 1024^16 MiB). */
  maxDepth?: number
  /** Most blocks fetched, duplicates included (default LIMITS.maxBlocksPerUpdate). */
  maxBlocks?: number
  /** Most links in one node (default 8192; the importer makes at most 1024, kubo 174). */
  maxLinksPerNode?: number
  /** Blocks fetched ahead of the one being written (default 8). */
  prefetch?: number
}

export interface ReadContentResult {
  length: number
  blocks: number
}

/**
 * The chunk size of the unixfs-v1-2025 profile: content of 1 to this many
 * bytes is one raw block (test/blocks/unixfs.test.ts checks it against the
 * importer).
 */
export const SINGLE_LEAF_MAX = 1024 * 1024

const DEFAULT_MAX_DEPTH = 16
const DEFAULT_MAX_LINKS = 8192
const DEFAULT_PREFETCH = 8

function invalid (cid: CID, reason: string, cause?: unknown): BlockError {
  return new BlockError('ERR_UNIXFS_INVALID', `UnixFS node ${cid} is invalid: ${reason}`, { cause, details: { cid: cid.toString(), reason } })
}

/**
 * Stream the UnixFS file `cid` from `source` into `sink`, requiring it to be
 * exactly `expectedLength` bytes. Never passes more than `expectedLength`
 * bytes to the sink; on any error, what was written so far is a prefix of
 * the content and must be discarded by the caller.
 *
 * @throws {BlockError} ERR_LENGTH_MISMATCH | ERR_UNIXFS_INVALID | ERR_NOT_A_FILE | ERR_DAG_TOO_DEEP | ERR_DAG_TOO_LARGE,
 *   and whatever `source.get` throws (ERR_HASH_MISMATCH, ERR_BLOCK_NOT_FOUND, ERR_BLOCK_TOO_LARGE, ERR_TIMEOUT...)
 * @throws {UsageError} ERR_ARGUMENT for a bad length or option
 */
export async function readContent (source: BlockSource, cid: CID, expectedLength: number, sink: ContentSink, options: ReadContentOptions = {}): Promise<ReadContentResult> {
  const root = normalizeCid(cid)
  const length = nonNegativeInt(expectedLength, 0, 'expectedLength')
  if (typeof sink !== 'function') throw new UsageError('ERR_ARGUMENT', 'sink: expected a function')
  const reader = new Reader(source, length, sink, {
    maxDepth: nonNegativeInt(options.maxDepth, DEFAULT_MAX_DEPTH, 'maxDepth'),
    maxBlocks: positiveInt(options.maxBlocks, LIMITS.maxBlocksPerUpdate, 'maxBlocks'),
    maxLinks: positiveInt(options.maxLinksPerNode, DEFAULT_MAX_LINKS, 'maxLinksPerNode'),
    prefetch: nonNegativeInt(options.prefetch, DEFAULT_PREFETCH, 'prefetch')
  }, options.signal)
  return reader.read(root)
}

/** Read everything into memory (for small content, and tests). Same checks as readContent. */
export async function readContentBytes (source: BlockSource, cid: CID, expectedLength: number, options: ReadContentOptions = {}): Promise<Uint8Array> {
  const out = new Uint8Array(nonNegativeInt(expectedLength, 0, 'expectedLength'))
  let offset = 0
  await readContent(source, cid, expectedLength, (chunk) => { out.set(chunk, offset); offset += chunk.byteLength }, options)
  return out
}

/**
 * Every `filesize` (field 3, a varint) of a UnixFS Data protobuf, in order.
 * Protobuf readers keep the last of repeated scalar fields; returning all
 * of them lets the caller require that each one agrees, so no reader can
 * see a different size. Only called on data the UnixFS decoder accepted.
 *
 * @throws {BlockError} ERR_UNIXFS_INVALID for a malformed field
 */
function declaredFileSizes (data: Uint8Array, cid: CID): bigint[] {
  const out: bigint[] = []
  let i = 0
  const varint = (): bigint => {
    let v = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (i >= data.byteLength) throw invalid(cid, 'truncated UnixFS data')
      const b = data[i++]!
      v |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return v
    }
    throw invalid(cid, 'a varint of UnixFS data is too long')
  }
  const skip = (n: bigint): void => {
    if (n > BigInt(data.byteLength - i)) throw invalid(cid, 'truncated UnixFS data')
    i += Number(n)
  }
  while (i < data.byteLength) {
    const key = varint()
    const field = key >> 3n
    const wire = key & 7n
    if (field === 3n && wire !== 0n) throw invalid(cid, `filesize has wire type ${wire}`)
    if (wire === 0n) {
      const v = varint()
      if (field === 3n) out.push(v)
    } else if (wire === 1n) skip(8n)
    else if (wire === 2n) skip(varint())
    else if (wire === 5n) skip(4n)
    else throw invalid(cid, `UnixFS data has wire type ${wire}`)
  }
  return out
}

/**
 * The dag-pb and UnixFS decoders, loaded when a file has a dag-pb node: a
 * target of at most one chunk is a single raw block, and a client that only
 * downloads those never loads them (with protons-runtime, about 26 modules
 * and 15-20 ms of a cold client's start).
 */
let pbDecoders: Promise<{ dagPb: typeof DagPb, UnixFS: typeof UnixFS }> | undefined
async function loadPbDecoders (): Promise<{ dagPb: typeof DagPb, UnixFS: typeof UnixFS }> {
  pbDecoders ??= Promise.all([import('@ipld/dag-pb'), import('ipfs-unixfs')]).then(([dagPb, unixfs]) => ({ dagPb, UnixFS: unixfs.UnixFS }))
  return await pbDecoders
}

interface Bounds { maxDepth: number, maxBlocks: number, maxLinks: number, prefetch: number }

class Reader {
  readonly #source: BlockSource
  readonly #length: number
  readonly #sink: ContentSink
  readonly #bounds: Bounds
  readonly #userSignal: AbortSignal | undefined
  readonly #controller = new AbortController()
  #written = 0
  #blocks = 0
  /** Prefetch slots left; a slot is held from the prefetch until the block is consumed. */
  #slots: number

  constructor (source: BlockSource, length: number, sink: ContentSink, bounds: Bounds, signal: AbortSignal | undefined) {
    this.#source = source
    this.#length = length
    this.#sink = sink
    this.#bounds = bounds
    this.#userSignal = signal
    this.#slots = bounds.prefetch
  }

  async read (root: CID): Promise<ReadContentResult> {
    const onAbort = (): void => { this.#controller.abort(this.#userSignal?.reason) }
    throwIfAborted(this.#userSignal, root)
    this.#userSignal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.#node(root, this.#length, 0, this.#fetch(root))
      if (this.#written !== this.#length) {
        // Unreachable while the size checks hold; kept as the last word.
        throw new BlockError('ERR_LENGTH_MISMATCH', `content ${root} is ${this.#written} bytes, expected ${this.#length}`, { details: { cid: root.toString(), expected: this.#length, actual: this.#written } })
      }
      return { length: this.#written, blocks: this.#blocks }
    } catch (e) {
      if (this.#userSignal?.aborted === true && !(isOurs(e) && (e as BlockError).code !== 'ERR_ABORTED')) throw aborted(root, e)
      throw e
    } finally {
      this.#userSignal?.removeEventListener('abort', onAbort)
      // Stop any prefetch still in flight.
      this.#controller.abort()
    }
  }

  /** Fetch one block (counted against maxBlocks). */
  #fetch (cid: CID): Promise<Uint8Array> {
    if (this.#blocks >= this.#bounds.maxBlocks) {
      return Promise.reject(new BlockError('ERR_DAG_TOO_LARGE', `content has more than ${this.#bounds.maxBlocks} blocks`, { details: { cid: cid.toString(), maxBlocks: this.#bounds.maxBlocks } }))
    }
    this.#blocks++
    return this.#source.get(cid, { signal: this.#controller.signal, maxBytes: MAX_CONTENT_BLOCK_BYTES })
  }

  async #emit (bytes: Uint8Array, cid: CID): Promise<void> {
    if (bytes.byteLength === 0) return
    if (this.#written + bytes.byteLength > this.#length) {
      throw new BlockError('ERR_LENGTH_MISMATCH', `content is longer than the expected ${this.#length} bytes`, { details: { cid: cid.toString(), expected: this.#length } })
    }
    throwIfAborted(this.#userSignal, cid)
    this.#written += bytes.byteLength
    await this.#sink(bytes)
  }

  /** A node and everything below it must produce exactly `size` bytes. */
  async #node (cid: CID, size: number, depth: number, pending: Promise<Uint8Array>): Promise<void> {
    const bytes = await pending
    const sizeError = (actual: number | bigint): BlockError => depth === 0
      ? new BlockError('ERR_LENGTH_MISMATCH', `content ${cid} is ${actual} bytes, expected ${size}`, { details: { cid: cid.toString(), expected: size, actual: actual.toString() } })
      : invalid(cid, `it holds ${actual} bytes where its parent declared ${size}`)

    if (cid.code === CODEC_RAW) {
      if (bytes.byteLength !== size) throw sizeError(bytes.byteLength)
      await this.#emit(bytes, cid)
      return
    }
    if (cid.code !== CODEC_DAG_PB) throw invalid(cid, `codec 0x${cid.code.toString(16)} is neither raw nor dag-pb`)

    const { dagPb, UnixFS } = await loadPbDecoders()
    let node: DagPb.PBNode
    let unixfs: UnixFS
    try {
      node = dagPb.decode(bytes)
    } catch (cause) {
      throw invalid(cid, 'not a dag-pb node', cause)
    }
    if (node.Data === undefined) throw invalid(cid, 'no UnixFS data')
    try {
      unixfs = UnixFS.unmarshal(node.Data)
    } catch (cause) {
      throw invalid(cid, 'malformed UnixFS data', cause)
    }
    if (unixfs.type !== 'file' && unixfs.type !== 'raw') {
      if (depth === 0) throw new BlockError('ERR_NOT_A_FILE', `${cid} is a UnixFS ${String(unixfs.type)}, not a file`, { details: { cid: cid.toString(), type: String(unixfs.type) } })
      throw invalid(cid, `type ${String(unixfs.type)} inside a file`)
    }
    const links = node.Links
    if (links.length > this.#bounds.maxLinks) {
      throw new BlockError('ERR_DAG_TOO_LARGE', `node ${cid} has ${links.length} links, over the cap of ${this.#bounds.maxLinks}`, { details: { cid: cid.toString(), links: links.length } })
    }
    if (links.length !== unixfs.blockSizes.length) throw invalid(cid, `${links.length} links but ${unixfs.blockSizes.length} block sizes`)
    if (links.length > 0 && depth >= this.#bounds.maxDepth) {
      throw new BlockError('ERR_DAG_TOO_DEEP', `content is deeper than ${this.#bounds.maxDepth} levels`, { details: { cid: cid.toString(), maxDepth: this.#bounds.maxDepth } })
    }
    const data = unixfs.data ?? new Uint8Array(0)
    const sizes: number[] = []
    let total = BigInt(data.byteLength)
    for (const s of unixfs.blockSizes) {
      if (s <= 0n) throw invalid(cid, 'an empty or negative child size')
      total += s
      sizes.push(Number(s))
    }
    if (total !== BigInt(size)) throw sizeError(total)
    for (const declared of declaredFileSizes(node.Data, cid)) {
      if (declared !== total) throw invalid(cid, `it declares a filesize of ${declared} bytes but holds ${total}`)
    }
    const children = links.map((link, i) => {
      let child: CID
      try {
        child = normalizeCid(CID.asCID(link.Hash))
      } catch (cause) {
        throw invalid(cid, `link ${i} is not a sha2-256 CID`, cause)
      }
      if (child.code !== CODEC_RAW && child.code !== CODEC_DAG_PB) throw invalid(cid, `link ${i} has codec 0x${child.code.toString(16)}`)
      return child
    })

    await this.#emit(data, cid)
    await this.#children(children, sizes, depth + 1)
  }

  /** Walk children in order, fetching ahead while prefetch slots are free. */
  async #children (children: CID[], sizes: number[], depth: number): Promise<void> {
    const started: Array<{ promise: Promise<Uint8Array>, slot: boolean } | undefined> = new Array(children.length)
    let next = 0 // first child not yet started
    const fill = (from: number): void => {
      next = Math.max(next, from)
      while (next < children.length && next < from + this.#bounds.prefetch && this.#slots > 0) {
        const promise = this.#fetch(children[next] as CID)
        // Prefetches may be abandoned when a sibling fails: keep their
        // rejection from going unhandled.
        promise.catch(() => {})
        this.#slots--
        started[next] = { promise, slot: true }
        next++
      }
    }
    try {
      for (let i = 0; i < children.length; i++) {
        fill(i + 1)
        const ahead = started[i]
        started[i] = undefined
        let pending: Promise<Uint8Array>
        if (ahead !== undefined) {
          pending = ahead.promise.finally(() => { this.#slots++ })
        } else {
          pending = this.#fetch(children[i] as CID)
          if (i >= next) next = i + 1
        }
        await this.#node(children[i] as CID, sizes[i] as number, depth, pending)
      }
    } finally {
      // Give back the slots of prefetches that were never consumed.
      for (const s of started) if (s?.slot === true) this.#slots++
    }
  }
}
