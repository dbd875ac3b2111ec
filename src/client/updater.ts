/**
 * Updater: the client library, shaped like tuf-js's and python-tuf's
 * ngclient Updater.
 *
 *   const updater = await Updater.create({ dir, source, head })
 *   await updater.init(rootCid)                 // once: trust a root, out of band
 *   const r = await updater.refresh()           // newest head, or refresh(cid)
 *   const info = await updater.getTargetInfo('app/v2.tar.gz')
 *   if (info !== null) await updater.downloadTarget(info, './v2.tar.gz')
 *
 * Observing it (issue 17): `Updater.create({ ..., onEvent, sourceLabel })`
 * hands the listener one plain JSON-serialisable event per outcome of
 * `init`, `refresh` and `downloadTarget` (`init`, `update.accepted`,
 * `download`, `refused` with the rule ID and the CID at fault, `failed`
 * with the error code; shapes, version and bounds in src/client/events.ts),
 * after the outcome is decided. The listener is called synchronously; what
 * it throws or rejects with is ignored, so it never changes an outcome.
 * `sourceLabel` names the source in events (credentials in a URL removed).
 * The same operations are OpenTelemetry spans (`dagtuf.refresh`,
 * `dagtuf.download`, `dagtuf.init`, with a child span per step; see
 * src/client/tracing.ts), no-op unless the application installs an SDK.
 *
 * Guarantees:
 * - `refresh` runs the steps of NOTES 7.2 through one TrustedState with the
 *   reference time fixed before the first fetch; it persists the new state
 *   (CLIENT-STATE-ATOMIC) only after every check passed, with the blocks of
 *   the new trusted DAG stored durably in the local cache first. A failure
 *   leaves the folder exactly as it was (bar cache files, which are
 *   content-addressed and re-checked on every read).
 * - One update fetches at most `maxBlocksPerUpdate` metadata blocks and
 *   `maxBytesPerUpdate` bytes from the source (BOUND-BLOCKS, BOUND-BYTES;
 *   cache hits are free), each under its kind's cap (BOUND-BLOCK-SIZE); the
 *   root chain is bounded by BOUND-ROOT-STEPS and every walk by BOUND-CHAIN.
 *   Time is bounded by the block source's own timeouts and `signal`.
 * - Every use of the trusted state (`getTargetInfo`, `listTargets`,
 *   `downloadTarget`) is checked at the moment of use (CLIENT-EXPIRES): the
 *   trusted root, timestamp, snapshot and top-level targets must be fresh
 *   by the clock then, and so must every delegated role the search visits,
 *   or the use fails with CLIENT-EXPIRES and nothing is returned or written:
 *   a state that expired while it was held is not used until a refresh
 *   succeeds. The `unsafeAllowExpired` option (CLI --unsafe-allow-expired)
 *   judges uses at the reference time of the update that accepted the state
 *   instead, for deliberate offline use; it lets a frozen client install
 *   from an expired state, hence its name.
 * - `getTargetInfo` searches the trusted DAG (NOTES 8: DELEG-ORDER,
 *   DELEG-TERMINATING, DELEG-VISITED, BOUND-DELEGATIONS...).
 * - `downloadTarget` runs that search again for `info.path` at the moment
 *   of use and requires the same entry (else StateError
 *   ERR_TARGET_CHANGED), then streams the content by CID into a temporary
 *   file in the destination's directory, and renames it into place only
 *   after every block was hash-checked and exactly `length` bytes were
 *   produced (CLIENT-TARGET-CONTENT); a failure leaves no file behind.
 * - Two updates on one folder never run at once (the folder's lock).
 * - With the `ipns` option, `refresh()` takes its candidate from the
 *   name's signed IPNS record (src/client/ipns.ts): size-capped, strictly
 *   unmarshalled, signed by the key in the name, not expired at the
 *   reference time, naming a dag-json timestamp CID, and not older than the
 *   last record accepted for the name (DIR/ipns.json, raised only after the
 *   update through it succeeded).
 *
 * Errors: ValidationError (code = rule ID, details.cid), StateError
 * (ERR_STATE_MISSING before init, ERR_STATE_NO_UPDATE before a first
 * refresh, ERR_TARGET_CHANGED when the trusted state no longer answers a
 * download's path with its entry, ERR_STATE_EXISTS, ERR_STATE_CORRUPT, ERR_STATE_LOCKED,
 * ERR_STATE_IO, ERR_IPNS_REPLAY), BlockError for sources that fail
 * (ERR_TIMEOUT, ERR_BLOCK_NOT_FOUND, ERR_TRANSPORT, ERR_ABORTED) and for
 * refused IPNS records (ERR_IPNS_NOT_FOUND, ERR_IPNS_RECORD,
 * ERR_IPNS_SIGNATURE, ERR_IPNS_EXPIRED, ERR_IPNS_VALUE), UsageError for
 * misuse (ERR_IPNS_NAME for a name that is not an Ed25519 IPNS name).
 */
