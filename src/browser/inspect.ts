/**
 * What the inspector (/ui/ of `dagtuf serve`) shows, read from a client's
 * TRUSTED state only: the head the Updater accepted, the roles with their
 * signers and thresholds, and the targets listed, page by page.
 *
 * Guarantees:
 * - Nothing here trusts the gateway: `inspectTrusted` starts from the state
 *   record (what a refresh accepted after every check) and reads its DAG
 *   through the client loader (the local cache first, every block
 *   hash-checked, then the source) with the same check the Updater runs when
 *   it reloads a state (CLIENT-VALID-TOP: assertValidTimestampTop), within
 *   the update bounds (BOUND-BLOCKS, BOUND-BYTES). A state that does not
 *   match its own DAG is ERR_STATE_CORRUPT.
 * - The target list never holds a map: `TargetPager` walks the sharded map
 *   (NOTES 11) with the shard reader's iterator, `next(n, query)` returns at
 *   most `n` entries and scans at most `scanBudget` entries per call (a search
 *   over 1,000,000 targets goes on page by page; the page stays responsive,
 *   and says how far it got). Entries are what the listing role's own map
 *   says; a download asks the Updater, whose search decides which role
 *   answers for a path (NOTES 8).
 */
import { CID } from 'multiformats/cid'
import type { BlockSource } from '../blocks/types.js'
import { buildHistory, toSvg, type History } from '../history/index.js'
import { clientLoader, NO_SOURCE } from '../client/loader.js'
import type { ClientStorage } from '../client/storage.js'
import { StateError, UsageError } from '../model/errors.js'
import type { Entry } from '../shard/index.js'
import type { TargetInfo, TargetsEnvelope } from '../model/types.js'
import { assertValidTimestampTop, resolveLimits, type Dag } from '../validate/valid.js'

export interface RoleView {
  /** Role name: root, timestamp, snapshot, targets, or a delegated role. */
  readonly name: string
  readonly threshold: number
  readonly keyids: readonly string[]
  /** Who delegates it (root for the top roles). */
  readonly delegatedBy: string
  /** The CID of the trusted object of the role, when the DAG names one. */
  readonly cid?: string
  readonly expires?: string
  /** Delegated roles: the paths or hash prefixes they may sign for, and whether terminating. */
  readonly paths?: readonly string[]
  readonly terminating?: boolean
}

export interface Inspection {
  readonly dir: string
  readonly head: {
    readonly timestamp: string
    readonly snapshot: string
    readonly root: string
    readonly targets: string
    readonly snapshotHeight: number
    readonly referenceTime: string
    readonly expires: { readonly root: string, readonly timestamp: string, readonly snapshot: string, readonly targets: string }
  }
  readonly roles: readonly RoleView[]
  /** Delegated roles the snapshot lists (name -> CID), sorted by name, at most 1000 of them. */
  readonly listedRoles: ReadonlyArray<readonly [string, string]>
  /** Tombstones (retired delegated roles), at most 1000. */
  readonly retired: ReadonlyArray<readonly [string, string]>
  /** A pager over the targets listed by `role` (default: the top-level targets). */
  readonly pager: (role?: string) => Promise<TargetPager>
}

/**
 * The trusted head, roles and target lists of the client whose state is in
 * `storage` (after a successful refresh).
 *
 * @throws {StateError} ERR_STATE_MISSING | ERR_STATE_NO_UPDATE | ERR_STATE_CORRUPT
 * @throws {ValidationError} as a reload of the state by the Updater
 */
