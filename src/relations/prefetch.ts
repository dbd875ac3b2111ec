/**
 * Fetching ahead along a snapshot chain (NOTES 5.5, *Work*): a walk from a
 * snapshot at height n down to one at height f learns, from each snapshot
 * it holds, the CIDs its skips claim for ancestors at heights spread over
 * every power-of-two distance (SUCC-SNAP-SKIPS), and fetches those in
 * parallel, highest first, so the K snapshots of a catch-up arrive in about
 * log2 K rounds instead of K sequential ones.
 *
 * Guarantees:
 * - it only warms the loader: what it fetches is fetched as the walk would
 *   fetch it (counted against BOUND-BLOCKS/BOUND-BYTES; with `Loader.prefetch`
 *   as bytes only, decoded and hash-checked when the walk loads them), and
 *   what it reads there (height, previous-version, skips, found by a scan of
 *   the bytes) is a hint; nothing it learns is trusted. The walk follows
 *   `previous-version` and checks every step, and a lying skip is refused by
 *   SUCC-SNAP-SKIPS when the walk reaches the snapshot that holds it;
 * - it fetches only heights strictly between f and the walk's position, each
 *   height at most once (the first CID heard for it), so a lying chain costs
 *   at most one block per height the walk would cross anyway;
 * - at most `window` snapshots are fetched ahead of the walk and not yet
 *   passed by it, and at most about `maxBytes` of them (memory independent
 *   of K: with `Loader.prefetch` each is held as its bytes, about 1 KiB, until
 *   the walk reads it), at most `concurrency` at once;
 * - its failures are swallowed: the walk loads the same CID and reports
 *   what is wrong under its own rule.
 */
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import { ladder } from '../model/ladder.js'
import type { Loader } from '../validate/loader.js'

const HEIGHT = /"height":(\d{1,16})[,}]/
const PREVIOUS = /"previous-version":\{"\/":"([a-z2-7]{1,200})"\}/
const SKIPS = /"skips":\[((?:\{"\/":"[a-z2-7]{1,200}"\},?){0,52})\]/
const LINK = /\{"\/":"([a-z2-7]{1,200})"\}/g
const TARGETS = /"root":\{"\/":"[a-z2-7]{1,200}"\},"targets":\{"\/":"([a-z2-7]{1,200})"\}\}/

/**
 * The CID a regex matched in a block's text. Not CID.parse: a CID keeps the
 * string it was parsed from, and a regex match is a slice that keeps the
 * whole decoded block alive with it (4,163 block texts, 4.9 MB, in a heap
 * snapshot of a 10,000-step catch-up, through the hints waiting in the
 * prefetcher).
 */
function cidOfText (text: string): CID {
  return CID.decode(base32.decode(text))
}

/**
 * What a snapshot block claims of its place, read from its dag-json bytes
 * without decoding them (a hint: undefined or partial when the bytes are not
 * the canonical snapshot they should be; the walk decodes and checks them).
 */
export function placeHint (bytes: Uint8Array): { height: number, previousVersion: CID | null, skips: CID[], targets?: CID } | undefined {
  try {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
    const h = HEIGHT.exec(text)
    if (h === null) return undefined
    const height = Number(h[1])
    const p = PREVIOUS.exec(text)
    const sk = SKIPS.exec(text)
    const skips = sk === null ? [] : [...sk[1]!.matchAll(LINK)].map((m) => cidOfText(m[1]!))
    const t = TARGETS.exec(text)
    const place = { height, previousVersion: p === null ? null : cidOfText(p[1]!), skips }
    return t === null ? place : { ...place, targets: cidOfText(t[1]!) }
  } catch {
    return undefined
  }
}

/** Snapshots fetched ahead of a walk and not yet passed by it, at most. */
export const PREFETCH_WINDOW = 16384
/** Prefetches outstanding at once, at most (the loader bounds its own fetches too). */
export const PREFETCH_CONCURRENCY = 512
/**
 * Bytes of snapshots fetched ahead and not yet passed, at most (counting
 * those in flight at the average size seen so far). Without it the window
 * alone let a 10,000-step catch-up hold all 11 MB of its snapshots at once
 * (and a longer one 16,384 of them), most of a client's peak memory beyond
 * Node's own (bench:catchup --process).
 */
export const PREFETCH_BYTES = 2 * 1024 * 1024

/** A max-heap of heights. */
class Heap {
  readonly #a: number[] = []
  get size (): number { return this.#a.length }
  push (x: number): void {
    const a = this.#a
    a.push(x)
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1
      if (a[p]! >= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!]
      i = p
    }
  }

  peek (): number | undefined { return this.#a[0] }
  pop (): number | undefined {
    const a = this.#a
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      for (let i = 0; ;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && a[l]! > a[m]!) m = l
        if (r < a.length && a[r]! > a[m]!) m = r
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!]
        i = m
      }
    }
    return top
  }
}

