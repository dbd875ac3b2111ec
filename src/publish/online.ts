/**
 * Online re-signing (`dagtuf serve --online-keys`, NOTES 10.2): the service
 * keeps the repository fresh by re-signing the snapshot and the timestamp
 * before they expire, on a schedule it computes from the head and the
 * expiry periods of config.json, with no cron.
 *
 * Schedule: the head's timestamp is re-signed once `margin` (default 1/2)
 * of the timestamp period is left before it expires, and likewise for the
 * snapshot; both are made anew at each re-sign (a snapshot is always
 * followed by its timestamp). After each re-sign the next one is computed
 * from the new head, and from whatever head another publisher moved to.
 *
 * Guarantees:
 * - ONLINE-KEYS-ONLY: the service refuses to run (KeyFileError
 *   ERR_KEY_NOT_ONLINE) while its key folder holds a private key that the
 *   head's root lists for the root or targets role.
 * - A re-sign is a publish of no change (plan with no operation, `sign` with
 *   the service's keys, `commit`: VALID, `<-*`, blocks flushed, head CAS),
 *   under the repository lock; staged changes are not published by it. When
 *   the head needs an object only offline keys can sign (a role whose keys
 *   were rotated), nothing is written and the reason is logged.
 * - With several replicas sharing a head (`serve --redis`, a SessionBackend
 *   other than the folder), at most one re-signs a given head: each checks
 *   whether it is due under the backend's lock, and the head's
 *   compare-and-swap decides between two that both were; the loser
 *   (ERR_HEAD_MOVED) writes nothing and does nothing more.
 * - The clock and the timer are injected (tests run the schedule without waiting).
 */
import { expiresIn } from '../model/build.js'
import type { Signer } from '../model/keys.js'
import { KeyFileError, RepoError } from '../model/errors.js'
import { commit } from './commit.js'
import { lazySession, type Session } from './engine.js'
import type { HeadRecord } from './files.js'
import { plan } from './plan.js'
import type { Repo } from './repo.js'
import { folderBackend, type SessionBackend } from './sessions.js'
import { sign } from './sign.js'
import { loadCurrent } from './state.js'

export interface ResignerOptions {
  readonly repo: Repo
  /** Where the head lives (default: the repository folder); the keys stay in `repo`. */
  readonly backend?: SessionBackend
  readonly passphrase?: string
  /** Keys held elsewhere (a PKCS#11 token), used next to the key folder's. */
  readonly signers?: readonly Signer[]
  /** Re-sign when this fraction of an object's period is left (0 < margin < 1, default 0.5). */
  readonly margin?: number
  readonly now?: () => Date
  /** One line per re-sign, and per failure. */
  readonly log?: (line: string) => void
  /** Told how long each re-sign took (metrics). */
  readonly onPublished?: (p: { seconds: number }) => void
}

/**
 * ONLINE-KEYS-ONLY: refuse a key folder holding a root or targets key of the head's root
 * (the head of `backend` when given).
 * @throws {KeyFileError} ERR_KEY_NOT_ONLINE
 */
export async function assertOnlineKeysOnly (repo: Repo, others: readonly Signer[] = [], backend?: SessionBackend): Promise<void> {
  const node = await repo.node()
  // The head's root where the head lives (with --redis, Redis's: the folder's may be older).
  const current = backend === undefined ? await loadCurrent(repo, node) : await loadCurrent(backend.heads, backend.blocks(node))
  const root = current.published.root.signed
  const files = await repo.keyFiles()
  for (const role of ['root', 'targets'] as const) {
    for (const id of root.roles[role].keyids) {
      const f = files.get(id) ?? (others.some((o) => o.keyid === id) ? { path: `the token key ${id.slice(0, 16)}` } : undefined)
      if (f !== undefined) {
        throw new KeyFileError('ERR_KEY_NOT_ONLINE', `${f.path} is a ${role} key: a service holds only the snapshot and timestamp keys; move it offline (ONLINE-KEYS-ONLY)`, { details: { rule: 'ONLINE-KEYS-ONLY', role, keyid: id, path: f.path } })
      }
    }
  }
}

export class OnlineResigner {
  readonly repo: Repo
  readonly backend: SessionBackend
  readonly margin: number
  readonly #now: () => Date
  readonly #log: (line: string) => void
  readonly #sessionNow: () => Promise<Session>
  readonly #onPublished: ResignerOptions['onPublished']