export async function inspectTrusted (storage: ClientStorage, source?: BlockSource): Promise<Inspection> {
  const state = await storage.readState()
  if (state === null) throw new StateError('ERR_STATE_MISSING', `no trusted root in ${storage.dir}: init first`, { details: { dir: storage.dir } })
  const t = state.trusted
  if (t === null) throw new StateError('ERR_STATE_NO_UPDATE', `${storage.dir} trusts a root but has no update yet: refresh first`, { details: { dir: storage.dir } })
  const limits = resolveLimits(undefined)
  const loader = clientLoader(storage.blocks, source ?? NO_SOURCE, { maxBlocks: limits.maxBlocksPerUpdate, maxBytes: limits.maxBytesPerUpdate })
  const dag = await assertValidTimestampTop(loader, t.timestamp)
  if (!dag.snapshot.cid.equals(t.snapshot) || !dag.root.cid.equals(state.root) || !dag.targets.cid.equals(t.targets)) {
    throw new StateError('ERR_STATE_CORRUPT', `the state of ${storage.dir} does not match the DAG of its own timestamp ${t.timestamp}`, { details: { cid: t.timestamp.toString() } })
  }
  const root = dag.root.signed
  const topCid: Record<string, CID | undefined> = { root: dag.root.cid, timestamp: dag.timestamp?.cid, snapshot: dag.snapshot.cid, targets: dag.targets.cid }
  const topExpires: Record<string, string | undefined> = { root: root.expires, timestamp: dag.timestamp?.signed.expires, snapshot: dag.snapshot.signed.expires, targets: dag.targets.signed.expires }
  const roles: RoleView[] = []
  for (const name of ['root', 'timestamp', 'snapshot', 'targets'] as const) {
    const r = root.roles[name]
    const c = topCid[name]
    const e = topExpires[name]
    roles.push({ name, threshold: r.threshold, keyids: [...r.keyids], delegatedBy: 'root', ...(c === undefined ? {} : { cid: c.toString() }), ...(e === undefined ? {} : { expires: e }) })
  }
  const d = dag.targets.signed.delegations
  for (const r of d?.roles ?? []) {
    const c = dag.roles.get(r.name)
    roles.push({
      name: r.name,
      threshold: r.threshold,
      keyids: [...r.keyids],
      delegatedBy: 'targets',
      paths: r.paths ?? (r.pathHashPrefixes ?? []).map((p) => `hash prefix ${p}`),
      terminating: r.terminating,
      ...(c === undefined ? {} : { cid: c.toString() })
    })
  }
  if (d?.succinct !== undefined) {
    const s = d.succinct
    roles.push({ name: `${s.namePrefix}-* (${2 ** s.bitLength} hash bins)`, threshold: s.threshold, keyids: [...s.keyids], delegatedBy: 'targets', paths: [`${s.bitLength}-bit path hash bins`], terminating: false })
  }
  const first = <V>(m: ReadonlyMap<string, V>): Array<readonly [string, string]> => [...m].slice(0, 1000).map(([k, v]) => [k, String(v)] as const).sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
  return {
    dir: storage.dir,
    head: {
      timestamp: t.timestamp.toString(),
      snapshot: dag.snapshot.cid.toString(),
      root: dag.root.cid.toString(),
      targets: dag.targets.cid.toString(),
      snapshotHeight: dag.snapshot.signed.height,
      referenceTime: t.referenceTime,
      expires: { root: root.expires, timestamp: dag.timestamp?.signed.expires ?? '', snapshot: dag.snapshot.signed.expires, targets: dag.targets.signed.expires }
    },
    roles,
    listedRoles: first(dag.roles),
    retired: first(dag.retired),
    pager: async (role = 'targets') => new TargetPager(role === 'targets' ? dag.targets : await roleObject(dag, role), dag)
  }
}

async function roleObject (dag: Dag, name: string): Promise<TargetsEnvelope> {
  if (typeof name !== 'string' || !dag.roles.has(name)) throw new UsageError('ERR_ARGUMENT', `no delegated role ${JSON.stringify(String(name).slice(0, 100))} in the trusted snapshot`)
  return await dag.role(name)
}

export interface TargetRow { readonly path: string, readonly cid: string, readonly length: number }

export interface TargetPage {
  readonly items: readonly TargetRow[]
  /** Entries of the map read so far (all pages of this pager). */
  readonly scanned: number
  /** True when the map has no more entries. */
  readonly done: boolean
}

/** One role's target map, page by page (see the module comment). */
export class TargetPager {
  readonly role: string
  readonly #iter: AsyncIterator<Entry<TargetInfo>>
  #scanned = 0
  #done = false

  constructor (obj: TargetsEnvelope, dag: Dag) {
    this.role = obj === dag.targets ? 'targets' : 'delegated'
    this.#iter = dag.maps.targetEntries(obj.signed.targets)[Symbol.asyncIterator]()
  }