export class ChainPrefetch {
  readonly #loader: Loader
  readonly #floor: number
  readonly #window: number
  readonly #concurrency: number
  readonly #maxBytes: number
  /** The size of each fetched height in #ahead, and their sum. */
  readonly #sizes = new Map<number, number>()
  #heldBytes = 0
  #fetched = 0
  #fetchedBytes = 0
  /** The first CID heard for each height not yet fetched (at most window x 53 entries). */
  readonly #known = new Map<number, CID>()
  readonly #todo = new Heap()
  /** Heights whose fetch started and that the walk has not passed yet. */
  readonly #ahead = new Set<number>()
  #inflight = 0
  /** The walk holds every height >= below. */
  #below: number
  #stopped = false
  /** Prefetches started (for tests and benchmarks). */
  started = 0

  /**
   * @param top the walk's start: its CID, height, previous-version and skips (as claimed)
   * @param floor the height of the walk's far end: nothing at or below it is fetched
   */
  constructor (loader: Loader, top: { height: number, previousVersion: CID | null, skips: readonly CID[] }, floor: number, opts: { window?: number, concurrency?: number, maxBytes?: number } = {}) {
    this.#loader = loader
    this.#floor = floor
    this.#window = opts.window ?? PREFETCH_WINDOW
    this.#concurrency = opts.concurrency ?? PREFETCH_CONCURRENCY
    this.#maxBytes = opts.maxBytes ?? PREFETCH_BYTES
    this.#below = top.height
    this.#learn(top.height, top.previousVersion, top.skips)
    this.#pump()
  }

  /** The walk now holds the snapshot at `height` (and everything above it). */
  passed (height: number): void {
    if (!(height < this.#below)) return
    // Heights are claims: a snapshot may claim one far below the last. Free
    // the window's heights at or above it, in as many steps as the window holds.
    if (this.#below - height > this.#ahead.size) {
      for (const h of [...this.#ahead]) if (h >= height) this.#drop(h)
    } else {
      for (let h = height; h < this.#below; h++) this.#drop(h)
    }
    this.#below = height
    // Refill in batches: when fetches are under way, or once the walk has used
    // half of the window and half of the bytes (one round for many blocks,
    // not one block a round).
    if (this.#inflight > 0 || (this.#ahead.size <= this.#window / 2 && this.#heldBytes <= this.#maxBytes / 2)) this.#pump()
  }

  #drop (h: number): void {
    if (!this.#ahead.delete(h)) return
    const size = this.#sizes.get(h)
    if (size !== undefined) {
      this.#sizes.delete(h)
      this.#heldBytes -= size
    }
  }

  /** Held bytes plus those in flight, at the average size seen so far (1 KiB before any). */
  #committedBytes (): number {
    const average = this.#fetched === 0 ? 1024 : this.#fetchedBytes / this.#fetched
    return this.#heldBytes + this.#inflight * average
  }

  /** Start nothing more (the walk ended). */
  stop (): void {
    this.#stopped = true
  }

  #learn (height: number, previous: CID | null, skips: readonly CID[]): void {
    if (!Number.isSafeInteger(height) || height < 1) return
    const heights = ladder(height)
    if (previous !== null) this.#hear(height - 1, previous)
    for (let i = 0; i < heights.length && i < skips.length; i++) this.#hear(heights[i]!, skips[i]!)
  }

  #hear (h: number, cid: CID): void {
    if (h <= this.#floor || h >= this.#below || this.#known.has(h) || this.#ahead.has(h)) return
    this.#known.set(h, cid)
    this.#todo.push(h)
  }

  #pump (): void {
    while (!this.#stopped && this.#inflight < this.#concurrency && this.#ahead.size < this.#window && this.#committedBytes() < this.#maxBytes && this.#todo.size > 0) {
      const h = this.#todo.pop()!
      const cid = this.#known.get(h)!
      this.#known.delete(h)
      if (h >= this.#below) continue // the walk got there first
      this.#ahead.add(h)
      this.#inflight++
      this.started++
      const hint = this.#loader.prefetch !== undefined
        ? this.#loader.prefetch('snapshot', cid).then((bytes) => {
          if (bytes === undefined) return undefined
          this.#fetched++
          this.#fetchedBytes += bytes.byteLength
          // Held until the walk passes h (the loader keeps the bytes until the walk reads them).
          if (this.#ahead.has(h)) {
            this.#sizes.set(h, bytes.byteLength)
            this.#heldBytes += bytes.byteLength
          }
          return placeHint(bytes)
        })
        : this.#loader.load('snapshot', cid).then((env) => env.signed)
      hint.then((place) => {
        // What it claims is only a hint, and only read when it claims the height it was heard at.
        if (place !== undefined && place.height === h) {
          this.#learn(h, place.previousVersion, place.skips)
          // The top-level targets object it lists: its step reads it when it
          // changed (a CID fetched before is not fetched again).
          const t = 'targets' in place ? place.targets : undefined
          // (Not once the walk has ended: it will read nothing more.)
          if (t !== undefined && this.#loader.prefetch !== undefined && !this.#stopped) void this.#loader.prefetch('targets', t)
        }
      }, () => {}).finally(() => {
        this.#inflight--
        this.#pump()
      })
    }
  }
}
