/**
 * Publishing, step 2 of 3: sign (NOTES section 10). After plan.ts, before
 * commit.ts.
 *
 * `sign` takes a plan and any signers — `Signer` objects (a key in memory, a
 * hardware token, a remote signing session) or a `KeySource` such as the
 * repository's key ring, which decrypts a key file only when its signature
 * is needed — and returns either the complete signed DAG (every new object,
 * snapshot and timestamp, each meeting its thresholds) or a draft: the new
 * objects with the signatures gathered so far, and who is still missing.
 * It writes nothing; what it returns is only ever written by commit.ts.
 *
 * Guarantees:
 * - A key named by the caller (every `Signer` of a plain list; the --key
 *   files of a key ring) that no role of the new DAG authorizes is refused
 *   (KeyFileError ERR_KEY_NOT_AUTHORIZED) before anything is signed. Other
 *   keys of a key ring sign only where a requirement lists them.
 * - A signer is used only as the key it is: one whose public key does not
 *   give the keyid it claims is CryptoError ERR_SIGNER, as is one whose
 *   signature does not verify.
 * - The snapshot and timestamp are made only when every new object meets
 *   its thresholds (they name the signed envelopes); a missing snapshot or
 *   timestamp key is KeyFileError ERR_KEY_MISSING.
 */
import type { CID } from 'multiformats/cid'
import { CryptoError, KeyFileError } from '../model/errors.js'
import { keyIdOf, type Signer } from '../model/keys.js'
import { signEnvelope } from '../model/sign.js'
import type {
  Envelope, KeyId, RootSigned, Signed, SnapshotEnvelope, TargetsSigned, TimestampEnvelope
} from '../model/types.js'
import type { ShardBlock } from '../shard/index.js'
import { complete, needsReport, type DraftObject, type NeedReport } from './drafts.js'
import {
  genesisSnapshot, planTop, timestampFor, type Expiry, type GenesisPlan, type Plan, type PlannedSigned
} from './plan.js'
import { meets, requirementsFor, type Published, type Requirement } from './state.js'

/** A block to write: an envelope or a shard node. */
export type Block = Pick<Envelope, 'cid' | 'bytes'>

/** Where signatures come from. */
export interface KeySource {
  /** Can this source sign as `keyid` (without unlocking anything)? */
  has: (keyid: KeyId) => boolean
  /** The signer for `keyid`, unlocked on first use. */
  signer: (keyid: KeyId) => Promise<Signer | undefined>
  /** Keys the caller named: each must be authorized by some role of the new DAG. */
  explicit: () => KeyId[]
}

/**
 * A key source over signers at hand. By default every one counts as named by
 * the caller (refused when no role authorizes it); with `named: false` they
 * are a pool, each used only where a requirement lists it.
 */
export function signerSource (signers: readonly Signer[], options: { named?: boolean } = {}): KeySource {
  const byId = new Map<KeyId, Signer>()
  for (const s of signers) if (!byId.has(s.keyid)) byId.set(s.keyid, s)
  const named = options.named !== false
  return {
    has: (id) => byId.has(id),
    signer: async (id) => byId.get(id),
    explicit: () => named ? [...byId.keys()] : []
  }
}

function sourceOf (keys: readonly Signer[] | KeySource): KeySource {
  return Array.isArray(keys) ? signerSource(keys as readonly Signer[]) : keys as KeySource
}

/**
 * Sign `signed` with every key of `keys` that one of `reqs` lists.
 * @throws {CryptoError} ERR_SIGNER
 */
async function signFor<S extends Signed> (keys: KeySource, signed: S, reqs: readonly Requirement[]): Promise<Envelope<S>> {
  const ids = new Set<KeyId>()
  for (const r of reqs) for (const id of r.keyids) if (keys.has(id)) ids.add(id)
  const signers: Signer[] = []
  for (const id of [...ids].sort()) {
    const s = await keys.signer(id)
    if (s === undefined) continue
    // A signer must be the key it claims: its signature is filed under `id`.
    if (s.keyid !== id || keyIdOf(s.publicKey) !== id) throw new CryptoError('ERR_SIGNER', `the signer offered for key ${id} holds key ${keyIdOf(s.publicKey)}`, { details: { keyid: id } })
    signers.push(s)
  }
  return await signEnvelope(signed, signers)
}

/** A complete new DAG: every block to write and what the new head names. */
export interface SignedDag {
  /** The new root, targets and delegated envelopes, by role. */
  readonly objects: ReadonlyMap<string, DraftObject>
  readonly snapshot: SnapshotEnvelope
  readonly timestamp: TimestampEnvelope
  readonly root: CID
  readonly targets: CID
  readonly delegated: ReadonlyMap<string, CID>
  readonly retired: ReadonlyMap<string, CID>
  /** Every new block: shard nodes first, then envelopes, the timestamp last. */
  readonly blocks: readonly Block[]
}

