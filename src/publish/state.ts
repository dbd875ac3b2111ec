/**
 * The publisher's view of a repository: the published DAG (what the head
 * names; `loadCurrent` loads it with head.json and cross-checks the two),
 * the desired content (published content with the staged changes
 * applied), and the signing requirements of every object.
 *
 * Guarantees:
 * - `applyOps` refuses (RepoError, nothing changed) any change that would make
 *   the next publish fail VALID: a target outside its role's delegated paths
 *   (VALID-DELEG-PATHS), an unknown role, a threshold above the number of
 *   keys (VALID-ROOT-ROLES, VALID-DELEG-KEYS), an unsafe path or name
 *   (ENC-PATH-SAFE, ENC-NAME-SAFE). VALID still runs on every publish.
 * - Content is compared by the exact bytes of the `signed` part with
 *   `expires` and `previous-version` held fixed, so "changed" means what a
 *   client would see change, never an artifact of re-encoding.
 * - `requirementsFor` lists every threshold an object must meet in the new
 *   DAG: for a root, its own root role and the previous root's
 *   (VALID-ROOT-SELF, SUCC-ROOT-THRESHOLD); for targets, the root's targets
 *   role (VALID-TARGETS-SIG); for a delegated role, every edge into it
 *   (VALID-DELEG-SIG, diamonds included).
 */
import type { CID } from 'multiformats/cid'
import { MemoryBlockStore } from '../blocks/memory.js'
import type { RepoNode } from '../blocks/repo-node.js'
import type { BlockSource, GetOptions } from '../blocks/types.js'
import { LIMITS } from '../model/config.js'
import { encodeSigned } from '../model/codec.js'
import { DagtufError, RepoError } from '../model/errors.js'
import { countValidSignatures, hexToBytes, keyIdOf, publicKeyFromBytes } from '../model/keys.js'
import { isSafeRoleName, isSafeTargetPath } from '../model/schema.js'
import { makeRoot, makeTargets, type DelegationSpec, type RoleSpec, type SuccinctSpec } from '../model/build.js'
import { binOfHash, binRole, entriesOf } from '../model/delegations.js'
import {
  TOP_ROLES, type DelegatedRole, type Envelope, type KeyId, type PublicKey, type RootSigned,
  type TargetInfo, type TargetsEnvelope, type TargetsSigned, type TimestampEnvelope, type TopRoleName
} from '../model/types.js'
import type { ShardReader } from '../shard/index.js'
import { sourceLoader, type Loader } from '../validate/loader.js'
import { dagOf, type FullDag } from '../validate/valid.js'
import { globMatch, pathHash } from '../validate/delegation.js'
import type { Change, HeadRecord, Op } from './files.js'
import type { Repo } from './repo.js'

/** The objects of one published DAG (a VALID Dag with its timestamp; `retired` holds its tombstones). */
export type Published = FullDag & {
  readonly timestamp: TimestampEnvelope
}

/** Load the DAG of timestamp `ts` (NOTES section 1, "DAG of a timestamp"); the role maps are read whole. */
export async function loadPublished (loader: Loader, ts: CID): Promise<Published> {
  const timestamp = await loader.load('timestamp', ts)
  const snapshot = await loader.load('snapshot', timestamp.signed.snapshot)
  const root = await loader.load('root', snapshot.signed.meta.root)
  const targets = await loader.load('targets', snapshot.signed.meta.targets)
  const roles = await loader.roleMap(snapshot.signed.meta.delegatedTargets)
  const retired = await loader.roleMap(snapshot.signed.meta.retired)
  const delegated = new Map<string, TargetsEnvelope>()
  for (const [name, cid] of roles) delegated.set(name, await loader.load('targets', cid))
  return { ...dagOf(loader, { snapshot, root, targets, roles, retired }, delegated), timestamp }
}

/** A block source that sees `mem` before `base` (blocks of a new DAG before they are written). */
export class Overlay implements BlockSource {
  constructor (readonly mem: MemoryBlockStore, readonly base: BlockSource) {}
  async get (cid: CID, options?: GetOptions): Promise<Uint8Array> {
    if (await this.mem.has(cid)) return await this.mem.get(cid, options)
    return await this.base.get(cid, options)
  }
}

