/**
 * Publishing: from the current head and the staged changes to a new signed
 * DAG and a new head (NOTES section 10).
 *
 * Guarantees, in the order they happen:
 * 1. Only what changed is re-signed: a new root only when its roles or keys
 *    changed (or on request); a new targets or delegated object only when
 *    its content changed, on request, or when its current signatures no
 *    longer meet the keys that now authorize it (a key rotation); a new
 *    snapshot and a new timestamp always. Each new object names the one it
 *    replaces (`previous-version`); a removed role leaves a tombstone in
 *    `retired`, a re-added role continues from its tombstone, a new role
 *    starts from null (SUCC-SNAP-*).
 * 2. When the keys at hand cannot meet a threshold, nothing is published: the
 *    new objects go to a draft (drafts.ts) and the staged changes are
 *    cleared. The new shard nodes of their targets maps (NOTES 11) are
 *    written and flushed first (unreferenced blocks until the draft is
 *    published), since the draft's objects name them and the draft may be
 *    finalized by another process.
 * 3. Before anything is written, VALID runs on the new DAG (fail-fast) and
 *    the new timestamp must be `<-*` the current head (SUCC-TS-SNAPSHOT).
 *    A failure is RepoError ERR_PUBLISH_INVALID (details.rule = the rule ID)
 *    and leaves the repository as it was.
 * 4. All blocks (envelopes and shard nodes) are written to the node first and flushed to disk (fsync of
 *    each block file and its folders); then head.json is replaced
 *    atomically after a compare-and-swap against the head this publish
 *    started from. A publish killed at any point leaves either the old head
 *    (with some unreferenced blocks) or the new one, both VALID.
 */
import type { CID } from 'multiformats/cid'
import type { RepoNode } from '../blocks/repo-node.js'
import { MemoryBlockStore } from '../blocks/memory.js'
import type { BlockSource, GetOptions } from '../blocks/types.js'
import { expiresIn, makeSnapshot, makeTimestamp, type RoleSpec } from '../model/build.js'
import { entriesOf } from '../model/delegations.js'
import { KeyFileError, RepoError, ValidationError } from '../model/errors.js'
import { generateKeyPair, type KeyPair, type Signer } from '../model/keys.js'
import { signEnvelope } from '../model/sign.js'
import type {
  Envelope, KeyId, RootSigned, Signed, SnapshotEnvelope, TargetsSigned, TimestampEnvelope, TopRoleName
} from '../model/types.js'
import { TOP_ROLES } from '../model/types.js'
import { succStar } from '../relations/index.js'
import { ShardReader, buildRolesMap, emptyMap, targetsCodec, updateMap, type ShardBlock } from '../shard/index.js'
import { sourceLoader, type Loader } from '../validate/loader.js'
import { assertValidTimestamp } from '../validate/valid.js'
import { draftText, needsReport, complete, type Draft, type DraftObject, type NeedReport } from './drafts.js'
import { configText, type Change, type ExpiryRole, type HeadRecord, type Op, type RepoConfig } from './files.js'
import { writeAtomic, readCapped } from './repo-io.js'
import { pausePoint } from '../util/test-hooks.js'
import { writePrivateKeyFile } from './keyfile.js'
import { KeyRing, Repo, newId } from './repo.js'
export { Repo }
import {
  applyOps, desiredFrom, diffRole, loadPublished, meets, reachable, requirementsFor, rootSignedFor, sameContent,
  targetsSignedFor, type DagView, type Published, type Requirement
} from './state.js'
import { parseDraft } from './drafts.js'
import { join } from 'node:path'
import * as fs from 'node:fs/promises'

/** A block to write: an envelope or a shard node. */
type Block = Pick<Envelope, 'cid' | 'bytes'>

/** Everything a command that publishes works with. */
export interface Session {
  readonly repo: Repo
  readonly node: RepoNode
  readonly keys: KeyRing
  readonly config: RepoConfig
  readonly now: Date
  /** Expiry per kind of object, in seconds (config, then flags). */
  readonly expiry: Readonly<Record<ExpiryRole, number>>
}

/** The repository's current head, loaded and cross-checked. */
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

