/**
 * A repository simulator and a seeded generator of honest dagtuf histories,
 * in the manner of tuf-conformance's repository simulator, over a
 * MemoryBlockStore keyed by CID.
 *
 * `RepoSim` keeps the working state of a publisher (keys of every role,
 * targets of every targets role, ordered delegation edges) and `publish()`
 * turns it into the next timestamp DAG the way NOTES section 10 says an
 * honest publisher must:
 * - every changed object names the one it replaces (`previous-version`);
 *   a new delegated role starts with null (SUCC-SNAP-NEW);
 * - a root change is signed by a threshold of the previous root keys and of
 *   the new ones (SUCC-ROOT-THRESHOLD, VALID-ROOT-SELF);
 * - every object is signed by exactly a threshold of its keys (a random
 *   subset), so dropping one signature is below threshold;
 * - a role no chain reaches any more is retired with its last CID
 *   (SUCC-SNAP-REMOVED), tombstones stay (SUCC-SNAP-RETIRED), and a
 *   re-added role continues its chain from the tombstone;
 * - targets a delegated role may no longer sign (its chain changed) are
 *   dropped before publishing (VALID-DELEG-PATHS).
 * Every published version is kept (`versions`), with its envelopes; the
 * forge* helpers sign arbitrary objects with the simulator's keys so attack
 * tests can replay, splice and mix-and-match.
 *
 * Determinism: all keys and choices come from a seeded PRNG and the clock is
 * simulated (one hour per publish from `start`), so a seed and an op list
 * reproduce a history byte for byte (ed25519 signatures are deterministic).
 *
 * `Op` is a plain, JSON-printable description of one step whose numbers are
 * interpreted modulo the current choices, so any list of ops is an honest
 * history and fast-check can shrink lists (`arbOps`).
 */
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { buildRolesMap, buildTargetsMap, type ShardBlock } from '../../src/shard/index.js'
import { expiresIn, makeRoot, makeSnapshot, makeTargets, makeTimestamp, type DelegationSpec } from '../../src/model/build.js'
import { CODEC_RAW, HASH_SHA2_256, sha256 } from '../../src/model/hash.js'
import { keyPairFromSeed, seedSigner, type KeyPair, type Signer } from '../../src/model/keys.js'
import { signEnvelope } from '../../src/model/sign.js'
import type {
  Envelope, RootEnvelope, Signed, SnapshotEnvelope, SnapshotSigned, TargetInfo, TargetsEnvelope, TargetsSigned, TimestampEnvelope
} from '../../src/model/types.js'
import { previousFields, type PreviousFields } from './snapshot-place.js'
import { roleMatchesPath } from '../../src/validate/delegation.js'
import { sourceLoader, type Loader, type LoaderOptions, type SourceLoader } from '../../src/validate/loader.js'
import { dagOf, type FullDag } from '../../src/validate/valid.js'
import type { StateRecord } from '../../src/client/statefile.js'
import { referenceTimeOf } from '../../src/client/trusted-state.js'

// ---------------------------------------------------------------------------
// Seeds and run counts

// One seed and one DAGTUF_DEEP meaning for every property test: test/helpers/seed.ts.
export { DEEP, SEED as HISTORY_SEED, propertyRuns as historyRuns } from './seed.js'

// ---------------------------------------------------------------------------
// PRNG

/** mulberry32: small, fast, seeded; not for keys outside tests. */
export class Rng {
  #s: number
  constructor (seed: number) {
    this.#s = (seed >>> 0) ^ 0x9e3779b9
  }

  next (): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0
    let t = this.#s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T> (xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list')
    return xs[this.int(xs.length)]!
  }

  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.int(256)
    return out
  }

  /** `k` distinct elements of `xs`, in random order. */
  sample<T> (xs: readonly T[], k: number): T[] {
    const a = [...xs]
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = a[i]!
      a[i] = a[j]!
      a[j] = t
    }
    return a.slice(0, k)
  }
}

// ---------------------------------------------------------------------------
// State

export type TopRole = 'root' | 'targets' | 'snapshot' | 'timestamp'

export interface KeySet {
  readonly pairs: readonly KeyPair[]
  readonly threshold: number
}

/**
 * An outgoing delegation of a targets role. Its keys and threshold are the
 * child's own unless `keys` gives the edge a label of its own (a diamond whose
 * edges differ: the child then signs with enough keys to meet every edge,
 * VALID-DELEG-SIG).
 */
export interface Edge {
  readonly name: string
  readonly paths?: readonly string[]
  readonly hashPrefixes?: readonly string[]
  readonly terminating: boolean
  readonly keys?: KeySet
}

interface TargetsRole {
  readonly name: string
  keys: KeySet
  targets: Map<string, TargetInfo>
  edges: Edge[]
  /** Namespace its targets live under ('' for targets). */
  readonly home: string
  /** The last object published for it (listed or now retired). */
  last: TargetsEnvelope | null
  dirty: boolean
}

/** One published version: a timestamp DAG plus the tombstones. */
/** A targets object to forge: its `targets` may be a plain map, built into shards when signed. */
export type ForgedTargets = Omit<TargetsSigned, 'targets'> & { readonly targets: CID | ReadonlyMap<string, TargetInfo> }
/** What a forge starts from: the head object with its map read whole. */
export type ForgeBase = Omit<TargetsSigned, 'targets'> & { readonly targets: ReadonlyMap<string, TargetInfo> }

export interface Version {
  readonly index: number
  readonly timestamp: TimestampEnvelope
  readonly snapshot: SnapshotEnvelope
  readonly root: RootEnvelope
  readonly targets: TargetsEnvelope
  readonly delegated: ReadonlyMap<string, TargetsEnvelope>
  readonly retired: ReadonlyMap<string, CID>
  /** The simulated clock when it was published (every object is fresh then). */
  readonly now: Date
}

export interface SimOptions {
  seed?: number
  store?: MemoryBlockStore
  /** Clock of the first publish. Default 2026-01-01T00:00:00Z. */
  start?: Date
  /** Key count and threshold of the top roles; default random 1-3 keys, random threshold. */
  topKeys?: Partial<Record<TopRole, { keys: number, threshold: number }>>
}

export const EXPIRY_SECONDS: Readonly<Record<TopRole, number>> = Object.freeze({
  root: 365 * 86400,
  targets: 90 * 86400,
  snapshot: 7 * 86400,
  timestamp: 86400
})

