/**
 * The typed dagtuf data model (spec/NOTES.md, section "Data model").
 *
 * These are the shapes *after* strict decoding: every value here was checked
 * field by field by src/model/schema.ts, or built by src/model/build.ts.
 * Maps whose keys come from untrusted input (keys, targets, delegated roles)
 * are `ReadonlyMap`s, never plain objects, so no key can reach a prototype.
 *
 * Wire form (dag-json, keys sorted by the codec):
 *
 *   envelope  { "signatures": [{ "keyid": HEX64, "sig": HEX128 }], "signed": SIGNED }
 *   root      { "_type": "root", "spec_version", "expires", "previous-version": Link|null,
 *               "keys": { KEYID: KEY }, "roles": { "root"|"targets"|"snapshot"|"timestamp": ROLE } }
 *   targets   { "_type": "targets", "spec_version", "expires", "previous-version",
 *               "targets": ShardLink (sharded map PATH -> { "length", "cid": Link, "custom"? }),
 *               "delegations"?: { "keys": { KEYID: KEY }, "roles": [DELEGATED_ROLE, ...] } }
 *   snapshot  { "_type": "snapshot", "spec_version", "expires", "previous-version",
 *               "meta": { "root": Link, "targets": Link,
 *                         "delegated-targets": ShardLink, "retired": ShardLink } }
 *               (sharded maps NAME -> Link of a targets object)
 *   ShardLink  a CIDv1 dag-cbor sha2-256: the root node of a sharded map (NOTES 11, src/shard)
 *   timestamp { "_type": "timestamp", "spec_version", "expires", "snapshot": Link }
 *   KEY       { "keytype": "ed25519", "scheme": "ed25519", "keyval": { "public": HEX64 } }
 *   ROLE      { "keyids": [KEYID...], "threshold": N }
 *   DELEGATED_ROLE { "name", "keyids", "threshold", "terminating", "paths": [GLOB...] }
 *                | { "name", "keyids", "threshold", "terminating", "path_hash_prefixes": [HEX...] }
 *
 * Delegated targets objects have the same shape as the top-level targets
 * object (`_type: "targets"`); their role name is the key under which the
 * snapshot lists them, and the delegator's entry says which keys sign them.
 */
import type { CID } from 'multiformats/cid'

export type TopRoleName = 'root' | 'targets' | 'snapshot' | 'timestamp'
export const TOP_ROLES: readonly TopRoleName[] = Object.freeze(['root', 'targets', 'snapshot', 'timestamp'])

/** A lowercase hex SHA-256 of the key's canonical encoding (see keys.ts). */
export type KeyId = string

export interface PublicKey {
  readonly keytype: 'ed25519'
  readonly scheme: 'ed25519'
  /** 64 lowercase hex characters: the 32-byte ed25519 public key. */
  readonly public: string
}

export interface Signature {
  readonly keyid: KeyId
  /** 128 lowercase hex characters: the 64-byte ed25519 signature. */
  readonly sig: string
}

export interface RoleKeys {
  readonly keyids: readonly KeyId[]
  readonly threshold: number
}

interface Common {
  readonly specVersion: string
  /** ISO-8601 UTC, second precision: `YYYY-MM-DDTHH:MM:SSZ`. */
  readonly expires: string
}

interface Versioned extends Common {
  /** The object this one replaces, or null for the first version. */
  readonly previousVersion: CID | null
}

export interface RootSigned extends Versioned {
  readonly type: 'root'
  readonly keys: ReadonlyMap<KeyId, PublicKey>
  readonly roles: Readonly<Record<TopRoleName, RoleKeys>>
}

export interface TargetInfo {
  readonly length: number
  /** Content address of the target bytes (raw or UnixFS dag-pb root). */
  readonly cid: CID
  /** Opaque application data (any dag-json value), size-capped. */
  readonly custom?: unknown
}

interface DelegatedRoleBase extends RoleKeys {
  readonly name: string
  readonly terminating: boolean
}
export interface PathsRole extends DelegatedRoleBase {
  readonly paths: readonly string[]
  readonly pathHashPrefixes?: undefined
}
export interface HashPrefixRole extends DelegatedRoleBase {
  readonly paths?: undefined
  readonly pathHashPrefixes: readonly string[]
}
export type DelegatedRole = PathsRole | HashPrefixRole

/**
 * TAP 15 succinct hash-bin delegations (NOTES: DELEG-SUCCINCT): 2^bitLength
 * roles named `namePrefix-HEX`, all with these keys, each for the paths whose
 * SHA-256 starts with its bin's bits; none terminating.
 */
export interface SuccinctRoles extends RoleKeys {
  readonly bitLength: number
  readonly namePrefix: string
}

export interface Delegations {
  readonly keys: ReadonlyMap<KeyId, PublicKey>
  /**
   * Ordered: the search visits roles in this order (NOTES: DELEG-ORDER).
   * Empty when `succinct` is given (the two are exclusive on the wire);
   * src/model/delegations.ts `entriesOf` gives the roles of either form.
   */
  readonly roles: readonly DelegatedRole[]
  readonly succinct?: SuccinctRoles
}

export interface TargetsSigned extends Versioned {
  readonly type: 'targets'
  /** Root of the sharded map target path -> TargetInfo (NOTES 11). */
  readonly targets: CID
  readonly delegations?: Delegations
}

export interface SnapshotMeta {
  readonly root: CID
  readonly targets: CID
  /** Root of the sharded map role name -> targets object CID. */
  readonly delegatedTargets: CID
  /** Root of the sharded map of tombstones: the last object of each delegated role that was removed. */
  readonly retired: CID
}

export interface SnapshotSigned extends Versioned {
  readonly type: 'snapshot'
  /** Snapshots before this one on its chain, plus one (VALID-SNAP-HEIGHT, SUCC-SNAP-HEIGHT). */
  readonly height: number
  /** Links to the ancestors at the heights `ladder(height)`, highest first (SUCC-SNAP-SKIPS, src/model/ladder.ts). */
  readonly skips: readonly CID[]
  readonly meta: SnapshotMeta
}

export interface TimestampSigned extends Common {
  readonly type: 'timestamp'
  readonly snapshot: CID
}

export type Signed = RootSigned | TargetsSigned | SnapshotSigned | TimestampSigned
export type SignedOf<K extends Signed['type']> = Extract<Signed, { type: K }>

/**
 * A decoded, hash-checked metadata block. `bytes` are the exact block bytes
 * (what the CID addresses); `signedBytes` are the exact bytes of the `signed`
 * member inside them, which is what signatures cover. Nothing here is ever
 * re-encoded to check a signature.
 */
export interface Envelope<S extends Signed = Signed> {
  readonly cid: CID
  readonly bytes: Uint8Array
  readonly signedBytes: Uint8Array
  readonly signed: S
  readonly signatures: readonly Signature[]
}

export type RootEnvelope = Envelope<RootSigned>
export type TargetsEnvelope = Envelope<TargetsSigned>
export type SnapshotEnvelope = Envelope<SnapshotSigned>
export type TimestampEnvelope = Envelope<TimestampSigned>