/** What publishing needs of the repository's node: blocks in, blocks out, made durable. */
export type NodeBlocks = Pick<RepoNode, 'get' | 'has' | 'put' | 'flush'>

/** The repository's current head, loaded and cross-checked: what a publish starts from. */
export interface Current {
  /** head.json's exact bytes, for the compare-and-swap. */
  readonly headBytes: Uint8Array | undefined
  readonly head: HeadRecord
  readonly published: Published
  /** Caching loader over the node and `pending`; VALID of the new DAG reuses what it decoded. */
  readonly loader: Loader
  /** Blocks of the new DAG, visible to `loader` before they are written. */
  readonly pending: MemoryBlockStore
}

/** The first dagtuf error in `e`'s cause chain that names a block (details.cid). */
function faultyBlock (e: unknown): DagtufError | undefined {
  let at: unknown = e
  for (let depth = 0; depth < 8 && at instanceof Error; depth++) {
    if (at instanceof DagtufError && typeof at.details.cid === 'string') return at
    at = at.cause
  }
  return undefined
}

/** Which block failed and how, with what to do about it. */
function blockAtFault (e: unknown): string {
  const b = faultyBlock(e)
  if (b === undefined) return e instanceof Error ? e.message : String(e)
  const cid = String(b.details.cid)
  const restore = 'restore it from a backup or a mirror of this repository (`dagtuf export --car FILE` there writes a CAR that `dagtuf verify --car FILE --timestamp CID` checks)'
  if (b.code === 'ERR_HASH_MISMATCH') return `block ${cid} is corrupted (its bytes in blocks/ do not hash to its CID): ${restore}`
  if (b.code === 'ERR_BLOCK_NOT_FOUND') return `block ${cid} is missing from blocks/: ${restore}`
  return `block ${cid}: ${b.code}: ${b.message}`
}

function blockDetails (e: unknown): { block?: string, reason?: string } {
  const b = faultyBlock(e)
  return b === undefined ? {} : { block: String(b.details.cid), reason: b.code }
}

/**
 * Load the head and its DAG; head.json's CIDs must be the DAG's.
 * @throws {RepoError} ERR_REPO_CORRUPT (a block of the DAG corrupted or missing: details.block, details.reason)
 */
export async function loadCurrent (repo: Pick<Repo, 'head' | 'headBytes'>, node: BlockSource): Promise<Current> {
  const headBytes = await repo.headBytes()
  const head = await repo.head()
  const pending = new MemoryBlockStore()
  const loader = sourceLoader(new Overlay(pending, node))
  let published: Published
  try {
    published = await loadPublished(loader, head.timestamp)
  } catch (cause) {
    throw new RepoError('ERR_REPO_CORRUPT', `the head's DAG cannot be loaded from the node: ${blockAtFault(cause)}`, {
      cause,
      details: { file: 'head.json', timestamp: head.timestamp.toString(), ...blockDetails(cause) }
    })
  }
  const s = published.snapshot
  const same = s.cid.equals(head.snapshot) && s.signed.meta.root.equals(head.root) && s.signed.meta.targets.equals(head.targets) &&
    head.delegated.size === published.roles.size &&
    [...published.roles].every(([n, c]) => head.delegated.get(n)?.equals(c) === true)
  if (!same) throw new RepoError('ERR_REPO_CORRUPT', 'head.json does not match the DAG of its timestamp', { details: { file: 'head.json' } })
  return { headBytes, head, published, loader, pending }
}

/**
 * The content of one targets role, without expiry or history: its published
 * targets map (a shard root; undefined for a role with no published object)
 * and the staged changes to it. The map itself stays in its shards.
 */
export interface RoleContent {
  base: CID | undefined
  /** Path -> new entry, or null to remove it. */
  changes: Map<string, TargetInfo | null>
  /** Ordered (DELEG-ORDER); undefined when the object has no `delegations` member. */
  delegations: DelegationSpec[] | undefined
  /** TAP 15 succinct hash bins instead of a list (DELEG-SUCCINCT). */
  succinct?: SuccinctSpec
}