const HOUR = 3600 * 1000

function joinPath (home: string, seg: string): string {
  return home === '' ? seg : `${home}/${seg}`
}

/** The raw CID of some content bytes. */
export function rawCid (bytes: Uint8Array): CID {
  return CID.createV1(CODEC_RAW, Digest.create(HASH_SHA2_256, sha256(bytes)))
}

function uniqueSigners (signers: readonly Signer[]): Signer[] {
  const seen = new Set<string>()
  return signers.filter((s) => !seen.has(s.keyid) && seen.add(s.keyid) !== undefined)
}

export class RepoSim {
  readonly store: MemoryBlockStore
  /** Shard nodes of the maps go to the same store. */
  readonly sink = (b: ShardBlock): void => { this.store.unsafePut(b.cid, b.bytes) }
  readonly rng: Rng
  readonly versions: Version[] = []
  /** The simulated clock (advanced one hour by every publish and refresh). */
  now: Date
  /** Target content published so far, by raw CID string. */
  readonly content = new Map<string, Uint8Array>()

  #keys: Record<'root' | 'snapshot' | 'timestamp', KeySet>
  #roles = new Map<string, TargetsRole>()
  #rootDirty = true
  #lastRoot: RootEnvelope | null = null
  /** Key sets of the last published root (its root keys must consent to the next root). */
  #published: Record<TopRole, KeySet> | null = null
  #lastSnapshot: SnapshotEnvelope | null = null
  #retired = new Map<string, CID>()
  #counter = 0

  constructor (opts: SimOptions = {}) {
    this.rng = new Rng(opts.seed ?? 1)
    this.store = opts.store ?? new MemoryBlockStore()
    this.now = new Date(opts.start ?? new Date('2026-01-01T00:00:00Z'))
    const ks = (r: TopRole): KeySet => {
      const o = opts.topKeys?.[r]
      const n = o?.keys ?? 1 + this.rng.int(3)
      return this.freshKeys(n, o?.threshold ?? 1 + this.rng.int(n))
    }
    this.#keys = { root: ks('root'), snapshot: ks('snapshot'), timestamp: ks('timestamp') }
    this.#roles.set('targets', { name: 'targets', keys: ks('targets'), targets: new Map(), edges: [], home: '', last: null, dirty: true })
  }

  /** A simulator and its first published version. */
  static async create (opts: SimOptions = {}): Promise<RepoSim> {
    const sim = new RepoSim(opts)
    await sim.publish()
    return sim
  }

  // -- keys -----------------------------------------------------------------

  /** `n` fresh deterministic key pairs with `threshold` (clamped to 1..n). */
  freshKeys (n: number, threshold: number): KeySet {
    const count = Math.max(1, Math.floor(n))
    const pairs = Array.from({ length: count }, () => keyPairFromSeed(this.rng.bytes(32)))
    return { pairs, threshold: Math.min(count, Math.max(1, Math.floor(threshold))) }
  }

  /** The current key set of a role (top role or delegated name). */
  keySet (role: string): KeySet {
    if (role === 'root' || role === 'snapshot' || role === 'timestamp') return this.#keys[role]
    return this.#role(role).keys
  }

  /**
   * A threshold of signers for a role's current keys (a random subset), or
   * `count` of them. For a delegated role without `count`: a threshold of
   * every distinct key set its incoming edges (from reachable delegators)
   * name, so the object meets each edge of a diamond (VALID-DELEG-SIG).
   */
  signersOf (role: string, count?: number): Signer[] {
    const ks = this.keySet(role)
    if (count !== undefined || role === 'targets' || !this.#roles.has(role)) {
      return this.rng.sample(ks.pairs, count ?? ks.threshold).map((p) => seedSigner(p.seed))
    }
    const sets = this.incomingKeySets(role)
    return uniqueSigners((sets.length > 0 ? sets : [ks]).flatMap((k) => this.rng.sample(k.pairs, k.threshold).map((p) => seedSigner(p.seed))))
  }

  /** The distinct key sets (labels) of the edges into `role` from reachable delegators. */
  incomingKeySets (role: string): KeySet[] {
    const out: KeySet[] = []
    for (const from of this.reachable()) {
      for (const e of this.#role(from).edges) {
        if (e.name !== role) continue
        const ks = e.keys ?? this.#role(role).keys
        if (!out.includes(ks)) out.push(ks)
      }
    }
    return out
  }

  /**
   * A threshold of signers (or `count`) among the keys the head root assigns
   * to a top role: what signs a timestamp or snapshot before a pending
   * rotation is published.
   */
  publishedSignersOf (role: TopRole, count?: number): Signer[] {
    const ks = this.#published?.[role]
    if (ks === undefined) throw new Error('nothing published yet')
    return this.rng.sample(ks.pairs, count ?? ks.threshold).map((p) => seedSigner(p.seed))
  }

  /** Every signer of a role's current keys. */
  allSignersOf (role: string): Signer[] {
    return this.keySet(role).pairs.map((p) => seedSigner(p.seed))
  }

  // -- state queries -----------------------------------------------------------

