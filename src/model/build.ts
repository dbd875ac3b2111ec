/**
 * Constructors for typed `signed` objects, used by publishers, tests and the
 * demo. They only assemble values; encodeSigned (which signEnvelope calls
 * before any signer runs) checks the value with the decoder's schema and reads
 * its bytes back through the strict decoder, so a constructor's output is
 * either refused with a typed DecodeError before it is signed or becomes a
 * block every reader accepts.
 */
import type { CID } from 'multiformats/cid'
import { SPEC_VERSION } from './config.js'
import { UsageError } from './errors.js'
import { keyIdOf } from './keys.js'
import { successorPlace } from './ladder.js'
import type {
  DelegatedRole, KeyId, PublicKey, RoleKeys, RootSigned, SnapshotSigned, TargetsSigned, TimestampSigned, TopRoleName
} from './types.js'
import { TOP_ROLES } from './types.js'

/** `now + seconds` as `YYYY-MM-DDTHH:MM:SSZ`. */
export function expiresIn (now: Date, seconds: number): string {
  const t = Math.floor(now.getTime() / 1000) + Math.floor(seconds)
  return new Date(t * 1000).toISOString().slice(0, 19) + 'Z'
}

export interface RoleSpec {
  readonly keys: readonly PublicKey[]
  readonly threshold: number
}

function keysAndRole (spec: RoleSpec, into: Map<KeyId, PublicKey>): RoleKeys {
  const keyids: KeyId[] = []
  for (const k of spec.keys) {
    const id = keyIdOf(k)
    into.set(id, k)
    if (!keyids.includes(id)) keyids.push(id)
  }
  return { keyids, threshold: spec.threshold }
}

export function makeRoot (o: { expires: string, previousVersion?: CID | null, roles: Readonly<Record<TopRoleName, RoleSpec>> }): RootSigned {
  const keys = new Map<KeyId, PublicKey>()
  const roles = {} as Record<TopRoleName, RoleKeys>
  for (const r of TOP_ROLES) {
    const spec = o.roles[r]
    if (spec === undefined) throw new UsageError('ERR_ARGUMENT', `makeRoot: missing role ${r}`)
    roles[r] = keysAndRole(spec, keys)
  }
  return { type: 'root', specVersion: SPEC_VERSION, expires: o.expires, previousVersion: o.previousVersion ?? null, keys: sortedMap(keys), roles }
}

/** A delegated role with its keys given as public keys. */
export type DelegationSpec = Omit<DelegatedRole, 'keyids'> & { readonly keys: readonly PublicKey[] }

/** TAP 15 succinct hash bins with their keys given as public keys (DELEG-SUCCINCT). */
export interface SuccinctSpec {
  readonly keys: readonly PublicKey[]
  readonly threshold: number
  readonly bitLength: number
  readonly namePrefix: string
}

export function makeTargets (o: {
  expires: string
  previousVersion?: CID | null
  /** Root of the sharded targets map (src/shard: buildTargetsMap). */
  targets: CID
  delegations?: readonly DelegationSpec[]
  /** Succinct hash bins instead of a list (exclusive with `delegations`). */
  succinct?: SuccinctSpec
}): TargetsSigned {
  const base: TargetsSigned = {
    type: 'targets',
    specVersion: SPEC_VERSION,
    expires: o.expires,
    previousVersion: o.previousVersion ?? null,
    targets: o.targets
  }
  if (o.succinct !== undefined) {
    if (o.delegations !== undefined) throw new UsageError('ERR_ARGUMENT', 'makeTargets: delegations and succinct are exclusive')
    const keys = new Map<KeyId, PublicKey>()
    const rk = keysAndRole({ keys: o.succinct.keys, threshold: o.succinct.threshold }, keys)
    return { ...base, delegations: { keys: sortedMap(keys), roles: [], succinct: { ...rk, bitLength: o.succinct.bitLength, namePrefix: o.succinct.namePrefix } } }
  }
  if (o.delegations === undefined) return base
  const keys = new Map<KeyId, PublicKey>()
  const roles: DelegatedRole[] = o.delegations.map((d) => {
    const { keys: dk, ...rest } = d
    const rk = keysAndRole({ keys: dk, threshold: d.threshold }, keys)
    return { ...rest, keyids: rk.keyids } as DelegatedRole
  })
  return { ...base, delegations: { keys: sortedMap(keys), roles } }
}

export function makeSnapshot (o: {
  expires: string
  /**
   * The snapshot this one replaces (its CID and signed object), or null/absent
   * for the first of a chain: previous-version, height and skips follow from it
   * (SUCC-SNAP-LINK, SUCC-SNAP-HEIGHT, SUCC-SNAP-SKIPS).
   */
  previous?: { cid: CID, signed: SnapshotSigned } | null
  root: CID
  targets: CID
  /** Roots of the sharded role maps (src/shard: buildRolesMap). */
  delegatedTargets: CID
  retired: CID
  /**
   * For building deliberately wrong objects (tests, attack suites): these
   * replace what `previous` implies.
   */
  override?: { previousVersion?: CID | null, height?: number, skips?: readonly CID[] }
}): SnapshotSigned {
  const p = o.previous ?? null
  const ov = o.override ?? {}
  const place = ov.height !== undefined && ov.skips !== undefined
    ? { height: ov.height, skips: ov.skips }
    : successorPlace(p === null ? null : { cid: p.cid, height: p.signed.height, previousVersion: p.signed.previousVersion, skips: p.signed.skips })
  return {
    type: 'snapshot',
    specVersion: SPEC_VERSION,
    expires: o.expires,
    previousVersion: ov.previousVersion !== undefined ? ov.previousVersion : (p?.cid ?? null),
    height: ov.height ?? place.height,
    skips: Object.freeze([...(ov.skips ?? place.skips)]),
    meta: {
      root: o.root,
      targets: o.targets,
      delegatedTargets: o.delegatedTargets,
      retired: o.retired
    }
  }
}

export function makeTimestamp (o: { expires: string, snapshot: CID }): TimestampSigned {
  return { type: 'timestamp', specVersion: SPEC_VERSION, expires: o.expires, snapshot: o.snapshot }
}

/** Maps in code-unit order, the order dag-json writes them in. */
function sortedMap<V> (m: ReadonlyMap<string, V>): Map<string, V> {
  return new Map([...m].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
}