const binSpecs = new WeakMap<SuccinctSpec, readonly DelegationSpec[]>()

/** The delegations of a role's content in search order: its list, or its succinct bins expanded. */
export function specsOf (c: Pick<RoleContent, 'delegations' | 'succinct'>): readonly DelegationSpec[] {
  const s = c.succinct
  if (s === undefined) return c.delegations ?? []
  let out = binSpecs.get(s)
  if (out === undefined) {
    const list: DelegationSpec[] = []
    for (let i = 0; i < 2 ** s.bitLength; i++) list.push(binSpec(s, i))
    out = list
    binSpecs.set(s, out)
  }
  return out
}

/** The delegations of `c` that match `path` (for succinct bins, the one bin, found from the hash). */
function matchingSpecs (c: Pick<RoleContent, 'delegations' | 'succinct'>, path: string): readonly DelegationSpec[] {
  const s = c.succinct
  if (s === undefined) return (c.delegations ?? []).filter((d) => entryMatches(d, path))
  return [binSpec(s, binOfHash(s.bitLength, pathHash(path)))]
}

/** Bin `i` of succinct bins as a delegation spec (its keys given as public keys). */
function binSpec (s: SuccinctSpec, i: number): DelegationSpec {
  const r = binRole({ keyids: [], threshold: s.threshold, bitLength: s.bitLength, namePrefix: s.namePrefix }, i)
  return { name: r.name, keys: s.keys, threshold: s.threshold, terminating: false, pathHashPrefixes: r.pathHashPrefixes }
}

/** Does a role's content (published map plus staged changes) list `path`? */
export async function hasTarget (maps: Pick<Loader, 'target'>, c: RoleContent, path: string): Promise<boolean> {
  const staged = c.changes.get(path)
  if (staged !== undefined) return staged !== null
  return c.base !== undefined && (await maps.target(c.base, path)) !== undefined
}

/** What the next publish should contain. */
export interface Desired {
  /** Reads the published targets maps. */
  maps: Pick<Loader, 'target'>
  rootRoles: Record<TopRoleName, RoleSpec>
  /** 'targets' and every delegated role that still exists. */
  roles: Map<string, RoleContent>
  /** Roles to re-sign even if unchanged (fresh expiry). */
  refresh: Set<string>
  /** Roles some op changed (others are known to equal their published content). */
  touched: Set<string>
  /** The reachable roles, kept until a delegation changes. */
  reach?: Set<string> | undefined
}

function rootRolesOf (root: RootSigned): Record<TopRoleName, RoleSpec> {
  const out = {} as Record<TopRoleName, RoleSpec>
  for (const r of TOP_ROLES) {
    const rk = root.roles[r]
    out[r] = { keys: rk.keyids.map((id) => root.keys.get(id)!).filter((k) => k !== undefined), threshold: rk.threshold }
  }
  return out
}

function contentOf (t: TargetsSigned): RoleContent {
  let delegations: DelegationSpec[] | undefined
  const s = t.delegations?.succinct
  if (s !== undefined) {
    const keys = s.keyids.map((id) => t.delegations!.keys.get(id)).filter((k): k is PublicKey => k !== undefined)
    return { base: t.targets, changes: new Map(), delegations: undefined, succinct: { keys, threshold: s.threshold, bitLength: s.bitLength, namePrefix: s.namePrefix } }
  }
  if (t.delegations !== undefined) {
    const keys = t.delegations.keys
    delegations = t.delegations.roles.map((r) => specOf(r, keys))
  }
  return { base: t.targets, changes: new Map(), delegations }
}

function specOf (r: DelegatedRole, keys: ReadonlyMap<KeyId, PublicKey>): DelegationSpec {
  const ks = r.keyids.map((id) => keys.get(id)).filter((k): k is PublicKey => k !== undefined)
  const base = { name: r.name, threshold: r.threshold, terminating: r.terminating, keys: ks }
  return (r.paths !== undefined ? { ...base, paths: [...r.paths] } : { ...base, pathHashPrefixes: [...r.pathHashPrefixes] }) as DelegationSpec
}

