/**
 * Publishing, step 1 of 3: plan (NOTES section 10). The other steps are
 * sign.ts (signatures from any `Signer`s) and commit.ts (the durable write);
 * engine.ts runs the three for a command.
 *
 * `plan` is a function from the published state (`Published`, state.ts) and
 * a list of operations to the new unsigned root, targets and delegated
 * objects, the new shard nodes of their targets maps, and the thresholds
 * each new object must meet. It holds no keys, writes nothing, and reads only
 * the published DAG (its targets maps, through `source`); its only clock is
 * the `now` passed in.
 *
 * What gets re-signed (guarantee 1 of engine.ts):
 * - a new root only when its roles or keys changed, or on request;
 * - a new targets or delegated object only when its content changed, on
 *   request, or when its current signatures no longer meet the keys that now
 *   authorize it (a rotation by the delegator);
 * - each new object names the one it replaces (`previous-version`); a
 *   removed role leaves a tombstone (`retired`), a re-added role continues
 *   from its tombstone, a new role starts from null (SUCC-SNAP-*);
 * - the snapshot and timestamp are new on every publish, but they name the
 *   CIDs of the signed envelopes (signatures included), so they are planned
 *   by `planTop` once the other objects are signed.
 */
import type { CID } from 'multiformats/cid'
import { MemoryBlockStore } from '../blocks/memory.js'
import type { BlockSource } from '../blocks/types.js'
import { expiresIn, makeSnapshot, makeTimestamp } from '../model/build.js'
import { entriesOf } from '../model/delegations.js'
import { RepoError } from '../model/errors.js'
import type {
  Envelope, KeyId, RootSigned, SnapshotSigned, TargetsSigned, TimestampSigned
} from '../model/types.js'
import { TOP_ROLES } from '../model/types.js'
import { ShardReader, buildRolesMap, emptyMap, targetsCodec, updateMap, type ShardBlock } from '../shard/index.js'
import type { Change, ExpiryRole, Op } from './files.js'
import {
  Overlay, applyOps, desiredFrom, diffRole, meets, reachable, requirementsFor, rootSignedFor, sameContent,
  targetsSignedFor, type DagView, type Published, type Requirement
} from './state.js'

/** Expiry per kind of object, in seconds. */
export type Expiry = Readonly<Record<ExpiryRole, number>>

/** A new root, targets or delegated object. */
export type PlannedSigned = RootSigned | TargetsSigned

/** The new objects of one publish, before any signature. */
export interface Plan {
  /** The published state this plan continues. */
  readonly base: Published
  /** New objects by role ('root', 'targets', delegated names): root first, then VALID's walk order. */
  readonly objects: ReadonlyMap<string, PlannedSigned>
  /** Per new object, every threshold it must meet in the new DAG (a new root: its own and the previous root's). */
  readonly needs: ReadonlyMap<string, readonly Requirement[]>
  /** The new DAG's root and targets objects (new or kept), for requirements. */
  readonly view: DagView
  /** Every keyid that some role of the new DAG authorizes (top roles and every reachable role). */
  readonly authorized: ReadonlySet<KeyId>
  /** Published delegated roles the new DAG no longer reaches (they become tombstones). */
  readonly retiring: readonly string[]
  /** New shard nodes of the targets maps, named by the new objects. */
  readonly shardBlocks: readonly ShardBlock[]
  /** What this publish changes, for head.json and the log. */
  readonly changes: readonly Change[]
  readonly now: Date
  readonly expiry: Expiry
}

export interface PlanOptions {
  readonly now: Date
  readonly expiry: Expiry
  /** Reads the published targets maps' shard nodes (the repository node, or a memory store in tests). */
  readonly source: BlockSource
  /**
   * Where the new shard nodes are kept in memory (default: a store of the
   * plan's own). Giving `Current.pending` lets commit's VALID read them
   * without copying and hashing them again.
   */
  readonly pending?: MemoryBlockStore
}

const expiryOf = (name: string): ExpiryRole => name === 'targets' ? 'targets' : 'delegated'

/**
 * Plan the publish of `ops` over `published`.
 *
 * @throws {RepoError} what applyOps throws (nothing is planned then)
 */
