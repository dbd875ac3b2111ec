/**
 * Hand-built DAGs for unit tests of VALID, the relations and the search:
 * one deterministic key per role name, objects signed by their role's key
 * unless told otherwise, every block stored in a MemoryBlockStore.
 *
 *   const b = new DagBuilder()
 *   const root = await b.root()
 *   const r1 = await b.targets('r1', { targets: ['r1/a.txt'] })
 *   const top = await b.targets('targets', { delegations: [b.deleg('r1', ['r1/*'])] })
 *   const snap = await b.snapshot({ root, targets: top, delegated: { r1 } })
 *   const ts = await b.timestamp(snap)
 */
import type { CID } from 'multiformats/cid'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { encodeEnvelope } from '../../src/model/codec.js'
import { previousFields, type PreviousFields } from './snapshot-place.js'
import { makeRoot, makeSnapshot, makeTargets, makeTimestamp, type DelegationSpec } from '../../src/model/build.js'
import { keyPairFromSeed, seedSigner, type KeyPair } from '../../src/model/keys.js'
import { signEnvelope } from '../../src/model/sign.js'
import type { Envelope, RootEnvelope, RootSigned, Signed, SnapshotEnvelope, SnapshotSigned, TargetInfo, TargetsEnvelope, TargetsSigned, TimestampEnvelope } from '../../src/model/types.js'
import { buildRolesMap, buildTargetsMap, type ShardBlock } from '../../src/shard/index.js'
import { sourceLoader, type Loader, type SourceLoader } from '../../src/validate/loader.js'
import { rawCid } from './history.js'

export const EXPIRES = '2030-01-01T00:00:00Z'

type Top = 'root' | 'targets' | 'snapshot' | 'timestamp'

export class DagBuilder {
  readonly store = new MemoryBlockStore()
  /** Where the shard nodes of the maps go: the same store. */
  readonly sink = (b: ShardBlock): void => { this.store.unsafePut(b.cid, b.bytes) }
  readonly #keys = new Map<string, KeyPair>()
  #next = 1

  /** The key of a role name (or any label), created on first use. */
  key (name: string): KeyPair {
    let k = this.#keys.get(name)
    if (k === undefined) {
      const seed = new Uint8Array(32)
      seed[0] = this.#next & 0xff
      seed[1] = this.#next >> 8
      seed[31] = 0x5a
      this.#next++
      k = keyPairFromSeed(seed)
      this.#keys.set(name, k)
    }
    return k
  }

  loader (opts?: Parameters<typeof sourceLoader>[1]): SourceLoader {
    return sourceLoader(this.store, opts)
  }

  async put<S extends Signed> (env: Envelope<S>): Promise<Envelope<S>> {
    await this.store.put(env.cid, env.bytes)
    return env
  }

  /** Sign with the given key pairs (none: unsigned) and store. */
  async sign<S extends Signed> (signed: S, keys: readonly KeyPair[]): Promise<Envelope<S>> {
    const env = await this.put(keys.length === 0 ? encodeEnvelope(signed, []) : await signEnvelope(signed, keys.map((k) => seedSigner(k.seed))))
    if (signed.type === 'snapshot') this.#snapshots.set(env.cid.toString(), signed as SnapshotSigned)
    return env
  }