  #role (name: string): TargetsRole {
    const r = this.#roles.get(name)
    if (r === undefined) throw new Error(`no targets role ${name}`)
    return r
  }

  /** Every delegated role the simulator knows (reachable or not), sorted. */
  delegatedNames (): string[] {
    return [...this.#roles.keys()].filter((n) => n !== 'targets').sort()
  }

  /** Roles reachable from targets through the current edges, breadth-first (targets first). */
  reachable (): string[] {
    const out = ['targets']
    const seen = new Set(out)
    for (let i = 0; i < out.length; i++) {
      for (const e of this.#role(out[i]!).edges) {
        if (!seen.has(e.name) && this.#roles.has(e.name)) {
          seen.add(e.name)
          out.push(e.name)
        }
      }
    }
    return out
  }

  /** Names currently retired (tombstones of the last publish). */
  retiredNames (): string[] {
    return [...this.#retired.keys()].sort()
  }

  edgesOf (role: string): readonly Edge[] {
    return this.#role(role).edges
  }

  homeOf (role: string): string {
    return this.#role(role).home
  }

  targetPaths (role: string): string[] {
    return [...this.#role(role).targets.keys()]
  }

  /** Whether a chain of current edges from targets to `role` allows `path` (VALID-DELEG-PATHS). */
  allowed (role: string, path: string): boolean {
    if (role === 'targets') return true
    const reach = new Set(this.reachable())
    if (!reach.has(role)) return false
    const into = new Map<string, Array<{ from: string, edge: Edge }>>()
    for (const from of reach) {
      for (const edge of this.#role(from).edges) {
        let l = into.get(edge.name)
        if (l === undefined) into.set(edge.name, l = [])
        l.push({ from, edge })
      }
    }
    const seen = new Set([role])
    const stack = [role]
    while (stack.length > 0) {
      const x = stack.pop()!
      for (const { from, edge } of into.get(x) ?? []) {
        if (!roleMatchesPath(edgeAsRole(edge), path)) continue
        if (from === 'targets') return true
        if (!seen.has(from)) {
          seen.add(from)
          stack.push(from)
        }
      }
    }
    return false
  }

  get head (): Version {
    const v = this.versions[this.versions.length - 1]
    if (v === undefined) throw new Error('nothing published yet')
    return v
  }

  /** A fresh caching loader over the simulator's store. */
  loader (opts?: LoaderOptions): SourceLoader {
    return sourceLoader(this.store, opts)
  }

  // -- operations --------------------------------------------------------------

  /** A TargetInfo for some content (stored in the block store as a raw block). */
  async storeContent (bytes: Uint8Array): Promise<TargetInfo> {
    const cid = rawCid(bytes)
    await this.store.put(cid, bytes)
    this.content.set(cid.toString(), bytes)
    return { length: bytes.byteLength, cid }
  }

  /**
   * Add (or replace) a target of `role`. Returns false, changing nothing,
   * when no delegation chain allows the path for that role.
   */
  async addTarget (role: string, path: string, content?: Uint8Array): Promise<boolean> {
    const r = this.#role(role)
    if (!this.allowed(role, path)) return false
    const bytes = content ?? new TextEncoder().encode(`${path} #${this.#counter++}`)
    r.targets.set(path, await this.storeContent(bytes))
    r.dirty = true
    return true
  }

  removeTarget (role: string, path: string): boolean {
    const r = this.#role(role)
    const had = r.targets.delete(path)
    if (had) r.dirty = true
    return had
  }

  /** A new delegated role name. */
  newName (): string {
    let n: string
    do n = `r${this.#counter++}`; while (this.#roles.has(n))
    return n
  }

  /**
   * Delegate `name` from `from` (replacing an edge of the same name). A
   * role not seen before is created with fresh keys (`keys`, `threshold`)
   * and home `home` (default: from's home joined with the name).
   */
  delegate (from: string, name: string, o: { paths?: readonly string[], hashPrefixes?: readonly string[], terminating?: boolean, keys?: number, threshold?: number, home?: string, edgeKeys?: KeySet } = {}): void {
    if (name === 'targets' || name === from) throw new Error(`cannot delegate ${name} from ${from}`)
    const f = this.#role(from)
    if (!this.#roles.has(name)) {
      this.#roles.set(name, {
        name,
        keys: this.freshKeys(o.keys ?? 1, o.threshold ?? 1),
        targets: new Map(),
        edges: [],
        home: o.home ?? joinPath(f.home, name),
        last: null,
        dirty: true
      })
    }
    const home = this.#role(name).home
    const label = o.edgeKeys !== undefined ? { keys: o.edgeKeys } : {}
    const edge: Edge = o.hashPrefixes !== undefined
      ? { name, hashPrefixes: [...o.hashPrefixes], terminating: o.terminating ?? false, ...label }
      : { name, paths: [...(o.paths ?? dirPatterns(home))], terminating: o.terminating ?? false, ...label }
    const at = f.edges.findIndex((e) => e.name === name)
    if (at === -1) f.edges.push(edge)
    else f.edges[at] = edge
    f.dirty = true
  }

  undelegate (from: string, name: string): boolean {
    const f = this.#role(from)
    const before = f.edges.length
    f.edges = f.edges.filter((e) => e.name !== name)
    if (f.edges.length === before) return false
    f.dirty = true
    return true
  }

  /**
   * Rotate the keys of a role: `keep` of the old keys stay, fresh keys make
   * up `keys` in all, with `threshold` (clamped). Root changes follow: a
   * root rotation is signed by a threshold of the old and the new root keys.
   */
  rotate (role: string, o: { keys?: number, threshold?: number, keep?: number } = {}): void {
    const old = this.keySet(role)
    const n = Math.max(1, o.keys ?? old.pairs.length)
    const keep = Math.min(o.keep ?? 0, old.pairs.length, n - 1)
    const fresh = this.freshKeys(n - keep, 1).pairs
    const pairs = [...old.pairs.slice(0, keep), ...fresh]
    const ks: KeySet = { pairs, threshold: Math.min(pairs.length, Math.max(1, o.threshold ?? old.threshold)) }
    if (role === 'root' || role === 'snapshot' || role === 'timestamp') {
      this.#keys[role] = ks
      this.#rootDirty = true
      return
    }
    const r = this.#role(role)
    r.keys = ks
    r.dirty = true
    if (role === 'targets') this.#rootDirty = true
    for (const other of this.#roles.values()) {
      if (!other.edges.some((e) => e.name === role)) continue
      other.dirty = true
      // An edge with a label of its own rotates too (same size, same threshold, `keep` kept).
      other.edges = other.edges.map((e) => {
        if (e.name !== role || e.keys === undefined) return e
        const kept = e.keys.pairs.slice(0, Math.min(o.keep ?? 0, e.keys.pairs.length - 1))
        const pairs = [...kept, ...this.freshKeys(e.keys.pairs.length - kept.length, 1).pairs]
        return { ...e, keys: { pairs, threshold: e.keys.threshold } }
      })
    }
  }

  // -- publishing --------------------------------------------------------------

  expires (role: TopRole): string {
    return expiresIn(this.now, EXPIRY_SECONDS[role])
  }

  async put<S extends Signed> (env: Envelope<S>): Promise<Envelope<S>> {
    await this.store.put(env.cid, env.bytes)
    return env
  }

  /** Sign any object with the given signers and store the block. */
  async sign<S extends Signed> (signed: S, signers: readonly Signer[]): Promise<Envelope<S>> {
    const env = await this.put(await signEnvelope(signed, uniqueSigners(signers)))
    if (signed.type === 'snapshot') this.#snapshots.set(env.cid.toString(), signed as SnapshotSigned)
    return env
  }

  /** Snapshots signed here, by CID: a successor's height and skips follow from them. */
  readonly #snapshots = new Map<string, SnapshotSigned>()

  /** `makeSnapshot`'s predecessor fields for `cid` (test/helpers/snapshot-place.ts). */
  previousOf (cid: CID | null): PreviousFields {
    return previousFields(cid, cid === null ? undefined : this.#snapshots.get(cid.toString()))
  }

  #targetsSigned (r: TargetsRole): TargetsSigned {
    const delegations: DelegationSpec[] = r.edges.map((e) => {
      const ks = e.keys ?? this.#role(e.name).keys
      const base = { name: e.name, keys: ks.pairs.map((p) => p.publicKey), threshold: ks.threshold, terminating: e.terminating }
      return e.hashPrefixes !== undefined
        ? { ...base, pathHashPrefixes: [...e.hashPrefixes] }
        : { ...base, paths: [...(e.paths ?? [])] }
    })
    return makeTargets({
      expires: this.expires('targets'),
      previousVersion: r.last?.cid ?? null,
      targets: buildTargetsMap(r.targets, this.sink).root,
      ...(delegations.length > 0 ? { delegations } : {})
    })
  }

  #meetsEdges (env: TargetsEnvelope, role: string): boolean {
    const signed = new Set(env.signatures.map((s) => s.keyid))
    return this.incomingKeySets(role).every((ks) => ks.pairs.filter((p) => signed.has(p.keyid)).length >= ks.threshold)
  }

  /**
   * Publish the working state: new objects for what changed, a snapshot
   * and a timestamp. Returns the new version (also `head`).
   */
  async publish (): Promise<Version> {
    this.now = new Date(this.now.getTime() + HOUR)
    const reach = this.reachable()

    // An honest publisher never lists a target its role may not sign.
    for (const name of reach) {
      if (name === 'targets') continue
      const r = this.#role(name)
      for (const path of [...r.targets.keys()]) {
        if (!this.allowed(name, path)) {
          r.targets.delete(path)
          r.dirty = true
        }
      }
    }

    let root = this.#lastRoot
    if (this.#rootDirty || root === null) {
      const spec = (ks: KeySet): { keys: KeyPair['publicKey'][], threshold: number } => ({ keys: ks.pairs.map((p) => p.publicKey), threshold: ks.threshold })
      const signed = makeRoot({
        expires: this.expires('root'),
        previousVersion: root?.cid ?? null,
        roles: { root: spec(this.#keys.root), targets: spec(this.#role('targets').keys), snapshot: spec(this.#keys.snapshot), timestamp: spec(this.#keys.timestamp) }
      })
      const signers = this.signersOf('root')
      const prev = this.#published?.root
      if (prev !== undefined) signers.push(...this.rng.sample(prev.pairs, prev.threshold).map((p) => seedSigner(p.seed)))
      root = await this.sign(signed, signers)
      this.#lastRoot = root
      this.#published = { ...this.#keys, targets: this.#role('targets').keys }
      this.#rootDirty = false
    }

    const objects = new Map<string, TargetsEnvelope>()
    for (const name of reach) {
      const r = this.#role(name)
      // A role whose last object no longer meets every incoming edge (a new
      // diamond edge, a re-add under another label) is signed again.
      if (r.last !== null && name !== 'targets' && !this.#meetsEdges(r.last, name)) r.dirty = true
      if (r.dirty || r.last === null) {
        r.last = await this.sign(this.#targetsSigned(r), this.signersOf(name))
        r.dirty = false
      }
      objects.set(name, r.last)
    }
    const targets = objects.get('targets')!
    objects.delete('targets')
    const delegated = new Map([...objects].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))

    const prevSnap = this.#lastSnapshot
    const prevVersion = this.versions[this.versions.length - 1]
    if (prevVersion !== undefined) {
      for (const [n, e] of prevVersion.delegated) {
        if (!delegated.has(n)) this.#retired.set(n, e.cid) // SUCC-SNAP-REMOVED
      }
    }
    for (const n of delegated.keys()) this.#retired.delete(n) // re-added: continues from the tombstone

    const snapshot = await this.sign(makeSnapshot({
      expires: this.expires('snapshot'),
      previous: prevSnap === null ? null : { cid: prevSnap.cid, signed: prevSnap.signed },
      root: root.cid,
      targets: targets.cid,
      delegatedTargets: buildRolesMap([...delegated].map(([n, e]) => [n, e.cid] as const), this.sink).root,
      retired: buildRolesMap(this.#retired, this.sink).root
    }), this.signersOf('snapshot'))
    this.#lastSnapshot = snapshot
    const timestamp = await this.sign(makeTimestamp({ expires: this.expires('timestamp'), snapshot: snapshot.cid }), this.signersOf('timestamp'))
    const version: Version = {
      index: this.versions.length,
      timestamp,
      snapshot,
      root,
      targets,
      delegated,
      retired: new Map(this.#retired),
      now: new Date(this.now)
    }
    this.versions.push(version)
    return version
  }

  /** A new timestamp (fresh expiry) for the current snapshot: the timestamp kernel. */
  async refreshTimestamp (): Promise<Version> {
    const h = this.head
    this.now = new Date(this.now.getTime() + HOUR)
    const timestamp = await this.sign(makeTimestamp({ expires: this.expires('timestamp'), snapshot: h.snapshot.cid }), this.publishedSignersOf('timestamp'))
    const version: Version = { ...h, index: this.versions.length, timestamp, now: new Date(this.now) }
    this.versions.push(version)
    return version
  }

  // -- forging (attack tests) --------------------------------------------------

  /**
   * Sign a snapshot of our choosing with the head root's snapshot keys (or `signers`):
   * fields default to the head's, `previousVersion` to the head snapshot.
   */
  async forgeSnapshot (o: {
    previousVersion?: CID | null
    root?: CID
    targets?: CID
    delegated?: ReadonlyMap<string, CID>
    retired?: ReadonlyMap<string, CID>
    signers?: readonly Signer[]
    /** Replaces the height or skips its predecessor implies (SUCC-SNAP-HEIGHT, SUCC-SNAP-SKIPS attacks). */
    place?: { height?: number, skips?: readonly CID[] }
  } = {}): Promise<SnapshotEnvelope> {
    const h = this.head
    const m = h.snapshot.signed.meta
    const prev = this.previousOf(o.previousVersion === undefined ? h.snapshot.cid : o.previousVersion)
    const prevCid = prev.previous?.cid ?? prev.override?.previousVersion ?? null
    return await this.sign(makeSnapshot({
      expires: this.expires('snapshot'),
      ...(o.place === undefined ? prev : { ...prev, override: { ...prev.override, previousVersion: prevCid, ...o.place } }),
      root: o.root ?? m.root,
      targets: o.targets ?? m.targets,
      delegatedTargets: o.delegated === undefined ? m.delegatedTargets : buildRolesMap(o.delegated, this.sink).root,
      retired: o.retired === undefined ? m.retired : buildRolesMap(o.retired, this.sink).root
    }), o.signers ?? this.publishedSignersOf('snapshot'))
  }

  /** Sign a timestamp for `snapshot` with the head root's timestamp keys (or `signers`). */
  async forgeTimestamp (snapshot: CID, signers?: readonly Signer[]): Promise<TimestampEnvelope> {
    return await this.sign(makeTimestamp({ expires: this.expires('timestamp'), snapshot }), signers ?? this.publishedSignersOf('timestamp'))
  }

  /**
   * A new object for a targets role, derived from its head object by
   * `change`, with previous-version = the head object, signed by the role's
   * keys (or `signers`).
   */
  async forgeTargets (role: string, change: (t: ForgeBase) => ForgedTargets, signers?: readonly Signer[]): Promise<TargetsEnvelope> {
    const h = this.head
    const cur = role === 'targets' ? h.targets : h.delegated.get(role)
    if (cur === undefined) throw new Error(`${role} is not in the head snapshot`)
    // The change sees the head object's whole map (read from its shards).
    const entries = new Map<string, TargetInfo>()
    for await (const e of this.loader().targetEntries(cur.signed.targets)) entries.set(e.key, e.value)
    const base: ForgeBase = { ...cur.signed, targets: entries, expires: this.expires('targets'), previousVersion: cur.cid }
    const forged = change(base)
    // A map given in place of a shard root is built (and stored) first.
    const targets = forged.targets instanceof Map ? buildTargetsMap(forged.targets as ReadonlyMap<string, TargetInfo>, this.sink).root : forged.targets as CID
    return await this.sign({ ...forged, targets }, signers ?? this.signersOf(role))
  }

  /** The name -> CID map of a version's delegated roles (what its snapshot's delegated-targets holds). */
  static roles (v: Version): Map<string, CID> {
    return new Map([...v.delegated].map(([n, e]) => [n, e.cid]))
  }

  /** A version as the FullDag VALID would return for it, read through `loader`. */
  static dagOf (v: Version, loader: Pick<Loader, 'load' | 'target' | 'targetEntries'>): FullDag & { timestamp: TimestampEnvelope } {
    return { ...dagOf(loader, { snapshot: v.snapshot, root: v.root, targets: v.targets, roles: RepoSim.roles(v), retired: v.retired }, v.delegated), timestamp: v.timestamp }
  }

  /** Re-encode an envelope keeping only the signatures `keep` selects (no re-signing), and store it. */
  async dropSignatures<S extends Signed> (env: Envelope<S>, keep: (sig: { keyid: string }, index: number) => boolean): Promise<Envelope<S>> {
    const { encodeEnvelope } = await import('../../src/model/codec.js')
    return await this.put(encodeEnvelope(env.signed, env.signatures.filter(keep)))
  }

  /**
   * A copy of this simulator (same store, same history, same keys) that
   * diverges from here: the fork's PRNG is reseeded with `seed`.
   */
  fork (seed: number): RepoSim {
    return this.#copyInto(new RepoSim({ seed, store: this.store, start: this.now }))
  }

  #copyInto (other: RepoSim): RepoSim {
    other.#keys = { ...this.#keys }
    other.#roles = new Map([...this.#roles].map(([n, r]) => [n, { ...r, targets: new Map(r.targets), edges: [...r.edges] }]))
    other.#rootDirty = this.#rootDirty
    other.#lastRoot = this.#lastRoot
    other.#published = this.#published
    other.#lastSnapshot = this.#lastSnapshot
    other.#retired = new Map(this.#retired)
    other.#counter = this.#counter
    other.versions.push(...this.versions)
    other.now = new Date(this.now)
    for (const [k, b] of this.content) other.content.set(k, b)
    return other
  }
}

/** The default patterns of an edge into a role with home `home`: its directory, three levels deep. */
export function dirPatterns (home: string): string[] {
  return [`${home}/*`, `${home}/*/*`, `${home}/*/*/*`]
}

function edgeAsRole (e: Edge): Parameters<typeof roleMatchesPath>[0] {
  const base = { name: e.name, keyids: [], threshold: 1, terminating: e.terminating }
  return e.hashPrefixes !== undefined ? { ...base, pathHashPrefixes: e.hashPrefixes } : { ...base, paths: e.paths ?? [] }
}

// ---------------------------------------------------------------------------
// Operations and the generator

/**
 * One step of a history. Numbers pick among the choices available at that
 * point (modulo their count); a step with nothing to act on does nothing.
 *
 * - `diamond` adds a second incoming edge to a role; `mode` chooses its label:
 *   the role's keys with another threshold, keys of its own, or the same keys
 *   under other patterns (hash prefixes among them).
 * - `readd` always re-adds a role: a retired one if there is one, otherwise
 *   it cuts every edge into a reachable role, publishes (the tombstone) and
 *   delegates it again, under a label chosen like a diamond's.
 * - `burst` publishes 2-9 versions in a row, each with a target change: long chains.
 */
export type Op =
  | { readonly t: 'addTarget', readonly role: number, readonly pick: number }
  | { readonly t: 'removeTarget', readonly role: number, readonly pick: number }
  | { readonly t: 'delegate', readonly from: number, readonly shape: number, readonly terminating: boolean, readonly keys: number, readonly threshold: number }
  | { readonly t: 'diamond', readonly from: number, readonly to: number, readonly shape: number, readonly mode: number, readonly keys: number }
  | { readonly t: 'undelegate', readonly from: number, readonly pick: number }
  | { readonly t: 'readd', readonly pick: number, readonly from: number, readonly shape: number, readonly mode: number, readonly keys: number }
  | { readonly t: 'rotate', readonly role: number, readonly keys: number, readonly threshold: number, readonly keep: number }
  | { readonly t: 'burst', readonly n: number, readonly pick: number }
  | { readonly t: 'publish' }
  | { readonly t: 'refresh' }

const HEX = '0123456789abcdef'

/** Candidate target paths for a role, from its home (and hash-bin names). */
function candidatePaths (home: string, salt: number, hashRole: boolean): string[] {
  const b = home === '' ? '' : `${home}/`
  if (hashRole) return Array.from({ length: 48 }, (_, i) => `${b}bin/b${salt}-${i}.dat`)
  return [`${b}f${salt}.txt`, `${b}f${salt}.tgz`, `${b}v${salt % 10}/f${salt}.tgz`, `${b}sub/f${salt}.txt`, `${b}sub/deep/f${salt}.bin`]
}

/**
 * Delegate `to` from `from` under a label picked by `mode` and `shape`
 * (the second edge of a diamond, or a re-add): 0 and 4 the role's keys
 * with another threshold (if it has 2+ keys), 1 keys of the edge's own, 2
 * the role's keys and threshold under other patterns, 3 the plain label
 * (role's keys, its directory). Returns a short description.
 */
function delegateWithLabel (sim: RepoSim, from: string, to: string, o: { shape: number, mode: number, keys: number }): string {
  const home = sim.homeOf(to)
  const patterns = (): { paths?: string[], hashPrefixes?: string[] } => {
    switch (o.shape % 3) {
      case 0: return { paths: dirPatterns(home) }
      case 1: return { paths: [`${home}/*.txt`, `${home}/sub/*`, `${home}/sub/*/*`] }
      default: return { hashPrefixes: [...new Set([HEX[o.shape % 16]!, HEX[(o.shape >> 4) % 16]!])] }
    }
  }
  const own = sim.keySet(to)
  switch (o.mode % 5) {
    case 0:
    case 4: {
      // Same keys, another threshold (when there is another to take).
      const t = own.pairs.length === 1 ? 1 : 1 + ((own.threshold + (o.keys % (own.pairs.length - 1))) % own.pairs.length)
      sim.delegate(from, to, { paths: dirPatterns(home), edgeKeys: { pairs: own.pairs, threshold: t } })
      return `threshold ${t}/${own.pairs.length}`
    }
    case 1: {
      const n = 1 + (o.keys % 3)
      sim.delegate(from, to, { paths: dirPatterns(home), edgeKeys: sim.freshKeys(n, 1 + ((o.keys >> 2) % n)) })
      return `own keys ${n}`
    }
    case 2:
      sim.delegate(from, to, patterns())
      return `patterns ${o.shape % 3}`
    default:
      sim.delegate(from, to, { paths: dirPatterns(home) })
      return 'plain'
  }
}

/** Apply one op to the simulator; returns what it did (for logs). */
export async function applyOp (sim: RepoSim, op: Op): Promise<string> {
  const reach = sim.reachable()
  const delegatedReach = reach.filter((n) => n !== 'targets')
  switch (op.t) {
    case 'publish':
      await sim.publish()
      return 'publish'
    case 'refresh':
      await sim.refreshTimestamp()
      return 'refresh'
    case 'burst': {
      const n = 2 + (op.n % 8)
      for (let i = 0; i < n; i++) {
        await applyOp(sim, (op.pick + i) % 5 === 4 ? { t: 'removeTarget', role: op.pick + i, pick: i } : { t: 'addTarget', role: op.pick + i, pick: (op.pick + 7 * i) & 0xffff })
        await sim.publish()
      }
      return `burst ${n}`
    }
    case 'addTarget': {
      // Mostly delegated roles, whose paths are constrained by their chains.
      const role = delegatedReach.length > 0 && op.role % 4 !== 0 ? delegatedReach[(op.role >> 2) % delegatedReach.length]! : 'targets'
      const isHash = sim.reachable().some((f) => sim.edgesOf(f).some((e) => e.name === role && e.hashPrefixes !== undefined))
      for (const path of candidatePaths(sim.homeOf(role), op.pick, isHash)) {
        if (await sim.addTarget(role, path)) return `addTarget ${role} ${path}`
      }
      return `addTarget ${role}: no allowed path`
    }
    case 'removeTarget': {
      const role = reach[op.role % reach.length]!
      const paths = sim.targetPaths(role)
      if (paths.length === 0) return 'removeTarget: none'
      const p = paths[op.pick % paths.length]!
      sim.removeTarget(role, p)
      return `removeTarget ${role} ${p}`
    }
    case 'delegate': {
      const from = reach[op.from % reach.length]!
      if (sim.delegatedNames().length >= 12) return 'delegate: enough roles'
      const name = sim.newName()
      const home = joinPath(sim.homeOf(from), name)
      const keys = 1 + (op.keys % 3)
      const threshold = 1 + (op.threshold % keys)
      const terminating = op.terminating
      switch (op.shape % 4) {
        case 0: sim.delegate(from, name, { keys, threshold, terminating }); break
        case 1: sim.delegate(from, name, { keys, threshold, terminating, paths: [`${home}/*.txt`, `${home}/*/*.txt`, `${home}/v?/*`] }); break
        case 2: {
          const prefixes = [HEX[op.shape % 16]!, ...(op.threshold % 2 === 0 ? [HEX[(op.shape >> 4) % 16]!] : [])]
          sim.delegate(from, name, { keys, threshold, terminating, hashPrefixes: [...new Set(prefixes)] })
          break
        }
        default: sim.delegate(from, name, { keys, threshold, terminating, paths: [`${home}/sub/*`, `${home}/sub/*/*`, `${home}/f*`] })
      }
      return `delegate ${from} -> ${name} shape ${op.shape % 4}${terminating ? ' terminating' : ''}`
    }
    case 'diamond': {
      // A second delegator for an existing role (a new edge or a new label on one), or a re-add of a retired one.
      const names = sim.delegatedNames()
      const from = reach[op.from % reach.length]!
      const candidates = names.filter((n) => n !== from)
      if (candidates.length === 0) return 'diamond: none'
      const to = candidates[op.to % candidates.length]!
      return `diamond ${from} -> ${to} ${delegateWithLabel(sim, from, to, op)}`
    }
    case 'undelegate': {
      const edges = reach.flatMap((f) => sim.edgesOf(f).map((e) => [f, e.name] as const))
      if (edges.length === 0) return 'undelegate: none'
      const [f, n] = edges[op.pick % edges.length]!
      sim.undelegate(f, n)
      return `undelegate ${f} -> ${n}`
    }
    case 'readd': {
      let retired = sim.retiredNames().filter((n) => !reach.includes(n))
      const log: string[] = []
      if (retired.length === 0) {
        // Make a tombstone first: a role (a new one if there is none), cut off, published.
        // A role the head lists (one delegated but never published leaves no tombstone).
        const listed = delegatedReach.filter((n) => sim.head.delegated.has(n))
        let victim = listed[op.pick % Math.max(1, listed.length)]
        if (victim === undefined) {
          victim = sim.newName()
          sim.delegate('targets', victim, {})
          await sim.addTarget(victim, `${victim}/f${op.pick}.txt`)
          await sim.publish()
          log.push(`delegate targets -> ${victim}, publish`)
        }
        for (const f of ['targets', ...sim.delegatedNames()]) sim.undelegate(f, victim)
        await sim.publish()
        log.push(`cut ${victim}, publish`)
        retired = sim.retiredNames().filter((n) => !sim.reachable().includes(n))
        if (!retired.includes(victim)) throw new Error(`simulator: ${victim} was cut but not retired`)
        retired = [victim]
      }
      const n = retired[op.pick % retired.length]!
      // Half the time from targets (its directory stays allowed), else from any reachable role.
      const now = sim.reachable()
      const from = op.from % 2 === 0 ? 'targets' : now[(op.from >> 1) % now.length]!
      log.push(`readd ${from} -> ${n} ${delegateWithLabel(sim, from, n, op)}`)
      return log.join('; ')
    }
    case 'rotate': {
      const roles = ['root', 'targets', 'snapshot', 'timestamp', ...delegatedReach]
      const role = roles[op.role % roles.length]!
      const keys = 1 + (op.keys % 3)
      sim.rotate(role, { keys, threshold: 1 + (op.threshold % keys), keep: op.keep % 3 })
      return `rotate ${role} keys ${keys}`
    }
  }
}

/** Random ops from a PRNG, with publishes mixed in (about one in four). */
export function randomOps (rng: Rng, n: number): Op[] {
  const ops: Op[] = []
  for (let i = 0; i < n; i++) {
    const x = rng.int(100)
    const k = (): number => rng.int(1 << 16)
    if (x < 20) ops.push({ t: 'addTarget', role: k(), pick: k() })
    else if (x < 27) ops.push({ t: 'removeTarget', role: k(), pick: k() })
    else if (x < 38) ops.push({ t: 'delegate', from: k(), shape: k(), terminating: rng.int(5) === 0, keys: k(), threshold: k() })
    else if (x < 44) ops.push({ t: 'diamond', from: k(), to: k(), shape: k(), mode: k(), keys: k() })
    else if (x < 49) ops.push({ t: 'undelegate', from: k(), pick: k() })
    else if (x < 53) ops.push({ t: 'readd', pick: k(), from: k(), shape: k(), mode: k(), keys: k() })
    else if (x < 63) ops.push({ t: 'rotate', role: k(), keys: k(), threshold: k(), keep: k() })
    else if (x < 65) ops.push({ t: 'burst', n: k(), pick: k() })
    else if (x < 68) ops.push({ t: 'refresh' })
    else ops.push({ t: 'publish' })
  }
  return ops
}

/** A history: the first publish, then `ops`, then a final publish (unless the last op was one), so nothing is pending. */
export async function buildHistory (seed: number, ops: readonly Op[], opts: Omit<SimOptions, 'seed'> = {}): Promise<{ sim: RepoSim, log: string[] }> {
  const sim = await RepoSim.create({ ...opts, seed })
  const log: string[] = []
  for (const op of ops) log.push(await applyOp(sim, op))
  const last = ops[ops.length - 1]
  if (last === undefined || last.t !== 'publish') {
    await sim.publish()
    log.push('publish')
  }
  return { sim, log }
}

/** A seeded random history of `steps` ops. */
export async function generateHistory (seed: number, steps = 20, opts: Omit<SimOptions, 'seed'> = {}): Promise<{ sim: RepoSim, log: string[], ops: Op[] }> {
  const ops = randomOps(new Rng(seed ^ 0x5eed), steps)
  return { ...await buildHistory(seed, ops, opts), ops }
}

// fast-check arbitraries over ops (shrinkable: shorter lists, smaller numbers).
const n16 = fc.nat({ max: 0xffff })
const arbDiamond = fc.record({ t: fc.constant('diamond' as const), from: n16, to: n16, shape: n16, mode: n16, keys: n16 })
const arbReadd = fc.record({ t: fc.constant('readd' as const), pick: n16, from: n16, shape: n16, mode: n16, keys: n16 })
export const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('addTarget' as const), role: n16, pick: n16 }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('removeTarget' as const), role: n16, pick: n16 }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('delegate' as const), from: n16, shape: n16, terminating: fc.boolean(), keys: n16, threshold: n16 }) },
  { weight: 2, arbitrary: arbDiamond },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('undelegate' as const), from: n16, pick: n16 }) },
  { weight: 1, arbitrary: arbReadd },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('rotate' as const), role: n16, keys: n16, threshold: n16, keep: n16 }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('burst' as const), n: n16, pick: n16 }) },
  { weight: 1, arbitrary: fc.constant({ t: 'refresh' as const }) },
  { weight: 4, arbitrary: fc.constant({ t: 'publish' as const }) }
)

