/**
 * CAR files (Content Addressable aRchives): moving a set of blocks as one
 * file, for offline updates, backups and the gateway's `format=car`.
 *
 * Reading never trusts the archive: every section's bytes are hash-checked
 * against its CID as the file is read, before anything is handed out or
 * stored, and a foreign or corrupted block fails the whole archive with
 * ERR_CAR_BLOCK (details.cid names it). The parser is @ipld/car's, driven
 * through a guarded reader of ours that refuses a section longer than the
 * block cap BEFORE reading it, and counts every byte against the total cap,
 * so a hostile length prefix cannot make us buffer a whole file.
 * CARv1 and CARv2 are read; CARv1 is written.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import type { WriteStream } from 'node:fs'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { CarWriter } from '@ipld/car/writer'
import { asyncIterableReader, limitReader, readBlockHead, readHeader } from '@ipld/car/decoder'
import type { BytesReader } from '@ipld/car/decoder'
import { CID } from 'multiformats/cid'
import { LIMITS, MAX_ANY_BLOCK_BYTES, MiB } from '../model/config.js'
import { BlockError, UsageError } from '../model/errors.js'
import { checkBlock } from '../model/hash.js'
import { aborted, isOurs, maxBytesOf, normalizeCid, notFound, positiveInt, throwIfAborted } from './util.js'
import type { BlockSource, BlockStore, GetOptions } from './types.js'

export interface CarLimits {
  /** Total bytes of the archive (default 256 MiB for readCar, LIMITS.maxBytesPerUpdate for importCar). */
  maxBytes?: number
  /** Number of blocks (default LIMITS.maxBlocksPerUpdate). */
  maxBlocks?: number
  /** Size of one block (default MAX_ANY_BLOCK_BYTES). */
  maxBlockBytes?: number
  signal?: AbortSignal
}

interface Resolved { maxBytes: number, maxBlocks: number, maxBlockBytes: number, signal: AbortSignal | undefined }

const DEFAULT_READ_MAX_BYTES = 256 * MiB
/** Longest CID we accept in a section header (CIDv1 + sha2-256 is 36 bytes). */
const MAX_CID_BYTES = 128

function resolve (limits: CarLimits, defaultMaxBytes: number): Resolved {
  return {
    maxBytes: positiveInt(limits.maxBytes, defaultMaxBytes, 'maxBytes'),
    maxBlocks: positiveInt(limits.maxBlocks, LIMITS.maxBlocksPerUpdate, 'maxBlocks'),
    maxBlockBytes: positiveInt(limits.maxBlockBytes, MAX_ANY_BLOCK_BYTES, 'maxBlockBytes'),
    signal: limits.signal
  }
}

function carError (message: string, cause?: unknown, details: Record<string, unknown> = {}): BlockError {
  return new BlockError('ERR_CAR', message, { cause, details })
}

export type CarInput = string | Uint8Array | AsyncIterable<Uint8Array>

function chunksOf (input: CarInput): AsyncIterable<Uint8Array> {
  if (typeof input === 'string') return createReadStream(input, { highWaterMark: 256 * 1024 })
  if (input instanceof Uint8Array) return (async function * () { yield input })()
  if (input != null && typeof input === 'object' && Symbol.asyncIterator in input) return input
  throw new UsageError('ERR_ARGUMENT', 'car: expected a path, bytes or an async iterable of bytes')
}

/**
 * Every block of a CAR, each already checked against its CID, in file order.
 * Fails on the first problem, having read at most limits.maxBytes bytes.
 */