/** A loader over the node that also sees blocks not yet written. */
class Overlay implements BlockSource {
  constructor (readonly mem: MemoryBlockStore, readonly base: BlockSource) {}
  async get (cid: CID, options?: GetOptions): Promise<Uint8Array> {
    if (await this.mem.has(cid)) return await this.mem.get(cid, options)
    return await this.base.get(cid, options)
  }
}

/**
 * Load the head and its DAG; head.json's CIDs must be the DAG's.
 * @throws {RepoError} ERR_REPO_CORRUPT
 */
export async function loadCurrent (repo: Repo, node: RepoNode): Promise<Current> {
  const headBytes = await repo.headBytes()
  const head = await repo.head()
  const pending = new MemoryBlockStore()
  const loader = sourceLoader(new Overlay(pending, node))
  let published: Published
  try {
    published = await loadPublished(loader, head.timestamp)
  } catch (cause) {
    throw new RepoError('ERR_REPO_CORRUPT', 'the head\'s DAG cannot be loaded from the node', { cause, details: { file: 'head.json', timestamp: head.timestamp.toString() } })
  }
  const s = published.snapshot
  const same = s.cid.equals(head.snapshot) && s.signed.meta.root.equals(head.root) && s.signed.meta.targets.equals(head.targets) &&
    head.delegated.size === published.roles.size &&
    [...published.roles].every(([n, c]) => head.delegated.get(n)?.equals(c) === true)
  if (!same) throw new RepoError('ERR_REPO_CORRUPT', 'head.json does not match the DAG of its timestamp', { details: { file: 'head.json' } })
  return { headBytes, head, published, loader, pending }
}

/** Sign `signed` with every available key among `reqs`' keyids. */
async function signWithAvailable<S extends Signed> (keys: KeyRing, signed: S, reqs: readonly Requirement[], existing: Envelope<S> | undefined = undefined): Promise<Envelope<S>> {
  const ids = new Set<KeyId>()
  for (const r of reqs) for (const id of r.keyids) if (keys.has(id)) ids.add(id)
  const signers: Signer[] = []
  for (const id of [...ids].sort()) {
    const s = await keys.signer(id)
    if (s !== undefined) signers.push(s)
  }
  return await signEnvelope(signed, signers, existing?.signatures ?? [])
}

/** A view of a DAG being assembled from `published` with `objects` replacing some roles. */
function viewOf (published: Published, objects: ReadonlyMap<string, { signed: RootSigned | TargetsSigned }>): DagView {
  const newRoot = objects.get('root')?.signed as RootSigned | undefined
  const roles = new Map<string, TargetsSigned>([['targets', published.targets.signed]])
  for (const [n, e] of published.delegated) roles.set(n, e.signed)
  for (const [n, o] of objects) if (n !== 'root') roles.set(n, o.signed as TargetsSigned)
  // Keep only what the new DAG reaches.
  const reach = new Set(reachable(roles, (t) => t.delegations === undefined ? [] : entriesOf(t.delegations)))
  for (const n of [...roles.keys()]) if (!reach.has(n)) roles.delete(n)
  return newRoot === undefined ? { root: published.root.signed, roles } : { root: newRoot, previousRoot: published.root.signed, roles }
}

export type PublishResult =
  | { readonly kind: 'published', readonly head: HeadRecord }
  | { readonly kind: 'draft', readonly draft: Draft, readonly needs: NeedReport[] }
  | { readonly kind: 'waiting', readonly draft: Draft, readonly needs: NeedReport[] }

/**
 * Publish the staged changes (or refresh snapshot and timestamp when none),
 * plus `extraOps` that are not staged (a failed publish leaves nothing behind).
 *
 * @throws {RepoError} ERR_PUBLISH_INVALID | ERR_HEAD_MOVED | ERR_REPO_CORRUPT | what applyOps throws
 * @throws {KeyFileError} ERR_KEY_NOT_AUTHORIZED | ERR_KEY_MISSING (snapshot/timestamp keys) | ERR_WRONG_PASSPHRASE | ERR_PASSPHRASE_REQUIRED
 */
