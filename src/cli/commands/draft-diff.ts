/**
 * What a draft changes against the live head (`dagtuf draft show`, issue 14
 * item 6): for each object of the draft, compared with the published object
 * of the same role, the keys, thresholds, delegations and targets added,
 * removed or changed, and the expiry. A reviewer reads this before signing;
 * the exact objects stay available (`--json`, or `draft show --objects`).
 *
 * Targets maps are compared by the sharded map's structural diff (only the
 * subtrees whose CIDs differ are read); every change is counted, and the
 * first LIST_MAX of each kind are listed by path.
 */
import type { CID } from 'multiformats/cid'
import { ShardReader, targetsCodec, type ShardSource } from '../../shard/index.js'
import type { DelegatedRole, Delegations, KeyId, RootSigned, TargetInfo, TargetsSigned, TopRoleName } from '../../model/types.js'
import { TOP_ROLES } from '../../model/types.js'
import type { Draft } from '../../publish/drafts.js'
import type { Current } from '../../publish/engine.js'

/** Targets listed by path, per kind (added, removed, changed); the counts are always complete. */
export const LIST_MAX = 100

export interface FromTo<T> { readonly before: T, readonly after: T }

export interface KeySetChange {
  readonly added: KeyId[]
  readonly removed: KeyId[]
}

export interface RoleKeysChange extends KeySetChange {
  readonly threshold?: FromTo<number>
}

export interface RootDiff {
  /** Keys of the root's key map. */
  readonly keys: KeySetChange
  /** Per top role whose keys or threshold change. */
  readonly roles: Partial<Record<TopRoleName, RoleKeysChange>>
}

export interface DelegationView {
  readonly name: string
  readonly threshold: number
  readonly keyids: readonly KeyId[]
  readonly terminating: boolean
  readonly paths?: readonly string[]
  readonly pathHashPrefixes?: readonly string[]
}

export interface DelegationsDiff {
  readonly keys: KeySetChange
  readonly added: DelegationView[]
  readonly removed: string[]
  readonly changed: Array<{ name: string, threshold?: FromTo<number>, keys?: KeySetChange, paths?: FromTo<readonly string[]>, pathHashPrefixes?: FromTo<readonly string[]>, terminating?: FromTo<boolean> }>
  /** The search order of the roles kept changed (DELEG-ORDER). */
  readonly reordered: boolean
  readonly succinct?: FromTo<{ bitLength: number, namePrefix: string, threshold: number, keyids: readonly KeyId[] } | null>
}

export interface TargetView { readonly path: string, readonly length: number, readonly cid: string }

export interface TargetsDiff {
  readonly counts: { added: number, removed: number, changed: number }
  readonly added: TargetView[]
  readonly removed: TargetView[]
  readonly changed: Array<{ path: string, before: Omit<TargetView, 'path'>, after: Omit<TargetView, 'path'> }>
  /** More changes than LIST_MAX of some kind: the lists hold the first ones. */
  readonly truncated: boolean
}

export interface ObjectDiff {
  readonly role: string
  readonly type: 'root' | 'targets'
  /** No published object of this role: the draft creates it (or delegates it again). */
  readonly created: boolean
  readonly expires: FromTo<string | null>
  readonly root?: RootDiff
  readonly delegations?: DelegationsDiff
  readonly targets?: TargetsDiff
  /** Nothing but the expiry and the link to the previous version changes. */
  readonly resignedOnly: boolean
}

export interface DraftDiff {
  /** The head compared against, and whether the draft was made from it. */
  readonly head: string
  readonly madeFromHead: boolean
  readonly objects: ObjectDiff[]
}

function keySet (before: Iterable<KeyId>, after: Iterable<KeyId>): KeySetChange {
  const b = new Set(before)
  const a = new Set(after)
  return { added: [...a].filter((k) => !b.has(k)).sort(), removed: [...b].filter((k) => !a.has(k)).sort() }
}

const emptyKeys = (c: KeySetChange): boolean => c.added.length === 0 && c.removed.length === 0
const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((x, i) => x === (b ?? [])[i])