export function desiredFrom (p: Published): Desired {
  const roles = new Map<string, RoleContent>([['targets', contentOf(p.targets.signed)]])
  for (const [name, env] of p.delegated) roles.set(name, contentOf(env.signed))
  return { maps: p.maps, rootRoles: rootRolesOf(p.root.signed), roles, refresh: new Set(), touched: new Set() }
}

/**
 * Role names reachable from `targets` through delegations, breadth-first
 * (VALID walk order). `childrenOf` gives a role's delegated names in order
 * (default: those of a RoleContent).
 */
export function reachable<C> (roles: ReadonlyMap<string, C>, childrenOf: (c: C) => Iterable<{ name: string }> = (c) => specsOf(c as RoleContent)): string[] {
  const order: string[] = []
  const seen = new Set<string>()
  const queue = ['targets']
  for (let qi = 0; qi < queue.length; qi++) {
    const n = queue[qi]!
    if (seen.has(n)) continue
    seen.add(n)
    order.push(n)
    const c = roles.get(n)
    if (c === undefined) continue
    for (const d of childrenOf(c)) if (!seen.has(d.name) && roles.has(d.name)) queue.push(d.name)
  }
  return order
}

// ---------------------------------------------------------------------------
// Path patterns (DELEG-GLOB, DELEG-HASH-PREFIX, matched by src/validate), for
// the staging check.

export function entryMatches (d: DelegationSpec, path: string): boolean {
  if (d.paths !== undefined) return d.paths.some((g) => globMatch(g, path))
  const h = pathHash(path)
  return (d.pathHashPrefixes ?? []).some((pre) => h.startsWith(pre))
}

/** Is there a chain targets -> ... -> role whose every label matches `path` (VALID-DELEG-PATHS)? */
export function pathDelegatedTo (roles: ReadonlyMap<string, RoleContent>, role: string, path: string): boolean {
  if (role === 'targets') return true
  const seen = new Set<string>(['targets'])
  const queue = ['targets']
  while (queue.length > 0) {
    const n = queue.shift()!
    const c = roles.get(n)
    for (const d of c === undefined ? [] : matchingSpecs(c, path)) {
      if (seen.has(d.name) || !roles.has(d.name)) continue
      if (d.name === role) return true
      seen.add(d.name)
      queue.push(d.name)
    }
  }
  return false
}

// ---------------------------------------------------------------------------
// Staged changes.

function keysOf (hex: readonly string[]): PublicKey[] {
  return hex.map((h) => publicKeyFromBytes(hexToBytes(h)))
}

function checkThreshold (threshold: number, keys: readonly PublicKey[], what: string): void {
  const distinct = new Set(keys.map((k) => k.public)).size
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > distinct) {
    throw new RepoError('ERR_THRESHOLD', `${what}: threshold ${threshold} needs 1..${distinct} (the number of distinct keys)`, { details: { threshold, keys: distinct } })
  }
}

function roleOrThrow (d: Desired, role: string): RoleContent {
  const c = d.roles.get(role)
  d.reach ??= new Set(reachable(d.roles))
  if (c === undefined || !d.reach.has(role)) {
    throw new RepoError('ERR_ROLE_UNKNOWN', `no role named ${JSON.stringify(role.slice(0, 64))} is delegated`, { details: { role } })
  }
  return c
}

/** Drop roles that are no longer reachable (their content goes with them). */
function prune (d: Desired): void {
  const keep = new Set(reachable(d.roles))
  for (const n of [...d.roles.keys()]) if (!keep.has(n)) d.roles.delete(n)
}

/**
 * Apply staged changes, in order, to `d` (mutated).
 *
 * @throws {RepoError} ERR_ROLE_UNKNOWN | ERR_TARGET_PATH_UNSAFE | ERR_ROLE_NAME_UNSAFE |
 *   ERR_TARGET_NOT_DELEGATED | ERR_TARGET_NOT_FOUND | ERR_THRESHOLD |
 *   ERR_DELEGATION_SELF | ERR_REPO_LIMIT
 */