  /**
   * The next at most `n` entries (1..1000) whose path contains `query`
   * (case-insensitive; all without one), reading at most `scanBudget`
   * entries of the map in this call.
   */
  async next (n = 50, query = '', scanBudget = 20_000): Promise<TargetPage> {
    if (!Number.isSafeInteger(n) || n < 1 || n > 1000) throw new UsageError('ERR_ARGUMENT', 'n: expected 1..1000')
    if (typeof query !== 'string' || query.length > 1024) throw new UsageError('ERR_ARGUMENT', 'query: expected a string of at most 1024 characters')
    const q = query.toLowerCase()
    const items: TargetRow[] = []
    let budget = scanBudget
    while (!this.#done && items.length < n && budget > 0) {
      const r = await this.#iter.next()
      if (r.done === true) {
        this.#done = true
        break
      }
      this.#scanned++
      budget--
      const e = r.value
      if (q === '' || e.key.toLowerCase().includes(q)) items.push({ path: e.key, cid: e.value.cid.toString(), length: e.value.length })
    }
    return { items, scanned: this.#scanned, done: this.#done }
  }
}

export interface TrustedHistory {
  /** The graph (src/history/model.ts): nodes, edges, lanes, what was left out. */
  readonly history: History
  /** Its drawing (src/history/render.ts): a self-contained SVG document, every string escaped. */
  readonly svg: string
}

export interface TrustedHistoryOptions {
  /** Other timestamps to draw (e.g. the one trusted before the last refresh); one that does not load is left out. */
  readonly timestamps?: ReadonlyArray<CID | string>
  /** At most this many objects (default 120; 1..1000): the snapshot chain first, then the roles' chains. */
  readonly maxNodes?: number
  /** At most this many delegated or retired role lanes (default 16; 1..256). */
  readonly maxRoles?: number
}

/**
 * The history below the client's TRUSTED timestamp (what the client walked,
 * and what it can walk back through the `previous-version` links): the
 * timestamps, the snapshot chain with heights and skips, each role's chain,
 * root rotations, tombstones and expiry, as src/history builds it (the same
 * model and drawing as `dagtuf history`), read through the client loader
 * (local cache first, every block hash-checked, then the source) within the
 * update bounds (BOUND-BLOCKS, BOUND-BYTES) and `maxNodes`.
 *
 * It is a picture, not a verdict: the trusted head was judged by the
 * Updater; an older object that cannot be fetched or decoded ends its chain
 * in the picture with its CID and rule ID (`lane.broken`), it does not fail.
 * The reference time for expiry is the time the head was accepted.
 *
 * @throws {StateError} ERR_STATE_MISSING | ERR_STATE_NO_UPDATE
 * @throws {UsageError} ERR_ARGUMENT for bad options
 * @throws {ValidationError} | {BlockError} when the head itself or its snapshot cannot be read
 */
export async function historyOfTrusted (storage: ClientStorage, source?: BlockSource, options: TrustedHistoryOptions = {}): Promise<TrustedHistory> {
  const maxNodes = options.maxNodes ?? 120
  const maxRoles = options.maxRoles ?? 16
  if (!Number.isSafeInteger(maxNodes) || maxNodes < 1 || maxNodes > 1000) throw new UsageError('ERR_ARGUMENT', 'maxNodes: expected 1..1000')
  if (!Number.isSafeInteger(maxRoles) || maxRoles < 1 || maxRoles > 256) throw new UsageError('ERR_ARGUMENT', 'maxRoles: expected 1..256')
  const timestamps: CID[] = []
  for (const t of (options.timestamps ?? []).slice(0, 64)) {
    try {
      timestamps.push(typeof t === 'string' ? CID.parse(t) : CID.asCID(t) ?? CID.parse(String(t)))
    } catch {
      throw new UsageError('ERR_ARGUMENT', `timestamps: not a CID: ${JSON.stringify(String(t).slice(0, 100))}`)
    }
  }
  const state = await storage.readState()
  if (state === null) throw new StateError('ERR_STATE_MISSING', `no trusted root in ${storage.dir}: init first`, { details: { dir: storage.dir } })
  const t = state.trusted
  if (t === null) throw new StateError('ERR_STATE_NO_UPDATE', `${storage.dir} trusts a root but has no update yet: refresh first`, { details: { dir: storage.dir } })
  const limits = resolveLimits(undefined)
  const loader = clientLoader(storage.blocks, source ?? NO_SOURCE, { maxBlocks: limits.maxBlocksPerUpdate, maxBytes: limits.maxBytesPerUpdate })
  const history = await buildHistory(loader, t.timestamp, { timestamps, referenceTime: t.referenceTime, maxNodes, maxRoles })
  return { history, svg: toSvg(history) }
}
