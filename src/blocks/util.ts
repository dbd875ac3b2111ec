/**
 * Small helpers shared by the block sources: argument checks, reading a
 * chunked body under a cap, and turning aborts and timeouts into BlockErrors.
 * Internal to src/blocks.
 */
import { CID } from 'multiformats/cid'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { BlockError, UsageError, isDagtufError } from '../model/errors.js'
import { HASH_SHA2_256 } from '../model/hash.js'
import type { GetOptions } from './types.js'

/**
 * The CID to check and store a block under, whose toString() is canonical
 * (base32 CIDv1): CIDv0 becomes the CIDv1 with the same (sha2-256) multihash
 * and the dag-pb codec, which addresses the same bytes. Anything else that
 * is not sha2-256 is refused.
 *
 * @throws {UsageError} ERR_ARGUMENT when `cid` is not a CID
 * @throws {BlockError} ERR_UNSUPPORTED_HASH
 */
export function normalizeCid (cid: unknown): CID {
  const c = CID.asCID(cid)
  if (c == null) throw new UsageError('ERR_ARGUMENT', 'cid: expected a CID')
  if (c.multihash.code !== HASH_SHA2_256) {
    throw new BlockError('ERR_UNSUPPORTED_HASH', `block ${c} does not have a sha2-256 multihash`, { details: { cid: c.toString() } })
  }
  // A fresh CID: one made by CID.parse remembers the string it was parsed
  // from, and base32 parsing ignores case, so its toString() may not be the
  // canonical form that stores key on and servers echo.
  return CID.createV1(c.code, c.multihash)
}

/**
 * The size cap a get() must enforce.
 *
 * @throws {UsageError} ERR_ARGUMENT for a cap that is not a positive integer
 */
export function maxBytesOf (options: GetOptions | undefined, fallback: number = MAX_ANY_BLOCK_BYTES): number {
  const max = options?.maxBytes ?? fallback
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new UsageError('ERR_ARGUMENT', 'maxBytes: expected a non-negative integer')
  }
  return max
}

export function tooLarge (cid: CID | string, size: number, max: number): BlockError {
  return new BlockError('ERR_BLOCK_TOO_LARGE', `block ${cid.toString()} is over the cap of ${max} bytes`, { details: { cid: cid.toString(), size, max } })
}

export function notFound (cid: CID, cause?: unknown): BlockError {
  return new BlockError('ERR_BLOCK_NOT_FOUND', `block ${cid} not found`, { cause, details: { cid: cid.toString() } })
}

export function aborted (cid: CID | undefined, cause?: unknown): BlockError {
  return new BlockError('ERR_ABORTED', cid == null ? 'aborted' : `fetching ${cid} was aborted`, { cause, details: cid == null ? {} : { cid: cid.toString() } })
}

export function timedOut (cid: CID | undefined, ms: number, cause?: unknown): BlockError {
  return new BlockError('ERR_TIMEOUT', cid == null ? `no answer within ${ms} ms` : `block ${cid} not received within ${ms} ms`, { cause, details: cid == null ? { timeoutMs: ms } : { cid: cid.toString(), timeoutMs: ms } })
}

export function closed (what: string): BlockError {
  return new BlockError('ERR_CLOSED', `${what} is closed`)
}

/** Throw ERR_ABORTED when the caller's signal has fired. */
export function throwIfAborted (signal: AbortSignal | undefined, cid?: CID): void {
  if (signal?.aborted === true) throw aborted(cid, signal.reason)
}

/**
 * Concatenate chunks whose total length is known, into a plain Uint8Array
 * that owns its memory (not a Buffer, not a view into a larger message that
 * would stay alive with it).
 */
export function concat (chunks: Uint8Array[], total: number): Uint8Array {
  const only = chunks.length === 1 ? chunks[0] : undefined
  if (only !== undefined && only.constructor === Uint8Array && only.byteOffset === 0 && only.buffer.byteLength === total) return only
  const out = new Uint8Array(total)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}

/**
 * Read a chunked body, failing with ERR_BLOCK_TOO_LARGE as soon as more than
 * `max` bytes arrived (the iterator is closed then, so the rest is never read).
 */
export async function readCapped (chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, max: number, cid: CID | string): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let total = 0
  for await (const chunk of chunks) {
    total += chunk.byteLength
    if (total > max) throw tooLarge(cid, total, max)
    parts.push(chunk)
  }
  return concat(parts, total)
}

/**
 * A signal that fires when the caller's signal fires or after `timeoutMs`,
 * and a way to tell which of the two it was.
 */
export interface Deadline {
  signal: AbortSignal
  /** True when the time limit (not the caller) aborted. */
  timedOut: () => boolean
  /** Stop the timer. */
  clear: () => void
}

export function deadline (timeoutMs: number | undefined, signal?: AbortSignal): Deadline {
  const controller = new AbortController()
  let expired = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const onAbort = (): void => { controller.abort(signal?.reason) }
  if (signal != null) {
    if (signal.aborted) controller.abort(signal.reason)
    else signal.addEventListener('abort', onAbort, { once: true })
  }
  if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
    timer = setTimeout(() => {
      expired = true
      controller.abort(new DOMException('timed out', 'TimeoutError'))
    }, timeoutMs)
    // A pending deadline must not keep the process alive on its own.
    timer.unref?.()
  }
  return {
    signal: controller.signal,
    timedOut: () => expired && signal?.aborted !== true,
    clear: () => {
      if (timer !== undefined) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }
}

/** Sleep for `ms`, waking early (and throwing ERR_ABORTED) when `signal` fires. */
export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal)
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }
    const timer = setTimeout(done, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(aborted(undefined, signal?.reason))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Whether `e` is a BlockError (or any dagtuf error) that must pass through unchanged. */
export function isOurs (e: unknown): boolean {
  return isDagtufError(e)
}

/** Positive integer option, or the default. @throws {UsageError} ERR_ARGUMENT */
export function positiveInt (value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError('ERR_ARGUMENT', `${name}: expected a positive integer`)
  }
  return value
}

/** Non-negative integer option, or the default. @throws {UsageError} ERR_ARGUMENT */
export function nonNegativeInt (value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new UsageError('ERR_ARGUMENT', `${name}: expected a non-negative integer`)
  }
  return value
}