export async function publishStaged (session: Session, extraOps: readonly Op[] = []): Promise<PublishResult> {
  const current = await loadCurrent(session.repo, session.node)
  const { published } = current
  const staged = await session.repo.staged(current.head)
  const desired = desiredFrom(published)
  await applyOps(desired, staged.ops)
  // One-off changes of this publish only (e.g. --refresh), never staged.
  await applyOps(desired, extraOps)
  const { now, expiry } = session
  const changes: Change[] = []

  // The new targets maps: only the shard paths to changed entries are
  // rewritten (NOTES 11). New shard blocks stay in memory until the publish
  // writes them with the envelopes (or a draft is saved).
  const shardBlocks: ShardBlock[] = []
  const sink = (b: ShardBlock): void => { current.pending.unsafePut(b.cid, b.bytes); shardBlocks.push(b) }
  const reader = new ShardReader(new Overlay(current.pending, session.node), targetsCodec)
  const mapRoots = new Map<string, CID>()
  const mapOf = async (name: string): Promise<CID> => {
    const known = mapRoots.get(name)
    if (known !== undefined) return known
    const c = desired.roles.get(name)!
    let base = c.base
    if (base === undefined) { const e = emptyMap(); sink(e); base = e.cid }
    const root = c.changes.size === 0 ? base : (await updateMap(reader, base, c.changes, sink)).root
    mapRoots.set(name, root)
    return root
  }

  // 1. The root.
  const newSigned = new Map<string, RootSigned | TargetsSigned>()
  const oldRoot = published.root.signed
  if (!sameContent(rootSignedFor(desired, oldRoot.expires, oldRoot.previousVersion), oldRoot) || desired.refresh.has('root')) {
    const root = rootSignedFor(desired, expiresIn(now, expiry.root), published.root.cid)
    newSigned.set('root', root)
    changes.push({ role: 'root', kind: sameContent({ ...root, expires: oldRoot.expires }, oldRoot) ? 'resigned' : 'keys-rotated' })
  }

  // 2. Targets and delegated roles, in VALID's walk order.
  const reach = reachable(desired.roles)
  const tentative = new Map<string, TargetsSigned>()
  const oldOf = (n: string): Envelope<TargetsSigned> | undefined => n === 'targets' ? published.targets : published.delegated.get(n)
  for (const name of reach) {
    const content = desired.roles.get(name)!
    const old = oldOf(name)
    const exp = expiry[name === 'targets' ? 'targets' : 'delegated']
    // An untouched role equals its published content by construction; a
    // touched one is compared (an op may have changed nothing).
    if (old !== undefined && !desired.refresh.has(name) &&
      (!desired.touched.has(name) || sameContent(targetsSignedFor(content, await mapOf(name), old.signed.expires, old.signed.previousVersion), old.signed))) {
      tentative.set(name, old.signed)
      continue
    }
    const prev = old?.cid ?? published.retired.get(name) ?? null
    const t = targetsSignedFor(content, await mapOf(name), expiresIn(now, exp), prev)
    tentative.set(name, t)
    newSigned.set(name, t)
    if (old === undefined && published.retired.has(name)) {
      let count = 0
      for await (const _ of reader.entries(t.targets)) count++
      changes.push({ role: name, kind: 'restored', count })
    } else changes.push(...await diffRole(name, old?.signed, t, reader))
  }
  const view0: DagView = newSigned.has('root')
    ? { root: newSigned.get('root') as RootSigned, previousRoot: oldRoot, roles: tentative }
    : { root: oldRoot, roles: tentative }
  // Unchanged objects whose signatures no longer meet their (rotated) keys are re-signed.
  for (const name of reach) {
    const old = oldOf(name)
    if (old === undefined || newSigned.has(name)) continue
    if (!meets(old, requirementsFor(view0, name))) {
      const t = targetsSignedFor(desired.roles.get(name)!, await mapOf(name), expiresIn(now, expiry[name === 'targets' ? 'targets' : 'delegated']), old.cid)
      tentative.set(name, t)
      newSigned.set(name, t)
      changes.push({ role: name, kind: 'resigned' })
    }
  }
  for (const n of published.delegated.keys()) if (!reach.includes(n)) changes.push({ role: n, kind: 'retired' })
  const view: DagView = { ...view0, roles: tentative }

  // Keys given with --key must be authorized for some role of the new DAG.
  const authorized = new Set<KeyId>()
  for (const role of [...TOP_ROLES, ...reach]) for (const r of requirementsFor(view, role)) for (const id of r.keyids) authorized.add(id)
  for (const id of session.keys.explicit()) {
    if (!authorized.has(id)) throw new KeyFileError('ERR_KEY_NOT_AUTHORIZED', `key ${id} is not authorized for any role of this repository`, { details: { keyid: id } })
  }

  // 3. Sign what changed with the keys at hand.
  const objects = new Map<string, DraftObject>()
  const needs = new Map<string, Requirement[]>()
  for (const [role, signed] of newSigned) {
    const reqs = requirementsFor(view, role)
    needs.set(role, reqs)
    objects.set(role, await signWithAvailable(session.keys, signed, reqs) as DraftObject)
  }
  if (!complete(objects, needs) && objects.size > 0) {
    // The draft's objects name these shard blocks: make them durable first.
    for (const b of shardBlocks) await session.node.put(b.cid, b.bytes)
    await session.node.flush(shardBlocks.map((b) => b.cid))
    const draft: Draft = { id: newId('draft'), created: expiresIn(now, 0), base: current.head.timestamp, objects, needs, changes }
    await writeAtomic(join(session.repo.draftsDir, `${draft.id}.json`), draftText(draft))
    await session.repo.writeStaged({ id: staged.id, ops: [] })
    return { kind: 'draft', draft, needs: needsReport(objects, needs).filter((n) => n.have < n.threshold) }
  }
  const head = await finalize(session, current, objects, changes, staged.ops.length > 0 ? staged.id : '', shardBlocks)
  // The staged set is consumed (also one the head already said was done).
  await session.repo.writeStaged({ id: staged.id, ops: [] })
  return { kind: 'published', head }
}

