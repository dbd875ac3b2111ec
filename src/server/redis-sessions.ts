/**
 * Signing sessions on the Redis backend (`serve --redis URL --sessions`,
 * issue 11 item 4, NOTES 10.2 and 10.3): the drafts and the head live in
 * Redis (src/server/redis-store.ts), so every replica with the same URL and
 * prefix sees one set of drafts and one head, and a draft whose thresholds
 * are met is published by whichever replica received the last signature,
 * through the same steps as the folder's (src/publish/sessions.ts: VALID,
 * `<-*`, blocks stored before the head moves).
 *
 *   PREFIX:draft:ID   a draft, as drafts/ID.json holds it (drafts.ts draftText)
 *   PREFIX:drafts     the set of the kept drafts' ids
 *   PREFIX:lock       held by the replica changing a draft or the head (SET NX PX)
 *
 * Guarantees:
 * - Each change takes PREFIX:lock (as one process takes repo.lock; waiting
 *   up to 10 s, then ERR_REPO_LOCKED), so two
 *   signatures posted to two replicas are applied one after the other.
 * - The head moves by a compare-and-swap on the head record's exact bytes
 *   (one Lua script), which also appends the log line and deletes the draft
 *   published: of two replicas racing to publish one completed draft, one
 *   moves the head and the other gets ERR_HEAD_MOVED, then ERR_DRAFT_PUBLISHED
 *   (SESS-ONCE, the log names the draft). This holds even if the lock expired.
 * - The blocks of the new DAG (and a draft's shard nodes) are in Redis before
 *   the head that names them (SET NX; durable first with appendfsync always).
 * - The online keys, the config and the audit log stay in the replica's own
 *   folder: keys never leave the machine they were put on, and each replica's
 *   audit log is its own hash chain of what it did (NOTES 10.3).
 */
import { RepoError } from '../model/errors.js'
import { parseDraft, draftText, type Draft } from '../publish/drafts.js'
import { headText, logLine, parseLog, type HeadRecord } from '../publish/files.js'
import type { Repo } from '../publish/repo.js'
import type { SessionBackend } from '../publish/sessions.js'
import type { NodeBlocks } from '../publish/state.js'
import type { RedisHeadStore } from './redis-store.js'

/** How long the lock is kept should its holder die, and how long a change waits for it (another replica may be publishing: seconds on a large repository). */
const LOCK_TTL_MS = 30_000
const LOCK_WAIT_MS = 10_000

/**
 * The SessionBackend of a replica: drafts, head and blocks in `store`; the
 * audit log in `repo`'s folder.
 */
export function redisSessionBackend (store: RedisHeadStore, repo: Repo): SessionBackend {
  const head = async (): Promise<HeadRecord> => {
    const h = await store.headRecord()
    if (h === null) throw new RepoError('ERR_REPO_CORRUPT', `Redis: ${store.prefix}:head is missing (seed it from a repository folder)`, { details: { backend: 'redis' } })
    return h
  }
  const blocks: NodeBlocks = {
    get: async (cid, options) => await store.source.get(cid, options),
    has: async (cid) => await store.source.has(cid),
    put: async (cid, bytes) => { await store.putBlocks([{ cid, bytes }]) },
    // Redis makes a write durable as it is configured (appendfsync always: before it answers).
    flush: async () => {}
  }
  const readDraft = async (id: string): Promise<Draft> => {
    if (!/^draft-[0-9a-f]{8,32}$/.test(id)) throw new RepoError('ERR_DRAFT_NOT_FOUND', `no draft ${JSON.stringify(id.slice(0, 64))}`, { details: { draft: id.slice(0, 64) } })
    const bytes = await store.draftBytes(id)
    if (bytes === undefined) throw new RepoError('ERR_DRAFT_NOT_FOUND', `no draft ${id}`, { details: { draft: id } })
    return parseDraft(bytes, `${store.prefix}:draft:${id}`)
  }
  return {
    locked: async (fn) => {
      const release = await store.lock(LOCK_TTL_MS, LOCK_WAIT_MS)
      if (release === undefined) throw new RepoError('ERR_REPO_LOCKED', `another replica holds ${store.prefix}:lock; try again`, { details: { backend: 'redis' } })
      try { return await fn() } finally { await release() }
    },
    heads: {
      head,
      headBytes: async () => await store.headBytes(),
      log: async () => {
        const lines = await store.log()
        const entries = lines.length === 0 ? [] : parseLog(new TextEncoder().encode(lines.map((l) => l + '\n').join('')))
        const h = await head()
        const last = entries[entries.length - 1]
        if (last === undefined || !last.timestamp.equals(h.timestamp)) entries.push(h)
        return entries
      }
    },
    blocks: () => blocks,
    place: {
      dir: repo.dir,
      moveHead: async (next: HeadRecord, expected: Uint8Array | undefined) => {
        const moved = expected !== undefined &&
          await store.casRecord({ timestamp: next.timestamp.toString(), text: headText(next), line: logLine(next), draft: /^draft-[0-9a-f]{8,32}$/.test(next.source) ? next.source : '' }, expected)
        if (!moved) throw new RepoError('ERR_HEAD_MOVED', 'the head in Redis moved while this change ran (another replica or a push); try again', { details: { backend: 'redis' } })
      },
      // The log line is appended by the compare-and-swap itself.
      appendLog: async () => {}
    },
    draftIds: async () => await store.draftIds(),
    readDraft,
    listDrafts: async () => {
      const h = await head()
      const out: Draft[] = []
      for (const id of await store.draftIds()) {
        if (id === h.source) { await store.deleteDraft(id); continue }
        try {
          out.push(await readDraft(id))
        } catch (e) {
          // Removed by another replica between the two reads.
          if (e instanceof RepoError && e.code === 'ERR_DRAFT_NOT_FOUND') continue
          throw e
        }
      }
      return out.sort((a, b) => a.created < b.created ? -1 : a.created > b.created ? 1 : 0)
    },
    saveDraft: async (d) => { await store.putDraft(d.id, draftText(d)) },
    removeDraft: async (id) => { await store.deleteDraft(id) }
  }
}