  #withPlace (p: PreviousFields, place?: { height?: number, skips?: readonly CID[] }): PreviousFields {
    if (place === undefined) return p
    if (p.previous === undefined || p.previous === null) return { ...p, override: { ...p.override, ...place } }
    const prev = p.previous
    return { ...p, override: { previousVersion: prev.cid, ...place } }
  }

  /** Snapshots signed here, by CID: a successor's height and skips follow from them. */
  readonly #snapshots = new Map<string, SnapshotSigned>()

  /** What `makeSnapshot` needs to succeed the snapshot `cid` (test/helpers/snapshot-place.ts). */
  previousOf (cid: CID | null): PreviousFields {
    return previousFields(cid, cid === null ? undefined : this.#snapshots.get(cid.toString()))
  }

  /** A delegation entry for `name`, keyed by the role's own key unless `keys` is given. */
  deleg (name: string, paths: readonly string[] | { hashPrefixes: readonly string[] }, o: { terminating?: boolean, keys?: readonly KeyPair[], threshold?: number } = {}): DelegationSpec {
    const base = { name, keys: (o.keys ?? [this.key(name)]).map((k) => k.publicKey), threshold: o.threshold ?? 1, terminating: o.terminating ?? false }
    return Array.isArray(paths)
      ? { ...base, paths: [...paths as readonly string[]] }
      : { ...base, pathHashPrefixes: [...(paths as { hashPrefixes: readonly string[] }).hashPrefixes] }
  }

  rootSigned (o: { roles?: Partial<Record<Top, { keys: readonly KeyPair[], threshold?: number }>>, previousVersion?: CID | null } = {}): RootSigned {
    const spec = (r: Top): { keys: Array<KeyPair['publicKey']>, threshold: number } => {
      const x = o.roles?.[r]
      return { keys: (x?.keys ?? [this.key(r)]).map((k) => k.publicKey), threshold: x?.threshold ?? 1 }
    }
    return makeRoot({ expires: EXPIRES, previousVersion: o.previousVersion ?? null, roles: { root: spec('root'), targets: spec('targets'), snapshot: spec('snapshot'), timestamp: spec('timestamp') } })
  }

  /** A root; signed by the root key unless `signers` says otherwise. */
  async root (o: Parameters<DagBuilder['rootSigned']>[0] & { signers?: readonly KeyPair[] } = {}): Promise<RootEnvelope> {
    return await this.sign(this.rootSigned(o), o.signers ?? [this.key('root')])
  }

  targetsSigned (o: { targets?: ReadonlyArray<string | readonly [string, TargetInfo]>, delegations?: readonly DelegationSpec[], previousVersion?: CID | null, expires?: string } = {}): TargetsSigned {
    const targets = (o.targets ?? []).map((t) => typeof t === 'string' ? [t, info(t)] as const : t)
    return makeTargets({ expires: o.expires ?? EXPIRES, previousVersion: o.previousVersion ?? null, targets: buildTargetsMap(targets, this.sink).root, ...(o.delegations !== undefined ? { delegations: o.delegations } : {}) })
  }

  /** A targets object for role `name`, signed by that role's key unless `signers` says otherwise. */
  async targets (name: string, o: Parameters<DagBuilder['targetsSigned']>[0] & { signers?: readonly KeyPair[] } = {}): Promise<TargetsEnvelope> {
    return await this.sign(this.targetsSigned(o), o.signers ?? [this.key(name)])
  }

  async snapshot (o: {
    root: RootEnvelope | CID
    targets: TargetsEnvelope | CID
    delegated?: Record<string, TargetsEnvelope | CID>
    retired?: Record<string, TargetsEnvelope | CID>
    previousVersion?: CID | null
    signers?: readonly KeyPair[]
    /** Replaces the height or skips that the predecessor implies (for tampered chains). */
    place?: { height?: number, skips?: readonly CID[] }
  }): Promise<SnapshotEnvelope> {
    const c = (x: Envelope | CID): CID => ('cid' in x && 'signed' in x) ? x.cid : x as CID
    return await this.sign(makeSnapshot({
      expires: EXPIRES,
      ...this.#withPlace(this.previousOf(o.previousVersion ?? null), o.place),
      root: c(o.root),
      targets: c(o.targets),
      delegatedTargets: buildRolesMap(Object.entries(o.delegated ?? {}).map(([n, x]) => [n, c(x)] as const), this.sink).root,
      retired: buildRolesMap(Object.entries(o.retired ?? {}).map(([n, x]) => [n, c(x)] as const), this.sink).root
    }), o.signers ?? [this.key('snapshot')])
  }

  async timestamp (snapshot: SnapshotEnvelope | CID, signers?: readonly KeyPair[]): Promise<TimestampEnvelope> {
    const cid = 'signed' in snapshot ? snapshot.cid : snapshot
    return await this.sign(makeTimestamp({ expires: EXPIRES, snapshot: cid }), signers ?? [this.key('timestamp')])
  }
}

/** A TargetInfo naming some content derived from the path. */
export function info (path: string): TargetInfo {
  const bytes = new TextEncoder().encode(`content of ${path}`)
  return { length: bytes.byteLength, cid: rawCid(bytes) }
}

/** The whole targets map of a targets object, read from its shards (tests only: it reads every node). */
export async function targetMap (maps: Pick<Loader, 'targetEntries'>, env: TargetsEnvelope): Promise<Map<string, TargetInfo>> {
  const out = new Map<string, TargetInfo>()
  for await (const e of maps.targetEntries(env.signed.targets)) out.set(e.key, e.value)
  return out
}

/** A chain of `n` honest snapshots over one root and targets (index 0 is height 1). */
export async function snapshotChain (n: number, b = new DagBuilder()): Promise<{ b: DagBuilder, R: RootEnvelope, T: TargetsEnvelope, S: SnapshotEnvelope[] }> {
  const R = await b.root()
  const T = await b.targets('targets')
  const S: SnapshotEnvelope[] = []
  for (let i = 0; i < n; i++) S.push(await b.snapshot({ root: R, targets: T, previousVersion: S[i - 1]?.cid ?? null }))
  return { b, R, T, S }
}
