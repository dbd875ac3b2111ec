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
 * - `TurnBudget`: the bytes of large bodies written in one turn of the event
 *   loop, all responses together. A large body's next chunk waits for the
 *   next turn (setImmediate) once the turn's budget is spent, so that the
 *   requests that arrived meanwhile (small ones: /head, a 1 KiB block, whose
 *   bodies are not budgeted) are read and answered between two rounds of
 *   large chunks instead of after every large body was handed to its socket.
 *   Without it, sockets that take each chunk at once (loopback, fast
 *   readers) let 16 responses write 16 MiB in one turn: the event loop of
 *   `dagtuf serve` stood still for 37 ms (p50) while the bench's 50
 *   downloads ran, and small requests waited as long. The budget is also a
 *   cap on throughput when turns are slow (a turn that hashes blocks read
 *   from disk): 1 MiB a turn held the cache-miss scenario to about 260 MB/s,
 *   4 MiB (the server's default) let it reach 460 with small p99 still
 *   under 50 ms (bench/results/serve-2026-11-30-*.md).
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

export interface TurnStats {
  /** The budget, and the most bytes of large bodies written in one turn. */
  bytesPerTurn: number
  peakBytesInTurn: number
  /** Chunks that waited for a later turn, and chunks waiting now. */
  deferred: number
  waiting: number
}

/**
 * Bytes of large bodies written per turn of the event loop, shared by all
 * responses; chunks beyond wait for the next turns, first come first
 * served. A turn's first chunk always goes (a chunk larger than the budget
 * is written alone in its turn).
 */
export class TurnBudget {
  #spent = 0
  #peak = 0
  #deferred = 0
  #scheduled = false
  readonly #waiters: Array<{ bytes: number, go: () => void }> = []

  constructor (readonly bytesPerTurn: number) {}

  stats (): TurnStats {
    return { bytesPerTurn: this.bytesPerTurn, peakBytesInTurn: this.#peak, deferred: this.#deferred, waiting: this.#waiters.length }
  }

  #count (bytes: number): void {
    this.#spent += bytes
    if (this.#spent > this.#peak) this.#peak = this.#spent
    this.#schedule()
  }

  /** A new turn starts after this one's I/O (setImmediate: the check phase, after the poll phase has read new requests). */
  #schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#spent = 0
      while (this.#waiters.length > 0 && (this.#spent === 0 || this.#spent + this.#waiters[0]!.bytes <= this.bytesPerTurn)) {
        const next = this.#waiters.shift()!
        this.#count(next.bytes)
        next.go()
      }
    })
  }

  /**
   * Null when `bytes` may be written now (they are counted), else a promise
   * that resolves in the turn they are counted in. Waiting is first come
   * first served: nobody goes ahead of an earlier waiter.
   */
  take (bytes: number): Promise<void> | null {
    if (this.#waiters.length === 0 && (this.#spent === 0 || this.#spent + bytes <= this.bytesPerTurn)) {
      this.#count(bytes)
      return null
    }
    this.#deferred++
    this.#schedule()
    return new Promise<void>((resolve) => { this.#waiters.push({ bytes, go: resolve }) })
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
  /** A large body: each chunk waits for its place in the turn budget first. */
  budget?: TurnBudget
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
  const budget = observer.budget
  for await (const part of parts) {
    for (let offset = 0; offset < part.byteLength; offset += CHUNK) {
      if (res.destroyed) return
      const chunk = part.subarray(offset, Math.min(offset + CHUNK, part.byteLength))
      const wait = budget?.take(chunk.byteLength)
      if (wait != null) {
        await wait
        if (res.destroyed) return
      }
      const more = res.write(chunk)
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