/** A list of ops for one history (lengths spread over the whole range; shrinks toward `minLength`). */
export function arbOps (maxLength = 24, minLength = Math.min(8, maxLength)): fc.Arbitrary<Op[]> {
  return fc.array(arbOp, { minLength, maxLength, size: 'max' })
}

/** A history seed (drives keys and subsets; ops drive the shape). */
export const arbSeed: fc.Arbitrary<number> = fc.nat({ max: 0x7fffffff })

/**
 * The histories of the law tests: a seed and an op list, mostly up to 28
 * ops, one in five a long one (40-64 ops with two bursts: long chains).
 * test/property/distribution.test.ts asserts what this yields.
 */
export const arbHistory: fc.Arbitrary<[number, Op[]]> = fc.tuple(arbSeed, fc.oneof(
  { weight: 4, arbitrary: arbOps(28) },
  { weight: 1, arbitrary: fc.tuple(arbOps(60, 36), fc.record({ t: fc.constant('burst' as const), n: n16, pick: n16 }), fc.record({ t: fc.constant('burst' as const), n: n16, pick: n16 }), fc.nat(60), fc.nat(60)).map(([ops, b1, b2, i, j]) => {
    const out: Op[] = [...ops]
    out.splice(i % (out.length + 1), 0, b1)
    out.splice(j % (out.length + 1), 0, b2)
    return out
  }) }
))