import { CID } from 'multiformats/cid'
import { readContent } from '../blocks/unixfs.js'
import { canFetchIpnsRecords, type BlockSource } from '../blocks/types.js'
import { BlockError, StateError, UsageError, ValidationError, isVerdict } from '../model/errors.js'
import { parseIpnsName, type IpnsName } from '../model/ipns.js'
import type { TargetInfo } from '../model/types.js'
import { findTarget, GlobBudget } from '../validate/delegation.js'
import { ruleOfLoadError } from '../validate/report.js'
import { dagtufCommand } from '../util/shell.js'
import { assertValidTimestampTop, dagOf, resolveLimits, rootViolations, type ResolvedLimits } from '../validate/valid.js'
import { checkIpnsReplay, dropIpnsFloors, raiseIpnsFloor, readIpnsFloors, verifyIpnsRecord, type VerifiedIpnsRecord } from './ipns.js'
import { clientLoader, NO_SOURCE, type ClientLoader, type ClientLoaderStats } from './loader.js'
import type { StateRecord } from './statefile.js'
import { openDirStorage, writeFileFromChunks } from './node-io.js'
import { isClientStorage, type ClientStorage } from './storage.js'
import { slowPoint } from '../util/test-hooks.js'
import { emitTo, errorEvent, capped, boundedText, rulesChecked, sourceLabel, EVENT_VERSION, type SourceUse, type UpdaterEventListener, type UpdaterOperation } from './events.js'

/** Blocks and bytes served so far, per source of a set. */
type SourceCounts = Array<{ label: string, blocks: number, bytes: number }>
import { SPAN, startTrace, type Trace } from './tracing.js'
import { TrustedState, assertFresh, referenceTimeOf, type Continuity, type Floors, type LimitOverrides, type TrustedDag } from './trusted-state.js'

/** Where the newest timestamp CID comes from (an HTTP head endpoint, IPNS, a file...). Untrusted. */
export type HeadSource = (options: { signal?: AbortSignal }) => Promise<CID>

/** An IPNS name as the head source. */
export interface IpnsHeadOptions {
  /** The name: `k51...` or `/ipns/k51...` (an Ed25519 key). */
  name: string
  /**
   * Where the marshalled signed record comes from (untrusted). Default: the
   * `source` when it can fetch IPNS records (`ipnsRecord`: a GatewaySource
   * asks GET /ipns/{name}?format=ipns-record).
   */
  record?: (options: { signal?: AbortSignal }) => Promise<Uint8Array>
}

/** Options of one `refresh()`. */
export interface RefreshOptions {
  /**
   * Target paths the caller will look up right after the update (at most
   * 16). Their searches start as soon as the new state has passed its
   * checks, while it is being written: the blocks on their paths are then in
   * the search's cache when `getTargetInfo` asks, and their fetching costs no
   * time of its own. Their results are not used (`getTargetInfo` searches
   * again, at the moment of use) and their errors are not reported (the
   * search of `getTargetInfo` meets them again). Nothing they fetch is
   * written to the local cache before the new state is.
   */
  lookahead?: readonly string[]
}

export interface UpdaterOptions {
  /** The trusted-state folder (created when missing). Give this or `storage`. */
  dir?: string
  /**
   * Instead of `dir`: where the trusted state and the block cache live
   * (src/client/storage.ts), e.g. IndexedDB in a browser (IdbClientStore).
   */
  storage?: ClientStorage
  /** Where blocks come from: metadata and target content. Untrusted. */
  source?: BlockSource
  /** Where `refresh()` without an argument learns the newest timestamp CID. */
  head?: HeadSource
  /** Instead of `head`: learn it from this IPNS name's signed record. */
  ipns?: IpnsHeadOptions
  /**
   * UNSAFE: a fixed clock instead of the real one, for every update and
   * every use of the trusted state. It decides what counts as expired
   * (CLIENT-EXPIRES) and which IPNS records are current, so a wrong value
   * makes the client accept frozen or expired metadata. For tests and
   * reproducible runs only (go-tuf names its equivalent UnsafeSetRefTime).
   */
  unsafeReferenceTime?: Date
  /**
   * UNSAFE, for deliberate offline use: judge the freshness of a use of the
   * trusted state (getTargetInfo, listTargets, downloadTarget) at the
   * reference time of the update that accepted the state, not at the
   * current time. An attacker who withholds updates can then keep this
   * client installing from a state that expired long ago (an indefinite
   * freeze). Default false: uses are checked against the clock (CLIENT-EXPIRES).
   */
  unsafeAllowExpired?: boolean
  /** Overrides of LIMITS. */
  limits?: LimitOverrides
  /** Aborts fetches and downloads. */
  signal?: AbortSignal
  /**
   * Time limit of one whole refresh in ms (default none: each block source
   * has its own per-request timeouts). Exceeding it is BlockError ERR_TIMEOUT.
   */
  timeoutMs?: number
  /**
   * Called with one event per outcome of init, refresh and downloadTarget
   * (src/client/events.ts). Whatever it throws is ignored.
   */
  onEvent?: UpdaterEventListener
  /** How events name the source (default 'source'); credentials in a URL are removed. */
  sourceLabel?: string
}

export interface RefreshResult {
  /** What was trusted before: the root, and the timestamp (null before a first update). */
  previous: { root: string, timestamp: string | null }
  timestamp: string
  snapshot: string
  root: string
  /** Roles whose object changed: root, timestamp, snapshot, targets and delegated role names. */
  changed: string[]
  continuity: Continuity
  /** CIDs from the previously trusted root to the new one. */
  rootChain: string[]
  /** Present after a recovery (CLIENT-RECOVER): which floors were kept and dropped. */
  floors?: Floors
  referenceTime: string
  /** Metadata fetched from the source, and cache hits. */
  fetched: { blocks: number, bytes: number, cacheHits: number }
  /** Present when the candidate came from an IPNS record: the record accepted. */
  ipns?: { name: string, sequence: string, value: string, validity: string }
}

/** A target found by the search, ready for downloadTarget. */
export interface TargetResult {
  readonly path: string
  readonly cid: CID
  readonly length: number
  readonly custom?: unknown
  /** The role that answered, and the delegation chain from `targets` to it. */
  readonly role: string
  readonly chain: readonly string[]
}