export async function plan (published: Published, ops: readonly Op[], options: PlanOptions): Promise<Plan> {
  const { now, expiry } = options
  const desired = desiredFrom(published)
  await applyOps(desired, ops)
  const changes: Change[] = []

  // The new targets maps: only the shard paths to changed entries are
  // rewritten (NOTES 11). New shard nodes stay in memory (in the plan).
  const mem = options.pending ?? new MemoryBlockStore()
  const shardBlocks: ShardBlock[] = []
  const sink = (b: ShardBlock): void => { mem.unsafePut(b.cid, b.bytes); shardBlocks.push(b) }
  const reader = new ShardReader(new Overlay(mem, options.source), targetsCodec)
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
  const objects = new Map<string, PlannedSigned>()
  const oldRoot = published.root.signed
  if (!sameContent(rootSignedFor(desired, oldRoot.expires, oldRoot.previousVersion), oldRoot) || desired.refresh.has('root')) {
    const root = rootSignedFor(desired, expiresIn(now, expiry.root), published.root.cid)
    objects.set('root', root)
    changes.push({ role: 'root', kind: sameContent({ ...root, expires: oldRoot.expires }, oldRoot) ? 'resigned' : 'keys-rotated' })
  }

  // 2. Targets and delegated roles, in VALID's walk order.
  const reach = reachable(desired.roles)
  const roles = new Map<string, TargetsSigned>()
  const oldOf = (n: string): Envelope<TargetsSigned> | undefined => n === 'targets' ? published.targets : published.delegated.get(n)
  for (const name of reach) {
    const content = desired.roles.get(name)!
    const old = oldOf(name)
    // An untouched role equals its published content by construction; a
    // touched one is compared (an op may have changed nothing).
    if (old !== undefined && !desired.refresh.has(name) &&
      (!desired.touched.has(name) || sameContent(targetsSignedFor(content, await mapOf(name), old.signed.expires, old.signed.previousVersion), old.signed))) {
      roles.set(name, old.signed)
      continue
    }
    const prev = old?.cid ?? published.retired.get(name) ?? null
    const t = targetsSignedFor(content, await mapOf(name), expiresIn(now, expiry[expiryOf(name)]), prev)
    roles.set(name, t)
    objects.set(name, t)
    if (old === undefined && published.retired.has(name)) {
      let count = 0
      for await (const _ of reader.entries(t.targets)) count++
      changes.push({ role: name, kind: 'restored', count })
    } else changes.push(...await diffRole(name, old?.signed, t, reader))
  }
  const newRoot = objects.get('root') as RootSigned | undefined
  const view: DagView = newRoot !== undefined ? { root: newRoot, previousRoot: oldRoot, roles } : { root: oldRoot, roles }
  // Unchanged objects whose signatures no longer meet their (rotated) keys are re-signed.
  for (const name of reach) {
    const old = oldOf(name)
    if (old === undefined || objects.has(name)) continue
    if (!meets(old, requirementsFor(view, name))) {
      const t = targetsSignedFor(desired.roles.get(name)!, await mapOf(name), expiresIn(now, expiry[expiryOf(name)]), old.cid)
      roles.set(name, t)
      objects.set(name, t)
      changes.push({ role: name, kind: 'resigned' })
    }
  }
  const retiring = [...published.delegated.keys()].filter((n) => !reach.includes(n))
  for (const n of retiring) changes.push({ role: n, kind: 'retired' })

  // Requirements are computed on the final view (re-signed roles included).
  const final: DagView = { ...view, roles }
  const needs = new Map<string, Requirement[]>()
  for (const role of objects.keys()) needs.set(role, requirementsFor(final, role))
  const authorized = new Set<KeyId>()
  for (const role of [...TOP_ROLES, ...reach]) for (const r of requirementsFor(final, role)) for (const id of r.keyids) authorized.add(id)
  return { base: published, objects, needs, view: final, authorized, retiring, shardBlocks, changes, now, expiry }
}