function rootDiff (before: RootSigned | undefined, after: RootSigned): RootDiff {
  const roles: RootDiff['roles'] = {}
  for (const r of TOP_ROLES) {
    const b = before?.roles[r]
    const a = after.roles[r]
    const keys = keySet(b?.keyids ?? [], a.keyids)
    const threshold = b?.threshold !== a.threshold ? { before: b?.threshold ?? 0, after: a.threshold } : undefined
    if (!emptyKeys(keys) || threshold !== undefined) roles[r] = { ...keys, ...(threshold !== undefined ? { threshold } : {}) }
  }
  return { keys: keySet(before?.keys.keys() ?? [], after.keys.keys()), roles }
}

function view (d: DelegatedRole): DelegationView {
  return {
    name: d.name,
    threshold: d.threshold,
    keyids: [...d.keyids],
    terminating: d.terminating,
    ...(d.paths !== undefined ? { paths: [...d.paths] } : {}),
    ...(d.pathHashPrefixes !== undefined ? { pathHashPrefixes: [...d.pathHashPrefixes] } : {})
  }
}

function succinctOf (d: Delegations | undefined): { bitLength: number, namePrefix: string, threshold: number, keyids: readonly KeyId[] } | null {
  const s = d?.succinct
  return s === undefined ? null : { bitLength: s.bitLength, namePrefix: s.namePrefix, threshold: s.threshold, keyids: [...s.keyids] }
}

function delegationsDiff (before: Delegations | undefined, after: Delegations | undefined): DelegationsDiff {
  // Explicit roles only: succinct bins are compared by their parameters, not expanded.
  const b = new Map((before?.roles ?? []).map((r) => [r.name, r]))
  const a = new Map((after?.roles ?? []).map((r) => [r.name, r]))
  const changed: DelegationsDiff['changed'] = []
  for (const [name, x] of a) {
    const y = b.get(name)
    if (y === undefined) continue
    const keys = keySet(y.keyids, x.keyids)
    const c = {
      name,
      ...(x.threshold !== y.threshold ? { threshold: { before: y.threshold, after: x.threshold } } : {}),
      ...(!emptyKeys(keys) ? { keys } : {}),
      ...(!sameList(y.paths, x.paths) ? { paths: { before: y.paths ?? [], after: x.paths ?? [] } } : {}),
      ...(!sameList(y.pathHashPrefixes, x.pathHashPrefixes) ? { pathHashPrefixes: { before: y.pathHashPrefixes ?? [], after: x.pathHashPrefixes ?? [] } } : {}),
      ...(x.terminating !== y.terminating ? { terminating: { before: y.terminating, after: x.terminating } } : {})
    }
    if (Object.keys(c).length > 1) changed.push(c)
  }
  const kept = (m: Map<string, DelegatedRole>, other: Map<string, DelegatedRole>): string[] => [...m.keys()].filter((n) => other.has(n))
  const sb = succinctOf(before)
  const sa = succinctOf(after)
  return {
    keys: keySet(before?.keys.keys() ?? [], after?.keys.keys() ?? []),
    added: [...a.values()].filter((r) => !b.has(r.name)).map(view),
    removed: [...b.keys()].filter((n) => !a.has(n)),
    changed,
    reordered: !sameList(kept(b, a), kept(a, b)),
    ...(JSON.stringify(sb) !== JSON.stringify(sa) ? { succinct: { before: sb, after: sa } } : {})
  }
}

const emptyDelegations = (d: DelegationsDiff): boolean =>
  emptyKeys(d.keys) && d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0 && !d.reordered && d.succinct === undefined

const targetView = (t: TargetInfo): Omit<TargetView, 'path'> => ({ length: t.length, cid: t.cid.toString() })

