/**
 * Signing sessions: drafts proposed, signed and published through a
 * long-running service (`dagtuf serve --sessions`, NOTES 10.2), with no HTTP
 * here (src/server/session-handlers.ts puts it behind the server).
 *
 * A session is a draft of drafts.ts, stored where `dagtuf publish` stores
 * its drafts (DIR/drafts/ID.json, written atomically), so the CLI's
 * `drafts`, `draft show`, `sign --draft` see the same drafts; or, with
 * another SessionBackend (below), in a store several replicas share (the
 * Redis backend, src/server/redis-sessions.ts), where the head lives too.
 * The steps:
 *
 *   propose(ops)      plan (plan.ts) the staged-form operations over the head,
 *                     `sign` it with no key at all (so every new object waits
 *                     for its signers), commitDraft: a draft
 *   sign(id, sigs)    every offered signature through the one signing step
 *                     of drafts (`applySignatures`: SESS-SIG-KEY,
 *                     SESS-SIG-BYTES, SESS-SIG-ONCE) against requirements
 *                     recomputed from the head (`draftNeeds`), all or nothing;
 *                     the draft saved; once every threshold is met it is
 *                     published as `dagtuf sign` publishes one
 *                     (`tryFinalizeDraft`: signTop with the service's online
 *                     keys, commit: VALID, `<-*`, blocks flushed, head CAS)
 *   withdraw(id)      the draft file removed
 *   resume()          at start: drafts already published (a crash between the
 *                     head and the draft's removal) and expired ones removed,
 *                     complete ones (a crash before the head moved) published
 *
 * Guarantees:
 * - Every change to the repository happens under the backend's lock (for the
 *   folder, the repository lock `dagtuf publish` takes, and one at a time in
 *   this process; for Redis, a lock in Redis) and moves the head by a
 *   compare-and-swap.
 * - A draft is published at most once (SESS-ONCE): the head and the log
 *   record the draft each head was published from (`source`), and a draft
 *   they name takes no more signatures (ERR_DRAFT_PUBLISHED, with the
 *   timestamp it became); a withdrawn or expired draft takes none either.
 * - Where the draft was published is never lost: `get` finds it in the log.
 * - A proposal is refused before anything is written when the service could
 *   not publish it once signed (no snapshot or timestamp key for the new DAG:
 *   ERR_KEY_MISSING), or when it changes nothing that needs a signature
 *   (ERR_DRAFT_EMPTY).
 */
import { encodeSigned } from '../model/codec.js'
import { DagtufError, KeyFileError, RepoError } from '../model/errors.js'
import { signingMessage, type Signer } from '../model/keys.js'
import type { KeyId } from '../model/types.js'
import { acquireLock } from './repo-io.js'
import { appendAudit, draftEvent } from './audit.js'
import { commit, commitDraft, type CommitTarget, type HeadPlace } from './commit.js'
import {
  applySignatures, checkFresh, complete, draftNeeds, listDrafts, needsReport, readDraft, removeDraft, saveDraft,
  type Draft, type NeedReport, type OfferedSignature
} from './drafts.js'
import { lazySession, type Session } from './engine.js'
import type { Change, HeadRecord, Op } from './files.js'
import { plan } from './plan.js'
import type { Repo } from './repo.js'
import { sign, signTop } from './sign.js'
import { loadCurrent, requirementsFor, type Current, type NodeBlocks, type Requirement } from './state.js'
import { expiresIn } from '../model/build.js'
import { readdir } from 'node:fs/promises'

/** Drafts are kept a week unless the service says otherwise. */
export const DEFAULT_DRAFT_TTL_SECONDS = 7 * 86400
/** Pending drafts a service keeps at most. */
export const DEFAULT_MAX_DRAFTS = 100

/**
 * Where a signing service keeps its drafts and its head (NOTES 10.2, 10.3):
 * the repository folder (`folderBackend`, the default), or a store shared by
 * several replicas (the Redis backend, src/server/redis-sessions.ts). The
 * online keys, the config and the audit log stay in the replica's folder.
 */