async function * verifiedBlocks (input: CarInput, limits: Resolved, onRoots: (roots: CID[]) => void): AsyncGenerator<{ cid: CID, bytes: Uint8Array, offset: number }> {
  const source = chunksOf(input)
  let total = 0
  const counted = (async function * () {
    for await (const chunk of source) {
      throwIfAborted(limits.signal)
      total += chunk.byteLength
      if (total > limits.maxBytes) throw carError(`the CAR is larger than ${limits.maxBytes} bytes`, undefined, { limit: 'maxBytes', max: limits.maxBytes })
      yield chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk)
    }
  })()
  const inner = asyncIterableReader(counted)
  // Refuse any read longer than a block could be, before buffering it.
  const maxRead = limits.maxBlockBytes + MAX_CID_BYTES + 16
  const guarded: BytesReader = {
    upTo: async (length: number) => await inner.upTo(length),
    exactly: async (length: number, seek?: boolean) => {
      if (!Number.isSafeInteger(length) || length < 0) throw carError('a section length is invalid')
      if (length > maxRead) throw carError(`a section of ${length} bytes is over the block cap of ${limits.maxBlockBytes}`, undefined, { limit: 'maxBlockBytes', max: limits.maxBlockBytes })
      return await inner.exactly(length, seek)
    },
    seek: (length: number) => { inner.seek(length) },
    get pos () { return inner.pos }
  }

  let reader: BytesReader = guarded
  try {
    const header = await readHeader(guarded)
    if (header.version === 2) {
      const v2 = header as { dataOffset: number, dataSize: number }
      reader = limitReader(guarded, v2.dataSize - (guarded.pos - v2.dataOffset))
    }
    onRoots(header.roots.map((r) => CID.asCID(r) ?? CID.decode(r.bytes)))
  } catch (e) {
    if (isOurs(e)) throw e
    // A file that cannot be opened at all is not a malformed CAR: say which.
    const sys = (e as { code?: unknown } | null)?.code
    if (typeof input === 'string' && typeof sys === 'string' && /^E[A-Z]+$/.test(sys)) {
      throw carError(`cannot read the CAR file ${input}: ${sys === 'ENOENT' ? 'no such file' : sys === 'EISDIR' ? 'it is a folder' : sys}`, e, { path: input, reason: sys })
    }
    throw carError('the CAR header is malformed or truncated', e)
  }

  let count = 0
  while (true) {
    let cid: CID
    let bytes: Uint8Array
    let offset: number
    try {
      if ((await reader.upTo(8)).length === 0) return
      const head = await readBlockHead(reader)
      if (head.blockLength < 0) throw carError('a section is shorter than its CID')
      if (head.blockLength > limits.maxBlockBytes) {
        throw carError(`block ${head.cid} is ${head.blockLength} bytes, over the cap of ${limits.maxBlockBytes}`, undefined, { limit: 'maxBlockBytes', cid: head.cid.toString() })
      }
      cid = head.cid
      offset = guarded.pos
      // Copy: the reader's buffer may hold much more than this block.
      bytes = (await reader.exactly(head.blockLength, true)).slice()
    } catch (e) {
      if (isOurs(e)) throw e
      throw carError(`the CAR is malformed or truncated after ${count} blocks`, e, { blocks: count })
    }
    if (++count > limits.maxBlocks) throw carError(`the CAR has more than ${limits.maxBlocks} blocks`, undefined, { limit: 'maxBlocks', max: limits.maxBlocks })
    let key: CID
    try {
      key = normalizeCid(cid)
      checkBlock(key, bytes, limits.maxBlockBytes)
    } catch (cause) {
      throw new BlockError('ERR_CAR_BLOCK', `the CAR holds bytes that do not match block ${cid}`, { cause, details: { cid: cid.toString(), reason: (cause as { code?: string }).code } })
    }
    yield { cid: key, bytes, offset }
  }
}

/**
 * An archive on disk, indexed: every block was checked against its CID
 * while the index was built, and is read (and checked again) from the file
 * when asked for. Memory holds the index only (one entry per block), so a
 * CAR of a million-target repository is read in bounded memory.
 */
export class IndexedCarSource implements BlockSource {
  readonly roots: readonly CID[]
  readonly #index: Map<string, { offset: number, length: number }>
  readonly #file: FileHandle

  constructor (roots: CID[], index: Map<string, { offset: number, length: number }>, file: FileHandle) {
    this.roots = Object.freeze([...roots])
    this.#index = index
    this.#file = file
  }