/**
 * The honest prefixes of the attack tests: 6-20 ops, half of them also
 * with a removal and re-add (`readd`) and, after it, a second delegator
 * under a differing label (`diamond`) spliced in, so attacks start from
 * histories with tombstones and diamonds.
 */
export const arbAttackPrefix: fc.Arbitrary<[number, Op[]]> = fc.tuple(arbSeed, fc.oneof(
  arbOps(20, 6),
  fc.tuple(arbOps(18, 4), arbReadd, arbDiamond, fc.nat(20), fc.nat(20)).map(([ops, r, d, i, j]) => {
    const out: Op[] = [...ops]
    const at = i % (out.length + 1)
    out.splice(at, 0, r)
    // After the re-add (so a role exists), with a label that differs: keys of its own or other patterns.
    const diamond: Op = { ...d, mode: 1 + (d.mode % 2), shape: 1 + 3 * (d.shape >> 1) + (d.shape % 2) }
    out.splice(at + 1 + (j % (out.length - at)), 0, diamond)
    return out
  })
))

// ---------------------------------------------------------------------------
// What a published history contains (read from the published objects, not from the ops)

/** The features of one honest history, for the distribution test. */
export interface HistoryFeatures {
  /** Distinct snapshots (the length of the snapshot chain). */
  readonly versions: number
  /** Some name was retired (a tombstone). */
  readonly removal: boolean
  /** Some name retired in one version is listed again in a later one. */
  readonly readd: boolean
  /** Some version has a role with two incoming edges whose labels differ. */
  readonly diamondDiffers: boolean
  /** ... in keys, in threshold, in patterns. */
  readonly diamondKeys: boolean
  readonly diamondThreshold: boolean
  readonly diamondPatterns: boolean
  /** Role kinds whose keys change between two published versions: root, targets, snapshot, timestamp, delegated. */
  readonly rotated: ReadonlySet<string>
  /** A fingerprint of the history's shape that does not depend on key material. */
  readonly shape: string
}