export interface SessionBackend {
  /** Run `fn` alone among every writer of this backend's head and drafts (ERR_REPO_LOCKED after a short wait). */
  locked: <T>(fn: () => Promise<T>) => Promise<T>
  /** The head, its exact bytes for the compare-and-swap, and every earlier head. */
  readonly heads: Pick<Repo, 'head' | 'headBytes' | 'log'>
  /** Blocks the head's DAG is read from and a publish writes (durable before the head moves). */
  blocks: (node: NodeBlocks) => NodeBlocks
  /** Where a publish moves the head (compare-and-swap, ERR_HEAD_MOVED) and which folder's audit log it appends. */
  readonly place: HeadPlace
  /** The ids of the drafts kept (unparsed). */
  draftIds: () => Promise<string[]>
  /** @throws {RepoError} ERR_DRAFT_NOT_FOUND | ERR_DRAFT_FORMAT */
  readDraft: (id: string) => Promise<Draft>
  /** Every pending draft, oldest first. */
  listDrafts: () => Promise<Draft[]>
  saveDraft: (d: Draft) => Promise<void>
  removeDraft: (id: string) => Promise<void>
}

/** The embedded default: drafts in DIR/drafts/, the head in head.json, blocks in the repository's node. */
export function folderBackend (repo: Repo): SessionBackend {
  return {
    locked: async (fn) => await withRepoLock(repo, fn),
    heads: repo,
    blocks: (node) => node,
    place: repo,
    draftIds: async () => {
      let names: string[]
      try { names = await readdir(repo.draftsDir) } catch { return [] }
      return names.map((n) => /^(draft-[0-9a-f]{8,32})\.json$/.exec(n)?.[1]).filter((x): x is string => x !== undefined)
    },
    readDraft: async (id) => await readDraft(repo, id),
    listDrafts: async () => await listDrafts(repo),
    saveDraft: async (d) => { await saveDraft(repo, d) },
    removeDraft: async (id) => { await removeDraft(repo, id) }
  }
}

export interface SessionStoreOptions {
  /** The repository (opened by the caller, without the lock: each change takes it): keys, config, audit log. */
  readonly repo: Repo
  /** Where drafts and the head live (default: `folderBackend(repo)`). */
  readonly backend?: SessionBackend
  /** Passphrase of the online keys' files, when they are encrypted. */
  readonly passphrase?: string
  /** Keys held elsewhere (a PKCS#11 token), used next to the key folder's. */
  readonly signers?: readonly Signer[]
  /** A draft older than this (seconds after `created`) takes no signatures and is removed. */
  readonly ttlSeconds?: number
  readonly maxDrafts?: number
  /** The clock (tests inject one). */
  readonly now?: () => Date
  /** Told of each draft this service publishes: how long the publish took and how old the draft was (metrics). */
  readonly onPublished?: (p: { seconds: number, draftAgeSeconds: number }) => void
}

/** One object of a draft as a signer sees it. */
export interface DraftObjectView {
  readonly role: string
  /** What to sign, exactly: the signature domain and the object's signed bytes (base64). */
  readonly message: string
  /** The `signed` part as JSON, to review. */
  readonly signed: unknown
  /** keyids that have signed it. */
  readonly signatures: KeyId[]
}

export type DraftState = 'pending' | 'stale' | 'expired' | 'published'

export interface DraftView {
  readonly id: string
  readonly state: DraftState
  readonly created?: string
  readonly expires?: string
  /** The head the draft was made over. */
  readonly base?: string
  readonly objects?: DraftObjectView[]
  /** Who must sign (thresholds per requirement; a new root: the old root's and its own), who has, who may still. */
  readonly needs?: NeedReport[]
  readonly changes?: readonly Change[]
  /** Once published: the timestamp it became. */
  readonly timestamp?: string
}

const ID = /^draft-[0-9a-f]{8,32}$/

/** What adding signatures did. */
export interface SignResult {
  readonly view: DraftView
  readonly added: number
  readonly published: boolean
  /** Every threshold met and the signatures stored, but the publish failed (tried again at start). */
  readonly publishError?: { code: string, message: string, rule?: string }
}

/** The changes of one service process, one at a time per repository. */
const chains = new WeakMap<Repo, Promise<unknown>>()

/**
 * Run `fn` alone among this process's service changes to `repo` (sessions,
 * online re-signing) and under the repository lock, which a publishing
 * command or a push may hold for a moment: it is tried again for up to about
 * two seconds, then ERR_REPO_LOCKED.
 */