/** What `sign` returns. */
export type Signing =
  | { readonly kind: 'signed', readonly dag: SignedDag }
  | {
    readonly kind: 'draft'
    /** The new objects with the signatures gathered so far. */
    readonly objects: ReadonlyMap<string, DraftObject>
    readonly needs: ReadonlyMap<string, readonly Requirement[]>
    /** The requirements not met yet, with who may still sign. */
    readonly missing: NeedReport[]
  }

/**
 * Sign a plan with `keys`.
 *
 * @throws {KeyFileError} ERR_KEY_NOT_AUTHORIZED (a named key no role authorizes) | ERR_KEY_MISSING
 *   (snapshot or timestamp key) | what a key source throws (ERR_WRONG_PASSPHRASE...)
 * @throws {CryptoError} ERR_SIGNER when a signer is not the key it claims or returns a signature that does not verify
 */
export async function sign (plan: Plan, keys: readonly Signer[] | KeySource): Promise<Signing> {
  const source = sourceOf(keys)
  for (const id of source.explicit()) {
    if (!plan.authorized.has(id)) throw new KeyFileError('ERR_KEY_NOT_AUTHORIZED', `key ${id} is not authorized for any role of this repository`, { details: { keyid: id } })
  }
  const objects = new Map<string, DraftObject>()
  for (const [role, signed] of plan.objects) {
    objects.set(role, await signFor<PlannedSigned>(source, signed, plan.needs.get(role) ?? []) as DraftObject)
  }
  if (objects.size > 0 && !complete(objects, plan.needs)) {
    return { kind: 'draft', objects, needs: plan.needs, missing: needsReport(objects, plan.needs).filter((n) => n.have < n.threshold) }
  }
  return { kind: 'signed', dag: await signTop(plan.base, objects, source, plan.now, plan.expiry, plan.shardBlocks) }
}

/** Sign a snapshot or timestamp with the keys at hand. @throws {KeyFileError} ERR_KEY_MISSING */
async function signOnline<S extends Signed> (keys: KeySource, signed: S, reqs: readonly Requirement[], role: string): Promise<Envelope<S>> {
  const env = await signFor(keys, signed, reqs)
  if (!meets(env, reqs)) {
    const r = reqs[0]!
    throw new KeyFileError('ERR_KEY_MISSING', `the ${role} key is not available (need ${r.threshold} of ${r.keyids.length}; put its key file in keys/ or pass --key)`, { details: { role, keyids: [...r.keyids] } })
  }
  return env
}

/**
 * Make and sign the snapshot and timestamp over `objects` (the new root,
 * targets and delegated objects, every threshold met).
 *
 * @throws {KeyFileError} ERR_KEY_MISSING; {RepoError} ERR_DRAFT_STALE (planTop)
 */
export async function signTop (published: Published, objects: ReadonlyMap<string, DraftObject>, keys: readonly Signer[] | KeySource, now: Date, expiry: Expiry, shardBlocks: readonly ShardBlock[] = []): Promise<SignedDag> {
  const source = sourceOf(keys)
  const top = planTop(published, objects as ReadonlyMap<string, Envelope<PlannedSigned>>, now, expiry)
  const snapshot: SnapshotEnvelope = await signOnline(source, top.snapshot, top.snapshotNeeds, 'snapshot')
  const timestamp: TimestampEnvelope = await signOnline(source, timestampFor(snapshot.cid, now, expiry), top.timestampNeeds, 'timestamp')
  return {
    objects,
    snapshot,
    timestamp,
    root: top.root.cid,
    targets: top.targets.cid,
    delegated: new Map([...top.delegated].map(([n, e]) => [n, e.cid])),
    retired: top.retired,
    blocks: [...shardBlocks, ...top.roleBlocks, ...objects.values(), snapshot, timestamp]
  }
}

/**
 * Sign a new repository's first DAG; every threshold must be met.
 *
 * @throws {KeyFileError} ERR_KEY_MISSING
 */
export async function signGenesis (g: GenesisPlan, keys: readonly Signer[] | KeySource): Promise<SignedDag> {
  const source = sourceOf(keys)
  const root = await signOnline<RootSigned>(source, g.root, requirementsFor(g.view, 'root'), 'root')
  const targets = await signOnline<TargetsSigned>(source, g.targets, requirementsFor(g.view, 'targets'), 'targets')
  const snapshot: SnapshotEnvelope = await signOnline(source, genesisSnapshot(g, root.cid, targets.cid), requirementsFor(g.view, 'snapshot'), 'snapshot')
  const timestamp: TimestampEnvelope = await signOnline(source, timestampFor(snapshot.cid, g.now, g.expiry), requirementsFor(g.view, 'timestamp'), 'timestamp')
  return {
    objects: new Map<string, DraftObject>([['root', root], ['targets', targets]]),
    snapshot,
    timestamp,
    root: root.cid,
    targets: targets.cid,
    delegated: new Map(),
    retired: new Map(),
    blocks: [g.empty, root, targets, snapshot, timestamp]
  }
}