  /** @throws {BlockError} ERR_BLOCK_NOT_FOUND | ERR_BLOCK_TOO_LARGE | ERR_HASH_MISMATCH (the file changed) | ERR_TRANSPORT | ERR_ABORTED */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const max = maxBytesOf(options)
    const key = normalizeCid(cid)
    throwIfAborted(options.signal, key)
    const at = this.#index.get(key.toString())
    if (at === undefined) throw notFound(key)
    if (at.length > max) throw new BlockError('ERR_BLOCK_TOO_LARGE', `block ${key} is ${at.length} bytes, over ${max}`, { details: { cid: key.toString(), size: at.length, max } })
    const bytes = new Uint8Array(at.length)
    try {
      const { bytesRead } = await this.#file.read(bytes, 0, at.length, at.offset)
      if (bytesRead !== at.length) throw new Error('short read')
    } catch (cause) {
      throw new BlockError('ERR_TRANSPORT', `cannot read block ${key} from the CAR file`, { cause, details: { cid: key.toString() } })
    }
    checkBlock(key, bytes, max)
    return bytes
  }

  async has (cid: CID): Promise<boolean> {
    return this.#index.has(normalizeCid(cid).toString())
  }

  get size (): number {
    return this.#index.size
  }

  async close (): Promise<void> {
    await this.#file.close()
  }
}

/**
 * Index a CAR file, checking every block (its limits default to those of a
 * client update: LIMITS.maxBytesPerUpdate bytes, LIMITS.maxBlocksPerUpdate
 * blocks). The caller closes the source.
 *
 * @throws {BlockError} ERR_CAR (malformed, truncated, over a limit, unreadable) | ERR_CAR_BLOCK | ERR_ABORTED
 */
export async function indexCar (path: string, limits: CarLimits = {}): Promise<IndexedCarSource> {
  const resolved = resolve(limits, LIMITS.maxBytesPerUpdate)
  let roots: CID[] = []
  const index = new Map<string, { offset: number, length: number }>()
  try {
    for await (const block of verifiedBlocks(path, resolved, (r) => { roots = r })) {
      index.set(block.cid.toString(), { offset: block.offset, length: block.bytes.byteLength })
    }
  } catch (e) {
    throw wrapReadError(e, resolved.signal)
  }
  let file: FileHandle
  try {
    file = await open(path, 'r')
  } catch (cause) {
    throw carError(`cannot read the CAR file ${path}`, cause, { path })
  }
  return new IndexedCarSource(roots, index, file)
}

/** An archive read into memory: a BlockSource over its (checked) blocks. */
export class CarSource implements BlockSource {
  readonly roots: readonly CID[]
  readonly #blocks: Map<string, { cid: CID, bytes: Uint8Array }>
  readonly bytes: number

  constructor (roots: CID[], blocks: Map<string, { cid: CID, bytes: Uint8Array }>, bytes: number) {
    this.roots = Object.freeze([...roots])
    this.#blocks = blocks
    this.bytes = bytes
  }

  /** @throws {BlockError} ERR_BLOCK_NOT_FOUND | ERR_BLOCK_TOO_LARGE | ERR_UNSUPPORTED_HASH | ERR_ABORTED */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const max = maxBytesOf(options)
    const key = normalizeCid(cid)
    throwIfAborted(options.signal, key)
    const entry = this.#blocks.get(key.toString())
    if (entry === undefined) throw notFound(key)
    checkBlock(key, entry.bytes, max)
    return entry.bytes.slice()
  }

  async has (cid: CID): Promise<boolean> {
    return this.#blocks.has(normalizeCid(cid).toString())
  }

  cids (): CID[] {
    return [...this.#blocks.values()].map((e) => e.cid)
  }

  get size (): number {
    return this.#blocks.size
  }
}

/**
 * Read a whole CAR into memory, checking every block first.
 *
 * @throws {BlockError} ERR_CAR (malformed, truncated, over a limit, unreadable) | ERR_CAR_BLOCK | ERR_ABORTED
 */