/**
 * Check that draft objects still continue the current head's chains.
 * @throws {RepoError} ERR_DRAFT_STALE
 */
export function checkFresh (published: Published, objects: ReadonlyMap<string, DraftObject>): void {
  for (const [role, env] of objects) {
    const prev = env.signed.previousVersion
    const expected = role === 'root'
      ? published.root.cid
      : role === 'targets' ? published.targets.cid : published.delegated.get(role)?.cid ?? published.retired.get(role) ?? null
    const ok = prev === null ? expected === null : expected !== null && prev.equals(expected)
    if (!ok) throw new RepoError('ERR_DRAFT_STALE', `the draft's ${role} object no longer continues the published ${role} (the head moved)`, { details: { role } })
  }
}

/** The requirements of each draft object, recomputed from the repository's own state. */
export function draftNeeds (published: Published, objects: ReadonlyMap<string, DraftObject>): Map<string, Requirement[]> {
  const view = viewOf(published, objects)
  const out = new Map<string, Requirement[]>()
  for (const role of objects.keys()) out.set(role, requirementsFor(view, role))
  return out
}

/**
 * Finalize a draft whose thresholds may now be met: publish it, or report
 * who still has to sign.
 *
 * @throws {RepoError} ERR_DRAFT_STALE | ERR_PUBLISH_INVALID | ERR_HEAD_MOVED
 */
export async function tryFinalizeDraft (session: Session, draft: Draft): Promise<PublishResult> {
  const current = await loadCurrent(session.repo, session.node)
  checkFresh(current.published, draft.objects)
  const needs = draftNeeds(current.published, draft.objects)
  if (!complete(draft.objects, needs)) {
    return { kind: 'waiting', draft, needs: needsReport(draft.objects, needs).filter((n) => n.have < n.threshold) }
  }
  const head = await finalize(session, current, draft.objects, draft.changes, draft.id)
  await fs.rm(join(session.repo.draftsDir, `${draft.id}.json`), { force: true })
  return { kind: 'published', head }
}

