/**
 * A publisher's repository in memory for the plan/sign unit tests: a block
 * store, the published state, and in-memory signers. `publish` runs plan ->
 * sign and an in-memory commit that checks what commit.ts checks (VALID of
 * the new DAG, `<-*` from the previous timestamp) before it takes the blocks.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import type { RoleSpec } from '../../src/model/build.js'
import { generateKeyPair, seedSigner, type KeyPair, type Signer } from '../../src/model/keys.js'
import { TOP_ROLES, type TopRoleName } from '../../src/model/types.js'
import { succStar } from '../../src/relations/index.js'
import { commitFirst } from '../../src/publish/commit.js'
import { configText, type Op } from '../../src/publish/files.js'
import { Repo } from '../../src/publish/repo.js'
import { plan, planGenesis, type Expiry, type Plan } from '../../src/publish/plan.js'
import { sign, signGenesis, signerSource, type KeySource, type SignedDag, type Signing } from '../../src/publish/sign.js'
import { loadPublished, type NodeBlocks, type Published } from '../../src/publish/state.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { assertValidTimestamp } from '../../src/validate/valid.js'

export const EXPIRY: Expiry = { root: 365 * 86400, targets: 90 * 86400, snapshot: 7 * 86400, timestamp: 86400, delegated: 90 * 86400 }
export const T0 = new Date('2030-01-01T00:00:00Z')

/** A key pair and its in-memory signer. */
export interface TestKey { readonly pair: KeyPair, readonly signer: Signer, readonly pub: string }

export function newKey (): TestKey {
  const pair = generateKeyPair()
  return { pair, signer: seedSigner(pair.seed), pub: pair.publicKey.public }
}

/** A memory block store standing in for the repository's node; notes which blocks were flushed. */
export class MemNode extends MemoryBlockStore implements NodeBlocks {
  readonly flushed = new Set<string>()
  async flush (cids: Iterable<CID>): Promise<void> {
    for (const c of cids) {
      if (!(await this.has(c))) throw new Error(`flush of a block never put: ${c.toString()}`)
      this.flushed.add(c.toString())
    }
  }
}

export class MemRepo {
  readonly store = new MemoryBlockStore()
  /** The current keys, by name ('root', 'targets', 'a'...). */
  readonly keys = new Map<string, TestKey[]>()
  /** Keys replaced by `makeKeys` (a rotated root still needs the previous root's). */
  readonly oldKeys: TestKey[] = []
  published!: Published
  /** Advanced one minute per publish, so expiries differ. */
  now = T0

  private constructor () {}

  /** A repository with one key per top role (`rootKeys` for root, threshold `rootThreshold`). */
  static async create (o: { rootKeys?: number, rootThreshold?: number } = {}): Promise<MemRepo> {
    const r = new MemRepo()
    const roles = {} as Record<TopRoleName, RoleSpec>
    for (const role of TOP_ROLES) {
      const ks = Array.from({ length: role === 'root' ? o.rootKeys ?? 1 : 1 }, newKey)
      r.keys.set(role, ks)
      roles[role] = { keys: ks.map((k) => k.pair.publicKey), threshold: role === 'root' ? o.rootThreshold ?? 1 : 1 }
    }
    const dag = await signGenesis(planGenesis(roles, r.now, EXPIRY), r.allSigners())
    await r.take(dag, undefined)
    return r
  }

  /** Make `n` keys under `name` (replacing earlier ones) and return their public keys in hex. */
  makeKeys (name: string, n = 1): string[] {
    const ks = Array.from({ length: n }, newKey)
    this.oldKeys.push(...this.keys.get(name) ?? [])
    this.keys.set(name, ks)
    return ks.map((k) => k.pub)
  }

  /** Every key made so far, current and replaced. */
  allSigners (): Signer[] {
    return [...[...this.keys.values()].flat(), ...this.oldKeys].map((k) => k.signer)
  }

  /** Every key made so far as a pool: each signs where a requirement lists it, the others are ignored. */
  pool (): KeySource {
    return signerSource(this.allSigners(), { named: false })
  }

  signersOf (...names: string[]): Signer[] {
    return names.flatMap((n) => (this.keys.get(n) ?? []).map((k) => k.signer))
  }

  async plan (ops: readonly Op[]): Promise<Plan> {
    this.now = new Date(this.now.getTime() + 60_000)
    return await plan(this.published, ops, { now: this.now, expiry: EXPIRY, source: this.store })
  }

  /** plan -> sign -> in-memory commit. Throws when the result is a draft. */
  async publish (ops: readonly Op[], signers: Signer[] | KeySource = this.pool()): Promise<{ plan: Plan, signing: Signing, dag: SignedDag }> {
    const p = await this.plan(ops)
    const signing = await sign(p, signers)
    if (signing.kind !== 'signed') throw new Error(`expected a signed DAG, got a draft missing ${signing.missing.map((m) => m.role).join(', ')}`)
    await this.take(signing.dag, this.published.timestamp.cid)
    return { plan: p, signing, dag: signing.dag }
  }

  /** The in-memory commit: VALID and `<-*` on an overlay of the new blocks, then keep them. */
  async take (dag: SignedDag, previous: Published['timestamp']['cid'] | undefined): Promise<void> {
    const next = new MemoryBlockStore()
    for (const c of this.store.cids()) await next.put(c, await this.store.get(c))
    for (const b of dag.blocks) await next.put(b.cid, b.bytes)
    const loader = sourceLoader(next)
    await assertValidTimestamp(loader, dag.timestamp.cid)
    if (previous !== undefined) {
      const rel = await succStar(loader, 'timestamp', dag.timestamp.cid, previous)
      if (!rel.holds) throw new Error(`not <-*: ${rel.violations.map((v) => v.rule).join(', ')}`)
    }
    for (const b of dag.blocks) await this.store.put(b.cid, b.bytes)
    this.published = await loadPublished(sourceLoader(this.store), dag.timestamp.cid)
  }
}

/** A repository folder (head.json, staged.jsonl, drafts/, keys/) whose node is a MemNode. */
export interface DiskRepo {
  readonly dir: string
  readonly repo: Repo
  readonly node: MemNode
  readonly keys: Record<TopRoleName, TestKey>
  /** Close the repository and remove its folder. */
  readonly dispose: () => Promise<void>
}

/** A new repository folder with one key per top role; its first head records `source`. */
export async function diskRepo (source = ''): Promise<DiskRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'dagtuf-publish-'))
  const repo = await Repo.create(join(dir, 'repo'), configText())
  const node = new MemNode()
  const keys = {} as Record<TopRoleName, TestKey>
  const roles = {} as Record<TopRoleName, RoleSpec>
  for (const r of TOP_ROLES) { keys[r] = newKey(); roles[r] = { keys: [keys[r].pair.publicKey], threshold: 1 } }
  const dag = await signGenesis(planGenesis(roles, T0, EXPIRY), TOP_ROLES.map((r) => keys[r].signer))
  await commitFirst({ repo, node, now: T0 }, dag, { changes: [], source })
  return { dir, repo, node, keys, dispose: async () => { await repo.close(); await rm(dir, { recursive: true, force: true }) } }
}