export async function withRepoLock<T> (repo: Repo, fn: () => Promise<T>): Promise<T> {
  const run = (chains.get(repo) ?? Promise.resolve()).then(async () => {
    let release: (() => Promise<void>) | undefined
    for (let attempt = 0; release === undefined; attempt++) {
      try {
        release = await acquireLock(repo.path('repo.lock'))
      } catch (e) {
        if (!(e instanceof RepoError && e.code === 'ERR_REPO_LOCKED') || attempt >= 40) throw e
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    try { return await fn() } finally { await release() }
  })
  chains.set(repo, run.catch(() => {}))
  return await run
}

export class SigningSessions {
  readonly repo: Repo
  readonly backend: SessionBackend
  readonly ttlSeconds: number
  readonly maxDrafts: number
  readonly #now: () => Date
  readonly #sessionNow: () => Promise<Session>
  readonly #onPublished: SessionStoreOptions['onPublished']

  constructor (options: SessionStoreOptions) {
    this.#onPublished = options.onPublished
    this.repo = options.repo
    this.backend = options.backend ?? folderBackend(options.repo)
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_DRAFT_TTL_SECONDS
    this.maxDrafts = options.maxDrafts ?? DEFAULT_MAX_DRAFTS
    this.#now = options.now ?? (() => new Date())
    this.#sessionNow = lazySession(this.repo, { passphrase: options.passphrase, signers: options.signers ?? [], now: this.#now })
  }


  /** Run `fn` under the backend's lock (for the folder: alone in this process and under the repository lock). */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    return await this.backend.locked(fn)
  }

  async #current (s: Session): Promise<Current> {
    return await loadCurrent(this.backend.heads, this.backend.blocks(s.node))
  }

  #target (s: Session): CommitTarget {
    return { repo: this.backend.place, node: this.backend.blocks(s.node), now: s.now }
  }

  /**
   * Publish `draft` if every threshold is met over the current head, as
   * `dagtuf sign` does (engine.ts tryFinalizeDraft): signTop with the online
   * keys, commit (VALID, `<-*`, blocks durable, head CAS), the draft removed.
   */
  async #finalize (s: Session, draft: Draft): Promise<HeadRecord | undefined> {
    const current = await this.#current(s)
    checkFresh(current.published, draft.objects)
    if (!complete(draft.objects, draftNeeds(current.published, draft.objects))) return undefined
    const dag = await signTop(current.published, draft.objects, s.keys, s.now, s.expiry)
    const head = await commit(this.#target(s), current, dag, { changes: draft.changes, source: draft.id })
    await this.backend.removeDraft(draft.id)
    return head
  }

  #expiresOf (d: Draft): Date { return new Date(Date.parse(d.created) + this.ttlSeconds * 1000) }
  #expired (d: Draft): boolean { return this.#now().getTime() >= this.#expiresOf(d).getTime() }

  /** The head a draft was published as, from head.json and the log. */
  async #publishedAs (id: string): Promise<HeadRecord | undefined> {
    const head = await this.backend.heads.head()
    if (head.source === id) return head
    return (await this.backend.heads.log()).findLast((h) => h.source === id)
  }

  async #view (d: Draft): Promise<DraftView> {
    const s = await this.#sessionNow()
    const current = await this.#current(s)
    let state: DraftState = this.#expired(d) ? 'expired' : 'pending'
    let needs: ReadonlyMap<string, readonly Requirement[]> = d.needs
    try {
      checkFresh(current.published, d.objects)
      needs = draftNeeds(current.published, d.objects)
    } catch {
      state = 'stale'
    }
    return {
      id: d.id,
      state,
      created: d.created,
      expires: expiresIn(this.#expiresOf(d), 0),
      base: d.base.toString(),
      objects: [...d.objects].map(([role, env]) => ({
        role,
        message: Buffer.from(signingMessage(env.signedBytes)).toString('base64'),
        signed: JSON.parse(new TextDecoder().decode(encodeSigned(env.signed))) as unknown,
        signatures: env.signatures.map((x) => x.keyid)
      })),
      needs: needsReport(d.objects, needs),
      changes: d.changes
    }
  }

  static #publishedView (id: string, h: HeadRecord): DraftView {
    return { id, state: 'published', timestamp: h.timestamp.toString() }
  }

  /**
   * Make a draft of `ops` over the current head.
   *
   * @throws {RepoError} ERR_DRAFT_EMPTY | ERR_DRAFT_LIMIT | what applyOps throws (ERR_ROLE_UNKNOWN, ERR_THRESHOLD...) | ERR_REPO_LOCKED
   * @throws {KeyFileError} ERR_KEY_MISSING (the service could not sign the new snapshot or timestamp)
   */
  async propose (ops: readonly Op[]): Promise<DraftView> {
    return await this.#locked(async () => {
      await this.#sweep()
      const pending = await this.backend.listDrafts()
      if (pending.length >= this.maxDrafts) throw new RepoError('ERR_DRAFT_LIMIT', `the service keeps at most ${this.maxDrafts} pending drafts`, { details: { max: this.maxDrafts } })
      const s = await this.#sessionNow()
      const current = await this.#current(s)
      const p = await plan(current.published, ops, { now: s.now, expiry: s.expiry, source: s.node, pending: current.pending })
      if (p.objects.size === 0) throw new RepoError('ERR_DRAFT_EMPTY', 'the proposal changes no root, targets or delegated object')
      for (const role of ['snapshot', 'timestamp'] as const) {
        for (const r of requirementsFor(p.view, role)) {
          if (r.keyids.filter((id) => s.keys.has(id)).length < r.threshold) {
            throw new KeyFileError('ERR_KEY_MISSING', `the service does not hold the ${role} key the new DAG needs, so it could not publish this draft`, { details: { role, keyids: [...r.keyids] } })
          }
        }
      }
      // No key signs here: every new object waits for its own signers.
      const signing = await sign(p, [])
      if (signing.kind !== 'draft') throw new RepoError('ERR_DRAFT_EMPTY', 'the proposal needs no signature')
      const draft = await commitDraft(this.#target(s), current, { objects: signing.objects, needs: signing.needs, changes: p.changes }, p.shardBlocks, this.backend.saveDraft)
      return await this.#view(draft)
    })
  }

  /** Every pending draft (published and expired ones are removed first). */
  async list (): Promise<DraftView[]> {
    return await this.#locked(async () => {
      await this.#sweep()
      const out: DraftView[] = []
      for (const d of await this.backend.listDrafts()) out.push(await this.#view(d))
      return out
    })
  }

  /**
   * One draft, pending or published.
   * @throws {RepoError} ERR_DRAFT_NOT_FOUND (never made, withdrawn, or expired and removed)
   */
  async get (id: string): Promise<DraftView> {
    if (!ID.test(id)) throw notFound(id)
    const d = await this.backend.readDraft(id).catch((e: unknown) => {
      if (e instanceof RepoError && e.code === 'ERR_DRAFT_NOT_FOUND') return undefined
      throw e
    })
    const published = await this.#publishedAs(id)
    if (published !== undefined) return SigningSessions.#publishedView(id, published)
    if (d === undefined) throw notFound(id)
    return await this.#view(d)
  }

  /**
   * Add `offered` signatures to draft `id`; publish it once every threshold is met.
   *
   * @throws {RepoError} ERR_DRAFT_NOT_FOUND | ERR_DRAFT_PUBLISHED | ERR_DRAFT_EXPIRED | ERR_DRAFT_STALE |
   *   ERR_DRAFT_MISMATCH | ERR_DRAFT_SIGNATURE | ERR_DRAFT_SIGNED | ERR_PUBLISH_INVALID | ERR_HEAD_MOVED | ERR_REPO_LOCKED
   * @throws {KeyFileError} ERR_KEY_NOT_AUTHORIZED | ERR_KEY_MISSING; {CryptoError} ERR_SIG_FORMAT
   */
  async sign (id: string, offered: readonly OfferedSignature[]): Promise<SignResult> {
    if (!ID.test(id)) throw notFound(id)
    return await this.#locked(async () => {
      const published = await this.#publishedAs(id)
      if (published !== undefined) {
        await this.backend.removeDraft(id)
        throw new RepoError('ERR_DRAFT_PUBLISHED', `draft ${id} was already published as ${published.timestamp} (SESS-ONCE)`, { details: { rule: 'SESS-ONCE', draft: id, timestamp: published.timestamp.toString() } })
      }
      const draft = await this.backend.readDraft(id)
      if (this.#expired(draft)) throw new RepoError('ERR_DRAFT_EXPIRED', `draft ${id} expired at ${expiresIn(this.#expiresOf(draft), 0)} (SESS-ONCE)`, { details: { rule: 'SESS-ONCE', draft: id } })
      const s = await this.#sessionNow()
      const current = await this.#current(s)
      checkFresh(current.published, draft.objects)
      const needs = draftNeeds(current.published, draft.objects)
      const objects = applySignatures(draft.objects, needs, offered)
      const next: Draft = { ...draft, objects, needs }
      await appendAudit(this.repo.dir, [draftEvent('draft-signed', id, { roles: [...new Set(offered.map((o) => o.role))], keyids: offered.map((o) => o.keyid) })], { now: s.now })
      await this.backend.saveDraft(next)
      if (!complete(objects, needs)) return { view: await this.#view(next), added: offered.length, published: false }
      let head: HeadRecord | undefined
      const started = performance.now()
      try {
        head = await this.#finalize(s, next)
      } catch (e) {
        // The signatures are stored: say why the publish failed rather than refuse them.
        if (!(e instanceof DagtufError)) throw e
        const rule = (e.details as { rule?: unknown } | undefined)?.rule
        return { view: await this.#view(next), added: offered.length, published: false, publishError: { code: e.code, message: e.message, ...(typeof rule === 'string' ? { rule } : {}) } }
      }
      if (head === undefined) return { view: await this.#view(next), added: offered.length, published: false }
      this.#onPublished?.({ seconds: (performance.now() - started) / 1000, draftAgeSeconds: (s.now.getTime() - Date.parse(draft.created)) / 1000 })
      return { view: SigningSessions.#publishedView(id, head), added: offered.length, published: true }
    })
  }

  /**
   * Withdraw a pending draft (its file is removed; a published one cannot be).
   * @throws {RepoError} ERR_DRAFT_NOT_FOUND | ERR_DRAFT_PUBLISHED
   */
  async withdraw (id: string): Promise<void> {
    if (!ID.test(id)) throw notFound(id)
    await this.#locked(async () => {
      const published = await this.#publishedAs(id)
      if (published !== undefined) {
        await this.backend.removeDraft(id)
        throw new RepoError('ERR_DRAFT_PUBLISHED', `draft ${id} was already published as ${published.timestamp}`, { details: { rule: 'SESS-ONCE', draft: id, timestamp: published.timestamp.toString() } })
      }
      await this.backend.readDraft(id)
      await appendAudit(this.repo.dir, [draftEvent('draft-withdrawn', id)], { now: this.#now() })
      await this.backend.removeDraft(id)
    })
  }

  /**
   * At start: remove drafts already published or expired, and publish every
   * fresh draft whose thresholds are met (a service stopped between its last
   * signature and its head). Returns what was published.
   */
  async resume (): Promise<Array<{ id: string, timestamp: string } | { id: string, error: string }>> {
    return await this.#locked(async () => {
      await this.#sweep()
      const out: Array<{ id: string, timestamp: string } | { id: string, error: string }> = []
      const s = await this.#sessionNow()
      for (const d of await this.backend.listDrafts()) {
        const current = await this.#current(s)
        try { checkFresh(current.published, d.objects) } catch { continue }
        if (!complete(d.objects, draftNeeds(current.published, d.objects))) continue
        try {
          const head = await this.#finalize(await this.#sessionNow(), d)
          if (head !== undefined) out.push({ id: d.id, timestamp: head.timestamp.toString() })
        } catch (e) {
          // One draft that cannot be published does not keep the service from starting.
          if (!(e instanceof DagtufError)) throw e
          out.push({ id: d.id, error: `${e.code}: ${e.message}` })
        }
      }
      return out
    })
  }

  /** Remove the files of drafts the log says were published, and of expired ones. Under the lock. */
  async #sweep (): Promise<void> {
    const ids = await this.backend.draftIds()
    if (ids.length === 0) return
    const sources = new Set((await this.backend.heads.log()).map((h) => h.source))
    for (const id of ids) {
      if (sources.has(id)) { await this.backend.removeDraft(id); continue }
      let d: Draft
      try { d = await this.backend.readDraft(id) } catch { continue }
      if (this.#expired(d)) await this.backend.removeDraft(id)
    }
  }
}

function notFound (id: string): RepoError {
  return new RepoError('ERR_DRAFT_NOT_FOUND', `no draft ${JSON.stringify(id.slice(0, 64))}`, { details: { draft: id.slice(0, 64) } })
}