/** Read drafts/ID.json. @throws {RepoError} ERR_DRAFT_NOT_FOUND | ERR_DRAFT_FORMAT */
export async function readDraft (repo: Repo, id: string): Promise<Draft> {
  if (!/^draft-[0-9a-f]{8,32}$/.test(id)) throw new RepoError('ERR_DRAFT_NOT_FOUND', `no draft ${JSON.stringify(id.slice(0, 64))}`, { details: { draft: id.slice(0, 64) } })
  const bytes = await readCapped(join(repo.draftsDir, `${id}.json`), 256 * 1024 * 1024)
  if (bytes === undefined) throw new RepoError('ERR_DRAFT_NOT_FOUND', `no draft ${id}`, { details: { draft: id } })
  return parseDraft(bytes, `drafts/${id}.json`)
}

/**
 * Every pending draft. A draft the head says it was published from (a crash
 * came between moving the head and deleting the draft) is removed here.
 */
export async function listDrafts (repo: Repo): Promise<Draft[]> {
  let names: string[]
  try { names = await fs.readdir(repo.draftsDir) } catch { return [] }
  const head = await repo.head()
  const out: Draft[] = []
  for (const n of names.sort()) {
    const m = /^(draft-[0-9a-f]{8,32})\.json$/.exec(n)
    if (m === null) continue
    if (m[1] === head.source) { await fs.rm(join(repo.draftsDir, n), { force: true }).catch(() => {}); continue }
    out.push(await readDraft(repo, m[1]!))
  }
  return out.sort((a, b) => a.created < b.created ? -1 : a.created > b.created ? 1 : 0)
}

export async function saveDraft (repo: Repo, draft: Draft): Promise<void> {
  await writeAtomic(join(repo.draftsDir, `${draft.id}.json`), draftText(draft))
}

/** Sign a snapshot or timestamp with the online keys. @throws {KeyFileError} ERR_KEY_MISSING */
async function signOnline<S extends Signed> (session: Session, signed: S, reqs: readonly Requirement[], role: string): Promise<Envelope<S>> {
  const env = await signWithAvailable(session.keys, signed, reqs)
  if (!meets(env, reqs)) {
    const r = reqs[0]!
    throw new KeyFileError('ERR_KEY_MISSING', `the ${role} key is not available (need ${r.threshold} of ${r.keyids.length}; put its key file in keys/ or pass --key)`, { details: { role, keyids: [...r.keyids] } })
  }
  return env
}

/**
 * Make the snapshot and timestamp over `objects` (the new root, targets and
 * delegated objects, fully signed), check, write, move the head.
 */
async function finalize (session: Session, current: Current, objects: ReadonlyMap<string, DraftObject>, changes: readonly Change[], source: string, shardBlocks: readonly ShardBlock[] = []): Promise<HeadRecord> {
  const { published } = current
  const view = viewOf(published, objects)
  const rootEnv = (objects.get('root') ?? published.root) as Envelope<RootSigned>
  const envOf = (n: string): Envelope<TargetsSigned> => (objects.get(n) as Envelope<TargetsSigned> | undefined) ?? (n === 'targets' ? published.targets : published.delegated.get(n)!)
  const names = [...view.roles.keys()].filter((n) => n !== 'targets')
  for (const n of names) {
    if (!objects.has(n) && !published.delegated.has(n)) throw new RepoError('ERR_DRAFT_STALE', `role ${n} has no object to publish`, { details: { role: n } })
  }
  const delegated = new Map(names.map((n) => [n, envOf(n)]))
  const retired = new Map(published.retired)
  for (const n of names) retired.delete(n)
  for (const [n, e] of published.delegated) if (!delegated.has(n)) retired.set(n, e.cid)

  const roleBlocks: ShardBlock[] = []
  const roleSink = (b: ShardBlock): void => { roleBlocks.push(b) }
  const snapshot: SnapshotEnvelope = await signOnline(session, makeSnapshot({
    expires: expiresIn(session.now, session.expiry.snapshot),
    previousVersion: published.snapshot.cid,
    root: rootEnv.cid,
    targets: envOf('targets').cid,
    delegatedTargets: buildRolesMap([...delegated].map(([n, e]) => [n, e.cid] as const), roleSink).root,
    retired: buildRolesMap(retired, roleSink).root
  }), requirementsFor(view, 'snapshot'), 'snapshot')
  const timestamp: TimestampEnvelope = await signOnline(session, makeTimestamp({
    expires: expiresIn(session.now, session.expiry.timestamp),
    snapshot: snapshot.cid
  }), requirementsFor(view, 'timestamp'), 'timestamp')

  const blocks: Block[] = [...shardBlocks, ...roleBlocks, ...objects.values(), snapshot, timestamp]
  await checkAndWrite(session, blocks, timestamp, published.timestamp.cid, current)
  const head: HeadRecord = {
    timestamp: timestamp.cid,
    snapshot: snapshot.cid,
    root: rootEnv.cid,
    targets: envOf('targets').cid,
    delegated: new Map([...delegated].map(([n, e]) => [n, e.cid])),
    retired,
    published: expiresIn(session.now, 0),
    changes,
    source
  }
  await session.repo.moveHead(head, current.headBytes)
  await pausePoint('after-head')
  await session.repo.appendLog(head, current.head)
  return head
}