  constructor (options: ResignerOptions) {
    this.#onPublished = options.onPublished
    this.repo = options.repo
    this.backend = options.backend ?? folderBackend(options.repo)
    this.margin = options.margin ?? 0.5
    if (!(this.margin > 0 && this.margin < 1)) throw new RangeError('margin: expected 0 < margin < 1')
    this.#now = options.now ?? (() => new Date())
    this.#log = options.log ?? (() => {})
    this.#sessionNow = lazySession(this.repo, { passphrase: options.passphrase, signers: options.signers ?? [], now: this.#now })
  }


  /** When the head needs its next re-sign. */
  async due (): Promise<Date> {
    const s = await this.#sessionNow()
    const current = await loadCurrent(this.backend.heads, this.backend.blocks(s.node))
    const ts = current.published.timestamp.signed.expires
    const snap = current.published.snapshot.signed.expires
    const at = Math.min(
      Date.parse(ts) - this.margin * s.expiry.timestamp * 1000,
      Date.parse(snap) - this.margin * s.expiry.snapshot * 1000
    )
    return new Date(at)
  }

  /**
   * Re-sign now if it is due (checked again under the lock). Returns the new
   * head, or undefined when nothing was due or nothing could be signed.
   *
   * @throws what publishing throws (ERR_KEY_MISSING, ERR_PUBLISH_INVALID, ERR_REPO_LOCKED...)
   */
  async tick (): Promise<HeadRecord | undefined> {
    return await this.backend.locked(async () => {
      const due = await this.due()
      const s = await this.#sessionNow()
      if (s.now.getTime() < due.getTime()) return undefined
      const started = performance.now()
      const current = await loadCurrent(this.backend.heads, this.backend.blocks(s.node))
      const p = await plan(current.published, [], { now: s.now, expiry: s.expiry, source: s.node, pending: current.pending })
      if (p.objects.size > 0) {
        this.#log(`online re-sign skipped: ${[...p.objects.keys()].join(', ')} must be re-signed by offline keys first`)
        return undefined
      }
      const signing = await sign(p, s.keys)
      if (signing.kind !== 'signed') return undefined
      let head: HeadRecord
      try {
        head = await commit({ repo: this.backend.place, node: this.backend.blocks(s.node), now: s.now }, current, signing.dag, { changes: p.changes, source: '', action: 'online-resign' })
      } catch (e) {
        // Another replica (or a push) moved the head first: that head is the one to follow.
        if (e instanceof RepoError && e.code === 'ERR_HEAD_MOVED') {
          this.#log('online re-sign: the head moved while re-signing (another replica or a publish); nothing written')
          return undefined
        }
        throw e
      }
      this.#onPublished?.({ seconds: (performance.now() - started) / 1000 })
      this.#log(`online re-sign at ${expiresIn(s.now, 0)}: timestamp ${head.timestamp} (expires ${signing.dag.timestamp.signed.expires}), snapshot expires ${signing.dag.snapshot.signed.expires}`)
      return head
    })
  }

  /**
   * Run the schedule with real timers until `stop()`: wait until due, tick,
   * again. A failure is logged and tried again a minute later. `stop()`
   * resolves once a tick under way has finished (so the caller may close the
   * repository or the Redis connection after it).
   */
  start (): { stop: () => Promise<void> } {
    let timer: NodeJS.Timeout | undefined
    let stopped = false
    let running: Promise<void> = Promise.resolve()
    const MAX_WAIT = 6 * 3600 * 1000
    const loop = async (): Promise<void> => {
      if (stopped) return
      let wait: number
      try {
        await this.tick()
        wait = (await this.due()).getTime() - this.#now().getTime()
      } catch (e) {
        this.#log(`online re-sign failed: ${e instanceof Error ? e.message : String(e)}; trying again in 60 s`)
        wait = 60_000
      }
      if (stopped) return
      // Woken at least every few hours, so a head moved by someone else or a clock jump is seen.
      timer = setTimeout(() => { running = loop() }, Math.min(MAX_WAIT, Math.max(1_000, wait)))
      timer.unref?.()
    }
    running = loop()
    return {
      stop: async () => {
        stopped = true
        if (timer !== undefined) clearTimeout(timer)
        await running
      }
    }
  }
}