async function targetsDiff (reader: ShardReader<TargetInfo>, before: CID | undefined, after: CID): Promise<TargetsDiff> {
  const counts = { added: 0, removed: 0, changed: 0 }
  const added: TargetView[] = []
  const removed: TargetView[] = []
  const changed: TargetsDiff['changed'] = []
  const changes = before === undefined
    ? (async function * () { for await (const e of reader.entries(after)) yield { key: e.key, after: e.value, before: undefined } })()
    : reader.diff(after, before)
  for await (const c of changes) {
    if (c.before === undefined && c.after !== undefined) {
      if (counts.added++ < LIST_MAX) added.push({ path: c.key, ...targetView(c.after) })
    } else if (c.after === undefined && c.before !== undefined) {
      if (counts.removed++ < LIST_MAX) removed.push({ path: c.key, ...targetView(c.before) })
    } else if (c.before !== undefined && c.after !== undefined) {
      if (counts.changed++ < LIST_MAX) changed.push({ path: c.key, before: targetView(c.before), after: targetView(c.after) })
    }
  }
  const truncated = counts.added > LIST_MAX || counts.removed > LIST_MAX || counts.changed > LIST_MAX
  return { counts, added, removed, changed, truncated }
}

/** The diff of every object of `draft` against the published DAG of `current`; shard nodes are read from `source`. */
export async function diffDraft (draft: Draft, current: Pick<Current, 'head' | 'published'>, source: ShardSource): Promise<DraftDiff> {
  const p = current.published
  const reader = new ShardReader(source, targetsCodec)
  const objects: ObjectDiff[] = []
  for (const [role, env] of draft.objects) {
    const after = env.signed
    if (after.type === 'root') {
      const before = p.root.signed
      const root = rootDiff(before, after)
      objects.push({
        role, type: 'root', created: false, expires: { before: before.expires, after: after.expires }, root,
        resignedOnly: emptyKeys(root.keys) && Object.keys(root.roles).length === 0
      })
      continue
    }
    const published = role === 'targets' ? p.targets : p.delegated.get(role)
    const before: TargetsSigned | undefined = published?.signed
    const delegations = delegationsDiff(before?.delegations, after.delegations)
    const targets = before !== undefined && before.targets.equals(after.targets)
      ? { counts: { added: 0, removed: 0, changed: 0 }, added: [], removed: [], changed: [], truncated: false }
      : await targetsDiff(reader, before?.targets, after.targets)
    const noTargets = targets.counts.added + targets.counts.removed + targets.counts.changed === 0
    objects.push({
      role, type: 'targets', created: before === undefined, expires: { before: before?.expires ?? null, after: after.expires },
      delegations, targets, resignedOnly: before !== undefined && noTargets && emptyDelegations(delegations)
    })
  }
  return { head: current.head.timestamp.toString(), madeFromHead: draft.base.equals(current.head.timestamp), objects }
}

const short = (k: string): string => k.slice(0, 16)
const keyWords = (c: KeySetChange): string[] => [...c.added.map((k) => `+${short(k)}`), ...c.removed.map((k) => `-${short(k)}`)]

function delegationWords (v: DelegationView): string {
  const scope = v.paths !== undefined ? `paths ${v.paths.join(' ')}` : `hash prefixes ${(v.pathHashPrefixes ?? []).join(' ')}`
  return `${v.threshold} of ${v.keyids.length} key(s) (${v.keyids.map(short).join(', ')}), ${scope}${v.terminating ? ', terminating' : ''}`
}