export async function readCar (input: CarInput, limits: CarLimits = {}): Promise<CarSource> {
  const resolved = resolve(limits, DEFAULT_READ_MAX_BYTES)
  let roots: CID[] = []
  const blocks = new Map<string, { cid: CID, bytes: Uint8Array }>()
  let bytes = 0
  try {
    for await (const block of verifiedBlocks(input, resolved, (r) => { roots = r })) {
      if (!blocks.has(block.cid.toString())) {
        blocks.set(block.cid.toString(), block)
        bytes += block.bytes.byteLength
      }
    }
  } catch (e) {
    throw wrapReadError(e, resolved.signal)
  }
  return new CarSource(roots, blocks, bytes)
}

export interface ImportResult {
  roots: CID[]
  /** Distinct blocks in the archive. */
  blocks: number
}

/**
 * Import a CAR file into `store`. The file is read twice: a first pass checks
 * every block and every limit and stores nothing, so a bad archive leaves the
 * store untouched; the second pass stores (and `put` checks again, so a file
 * changed in between still cannot plant a wrong block).
 *
 * @throws {BlockError} ERR_CAR | ERR_CAR_BLOCK | ERR_ABORTED, or what `store.put` throws
 */
export async function importCar (path: string, store: BlockStore, limits: CarLimits = {}): Promise<ImportResult> {
  if (typeof path !== 'string') throw new UsageError('ERR_ARGUMENT', 'path: expected a file path')
  const resolved = resolve(limits, LIMITS.maxBytesPerUpdate)
  let roots: CID[] = []
  const seen = new Set<string>()
  try {
    for await (const block of verifiedBlocks(path, resolved, (r) => { roots = r })) seen.add(block.cid.toString())
  } catch (e) {
    throw wrapReadError(e, resolved.signal)
  }
  const stored = new Set<string>()
  try {
    for await (const block of verifiedBlocks(path, resolved, () => {})) {
      const key = block.cid.toString()
      if (stored.has(key)) continue
      if (!seen.has(key)) throw carError('the CAR changed while it was imported')
      await store.put(block.cid, block.bytes, { signal: resolved.signal })
      stored.add(key)
    }
  } catch (e) {
    throw wrapReadError(e, resolved.signal)
  }
  return { roots, blocks: stored.size }
}

async function closedStream (stream: WriteStream): Promise<void> {
  if (stream.closed) return
  await new Promise<void>((resolve) => { stream.once('close', () => { resolve() }) })
}

function wrapReadError (e: unknown, signal: AbortSignal | undefined): unknown {
  if (isOurs(e)) return e
  if (signal?.aborted === true) return aborted(undefined, e)
  return carError('the CAR could not be read', e)
}

export interface WriteCarResult {
  blocks: number
  bytes: number
}

/**
 * Write a CARv1 with `roots` in its header and the blocks `cids` (in that
 * order, duplicates once) taken from `source` (which checks them). To a path,
 * the file appears atomically (written aside, then renamed) or not at all; a
 * stream is ended on success and destroyed on failure.
 *
 * @throws {BlockError} what `source.get` throws, ERR_TRANSPORT on a write failure, ERR_ABORTED
 */
