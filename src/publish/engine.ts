/**
 * Publishing: from the current head and the staged changes to a new signed
 * DAG and a new head (NOTES section 10), in three steps:
 *
 *   plan (plan.ts)     published state + operations -> new unsigned objects
 *                      and the thresholds they must meet; no keys, no writes
 *   sign (sign.ts)     plan + any signers -> the complete signed DAG, or a
 *                      draft (signatures so far, who is missing); no writes
 *   commit (commit.ts) the durable write: blocks, then the head (or the draft)
 *
 * This module opens a session (repository, node, key ring, config, clock)
 * and runs the steps for a command.
 *
 * Guarantees, in the order they happen:
 * 1. Only what changed is re-signed (plan.ts): a new root only when its
 *    roles or keys changed (or on request); a new targets or delegated
 *    object only when its content changed, on request, or when its current
 *    signatures no longer meet the keys that now authorize it (a key
 *    rotation); a new snapshot and a new timestamp always. Each new object
 *    names the one it replaces (`previous-version`); a removed role leaves a
 *    tombstone in `retired`, a re-added role continues from its tombstone, a
 *    new role starts from null (SUCC-SNAP-*).
 * 2. When the keys at hand cannot meet a threshold (sign.ts), nothing is
 *    published: the new objects go to a draft (drafts.ts) and the staged
 *    changes are cleared. The new shard nodes of their targets maps (NOTES
 *    11) are written and flushed first (unreferenced blocks until the draft
 *    is published), since the draft's objects name them and the draft may be
 *    finalized by another process (commit.ts `commitDraft`).
 * 3. Before anything is written, VALID runs on the new DAG (fail-fast) and
 *    the new timestamp must be `<-*` the current head (SUCC-TS-SNAPSHOT).
 *    A failure is RepoError ERR_PUBLISH_INVALID (details.rule = the rule ID)
 *    and leaves the repository as it was (commit.ts).
 * 4. All blocks (envelopes and shard nodes) are written to the node first and
 *    flushed to disk (fsync of each block file and its folders); then the
 *    audit entries are appended (audit.ts, AUDIT-WRITE-AHEAD); then
 *    head.json is replaced atomically after a compare-and-swap against the
 *    head this publish started from. A publish killed at any point leaves
 *    either the old head (with some unreferenced blocks) or the new one,
 *    both VALID (commit.ts).
 */
import type { RepoNode } from '../blocks/repo-node.js'
import type { RoleSpec } from '../model/build.js'
import { generateKeyPair, type KeyPair, type Signer } from '../model/keys.js'
import { RepoError } from '../model/errors.js'
import type { KeyId, TopRoleName } from '../model/types.js'
import { TOP_ROLES } from '../model/types.js'
import { commit, commitDraft, commitFirst } from './commit.js'
import { checkFresh, complete, draftNeeds, needsReport, removeDraft, type Draft, type NeedReport } from './drafts.js'
import { configText, type ExpiryRole, type HeadRecord, type Op, type RepoConfig } from './files.js'
import { writePrivateKeyFile } from './keyfile.js'
import { plan, planGenesis, type Expiry } from './plan.js'
import { KeyRing, Repo } from './repo.js'
import { sign, signGenesis, signTop } from './sign.js'
import { loadCurrent, type Current, type Requirement } from './state.js'
import { join } from 'node:path'
export { Repo, loadCurrent, type Current }

/** Everything a command that publishes works with. */
export interface Session {
  readonly repo: Repo
  readonly node: RepoNode
  readonly keys: KeyRing
  readonly config: RepoConfig
  readonly now: Date
  /** Expiry per kind of object, in seconds (config, then flags). */
  readonly expiry: Expiry
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
  const staged = await session.repo.staged(current.head)
  // extraOps: one-off changes of this publish only (e.g. --refresh), never staged.
  const p = await plan(current.published, [...staged.ops, ...extraOps], { now: session.now, expiry: session.expiry, source: session.node, pending: current.pending })
  const signing = await sign(p, session.keys)
  if (signing.kind === 'draft') {
    const draft = await commitDraft(session, current, { objects: signing.objects, needs: signing.needs, changes: p.changes }, p.shardBlocks)
    await session.repo.writeStaged({ id: staged.id, ops: [] })
    return { kind: 'draft', draft, needs: signing.missing }
  }
  const head = await commit(session, current, signing.dag, { changes: p.changes, source: staged.ops.length > 0 ? staged.id : '' })
  // The staged set is consumed (also one the head already said was done).
  await session.repo.writeStaged({ id: staged.id, ops: [] })
  return { kind: 'published', head }
}

/**
 * Finalize a draft whose thresholds may now be met: publish it, or report
 * who still has to sign.
 *
 * @throws {RepoError} ERR_DRAFT_STALE | ERR_PUBLISH_INVALID | ERR_HEAD_MOVED
 * @throws {KeyFileError} ERR_KEY_MISSING (snapshot/timestamp keys)
 */
export async function tryFinalizeDraft (session: Session, draft: Draft): Promise<PublishResult> {
  const current = await loadCurrent(session.repo, session.node)
  checkFresh(current.published, draft.objects)
  const needs = draftNeeds(current.published, draft.objects)
  if (!complete(draft.objects, needs)) {
    return { kind: 'waiting', draft, needs: needsReport(draft.objects, needs).filter((n) => n.have < n.threshold) }
  }
  const dag = await signTop(current.published, draft.objects, session.keys, session.now, session.expiry)
  const head = await commit(session, current, dag, { changes: draft.changes, source: draft.id })
  await removeDraft(session.repo, draft.id)
  return { kind: 'published', head }
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

/**
 * A long-lived service's publishing session: opened (keys indexed, decrypted
 * ones kept, token signers added) on first use, then the same one at the
 * clock's current time on each call.
 */
export function lazySession (repo: Repo, opts: { passphrase?: string | undefined, signers?: readonly Signer[], now: () => Date }): () => Promise<Session> {
  let session: Session | undefined
  return async () => {
    if (session === undefined) {
      const s = await sessionFor(repo, { passphrase: opts.passphrase })
      for (const signer of opts.signers ?? []) s.keys.addSigner(signer)
      session = s
    }
    return { ...session, now: opts.now() }
  }
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
    const dag = await signGenesis(planGenesis(roles, session.now, session.expiry), session.keys)
    const head = await commitFirst(session, dag, { changes: [{ role: 'root', kind: 'created' }, { role: 'targets', kind: 'created', count: 0 }], source: '' })
    return { repo, head, keys: made }
  } catch (e) {
    await repo.close().catch(() => {})
    throw e
  }
}

export type { Requirement }