/** What `sim`'s published versions contain. */
export function historyFeatures (sim: RepoSim): HistoryFeatures {
  const vs = sim.versions
  const keysText = (ids: readonly string[]): string => [...ids].sort().join(',')
  const rotated = new Set<string>()
  let removal = false
  let readd = false
  let dKeys = false
  let dThreshold = false
  let dPatterns = false
  const everRetired = new Set<string>()
  const shape: string[] = []
  let prevEdges = new Map<string, string>()
  for (let i = 0; i < vs.length; i++) {
    const v = vs[i]!
    if (i > 0) {
      const a = vs[i - 1]!.root.signed.roles
      const b = v.root.signed.roles
      for (const r of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
        if (keysText(a[r].keyids) !== keysText(b[r].keyids)) rotated.add(r)
      }
    }
    for (const n of v.retired.keys()) everRetired.add(n)
    if (v.retired.size > 0) removal = true
    for (const n of v.delegated.keys()) if (everRetired.has(n) && !vs[i - 1]?.delegated.has(n)) readd = true
    // Incoming edges of every delegated role, from the objects this version lists.
    const into = new Map<string, Array<{ keys: string, threshold: number, patterns: string }>>()
    const edges = new Map<string, string>()
    for (const [from, obj] of [['targets', v.targets] as const, ...v.delegated]) {
      for (const e of obj.signed.delegations?.roles ?? []) {
        const label = { keys: keysText(e.keyids), threshold: e.threshold, patterns: JSON.stringify(e.paths ?? e.pathHashPrefixes) }
        let l = into.get(e.name)
        if (l === undefined) into.set(e.name, l = [])
        l.push(label)
        edges.set(`${from}>${e.name}`, label.keys)
      }
    }
    for (const [k, keys] of edges) {
      const before = prevEdges.get(k)
      if (before !== undefined && before !== keys) rotated.add('delegated')
    }
    prevEdges = edges
    for (const ls of into.values()) {
      for (const x of ls) {
        for (const y of ls) {
          if (x.keys !== y.keys) dKeys = true
          else if (x.threshold !== y.threshold) dThreshold = true
          if (x.patterns !== y.patterns) dPatterns = true
        }
      }
    }
    // Shape: names, edge patterns and thresholds, key counts, target maps (their content is seed-free), tombstone names.
    const objShape = (o: TargetsEnvelope): string => `${o.signed.targets.toString()}[${(o.signed.delegations?.roles ?? []).map((e) => `${e.name}:${e.threshold}/${e.keyids.length}:${JSON.stringify(e.paths ?? e.pathHashPrefixes)}${e.terminating ? '!' : ''}`).join(' ')}]`
    const r = v.root.signed.roles
    shape.push([
      `${r.root.threshold}/${r.root.keyids.length} ${r.targets.threshold}/${r.targets.keyids.length} ${r.snapshot.threshold}/${r.snapshot.keyids.length} ${r.timestamp.threshold}/${r.timestamp.keyids.length}`,
      objShape(v.targets),
      ...[...v.delegated].map(([n, o]) => `${n}=${objShape(o)}`),
      `ret ${[...v.retired.keys()].join(',')}`
    ].join(' | '))
  }
  const snaps = new Set(vs.map((v) => v.snapshot.cid.toString()))
  return {
    versions: snaps.size,
    removal,
    readd,
    diamondDiffers: dKeys || dThreshold || dPatterns,
    diamondKeys: dKeys,
    diamondThreshold: dThreshold,
    diamondPatterns: dPatterns,
    rotated,
    shape: shape.join('\n')
  }
}

/** The state record a client holds after accepting version `v` (what TrustedState starts from). */
export function recordOf (v: Version): StateRecord {
  return {
    root: v.root.cid,
    trusted: {
      timestamp: v.timestamp.cid,
      snapshot: v.snapshot.cid,
      targets: v.targets.cid,
      roles: v.snapshot.signed.meta.delegatedTargets,
      referenceTime: referenceTimeOf(v.now)
    }
  }
}