/**
 * VALID on the new DAG, `<-*` against the previous head (when there is one),
 * then write every block and flush them to disk. Nothing is written when a
 * check fails.
 *
 * @throws {RepoError} ERR_PUBLISH_INVALID
 */
async function checkAndWrite (session: Session, blocks: readonly Block[], timestamp: TimestampEnvelope, previous: CID | undefined, current?: Current): Promise<void> {
  const mem = current?.pending ?? new MemoryBlockStore()
  for (const b of blocks) if (!(await mem.has(b.cid))) await mem.put(b.cid, b.bytes)
  const loader = current?.loader ?? sourceLoader(new Overlay(mem, session.node))
  try {
    await assertValidTimestamp(loader, timestamp.cid)
    if (previous !== undefined) {
      const rel = await succStar(loader, 'timestamp', timestamp.cid, previous)
      if (!rel.holds) {
        const v = rel.violations[0]
        throw new ValidationError(v?.rule ?? 'SUCC-TS-SNAPSHOT', v?.message ?? 'the new timestamp does not descend from the head', { details: { cid: v?.cid } })
      }
    }
  } catch (e) {
    if (e instanceof ValidationError) {
      throw new RepoError('ERR_PUBLISH_INVALID', `refusing to publish: the new DAG breaks ${e.code} (${e.message})`, { cause: e, details: { rule: e.code, ...e.details } })
    }
    throw e
  }
  await pausePoint('before-blocks')
  let i = 0
  for (const b of blocks) {
    await session.node.put(b.cid, b.bytes)
    if (++i === Math.ceil(blocks.length / 2)) await pausePoint('mid-blocks')
  }
  // put() does not fsync: make the new blocks durable before the head that
  // names them is written, or a power loss could keep the head and lose them.
  await session.node.flush(blocks.map((b) => b.cid))
  await pausePoint('after-blocks')
}

export interface SessionOptions {
  /** Take the repository lock (every command that changes something). */
  lock?: boolean
  passphrase?: string
  /** Key files given with --key, in addition to DIR/keys. */
  keyFiles?: readonly string[]
  now?: Date
  /** Expiry overrides in seconds (--expiry ROLE=DURATION). */
  expiry?: Partial<Record<ExpiryRole, number>>
}

/** A session over an open repository (keys indexed, node opened). */
export async function sessionFor (repo: Repo, options: SessionOptions = {}): Promise<Session> {
  const keys = new KeyRing(options.passphrase)
  for (const f of options.keyFiles ?? []) await keys.addFile(f)
  keys.addIndex(await repo.keyFiles())
  const config = await repo.config()
  const node = await repo.node()
  return { repo, node, keys, config, now: options.now ?? new Date(), expiry: { ...config.expiry, ...options.expiry } }
}

/**
 * Open the repository in `dir` for a command. The caller closes it
 * (`session.repo.close()`).
 *
 * @throws {RepoError} ERR_REPO_NOT_FOUND | ERR_REPO_LOCKED | ERR_REPO_CORRUPT; {KeyFileError} for --key files
 */
export async function openSession (dir: string, options: SessionOptions = {}): Promise<Session> {
  const repo = await Repo.open(dir, { lock: options.lock === true })
  try {
    return await sessionFor(repo, options)
  } catch (e) {
    await repo.close().catch(() => {})
    throw e
  }
}

// ---------------------------------------------------------------------------
// init