export interface DownloadResult {
  path: string
  cid: string
  length: number
}

function isCode (e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code
}

/** A CID given by a caller: a CID object or its text. @throws {ValidationError} ENC-CID */
export function toCid (value: CID | string, what: string): CID {
  const c = CID.asCID(value)
  if (c !== null) return c
  if (typeof value !== 'string') throw new UsageError('ERR_ARGUMENT', `${what}: expected a CID`)
  try {
    // Rebuilt from the bytes: CID.parse keeps the (possibly mixed-case) text.
    return CID.decode(CID.parse(value).bytes)
  } catch (cause) {
    throw new ValidationError('ENC-CID', `${what} is not a CID: ${JSON.stringify(value.slice(0, 100))}`, { cause, details: { cid: value.slice(0, 100) } })
  }
}

export class Updater {
  readonly dir: string
  readonly #store: ClientStorage
  readonly #source: BlockSource | undefined
  readonly #head: HeadSource | undefined
  readonly #ipns: IpnsHead | undefined
  readonly #now: Date | undefined
  readonly #unsafeAllowExpired: boolean
  readonly #limitOverrides: LimitOverrides | undefined
  readonly #limits: ResolvedLimits
  readonly #signal: AbortSignal | undefined
  readonly #timeoutMs: number | undefined
  readonly #onEvent: UpdaterEventListener | undefined
  readonly #sourceLabel: string
  /** Envelopes known to be in the cache (so a search stores a loaded role once). */
  readonly #storedRoles = new Set<string>()
  /** The DAG accepted by this process's last refresh, or loaded from the state. */
  #trusted: { record: StateRecord, dag: TrustedDag, loader: ClientLoader } | undefined

  private constructor (store: ClientStorage, options: UpdaterOptions, ipns: IpnsHead | undefined) {
    this.dir = store.dir
    this.#store = store
    this.#source = options.source
    this.#head = options.head
    this.#ipns = ipns
    this.#now = options.unsafeReferenceTime
    this.#unsafeAllowExpired = options.unsafeAllowExpired === true
    this.#limitOverrides = options.limits
    this.#limits = resolveLimits(options.limits)
    this.#signal = options.signal
    this.#timeoutMs = options.timeoutMs
    this.#onEvent = options.onEvent
    this.#sourceLabel = sourceLabel(options.sourceLabel ?? (options.source === undefined ? 'the local cache' : 'source'))
  }

  /**
   * Run one operation under its span, and emit the `refused` or `failed`
   * event of its error (the events of a success are the operation's own).
   */
  async #observed<T> (operation: UpdaterOperation, span: string, path: string | undefined, body: (trace: Trace) => Promise<T>): Promise<T> {
    const trace = await startTrace(span, { 'dagtuf.dir': this.dir, ...(path === undefined ? {} : { 'dagtuf.path': boundedText(path, 256) }) })
    try {
      const out = await body(trace)
      trace.end()
      return out
    } catch (e) {
      trace.end(e)
      emitTo(this.#onEvent, errorEvent({ v: EVENT_VERSION, dir: this.dir, operation, source: this.#sourceLabel, ...(path === undefined ? {} : { path }) }, e))
      throw e
    }
  }

