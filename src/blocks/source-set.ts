/**
 * Several untrusted block sources used as one: gateways, mirrors, peers, a
 * CAR file, tried in order or raced (issue 12 item 4). None is trusted:
 * every block is hash-checked by the source that brought it and again here,
 * so a source can only fail to help, never make the client accept a wrong
 * byte.
 *
 *   const set = new SourceSet([{ label: 'mirror-a', source: a }, { label: 'origin', source: b }],
 *                             { hedgeMs: 500, timeoutMs: 10_000 })
 *
 * How a `get` goes:
 * - Sources are asked one after the other, in their order of preference; the
 *   next one is asked as soon as the one before fails, or, when `hedgeMs` is
 *   set, also once the one before has not answered within `hedgeMs` (a
 *   hedged request: the stalled source is left running and the first good
 *   answer wins; the others are aborted). `hedgeMs: 0` races them all.
 * - Each source has its own time limit per block (`timeoutMs`, per entry or
 *   for the set): a stalled source costs at most that, once.
 * - A source that served bytes which do not hash to the CID asked for (or
 *   that are not bytes) has lied: it is not asked again by this set. A source
 *   that timed out is moved behind the others that have not.
 * - A block no source can serve fails with the error of the first source
 *   that did not merely lack it (or ERR_BLOCK_NOT_FOUND when none had it),
 *   its details listing every source's code. A CID that no source could
 *   serve whatever it sends (ERR_UNSUPPORTED_HASH, ERR_BAD_CID) fails at
 *   once; the caller's AbortSignal ends everything with ERR_ABORTED.
 *
 * `stats()` tells, per source, what it served and how it failed; the
 * client commands print it.
 */
import type { CID } from 'multiformats/cid'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { BlockError, UsageError } from '../model/errors.js'
import { checkBlock } from '../model/hash.js'
import type { BlockSource, GetOptions } from './types.js'

export interface SourceEntry {
  /** How messages and stats name the source (its URL, file, address). */
  readonly label: string
  readonly source: BlockSource
  /** Time limit of one block from this source, in ms (default: the set's). */
  readonly timeoutMs?: number
}

export interface SourceSetOptions {
  /** Time limit of one block from one source, in ms (default 30,000). */
  readonly timeoutMs?: number
  /**
   * Ask the next source too when the one before has not answered within this
   * many ms (0: race every source at once). Default: only after a failure.
   */
  readonly hedgeMs?: number
}

export interface SourceStats {
  readonly label: string
  /** Blocks it served that were used. */
  blocks: number
  bytes: number
  /** Failures by BlockError code (ERR_TIMEOUT, ERR_HASH_MISMATCH...). */
  failures: Record<string, number>
  /** Set when it served bytes that do not hash to their CID: not asked again. */
  excluded: boolean
}

/** Codes that say the source lied about a CID's bytes. */
const LIED = new Set(['ERR_HASH_MISMATCH', 'ERR_CAR_BLOCK', 'ERR_BLOCK_TYPE'])
/** Codes that no other source can change: the CID itself is unusable. */
const HOPELESS = new Set(['ERR_UNSUPPORTED_HASH', 'ERR_BAD_CID'])

const DEFAULT_TIMEOUT_MS = 30_000
/** Sources in one set at most: each may cost a time limit per block. */
export const MAX_SOURCES = 32

interface Member {
  readonly entry: SourceEntry
  readonly stats: SourceStats
  /** Timeouts so far: the more, the later it is asked. */
  timeouts: number
  readonly order: number
}

export class SourceSet implements BlockSource {
  readonly #members: Member[]
  readonly #timeoutMs: number
  readonly #hedgeMs: number | undefined
  readonly ipnsRecord?: (name: string, options?: { signal?: AbortSignal }) => Promise<Uint8Array>