export async function applyOps (d: Desired, ops: readonly Op[]): Promise<void> {
  for (const o of ops) await applyOp(d, o)
}

async function applyOp (d: Desired, o: Op): Promise<void> {
  switch (o.op) {
    case 'add': {
      const c = roleOrThrow(d, o.role)
      if (!isSafeTargetPath(o.path)) throw new RepoError('ERR_TARGET_PATH_UNSAFE', 'unsafe target path', { details: { path: String(o.path).slice(0, 256) } })
      if (!pathDelegatedTo(d.roles, o.role, o.path)) {
        throw new RepoError('ERR_TARGET_NOT_DELEGATED', `${o.path} is not within the paths delegated to ${o.role}`, { details: { path: o.path, role: o.role } })
      }
      c.changes.set(o.path, o.custom === undefined ? { length: o.length, cid: o.cid } : { length: o.length, cid: o.cid, custom: o.custom })
      d.touched.add(o.role)
      return
    }
    case 'remove': {
      const c = roleOrThrow(d, o.role)
      if (!(await hasTarget(d.maps, c, o.path))) throw new RepoError('ERR_TARGET_NOT_FOUND', `${o.role} has no target ${o.path}`, { details: { path: o.path, role: o.role } })
      c.changes.set(o.path, null)
      d.touched.add(o.role)
      return
    }
    case 'delegate': {
      if (!isSafeRoleName(o.name)) throw new RepoError('ERR_ROLE_NAME_UNSAFE', 'unsafe role name', { details: { role: String(o.name).slice(0, 64) } })
      if (o.name === o.from) throw new RepoError('ERR_DELEGATION_SELF', 'a role cannot delegate to itself', { details: { role: o.name } })
      const from = roleOrThrow(d, o.from)
      const keys = keysOf(o.keys)
      checkThreshold(o.threshold, keys, `delegation to ${o.name}`)
      d.reach = undefined
      if (o.succinctBits !== undefined) {
        // DELEG-SUCCINCT: o.name is the bins' name prefix; every bin exists.
        if ((from.delegations?.length ?? 0) > 0) throw new RepoError('ERR_DELEGATION_PATTERNS', `${o.from} already delegates a list of roles: a role delegates a list or succinct bins, not both (delegate the bins from a role of their own)`, { details: { role: o.from } })
        const bits = o.succinctBits
        if (!Number.isSafeInteger(bits) || bits < 1 || bits > LIMITS.maxSuccinctBits) throw new RepoError('ERR_DELEGATION_PATTERNS', `--succinct takes 1..${LIMITS.maxSuccinctBits} bits`, { details: { bits } })
        const spec: SuccinctSpec = { keys, threshold: o.threshold, bitLength: bits, namePrefix: o.name }
        const last = binRole({ keyids: [], threshold: 1, bitLength: bits, namePrefix: o.name }, 2 ** bits - 1).name
        if (!isSafeRoleName(last)) throw new RepoError('ERR_ROLE_NAME_UNSAFE', `the bin names (${last}) are not safe role names`, { details: { role: last } })
        from.succinct = spec
        from.delegations = undefined
        d.touched.add(o.from)
        for (const bin of specsOf(from)) if (!d.roles.has(bin.name)) d.roles.set(bin.name, { base: undefined, changes: new Map(), delegations: undefined })
        return
      }
      if (from.succinct !== undefined) throw new RepoError('ERR_DELEGATION_PATTERNS', `${o.from} delegates succinct bins: a role delegates a list or succinct bins, not both`, { details: { role: o.from } })
      for (const p of o.paths ?? []) if (!isSafeTargetPath(p)) throw new RepoError('ERR_TARGET_PATH_UNSAFE', 'unsafe path pattern', { details: { pattern: String(p).slice(0, 256) } })
      const base = { name: o.name, threshold: o.threshold, terminating: o.terminating, keys }
      const spec = (o.paths !== undefined ? { ...base, paths: [...o.paths] } : { ...base, pathHashPrefixes: [...(o.hashPrefixes ?? [])] }) as DelegationSpec
      const list = from.delegations ?? []
      const at = list.findIndex((e) => e.name === o.name)
      if (at >= 0) list[at] = spec
      else {
        if (list.length >= LIMITS.maxDelegationsPerRole) throw new RepoError('ERR_REPO_LIMIT', `more than ${LIMITS.maxDelegationsPerRole} delegations from ${o.from}`)
        list.push(spec)
      }
      from.delegations = list
      d.touched.add(o.from)
      if (!d.roles.has(o.name)) d.roles.set(o.name, { base: undefined, changes: new Map(), delegations: undefined })
      return
    }
    case 'undelegate': {
      let found = false
      d.reach = undefined
      for (const [from, c] of d.roles) {
        if (o.from !== undefined && from !== o.from) continue
        if (c.succinct?.namePrefix === o.name) { c.succinct = undefined; found = true; d.touched.add(from); continue }
        const before = c.delegations?.length ?? 0
        c.delegations = c.delegations?.filter((e) => e.name !== o.name)
        if ((c.delegations?.length ?? 0) !== before) { found = true; d.touched.add(from) }
      }
      if (!found) throw new RepoError('ERR_ROLE_UNKNOWN', `${o.name} is not delegated${o.from !== undefined ? ` by ${o.from}` : ''}`, { details: { role: o.name } })
      prune(d)
      return
    }
    case 'rotate': {
      const keys = keysOf(o.keys)
      checkThreshold(o.threshold, keys, `role ${o.role}`)
      if ((TOP_ROLES as readonly string[]).includes(o.role)) {
        d.rootRoles[o.role as TopRoleName] = { keys, threshold: o.threshold }
        return
      }
      // Succinct bins share their keys: rotate them by their name prefix.
      let bins = false
      for (const [from, c] of d.roles) {
        if (c.succinct?.namePrefix !== o.role) continue
        c.succinct = { ...c.succinct, keys, threshold: o.threshold }
        d.touched.add(from)
        bins = true
      }
      if (bins) return
      roleOrThrow(d, o.role)
      for (const [from, c] of d.roles) {
        if (c.delegations?.some((e) => e.name === o.role) !== true) continue
        c.delegations = c.delegations.map((e) => e.name === o.role ? { ...e, keys, threshold: o.threshold } : e)
        d.touched.add(from)
      }
      return
    }
    case 'refresh':
      if (o.role !== 'root') roleOrThrow(d, o.role)
      d.refresh.add(o.role)
  }
}