  #base (operation: UpdaterOperation): { v: typeof EVENT_VERSION, time: string, dir: string, operation: UpdaterOperation } {
    return { v: EVENT_VERSION, time: new Date().toISOString(), dir: this.dir, operation }
  }

  /**
   * Open an updater over the trusted-state folder `dir`.
   *
   * @throws {UsageError} ERR_ARGUMENT | ERR_IPNS_NAME
   * @throws {StateError} ERR_STATE_IO
   */
  static async create (options: UpdaterOptions): Promise<Updater> {
    if (options === null || typeof options !== 'object') throw new UsageError('ERR_ARGUMENT', 'Updater.create(options)')
    if (options.source !== undefined && typeof options.source?.get !== 'function') throw new UsageError('ERR_ARGUMENT', 'source: expected a BlockSource')
    if (options.head !== undefined && typeof options.head !== 'function') throw new UsageError('ERR_ARGUMENT', 'head: expected a function')
    // The old name, refused rather than ignored: a caller relying on it must not silently get the clock.
    if (Object.hasOwn(options, 'now')) throw new UsageError('ERR_ARGUMENT', 'the option now was renamed unsafeReferenceTime')
    if (options.unsafeReferenceTime !== undefined) referenceTimeOf(options.unsafeReferenceTime)
    if (options.unsafeAllowExpired !== undefined && typeof options.unsafeAllowExpired !== 'boolean') throw new UsageError('ERR_ARGUMENT', 'unsafeAllowExpired: expected a boolean')
    if (options.timeoutMs !== undefined && (!Number.isSafeInteger(options.timeoutMs) || options.timeoutMs <= 0)) throw new UsageError('ERR_ARGUMENT', 'timeoutMs: expected a positive integer')
    if (options.onEvent !== undefined && typeof options.onEvent !== 'function') throw new UsageError('ERR_ARGUMENT', 'onEvent: expected a function')
    if (options.sourceLabel !== undefined && typeof options.sourceLabel !== 'string') throw new UsageError('ERR_ARGUMENT', 'sourceLabel: expected a string')
    resolveLimits(options.limits)
    const ipns = ipnsOption(options)
    if ((options.dir === undefined) === (options.storage === undefined)) throw new UsageError('ERR_ARGUMENT', 'give dir (a folder) or storage, one of them')
    if (options.storage !== undefined && !isClientStorage(options.storage)) throw new UsageError('ERR_ARGUMENT', 'storage: expected a ClientStorage')
    const store = options.storage ?? await openDirStorage(options.dir as string)
    return new Updater(store, options, ipns)
  }

  #loader (signal: AbortSignal | undefined = this.#signal, targetsAhead = false): ReturnType<typeof clientLoader> {
    return clientLoader(this.#store.blocks, this.#source ?? NO_SOURCE, {
      maxBlocks: this.#limits.maxBlocksPerUpdate,
      maxBytes: this.#limits.maxBytesPerUpdate,
      targetsAhead,
      ...(signal === undefined ? {} : { signal })
    })
  }

  /** The trusted state. @throws {StateError} ERR_STATE_MISSING | ERR_STATE_CORRUPT | ERR_STATE_IO */
  async state (): Promise<StateRecord> {
    const s = await this.#store.readState()
    if (s === null) throw new StateError('ERR_STATE_MISSING', `no trusted root in ${this.dir}: run init (dagtuf client init) first`, { details: { dir: this.dir } })
    return s
  }

  /**
   * Trust the root `rootCid`, obtained out of band: fetch it, require that it
   * decodes as a root and is VALID (VALID-ROOT-ROLES, VALID-ROOT-SELF), and
   * write it as the whole trusted state. Its expiry does not matter (NOTES
   * 7.1). Initialising again with the same root is a no-op; another root
   * needs `force` and discards the trusted state.
   *
   * @throws {ValidationError} ENC-* / VALID-KIND / VALID-ROOT-ROLES / VALID-ROOT-SELF
   * @throws {StateError} ERR_STATE_EXISTS | ERR_STATE_LOCKED | ERR_STATE_IO
   * @throws {BlockError} when the root cannot be fetched
   */
  async init (rootCid: CID | string, options: { force?: boolean } = {}): Promise<{ root: string, changed: boolean }> {
    return await this.#observed('init', SPAN.init, undefined, async () => {
      const r = await this.#init(rootCid, options)
      emitTo(this.#onEvent, { type: 'init', ...this.#base('init'), root: r.root, changed: r.changed })
      return r
    })
  }

  async #init (rootCid: CID | string, options: { force?: boolean }): Promise<{ root: string, changed: boolean }> {
    const cid = toCid(rootCid, 'root')
    const release = await this.#store.lock()
    try {
      const current = await this.#store.readState().catch((e: unknown) => {
        if (options.force === true && isCode(e, 'ERR_STATE_CORRUPT')) return null
        throw e
      })
      if (current !== null && current.root.equals(cid)) return { root: cid.toString(), changed: false }
      if (current !== null && options.force !== true) {
        throw new StateError('ERR_STATE_EXISTS', `${this.dir} already trusts root ${current.root}; pass force to start over from ${cid}`, { details: { dir: this.dir, root: current.root.toString() } })
      }
      const loader = this.#loader()
      let root
      try {
        root = await loader.load('root', cid)
      } catch (e) {
        const rule = ruleOfLoadError(e)
        if (rule === undefined || e instanceof ValidationError) throw e
        throw new ValidationError(rule, `root ${cid}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, details: { cid: cid.toString(), reason: (e as { code?: string }).code } })
      }
      const violations = rootViolations(root)
      if (violations.length > 0) {
        const v = violations[0]!
        throw new ValidationError(v.rule, `root ${cid}: ${v.message}`, { details: { cid: v.cid, violations } })
      }
      await this.#store.blocks.put(root.cid, root.bytes)
      await this.#store.writeState({ root: root.cid, trusted: null })
      // A new trusted state forgets the IPNS sequence floors with the rest.
      await dropIpnsFloors(this.#store)
      this.#trusted = undefined
      return { root: cid.toString(), changed: true }
    } finally {
      await release()
    }
  }

  /**
   * Update to the newest timestamp (from the head source) or to `timestamp`.
   *
   * @throws {ValidationError} the rule that failed (CLIENT-*, VALID-*, SUCC-* in details, ENC-*, BOUND-*)
   * @throws {StateError} ERR_STATE_MISSING | ERR_STATE_LOCKED | ERR_STATE_CORRUPT | ERR_STATE_IO
   * @throws {BlockError} when a block or the head cannot be fetched
   * @throws {UsageError} ERR_USAGE when no CID is given and there is no head source
   */
  async refresh (timestamp?: CID | string, options: RefreshOptions = {}): Promise<RefreshResult> {
    // Step 1: the reference time is fixed before anything is fetched.
    const now = this.#now ?? new Date()
    const lookahead = lookaheadOf(options)
    return await this.#observed('refresh', SPAN.refresh, undefined, async (trace) => {
      const before = this.#sourceStats()
      const r = await this.#timedRefresh(now, timestamp, trace, lookahead)
      trace.set({ 'dagtuf.timestamp': r.timestamp, 'dagtuf.continuity': r.continuity, 'dagtuf.fetched.blocks': r.fetched.blocks, 'dagtuf.fetched.bytes': r.fetched.bytes, 'dagtuf.cache_hits': r.fetched.cacheHits })
      emitTo(this.#onEvent, {
        type: 'update.accepted',
        ...this.#base('refresh'),
        from: r.previous,
        to: { root: r.root, timestamp: r.timestamp, snapshot: r.snapshot },
        continuity: r.continuity,
        referenceTime: r.referenceTime,
        rules: rulesChecked(r.continuity, r.previous.root !== r.root),
        changed: capped(r.changed, (n) => boundedText(n)),
        rootSteps: r.rootChain.length - 1,
        fetched: { sources: this.#sourcesUsed(before, r.fetched), cacheHits: r.fetched.cacheHits },
        ...(r.ipns === undefined ? {} : { ipns: { name: r.ipns.name, sequence: r.ipns.sequence } })
      })
      return r
    })
  }

  async #timedRefresh (now: Date, timestamp: CID | string | undefined, trace: Trace, lookahead: readonly string[]): Promise<RefreshResult> {
    const limit = this.#timeoutMs
    if (limit === undefined) return await this.#refresh(now, timestamp, this.#signal, trace, lookahead)
    const timer = new AbortController()
    const t = setTimeout(() => { timer.abort(new DOMException('update timed out', 'TimeoutError')) }, limit)
    const signal = this.#signal === undefined ? timer.signal : AbortSignal.any([this.#signal, timer.signal])
    try {
      return await this.#refresh(now, timestamp, signal, trace, lookahead)
    } catch (e) {
      if (timer.signal.aborted && this.#signal?.aborted !== true) {
        throw new BlockError('ERR_TIMEOUT', `the update did not finish within ${limit} ms`, { cause: e, details: { timeoutMs: limit } })
      }
      throw e
    } finally {
      clearTimeout(t)
    }
  }

  async #refresh (now: Date, timestamp: CID | string | undefined, signal: AbortSignal | undefined, trace: Trace, lookahead: readonly string[]): Promise<RefreshResult> {
    const release = await this.#store.lock()
    try {
      const state = await this.state()
      let candidate: CID
      let fromIpns: { rec: VerifiedIpnsRecord, floors: Awaited<ReturnType<typeof readIpnsFloors>> } | undefined
      if (timestamp !== undefined) candidate = toCid(timestamp, 'timestamp')
      else if (this.#ipns !== undefined) {
        const ipns = this.#ipns
        fromIpns = await trace.step(SPAN.head, async () => {
          const bytes = await ipns.record(signal === undefined ? {} : { signal })
          const rec = await verifyIpnsRecord(ipns.name, bytes, now)
          const floors = await readIpnsFloors(this.#store)
          checkIpnsReplay(floors.get(rec.name), rec)
          return { rec, floors }
        })
        candidate = fromIpns.rec.timestamp
      } else if (this.#head !== undefined) {
        const head = this.#head
        candidate = await trace.step(SPAN.head, async () => await head(signal === undefined ? {} : { signal }))
      } else throw new UsageError('ERR_USAGE', 'refresh: no timestamp CID given and no head source configured')

      const loader = this.#loader(signal, true)
      const ts = new TrustedState(state, { loader, now, ...(this.#limitOverrides === undefined ? {} : { limits: this.#limitOverrides }) })
      await trace.step(SPAN.timestamp, async () => { await ts.loadCandidate(candidate) })
      await slowPoint()
      await trace.step(SPAN.rootChain, async () => await ts.verifyRootChain())
      await trace.step(SPAN.validTop, async () => await ts.verifyValid())
      await slowPoint()
      await trace.step(SPAN.expires, async () => { await ts.verifyFresh() })
      await trace.step(SPAN.snapshotWalk, async () => await ts.verifyContinuity())
      const accepted = ts.accepted()

      // Step 7. The blocks first, durably, then the state that names them:
      // the envelopes, and the shard nodes this update read (the role maps
      // and the delegated targets maps VALID walked; the loader held those it
      // fetched until now), fsynced as one batch.
      const dag = accepted.dag
      // The envelopes this update read (the top of the DAG, and any delegated
      // object a relation or a recovery loaded), and the shard nodes it read.
      const keep = [dag.timestamp, dag.snapshot, dag.root, dag.targets, ...dag.loadedRoles.values()]
      // Searches get a loader of their own (with the Updater's signal, not this
      // refresh): the update's loader holds every block the update read, a
      // catch-up's skipped snapshots included, which nothing needs any more.
      // It holds what it fetches (the lookahead's searches) until the state is written.
      const searchLoader = this.#loader()
      const parts = { snapshot: dag.snapshot, root: dag.root, targets: dag.targets, roles: dag.roles, retired: dag.retired }
      const searchDag: TrustedDag = { ...dagOf(searchLoader, parts), timestamp: dag.timestamp }
      const ahead = lookahead.length === 0
        ? undefined
        : Promise.allSettled(lookahead.map(async (p) => await findTarget(searchDag, p, { now: ts.referenceTime, limits: this.#limits })))
      try {
        await trace.step(SPAN.persist, async () => {
          loader.writeShards()
          await loader.settleShards()
          await this.#store.blocks.putMany(keep, loader.shards)
          await slowPoint()
          await this.#store.writeState(accepted.record)
        })
      } finally {
        // Settled either way (allSettled never rejects): nothing of this refresh runs on after it.
        await ahead
      }
      await slowPoint()
      searchLoader.writeShards()
      this.#trusted = { record: accepted.record, dag: searchDag, loader: searchLoader }
      for (const e of keep) this.#storedRoles.add(e.cid.toString())
      if (fromIpns !== undefined) {
        // Best effort, after the state: a floor left behind by a crash or an
        // I/O error only lets the same (already checked) record through again,
        // and TUF's own rules (CLIENT-TS-DESCENDS) still refuse any rollback.
        await raiseIpnsFloor(this.#store, fromIpns.floors, fromIpns.rec).catch(() => {})
      }
      // What the old state needed and the new one does not: best effort.
      // Every listed role's object stays, read or not: a later search may need it.
      await this.#store.blocks.retain([...keep.map((e) => e.cid), ...dag.roles.values(), ...loader.shards])

      const stats: ClientLoaderStats = loader.stats
      const out: RefreshResult = {
        previous: { root: state.root.toString(), timestamp: state.trusted?.timestamp.toString() ?? null },
        timestamp: dag.timestamp.cid.toString(),
        snapshot: dag.snapshot.cid.toString(),
        root: dag.root.cid.toString(),
        changed: [...accepted.changed],
        continuity: accepted.continuity,
        rootChain: [...accepted.rootChain],
        referenceTime: ts.referenceTime,
        fetched: { blocks: stats.blocks, bytes: stats.bytes, cacheHits: stats.cacheHits }
      }
      if (accepted.floors !== undefined) out.floors = accepted.floors
      if (fromIpns !== undefined) {
        const { rec } = fromIpns
        out.ipns = { name: `/ipns/${rec.name}`, sequence: rec.sequence.toString(), value: rec.value, validity: rec.validity }
      }
      return out
    } finally {
      await release()
    }
  }

  /**
   * The trusted DAG for one use, with that use's reference time: the clock
   * now (or, with unsafeAllowExpired, the reference time of the update that
   * accepted the state), fixed before the state is read. The root,
   * timestamp, snapshot and top-level targets are checked fresh at it
   * (CLIENT-EXPIRES); the search checks the roles it visits.
   */
  async #usable (): Promise<{ dag: TrustedDag, referenceTime: string }> {
    const now = referenceTimeOf(this.#now ?? new Date())
    const { dag, referenceTime: accepted } = await this.#trustedDag()
    const referenceTime = this.#unsafeAllowExpired ? accepted : now
    assertFresh(dag, referenceTime, this.#unsafeAllowExpired ? '' : `: the trusted state is stale; update it (refresh, or ${dagtufCommand('client', 'update', '--dir', this.dir, '--gateway', 'URL')}) before using it`)
    return { dag, referenceTime }
  }

  /** The trusted DAG: from this process's last refresh, or loaded (cache first) and re-checked. */
  async #trustedDag (): Promise<{ record: StateRecord, dag: TrustedDag, referenceTime: string }> {
    const state = await this.state()
    const t0 = state.trusted
    if (t0 === null) throw new StateError('ERR_STATE_NO_UPDATE', `${this.dir} trusts a root but has no update yet: run refresh (or ${dagtufCommand('client', 'update', '--dir', this.dir, '--gateway', 'URL')}) first`, { details: { dir: this.dir } })
    const mine = this.#trusted
    if (mine !== undefined && mine.dag.timestamp.cid.equals(t0.timestamp)) return { ...mine, referenceTime: t0.referenceTime }
    const loader = this.#loader()
    // What the update that accepted this state checked of it (CLIENT-VALID-TOP).
    const dag = await assertValidTimestampTop(loader, t0.timestamp, this.#limitOverrides === undefined ? {} : { limits: this.#limitOverrides }) as TrustedDag
    const same = dag.snapshot.cid.equals(t0.snapshot) && dag.root.cid.equals(state.root) && dag.targets.cid.equals(t0.targets) &&
      dag.snapshot.signed.meta.delegatedTargets.equals(t0.roles)
    if (!same) throw new StateError('ERR_STATE_CORRUPT', `state.json does not match the DAG of its own timestamp ${t0.timestamp}`, { details: { cid: t0.timestamp.toString() } })
    loader.writeShards()
    this.#trusted = { record: state, dag, loader }
    return { record: state, dag, referenceTime: t0.referenceTime }
  }

  /**
   * Wait until the shard nodes lookups fetched are in the local cache (the
   * loader writes them as they arrive), so the next lookup on the same path
   * needs no source. Best effort: the nodes are hash-checked whenever they
   * are read back, and a failed write only costs a later fetch.
   */
  async #keepShards (): Promise<void> {
    const trusted = this.#trusted
    if (trusted === undefined) return
    await trusted.loader.settleShards().catch(() => {})
    // Delegated objects the searches loaded (lazily, CLIENT-VALID-TOP).
    const fresh = [...trusted.dag.loadedRoles.values()].filter((e) => !this.#storedRoles.has(e.cid.toString()))
    if (fresh.length === 0) return
    for (const e of fresh) this.#storedRoles.add(e.cid.toString())
    await this.#store.blocks.putMany(fresh).catch(() => {})
  }

  /**
   * Search the trusted DAG for `path` (NOTES 8), checked at the moment of
   * use (CLIENT-EXPIRES, see the module comment).
   *
   * @returns the target, or null when no role entitled to the path lists it
   * @throws {ValidationError} CLIENT-EXPIRES when the trusted root, timestamp, snapshot or top-level targets,
   *   or a role the search visits, is not fresh now; BOUND-DELEGATIONS | BOUND-DELEGATION-DEPTH | BOUND-GLOB
   * @throws {StateError} ERR_STATE_MISSING | ERR_STATE_NO_UPDATE | ERR_STATE_CORRUPT
   */
  async getTargetInfo (path: string): Promise<TargetResult | null> {
    if (typeof path !== 'string' || path.length === 0) throw new UsageError('ERR_ARGUMENT', 'path: expected a non-empty string')
    const { dag, referenceTime } = await this.#usable()
    const found = await findTarget(dag, path, { now: referenceTime, limits: this.#limits })
    await this.#keepShards()
    if (found === null) return null
    return targetResult(path, found.info, found.role, found.chain)
  }

  /**
   * Every target the trusted DAG answers for, sorted by path: each path any
   * role lists, resolved by the search, so a path is reported with the entry
   * the search would return (or not at all). All the searches share one
   * BOUND-GLOB budget, so the listing is bounded like one walk.
   *
   * @throws as getTargetInfo
   */
  async listTargets (): Promise<TargetResult[]> {
    const { dag, referenceTime } = await this.#usable()
    const paths = new Set<string>()
    // Every path some listed role names; the search below judges each role it
    // visits, so an object that fails its edge ends the listing with its rule.
    for (const name of ['targets', ...dag.roles.keys()]) {
      const obj = name === 'targets' ? dag.targets : await dag.role(name)
      for await (const e of dag.maps.targetEntries(obj.signed.targets)) paths.add(e.key)
    }
    await this.#keepShards()
    const out: TargetResult[] = []
    const budget = new GlobBudget(this.#limits.maxGlobSteps, 'listing the targets')
    for (const path of [...paths].sort()) {
      const found = await findTarget(dag, path, { now: referenceTime, limits: this.#limits, budget })
      if (found !== null) out.push(targetResult(path, found.info, found.role, found.chain))
    }
    return out
  }

  /**
   * Download a target found by getTargetInfo to `destPath` (CLIENT-TARGET-CONTENT).
   * A download is a use of the trusted state: the search for `info.path` is
   * run again now (CLIENT-EXPIRES) and must give the same CID and length.
   *
   * @throws {ValidationError} CLIENT-EXPIRES as getTargetInfo; CLIENT-TARGET-CONTENT when the bytes are not the content the CID names, or not `length` long
   * @throws {StateError} ERR_TARGET_CHANGED when the trusted state no longer answers `info.path` with `info`
   * @throws {BlockError} ERR_TIMEOUT | ERR_BLOCK_NOT_FOUND | ERR_TRANSPORT | ERR_ABORTED
   * @throws {StateError} ERR_STATE_IO when the file cannot be written
   */
  async downloadTarget (info: TargetResult, destPath: string): Promise<DownloadResult> {
    const path = typeof info?.path === 'string' ? info.path : undefined
    return await this.#observed('download', SPAN.download, path, async (trace) => {
      const counted = { blocks: 0, bytes: 0 }
      const before = this.#sourceStats()
      this.#checkInfo(info)
      if (typeof destPath !== 'string' || destPath.length === 0) throw new UsageError('ERR_ARGUMENT', 'destPath: expected a file path')
      // The search first (CLIENT-EXPIRES, ERR_TARGET_CHANGED), then the file.
      await trace.step(SPAN.targetsSearch, async () => { await this.#checkCurrent(info) })
      const dest = await writeFileFromChunks(destPath, async (write) => {
        await trace.step(SPAN.contentFetch, async () => { await this.#streamTarget(info, write, counted) })
      })
      const r = { path: dest, cid: info.cid.toString(), length: info.length }
      this.#downloaded(info, trace, counted, before)
      return r
    })
  }

  /** The download event and span attributes of a target fetched. */
  #downloaded (info: TargetResult, trace: Trace, counted: { blocks: number, bytes: number }, before: SourceCounts | undefined): void {
    trace.set({ 'dagtuf.cid': info.cid.toString(), 'dagtuf.length': info.length, 'dagtuf.fetched.blocks': counted.blocks, 'dagtuf.fetched.bytes': counted.bytes })
    emitTo(this.#onEvent, {
      type: 'download',
      ...this.#base('download'),
      path: boundedText(info.path),
      cid: info.cid.toString(),
      length: info.length,
      role: boundedText(info.role),
      fetched: { sources: this.#sourcesUsed(before, counted) }
    })
  }

  /** What each source of a set (SourceSet, RoutingSource: a `stats()`) has served so far, or undefined for one source. */
  #sourceStats (): SourceCounts | undefined {
    const stats = (this.#source as { stats?: unknown } | undefined)?.stats
    if (typeof stats !== 'function') return undefined
    try {
      const list = (stats as () => unknown).call(this.#source)
      if (!Array.isArray(list)) return undefined
      return list.flatMap((x: { label?: unknown, blocks?: unknown, bytes?: unknown }) =>
        typeof x?.label === 'string' && typeof x.blocks === 'number' && typeof x.bytes === 'number' ? [{ label: x.label, blocks: x.blocks, bytes: x.bytes }] : [])
    } catch {
      return undefined
    }
  }

  /**
   * The blocks and bytes each source served since `before` (a set's own
   * counts), or the whole under the source's one label.
   */
  #sourcesUsed (before: SourceCounts | undefined, total: { blocks: number, bytes: number }): readonly SourceUse[] {
    const after = this.#sourceStats()
    if (before === undefined || after === undefined) return [{ source: this.#sourceLabel, blocks: total.blocks, bytes: total.bytes }]
    const used = after.map((a) => {
      const b = before.find((x) => x.label === a.label)
      return { source: sourceLabel(a.label), blocks: a.blocks - (b?.blocks ?? 0), bytes: a.bytes - (b?.bytes ?? 0) }
    }).filter((u) => u.blocks > 0)
    return capped(used).items
  }

  /**
   * The content of a target found by getTargetInfo, as bytes: the same
   * checks as downloadTarget (the search run again, CLIENT-EXPIRES, every
   * block hash-checked, exactly `length` bytes: CLIENT-TARGET-CONTENT), and
   * nothing is returned before all of them passed. For the browser, where
   * there is no file to write; the whole content is held in memory. Emits the
   * same download event and span as downloadTarget.
   *
   * @throws as downloadTarget, but for the file errors
   */
  async fetchTarget (info: TargetResult): Promise<Uint8Array> {
    const path = typeof info?.path === 'string' ? info.path : undefined
    return await this.#observed('download', SPAN.download, path, async (trace) => {
      const counted = { blocks: 0, bytes: 0 }
      const before = this.#sourceStats()
      this.#checkInfo(info)
      await trace.step(SPAN.targetsSearch, async () => { await this.#checkCurrent(info) })
      const parts: Uint8Array[] = []
      let size = 0
      await trace.step(SPAN.contentFetch, async () => {
        await this.#streamTarget(info, async (chunk) => {
          size += chunk.byteLength
          parts.push(chunk)
        }, counted)
      })
      const out = new Uint8Array(size)
      let off = 0
      for (const p of parts) {
        out.set(p, off)
        off += p.byteLength
      }
      this.#downloaded(info, trace, counted, before)
      return out
    })
  }

  /** `info` is shaped like a TargetResult, and there is a block source. @throws {UsageError} ERR_ARGUMENT | ERR_USAGE */
  #checkInfo (info: TargetResult): void {
    if (info === null || typeof info !== 'object' || CID.asCID(info.cid) === null || !Number.isSafeInteger(info.length) || info.length < 0) {
      throw new UsageError('ERR_ARGUMENT', 'info: expected a TargetResult from getTargetInfo')
    }
    if (this.#source === undefined) throw new UsageError('ERR_USAGE', 'downloadTarget needs a block source')
    if (typeof info.path !== 'string' || info.path.length === 0) throw new UsageError('ERR_ARGUMENT', 'info: expected a TargetResult from getTargetInfo')
  }

  /** The search for `info.path` run again now must give the same entry. @throws {StateError} ERR_TARGET_CHANGED, and as getTargetInfo */
  async #checkCurrent (info: TargetResult): Promise<void> {
    const now = await this.getTargetInfo(info.path)
    if (now === null || !now.cid.equals(info.cid) || now.length !== info.length) {
      throw new StateError('ERR_TARGET_CHANGED', `the trusted state no longer answers ${JSON.stringify(info.path)} with ${info.cid} (${info.length} bytes)${now === null ? '' : `, but with ${now.cid} (${now.length} bytes)`}: call getTargetInfo again`, {
        details: { path: info.path, cid: info.cid.toString(), length: info.length, ...(now === null ? {} : { now: { cid: now.cid.toString(), length: now.length } }) }
      })
    }
  }

  /**
   * Stream the content of `info` by CID through `onChunk`: every block
   * hash-checked, exactly `length` bytes (CLIENT-TARGET-CONTENT); the blocks
   * and bytes fetched are added to `counted` (the download event).
   */
  async #streamTarget (info: TargetResult, onChunk: (chunk: Uint8Array) => Promise<void>, counted: { blocks: number, bytes: number }): Promise<void> {
    const source = this.#source as BlockSource
    const counting: BlockSource = {
      get: async (cid, opts) => {
        const bytes = await source.get(cid, opts)
        counted.blocks++
        counted.bytes += bytes.length
        return bytes
      }
    }
    try {
      await readContent(counting, info.cid, info.length, onChunk, this.#signal === undefined ? {} : { signal: this.#signal })
    } catch (e) {
      // A verdict on the content's blocks (bad hash, size, UnixFS shape) is CLIENT-TARGET-CONTENT.
      if (e instanceof BlockError && isVerdict(e)) {
        throw new ValidationError('CLIENT-TARGET-CONTENT', `target ${JSON.stringify(info.path)} (${info.cid}, ${info.length} bytes) was refused: ${e.message}`, {
          cause: e,
          details: { cid: info.cid.toString(), path: info.path, length: info.length, reason: e.code, block: e.details.cid }
        })
      }
      throw e
    }
  }
}

/** The `ipns` option, checked: the name parsed and the record's source resolved. */
interface IpnsHead { name: IpnsName, record: NonNullable<IpnsHeadOptions['record']> }

function ipnsOption (options: UpdaterOptions): IpnsHead | undefined {
  const o = options.ipns
  if (o === undefined) return undefined
  if (o === null || typeof o !== 'object') throw new UsageError('ERR_ARGUMENT', 'ipns: expected { name, record? }')
  if (options.head !== undefined) throw new UsageError('ERR_ARGUMENT', 'give head or ipns, not both')
  const name = parseIpnsName(o.name)
  if (o.record !== undefined) {
    if (typeof o.record !== 'function') throw new UsageError('ERR_ARGUMENT', 'ipns.record: expected a function')
    return { name, record: o.record }
  }
  const source = options.source
  if (!canFetchIpnsRecords(source)) throw new UsageError('ERR_ARGUMENT', 'ipns: give ipns.record, or a source that can fetch IPNS records (a GatewaySource)')
  return { name, record: async (opts) => await source.ipnsRecord(name.name, opts) }
}

function targetResult (path: string, info: TargetInfo, role: string, chain: readonly string[]): TargetResult {
  const base = { path, cid: info.cid, length: info.length, role, chain: [...chain] }
  return Object.freeze(info.custom === undefined ? base : { ...base, custom: info.custom })
}

/** At most this many lookahead paths in one refresh (RefreshOptions). */
const MAX_LOOKAHEAD = 16

/** The lookahead paths of `options`, checked (ERR_ARGUMENT). */
function lookaheadOf (options: RefreshOptions): readonly string[] {
  const paths = (options ?? {}).lookahead
  if (paths === undefined) return []
  if (!Array.isArray(paths) || paths.length > MAX_LOOKAHEAD || !paths.every((p) => typeof p === 'string' && p.length > 0)) {
    throw new UsageError('ERR_ARGUMENT', `options.lookahead: expected at most ${MAX_LOOKAHEAD} non-empty target paths`)
  }
  return paths
}