/** The diff in words, one line each. */
export function diffLines (d: DraftDiff): string[] {
  const out: string[] = []
  out.push(d.madeFromHead ? `against the head ${d.head}:` : `against the head ${d.head} (the draft was made from an older head: it may be stale):`)
  for (const o of d.objects) {
    const exp = o.expires.before === o.expires.after ? '' : o.expires.before === null ? `; expires ${o.expires.after}` : `; expires ${o.expires.before} -> ${o.expires.after}`
    out.push(`${o.role}: ${o.created ? 'created' : o.resignedOnly ? 're-signed, nothing else changes' : 'changed'}${exp}`)
    if (o.root !== undefined) {
      for (const k of o.root.keys.added) out.push(`  key added     ${k}`)
      for (const k of o.root.keys.removed) out.push(`  key removed   ${k}`)
      for (const [r, c] of Object.entries(o.root.roles)) {
        const parts = [...(c.threshold !== undefined ? [`threshold ${c.threshold.before} -> ${c.threshold.after}`] : []), ...(keyWords(c).length > 0 ? [`keys ${keyWords(c).join(' ')}`] : [])]
        out.push(`  role ${r}: ${parts.join(', ')}`)
      }
    }
    if (o.delegations !== undefined) {
      const g = o.delegations
      for (const k of g.keys.added) out.push(`  delegation key added   ${k}`)
      for (const k of g.keys.removed) out.push(`  delegation key removed ${k}`)
      for (const v of g.added) out.push(`  delegates to ${v.name}: ${delegationWords(v)}`)
      for (const n of g.removed) out.push(`  no longer delegates to ${n}`)
      for (const c of g.changed) {
        const parts = [
          ...(c.threshold !== undefined ? [`threshold ${c.threshold.before} -> ${c.threshold.after}`] : []),
          ...(c.keys !== undefined ? [`keys ${keyWords(c.keys).join(' ')}`] : []),
          ...(c.paths !== undefined ? [`paths ${c.paths.before.join(' ') || '-'} -> ${c.paths.after.join(' ') || '-'}`] : []),
          ...(c.pathHashPrefixes !== undefined ? [`hash prefixes ${c.pathHashPrefixes.before.join(' ') || '-'} -> ${c.pathHashPrefixes.after.join(' ') || '-'}`] : []),
          ...(c.terminating !== undefined ? [`terminating ${String(c.terminating.before)} -> ${String(c.terminating.after)}`] : [])
        ]
        out.push(`  delegation ${c.name}: ${parts.join(', ')}`)
      }
      if (g.reordered) out.push('  delegations reordered (the search visits them in the new order)')
      if (g.succinct !== undefined) {
        const s = (x: typeof g.succinct.before): string => x === null ? 'none' : `${x.namePrefix}-* (${x.bitLength} bits), ${x.threshold} of ${x.keyids.length} key(s)`
        out.push(`  hash bins ${s(g.succinct.before)} -> ${s(g.succinct.after)}`)
      }
    }
    if (o.targets !== undefined) {
      const t = o.targets
      for (const x of t.added) out.push(`  target added   ${x.path} (${x.length} bytes, ${x.cid})`)
      for (const x of t.removed) out.push(`  target removed ${x.path}`)
      for (const x of t.changed) out.push(`  target changed ${x.path} (${x.before.length} -> ${x.after.length} bytes, ${x.after.cid})`)
      if (t.truncated) out.push(`  ... in all: ${t.counts.added} added, ${t.counts.removed} removed, ${t.counts.changed} changed (--json lists the first ${LIST_MAX} of each)`)
    }
  }
  return out
}

/**
 * What the draft's objects say by themselves, for a reviewer without the
 * repository (an exported draft file): each root's keys and thresholds, each
 * targets object's delegations, and the expiry. Targets are not listed: their
 * map's nodes are in the repository, not in the draft.
 */
export function objectLines (d: Pick<Draft, 'objects'>): string[] {
  const out: string[] = []
  for (const [role, env] of d.objects) {
    const s = env.signed
    out.push(`${role}: expires ${s.expires}${s.previousVersion === null ? ', a first version' : `, replaces ${s.previousVersion.toString()}`}`)
    if (s.type === 'root') {
      for (const r of TOP_ROLES) out.push(`  role ${r}: ${s.roles[r].threshold} of ${s.roles[r].keyids.length} key(s): ${s.roles[r].keyids.map(short).join(', ')}`)
      continue
    }
    for (const v of s.delegations?.roles ?? []) out.push(`  delegates to ${v.name}: ${delegationWords(view(v))}`)
    const b = s.delegations?.succinct
    if (b !== undefined) out.push(`  hash bins ${b.namePrefix}-* (${b.bitLength} bits), ${b.threshold} of ${b.keyids.length} key(s)`)
  }
  return out
}