/** The view of the DAG made from `published` with `objects` (new root/targets/delegated objects) replacing some roles. */
export function viewOf (published: Published, objects: ReadonlyMap<string, { signed: PlannedSigned }>): DagView {
  const newRoot = objects.get('root')?.signed as RootSigned | undefined
  const roles = new Map<string, TargetsSigned>([['targets', published.targets.signed]])
  for (const [n, e] of published.delegated) roles.set(n, e.signed)
  for (const [n, o] of objects) if (n !== 'root') roles.set(n, o.signed as TargetsSigned)
  // Keep only what the new DAG reaches.
  const reach = new Set(reachable(roles, (t) => t.delegations === undefined ? [] : entriesOf(t.delegations)))
  for (const n of [...roles.keys()]) if (!reach.has(n)) roles.delete(n)
  return newRoot === undefined ? { root: published.root.signed, roles } : { root: newRoot, previousRoot: published.root.signed, roles }
}

/** The unsigned snapshot over signed new objects, and what it and the timestamp need. */
export interface TopPlan {
  readonly snapshot: SnapshotSigned
  readonly snapshotNeeds: readonly Requirement[]
  readonly timestampNeeds: readonly Requirement[]
  /** Root and targets envelopes of the new DAG (new or kept). */
  readonly root: Envelope<RootSigned>
  readonly targets: Envelope<TargetsSigned>
  readonly delegated: ReadonlyMap<string, Envelope<TargetsSigned>>
  readonly retired: ReadonlyMap<string, CID>
  /** Shard nodes of the snapshot's role maps. */
  readonly roleBlocks: readonly ShardBlock[]
}

/**
 * Plan the snapshot over `objects` (the new root, targets and delegated
 * objects, signed: the snapshot names their envelopes' CIDs).
 *
 * @throws {RepoError} ERR_DRAFT_STALE when a role the new DAG reaches has neither a new nor a published object
 */
export function planTop (published: Published, objects: ReadonlyMap<string, Envelope<PlannedSigned>>, now: Date, expiry: Expiry): TopPlan {
  const view = viewOf(published, objects)
  const root = (objects.get('root') ?? published.root) as Envelope<RootSigned>
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
  const targets = envOf('targets')
  const snapshot = makeSnapshot({
    expires: expiresIn(now, expiry.snapshot),
    previous: published.snapshot,
    root: root.cid,
    targets: targets.cid,
    delegatedTargets: buildRolesMap([...delegated].map(([n, e]) => [n, e.cid] as const), roleSink).root,
    retired: buildRolesMap(retired, roleSink).root
  })
  return {
    snapshot,
    snapshotNeeds: requirementsFor(view, 'snapshot'),
    timestampNeeds: requirementsFor(view, 'timestamp'),
    root,
    targets,
    delegated,
    retired,
    roleBlocks
  }
}

/** The unsigned timestamp of a signed snapshot. */
export function timestampFor (snapshot: CID, now: Date, expiry: Expiry): TimestampSigned {
  return makeTimestamp({ expires: expiresIn(now, expiry.timestamp), snapshot })
}

/** The first DAG of a repository: a root, an empty targets, and how to make the first snapshot. */
export interface GenesisPlan {
  readonly root: RootSigned
  readonly targets: TargetsSigned
  /** The empty map: the targets' map, and the snapshot's role maps. */
  readonly empty: ShardBlock
  readonly view: DagView
  readonly now: Date
  readonly expiry: Expiry
}

/** Plan a new repository's first root and targets for the given top roles. */
export function planGenesis (rootRoles: Parameters<typeof rootSignedFor>[0]['rootRoles'], now: Date, expiry: Expiry): GenesisPlan {
  const root = rootSignedFor({ rootRoles }, expiresIn(now, expiry.root), null)
  const empty = emptyMap()
  const targets = targetsSignedFor({ delegations: undefined }, empty.cid, expiresIn(now, expiry.targets), null)
  return { root, targets, empty, view: { root, roles: new Map([['targets', targets]]) }, now, expiry }
}

/** The first snapshot, over the signed first root and targets. */
export function genesisSnapshot (g: GenesisPlan, root: CID, targets: CID): SnapshotSigned {
  return makeSnapshot({ expires: expiresIn(g.now, g.expiry.snapshot), previous: null, root, targets, delegatedTargets: g.empty.cid, retired: g.empty.cid })
}