  /** @throws {UsageError} ERR_ARGUMENT for no sources, too many, or bad options */
  constructor (entries: readonly SourceEntry[], options: SourceSetOptions = {}) {
    if (!Array.isArray(entries) || entries.length === 0) throw new UsageError('ERR_ARGUMENT', 'SourceSet: give at least one source')
    if (entries.length > MAX_SOURCES) throw new UsageError('ERR_ARGUMENT', `SourceSet: at most ${MAX_SOURCES} sources`)
    for (const e of entries) {
      if (typeof e?.source?.get !== 'function') throw new UsageError('ERR_ARGUMENT', 'SourceSet: each entry needs a BlockSource')
      if (e.timeoutMs !== undefined && !validMs(e.timeoutMs, 1)) throw new UsageError('ERR_ARGUMENT', 'SourceSet: timeoutMs must be a positive number of ms')
    }
    if (options.timeoutMs !== undefined && !validMs(options.timeoutMs, 1)) throw new UsageError('ERR_ARGUMENT', 'SourceSet: timeoutMs must be a positive number of ms')
    if (options.hedgeMs !== undefined && !validMs(options.hedgeMs, 0)) throw new UsageError('ERR_ARGUMENT', 'SourceSet: hedgeMs must be a number of ms')
    this.#members = entries.map((entry, order) => ({
      entry,
      order,
      timeouts: 0,
      stats: { label: entry.label, blocks: 0, bytes: 0, failures: {}, excluded: false }
    }))
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#hedgeMs = options.hedgeMs
    const withIpns = entries.filter((e) => typeof e.source.ipnsRecord === 'function')
    if (withIpns.length > 0) {
      this.ipnsRecord = async (name, opts) => await this.#firstIpns(withIpns, name, opts)
    }
  }

  /**
   * Add a source after the others (a gateway found later, through routing).
   *
   * @throws {UsageError} ERR_ARGUMENT past MAX_SOURCES, or for an entry without a BlockSource
   */
  add (entry: SourceEntry): void {
    if (this.#members.length >= MAX_SOURCES) throw new UsageError('ERR_ARGUMENT', `SourceSet: at most ${MAX_SOURCES} sources`)
    if (typeof entry?.source?.get !== 'function') throw new UsageError('ERR_ARGUMENT', 'SourceSet: each entry needs a BlockSource')
    if (entry.timeoutMs !== undefined && !validMs(entry.timeoutMs, 1)) throw new UsageError('ERR_ARGUMENT', 'SourceSet: timeoutMs must be a positive number of ms')
    this.#members.push({ entry, order: this.#members.length, timeouts: 0, stats: { label: entry.label, blocks: 0, bytes: 0, failures: {}, excluded: false } })
  }

  /** The sources, in the order they are configured. */
  get labels (): string[] { return this.#members.map((m) => m.entry.label) }

  /** What each source did so far (copies). */
  stats (): SourceStats[] {
    return this.#members.map((m) => ({ ...m.stats, failures: { ...m.stats.failures } }))
  }

  /** The sources a get asks, best first: not excluded, fewest timeouts, then configured order. */
  #ranked (): Member[] {
    return this.#members.filter((m) => !m.stats.excluded).sort((a, b) => a.timeouts - b.timeouts || a.order - b.order)
  }

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const maxBytes = options.maxBytes ?? MAX_ANY_BLOCK_BYTES
    const caller = options.signal
    if (caller?.aborted === true) throw aborted(cid)
    const ranked = this.#ranked()
    if (ranked.length === 0) {
      throw new BlockError('ERR_BLOCK_NOT_FOUND', `no source is left to ask for ${cid}: every one served bytes that do not hash to their CIDs`, { details: { cid: cid.toString(), sources: this.#summary([]) } })
    }
    const all = new AbortController()
    const onCallerAbort = (): void => { all.abort(caller?.reason) }
    caller?.addEventListener('abort', onCallerAbort, { once: true })
    const failures: Array<{ member: Member, error: BlockError }> = []
    try {
      return await new Promise<Uint8Array>((resolve, reject) => {
        let next = 0
        let running = 0
        let done = false
        let hedge: ReturnType<typeof setTimeout> | undefined
        const finish = (fn: () => void): void => {
          if (done) return
          done = true
          if (hedge !== undefined) clearTimeout(hedge)
          fn()
        }
        const giveUp = (): void => {
          if (running > 0 || next < ranked.length) return
          finish(() => { reject(this.#failure(cid, failures)) })
        }
        const start = (): void => {
          if (done || next >= ranked.length) return
          const member = ranked[next++]!
          running++
          if (hedge !== undefined) clearTimeout(hedge)
          hedge = undefined
          if (this.#hedgeMs !== undefined && next < ranked.length) {
            hedge = setTimeout(start, this.#hedgeMs)
          }
          this.#ask(member, cid, maxBytes, all.signal).then((bytes) => {
            running--
            if (done) return
            member.stats.blocks++
            member.stats.bytes += bytes.byteLength
            finish(() => { resolve(bytes) })
          }, (e: unknown) => {
            running--
            if (done) return
            if (caller?.aborted === true) { finish(() => { reject(aborted(cid)) }); return }
            const error = e instanceof BlockError ? e : new BlockError('ERR_TRANSPORT', `${member.entry.label} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e })
            this.#record(member, error)
            failures.push({ member, error })
            if (HOPELESS.has(error.code)) { finish(() => { reject(error) }); return }
            start()
            giveUp()
          })
        }
        if (this.#hedgeMs === 0) {
          while (next < ranked.length) start()
        } else {
          start()
        }
      })
    } finally {
      caller?.removeEventListener('abort', onCallerAbort)
      all.abort()
    }
  }

  /** One block from one source, within its time limit, hash-checked again here. */
  async #ask (member: Member, cid: CID, maxBytes: number, all: AbortSignal): Promise<Uint8Array> {
    const limit = member.entry.timeoutMs ?? this.#timeoutMs
    const timer = AbortSignal.timeout(limit)
    const signal = AbortSignal.any([all, timer])
    let bytes: Uint8Array
    try {
      bytes = await member.entry.source.get(cid, { signal, maxBytes })
    } catch (e) {
      if (timer.aborted && !all.aborted) {
        throw new BlockError('ERR_TIMEOUT', `${member.entry.label} did not serve ${cid} within ${limit} ms`, { cause: e, details: { cid: cid.toString(), source: member.entry.label, timeoutMs: limit } })
      }
      throw e
    }
    // The source's own check is not taken on trust (a BlockSource from an application may skip it).
    checkBlock(cid, bytes, maxBytes)
    return bytes
  }

  #record (member: Member, error: BlockError): void {
    const f = member.stats.failures
    f[error.code] = (f[error.code] ?? 0) + 1
    if (LIED.has(error.code)) member.stats.excluded = true
    if (error.code === 'ERR_TIMEOUT') member.timeouts++
  }

  #failure (cid: CID, failures: ReadonlyArray<{ member: Member, error: BlockError }>): BlockError {
    const telling = failures.find((f) => f.error.code !== 'ERR_BLOCK_NOT_FOUND')
    const first = telling ?? failures[0]
    const sources = this.#summary(failures)
    const list = failures.map((f) => `${f.member.entry.label}: ${f.error.code}`).join('; ')
    const code = first?.error.code ?? 'ERR_BLOCK_NOT_FOUND'
    return new BlockError(code as BlockError['code'], `no source served ${cid} (${list})`, { cause: first?.error, details: { ...(first?.error.details ?? {}), cid: cid.toString(), sources } })
  }

  #summary (failures: ReadonlyArray<{ member: Member, error: BlockError }>): Array<{ source: string, code: string }> {
    return failures.map((f) => ({ source: f.member.entry.label, code: f.error.code }))
  }

  async #firstIpns (entries: readonly SourceEntry[], name: string, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    let first: unknown
    for (const e of entries) {
      if (options?.signal?.aborted === true) throw new BlockError('ERR_ABORTED', 'aborted')
      const timer = AbortSignal.timeout(e.timeoutMs ?? this.#timeoutMs)
      const signal = options?.signal === undefined ? timer : AbortSignal.any([options.signal, timer])
      try {
        return await e.source.ipnsRecord!(name, { signal })
      } catch (err) {
        first ??= err
      }
    }
    throw first
  }
}

function validMs (n: unknown, min: number): boolean {
  return typeof n === 'number' && Number.isFinite(n) && n >= min && n <= 86_400_000
}

function aborted (cid: CID): BlockError {
  return new BlockError('ERR_ABORTED', `fetching ${cid} was aborted`, { details: { cid: cid.toString() } })
}