export interface InitOptions {
  rootKeys: number
  rootThreshold: number
  passphrase?: string
  /** scrypt cost of encrypted key files (log2 N). */
  logN?: number
  now?: Date
  expiry?: Partial<Record<ExpiryRole, string>>
}

export interface InitResult {
  repo: Repo
  head: HeadRecord
  keys: Array<{ role: TopRoleName, keyid: KeyId, file: string }>
}

/**
 * Create a repository: keys for every top role, the first root, an empty
 * targets, the first snapshot and timestamp, all VALID, and the head.
 *
 * @throws {RepoError} ERR_REPO_EXISTS | ERR_THRESHOLD
 */
export async function initRepo (dir: string, options: InitOptions): Promise<InitResult> {
  const { rootKeys, rootThreshold } = options
  if (!Number.isSafeInteger(rootKeys) || rootKeys < 1 || rootKeys > 64) throw new RepoError('ERR_THRESHOLD', '--root-keys must be 1..64')
  if (!Number.isSafeInteger(rootThreshold) || rootThreshold < 1 || rootThreshold > rootKeys) {
    throw new RepoError('ERR_THRESHOLD', `--root-threshold must be 1..${rootKeys}`, { details: { threshold: rootThreshold, keys: rootKeys } })
  }
  const expiryText = { root: '365d', targets: '90d', snapshot: '7d', timestamp: '1d', delegated: '90d', ...options.expiry }
  const repo = await Repo.create(dir, configText(expiryText))
  try {
    const made: InitResult['keys'] = []
    const pairs: Record<TopRoleName, KeyPair[]> = { root: [], targets: [], snapshot: [], timestamp: [] }
    for (const role of TOP_ROLES) {
      const n = role === 'root' ? rootKeys : 1
      for (let i = 1; i <= n; i++) {
        const pair = generateKeyPair()
        const file = join(repo.keysDir, `${role}${n > 1 ? `-${i}` : ''}-${pair.keyid.slice(0, 8)}.json`)
        await writePrivateKeyFile(file, pair, options.passphrase === undefined ? {} : { passphrase: options.passphrase, logN: options.logN })
        pairs[role].push(pair)
        made.push({ role, keyid: pair.keyid, file })
      }
    }
    const session = await sessionFor(repo, { passphrase: options.passphrase, now: options.now })
    const roles = {} as Record<TopRoleName, RoleSpec>
    for (const r of TOP_ROLES) roles[r] = { keys: pairs[r].map((p) => p.publicKey), threshold: r === 'root' ? rootThreshold : 1 }
    const { now, expiry } = session
    const rootSigned = rootSignedFor({ rootRoles: roles }, expiresIn(now, expiry.root), null)
    const view: DagView = { root: rootSigned, roles: new Map() }
    const root = await signWithAvailable(session.keys, rootSigned, requirementsFor(view, 'root'))
    const empty = emptyMap()
    const targets = await signWithAvailable(session.keys, targetsSignedFor({ delegations: undefined }, empty.cid, expiresIn(now, expiry.targets), null), requirementsFor(view, 'targets'))
    const snapshot = await signWithAvailable(session.keys, makeSnapshot({ expires: expiresIn(now, expiry.snapshot), previousVersion: null, root: root.cid, targets: targets.cid, delegatedTargets: empty.cid, retired: empty.cid }), requirementsFor(view, 'snapshot'))
    const timestamp = await signWithAvailable(session.keys, makeTimestamp({ expires: expiresIn(now, expiry.timestamp), snapshot: snapshot.cid }), requirementsFor(view, 'timestamp'))
    await checkAndWrite(session, [empty, root, targets, snapshot, timestamp], timestamp, undefined)
    const head: HeadRecord = {
      timestamp: timestamp.cid,
      snapshot: snapshot.cid,
      root: root.cid,
      targets: targets.cid,
      delegated: new Map(),
      retired: new Map(),
      published: expiresIn(now, 0),
      changes: [{ role: 'root', kind: 'created' }, { role: 'targets', kind: 'created', count: 0 }],
      source: ''
    }
    await repo.moveHead(head, undefined)
    await repo.appendLog(head)
    return { repo, head, keys: made }
  } catch (e) {
    await repo.close().catch(() => {})
    throw e
  }
}

export type { Requirement }
