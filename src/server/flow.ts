/**
 * Flow control of `dagtuf serve` (used by http-server.ts): what bounds the
 * memory a client can make the server hold.
 *
 * - `BodyPool`: the block bodies held in memory at once. A block is read
 *   whole from the store (it is hash-checked before a byte of it is sent), so
 *   every /ipfs/ request takes a slot of this pool before its lookup and gives
 *   it back when its response is finished or abandoned. At most `slots`
 *   lookups or bodies at once, and no new lookup starts while the bodies held
 *   add up to `maxBytes` or more (so the bytes held stay under about
 *   maxBytes + slots x the largest block, and under maxBytes with blocks much
 *   smaller than it). A request that waits longer than its limit for a slot
 *   is answered 503 ERR_BUSY.
 * - `writeBody`: a body written in chunks of CHUNK bytes, each only after
 *   the socket drained the previous ones (write() returned true or 'drain'
 *   fired), so what node buffers per response stays about one chunk plus
 *   the socket's high-water mark. When the socket makes no progress for
 *   `timeoutMs` (a reader that stopped reading) the connection is destroyed.
 */
import type { ServerResponse } from 'node:http'

/**
 * Bytes handed to the socket at a time. Node does not copy them (they are
 * views of the block held anyway); the size trades drain round trips (a
 * quarter of those of 64 KiB chunks: 1 MiB blocks at c=10 went from about
 * 320 to 450 MB/s on the bench machine) against what one response puts in
 * node's buffers.
 */
export const CHUNK = 256 * 1024

export interface PoolStats {
  /** Slots taken (lookups running plus bodies held). */
  slotsInUse: number
  /** Requests waiting for a slot. */
  waiting: number
  /** Bytes of bodies held now, and the most ever held at once. */
  bytesHeld: number
  peakBytesHeld: number
}

/** One slot of the pool: `hold` records the body's size, `release` gives the slot back (idempotent). */
export interface Lease {
  hold: (bytes: number) => void
  release: () => void
}

export class BodyPool {
  #inUse = 0
  #bytes = 0
  #peak = 0
  readonly #waiters: Array<() => void> = []

  constructor (readonly slots: number, readonly maxBytes: number) {}

  stats (): PoolStats {
    return { slotsInUse: this.#inUse, waiting: this.#waiters.length, bytesHeld: this.#bytes, peakBytesHeld: this.#peak }
  }

  #free (): boolean {
    return this.#inUse < this.slots && this.#bytes < this.maxBytes
  }

  /**
   * A slot, or null when none came free within `waitMs` or `signal` fired first.
   */
  async acquire (waitMs: number, signal?: AbortSignal): Promise<Lease | null> {
    if (signal?.aborted === true) return null
    if (this.#waiters.length === 0 && this.#free()) {
      this.#inUse++
    } else {
      // #wake hands the slot over (counts it) before it resolves this.
      const got = await new Promise<boolean>((resolve) => {
        const wake = (): void => { cleanup(); resolve(true) }
        const cleanup = (): void => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', giveUp)
          const i = this.#waiters.indexOf(wake)
          if (i >= 0) this.#waiters.splice(i, 1)
        }
        const giveUp = (): void => { cleanup(); resolve(false) }
        const timer = setTimeout(giveUp, waitMs)
        signal?.addEventListener('abort', giveUp, { once: true })
        this.#waiters.push(wake)
      })
      if (!got) return null
    }
    let held = 0
    let released = false
    return {
      hold: (bytes) => {
        if (released) return
        this.#bytes += bytes - held
        held = bytes
        if (this.#bytes > this.#peak) this.#peak = this.#bytes
      },
      release: () => {
        if (released) return
        released = true
        this.#inUse--
        this.#bytes -= held
        this.#wake()
      }
    }
  }

  /** Hand free slots to waiters, first come first served. */
  #wake (): void {
    while (this.#waiters.length > 0 && this.#free()) {
      const next = this.#waiters.shift() as () => void
      this.#inUse++
      next()
    }
  }
}

/**
 * Wait until `res` can take more bytes ('drain'), or its connection closes.
 * Resolves true when it drained; false when it closed or made no progress
 * for `timeoutMs` (then the connection is destroyed).
 */
async function drained (res: ServerResponse, timeoutMs: number, onStall: () => void): Promise<boolean> {
  if (res.destroyed) return false
  return await new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      res.removeListener('drain', onDrain)
      res.removeListener('close', onClose)
      resolve(ok)
    }
    const onDrain = (): void => { done(true) }
    const onClose = (): void => { done(false) }
    const timer = setTimeout(() => {
      onStall()
      // The whole connection: the reader stopped reading, and later
      // responses on it could not be sent either.
      res.socket?.destroy()
      res.destroy()
      done(false)
    }, timeoutMs)
    res.once('drain', onDrain)
    res.once('close', onClose)
  })
}

export interface WriteObserver {
  /** Called after each write with the bytes node buffers for the response (its own, and its socket's once attached). */
  buffered?: (bytes: number) => void
  /** Called when the write-inactivity timeout cut the connection. */
  stalled?: () => void
}

/**
 * Write `parts` as the body of `res` (its head already set) with
 * backpressure, then end it. Resolves when the last byte was handed to the
 * socket, or when the connection was closed or cut (`res.destroyed` then).
 * `parts` may be produced as they are written (a streamed CAR): the next
 * part is asked for only once the previous one drained, and an error of
 * the producer is thrown here (the caller cuts the connection); leaving
 * early (the connection closed) ends the producer's iteration.
 */
export async function writeBody (res: ServerResponse, parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, timeoutMs: number, observer: WriteObserver = {}): Promise<void> {
  const stall = (): void => { observer.stalled?.() }
  for await (const part of parts) {
    for (let offset = 0; offset < part.byteLength; offset += CHUNK) {
      if (res.destroyed) return
      const more = res.write(part.subarray(offset, Math.min(offset + CHUNK, part.byteLength)))
      // What this response has buffered, plus its socket's buffer once it has the socket.
      observer.buffered?.(res.writableLength)
      if (!more && !await drained(res, timeoutMs, stall)) return
    }
  }
  if (res.destroyed) return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      res.removeListener('close', done)
      resolve()
    }
    // 'finish' is when the last bytes left for the kernel; a reader that
    // never takes them is cut like any other stalled one.
    const timer = setTimeout(() => {
      stall()
      res.socket?.destroy()
      res.destroy()
      done()
    }, timeoutMs)
    res.once('close', done)
    res.end(done)
  })
}