// ---------------------------------------------------------------------------
// Signed objects for the desired content.

export function rootSignedFor (d: Pick<Desired, 'rootRoles'>, expires: string, previousVersion: CID | null): RootSigned {
  return makeRoot({ expires, previousVersion, roles: d.rootRoles })
}

/** The targets object for a role's content, given the root of its (updated) targets map. */
export function targetsSignedFor (c: Pick<RoleContent, 'delegations' | 'succinct'>, targets: CID, expires: string, previousVersion: CID | null): TargetsSigned {
  return makeTargets({
    expires,
    previousVersion,
    targets,
    ...(c.succinct !== undefined ? { succinct: c.succinct } : c.delegations !== undefined ? { delegations: c.delegations } : {})
  })
}

/** Do two signed objects say the same thing, ignoring expiry and history? */
export function sameContent<S extends RootSigned | TargetsSigned> (a: S, b: S): boolean {
  const norm = (s: S): Uint8Array => encodeSigned({ ...s, expires: '2000-01-01T00:00:00Z', previousVersion: null })
  return Buffer.compare(Buffer.from(norm(a)), Buffer.from(norm(b))) === 0
}

// ---------------------------------------------------------------------------
// Requirements.

/** One threshold an object must meet. */
export interface Requirement {
  /** Who this is: "root", "previous root", "targets", "delegation from targets"... */
  readonly label: string
  readonly keys: ReadonlyMap<KeyId, PublicKey>
  readonly keyids: readonly KeyId[]
  readonly threshold: number
}

function req (label: string, keyids: readonly KeyId[], threshold: number, keys: ReadonlyMap<KeyId, PublicKey>): Requirement {
  const own = new Map<KeyId, PublicKey>()
  for (const id of keyids) { const k = keys.get(id); if (k !== undefined) own.set(id, k) }
  return { label, keys: own, keyids: [...keyids], threshold }
}