export async function writeCar (source: BlockSource, roots: CID[], cids: Iterable<CID> | AsyncIterable<CID>, dest: string | NodeJS.WritableStream, options: { signal?: AbortSignal } = {}): Promise<WriteCarResult> {
  const rootCids = roots.map((r) => normalizeCid(r))
  if (typeof dest === 'string') {
    const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString('hex')}.tmp`)
    const stream = createWriteStream(tmp, { flags: 'wx' })
    try {
      // An open failure (no such folder, no permission) is emitted on the
      // stream: wait for it here, where it is caught, not as an unhandled event.
      await new Promise<void>((resolve, reject) => {
        const onError = (e: unknown): void => { stream.removeListener('ready', onReady); reject(e) }
        const onReady = (): void => { stream.removeListener('error', onError); resolve() }
        stream.once('error', onError)
        stream.once('ready', onReady)
      })
      const result = await writeTo(source, rootCids, cids, stream, options.signal)
      await closedStream(stream)
      // Flush to disk before the rename makes the file visible.
      const handle = await open(tmp, 'r+')
      try { await handle.sync() } finally { await handle.close() }
      await rename(tmp, dest)
      return result
    } catch (e) {
      // A write still in flight fails with ERR_STREAM_DESTROYED once we
      // destroy the stream; that is expected here, not an unhandled error.
      stream.on('error', () => {})
      stream.destroy()
      await closedStream(stream).catch(() => {})
      await rm(tmp, { force: true })
      if (isOurs(e)) throw e
      const sys = (e as { code?: unknown } | null)?.code
      throw new BlockError('ERR_TRANSPORT', `writing ${dest} failed${typeof sys === 'string' ? ` (${sys})` : ''}`, { cause: e, details: { path: dest } })
    }
  }
  if (dest == null || typeof (dest as Writable).write !== 'function') throw new UsageError('ERR_ARGUMENT', 'dest: expected a path or a writable stream')
  try {
    return await writeTo(source, rootCids, cids, dest, options.signal)
  } catch (e) {
    (dest as Writable).destroy?.(e instanceof Error ? e : undefined)
    throw e
  }
}

async function writeTo (source: BlockSource, roots: CID[], cids: Iterable<CID> | AsyncIterable<CID>, dest: NodeJS.WritableStream, signal: AbortSignal | undefined): Promise<WriteCarResult> {
  const { writer, out } = CarWriter.create(roots)
  let bytes = 0
  let blocks = 0
  // Drain the encoder into the destination while blocks are put.
  const draining = (async () => {
    for await (const chunk of out) {
      bytes += chunk.byteLength
      if (!dest.write(chunk)) await new Promise<void>((resolve, reject) => {
        const cleanup = (): void => { dest.removeListener('drain', onDrain); dest.removeListener('error', onError); dest.removeListener('close', onClose) }
        const onDrain = (): void => { cleanup(); resolve() }
        const onError = (e: unknown): void => { cleanup(); reject(e) }
        const onClose = (): void => { cleanup(); reject(new Error('destination closed')) }
        dest.once('drain', onDrain)
        dest.once('error', onError)
        dest.once('close', onClose)
      })
    }
    await new Promise<void>((resolve, reject) => {
      dest.once('error', reject)
      dest.end(() => { dest.removeListener('error', reject); resolve() })
    })
  })()
  draining.catch(() => {})
  const seen = new Set<string>()
  try {
    for await (const cid of cids) {
      throwIfAborted(signal)
      const key = normalizeCid(cid)
      if (seen.has(key.toString())) continue
      seen.add(key.toString())
      const block = await source.get(key, { signal })
      await Promise.race([writer.put({ cid: key, bytes: block }), draining])
      blocks++
    }
  } catch (e) {
    // Let the encoder finish so the drain loop can end (not awaited: close
    // waits for the destination, which may be the thing that failed). The
    // caller discards the output.
    writer.close().catch(() => {})
    if (isOurs(e)) throw e
    throw new BlockError('ERR_TRANSPORT', 'writing the CAR failed', { cause: e })
  }
  await writer.close()
  try {
    await draining
  } catch (e) {
    throw new BlockError('ERR_TRANSPORT', 'writing the CAR failed', { cause: e })
  }
  return { blocks, bytes }
}

/**
 * A CARv1 of the given blocks, in memory (for small archives such as the
 * gateway's single-block responses). Blocks are taken as given: callers pass
 * bytes they already checked.
 */
export async function encodeCar (roots: CID[], blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<Uint8Array> {
  const { writer, out } = CarWriter.create(roots)
  const chunks: Uint8Array[] = []
  const collecting = (async () => { for await (const c of out) chunks.push(c) })()
  for (const b of blocks) await writer.put(b)
  await writer.close()
  await collecting
  return new Uint8Array(Buffer.concat(chunks))
}