/** A new DAG being assembled: its root, the previous root, and every targets object by role. */
export interface DagView {
  readonly root: RootSigned
  /** Set when the root changes: the root it replaces. */
  readonly previousRoot?: RootSigned
  readonly roles: ReadonlyMap<string, TargetsSigned>
}

export function requirementsFor (view: DagView, role: string): Requirement[] {
  const r = view.root
  if (role === 'root') {
    const out = [req('root', r.roles.root.keyids, r.roles.root.threshold, r.keys)]
    const p = view.previousRoot
    if (p !== undefined) out.push(req('previous root', p.roles.root.keyids, p.roles.root.threshold, p.keys))
    return out
  }
  if (role === 'targets' || role === 'snapshot' || role === 'timestamp') {
    return [req(role, r.roles[role].keyids, r.roles[role].threshold, r.keys)]
  }
  return [...(edgeIndex(view).get(role) ?? [])]
}

const edgeIndexes = new WeakMap<DagView, Map<string, Requirement[]>>()

/** Every delegation edge of a view, by delegated name (built once per view: succinct bins make many). */
function edgeIndex (view: DagView): Map<string, Requirement[]> {
  let index = edgeIndexes.get(view)
  if (index === undefined) {
    index = new Map()
    for (const [from, t] of view.roles) {
      const dels = t.delegations
      if (dels === undefined) continue
      for (const e of entriesOf(dels)) {
        let l = index.get(e.name)
        if (l === undefined) index.set(e.name, l = [])
        l.push(req(`delegation from ${from}`, e.keyids, e.threshold, dels.keys))
      }
    }
    edgeIndexes.set(view, index)
  }
  return index
}

/** Distinct valid signatures per requirement (SIG-THRESHOLD-DISTINCT). */
export function tally (env: Pick<Envelope, 'signedBytes' | 'signatures'>, reqs: readonly Requirement[]): Array<{ req: Requirement, have: number, signed: KeyId[] }> {
  return reqs.map((rq) => {
    const signed: KeyId[] = []
    for (const s of env.signatures) {
      if (rq.keys.has(s.keyid) && countValidSignatures(env.signedBytes, [s], rq.keys) === 1) signed.push(s.keyid)
    }
    return { req: rq, have: countValidSignatures(env.signedBytes, env.signatures, rq.keys), signed }
  })
}

export function meets (env: Pick<Envelope, 'signedBytes' | 'signatures'>, reqs: readonly Requirement[]): boolean {
  return reqs.length > 0 && tally(env, reqs).every((t) => t.have >= t.req.threshold)
}

/**
 * What changed in a role between two signed objects (for the log). The maps
 * are compared by structural diff: only subtrees whose CIDs differ are read.
 */
export async function diffRole (role: string, before: TargetsSigned | undefined, after: TargetsSigned, reader: ShardReader<TargetInfo>): Promise<Change[]> {
  if (before === undefined) {
    let count = 0
    for await (const _ of reader.entries(after.targets)) count++
    return [{ role, kind: 'created', count }]
  }
  let added = 0
  let removed = 0
  let changed = 0
  for await (const c of reader.diff(after.targets, before.targets)) {
    if (c.before === undefined) added++
    else if (c.after === undefined) removed++
    else changed++
  }
  const out: Change[] = []
  if (added > 0) out.push({ role, kind: 'targets-added', count: added })
  if (removed > 0) out.push({ role, kind: 'targets-removed', count: removed })
  if (changed > 0) out.push({ role, kind: 'targets-changed', count: changed })
  const enc = (t: TargetsSigned): string => t.delegations === undefined ? '' : Buffer.from(encodeSigned({ ...t, targets: after.targets })).toString('hex')
  if (enc({ ...before, expires: after.expires, previousVersion: after.previousVersion }) !== enc(after)) out.push({ role, kind: 'delegations-changed' })
  if (out.length === 0) out.push({ role, kind: 'resigned' })
  return out
}
