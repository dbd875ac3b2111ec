/**
 * Moving a repository's head to a timestamp made elsewhere: the commit step
 * of the head registry (src/server/registry-handlers.ts, NOTES REG-CAS and
 * REG-ACCEPT). The caller has already checked the new DAG (VALID, `<-*` the
 * expected head) over a loader that sees the stored blocks plus `blocks`.
 *
 * Guarantees:
 * - Under the repository lock (the one every publishing command holds), the
 *   head is compared with `expected`; when it is another timestamp nothing
 *   is written and the answer is `moved`.
 * - Otherwise every block is put and flushed to disk (fsync) before
 *   the audit entry is appended (AUDIT-WRITE-AHEAD), then head.json is
 *   replaced atomically (compare-and-swap on its bytes), then the log is
 *   appended. A crash at any point leaves the old head (perhaps with
 *   unreferenced blocks) or the new one, never a head naming missing blocks.
 * - head.json's CIDs are read from the new DAG itself (loadPublished), as
 *   a publish would write them.
 */
import type { CID } from 'multiformats/cid'
import type { RepoNode } from '../blocks/repo-node.js'
import type { BlockSource, GetOptions } from '../blocks/types.js'
import { expiresIn } from '../model/build.js'
import { sourceLoader } from '../validate/loader.js'
import { appendAudit, headEvents } from './audit.js'
import type { HeadRecord } from './files.js'
import { acquireLock } from './repo-io.js'
import type { Repo } from './repo.js'
import { loadPublished } from './state.js'

export interface AcceptInput {
  /** The head the pusher started from (If-Match). */
  readonly expected: CID
  /** The new timestamp, already checked by the caller. */
  readonly timestamp: CID
  /** Every block of the push, hash-checked (CarSource or the like). */
  readonly blocks: ReadonlyArray<{ readonly cid: CID, readonly bytes: Uint8Array }>
  readonly now?: Date
}

export type AcceptResult =
  | { readonly kind: 'accepted', readonly head: HeadRecord, readonly previous: HeadRecord, readonly stored: number }
  | { readonly kind: 'moved', readonly current: CID }

/** The node, with `blocks` visible before they are written. */
class WithBlocks implements BlockSource {
  readonly #mem: Map<string, Uint8Array>
  constructor (blocks: AcceptInput['blocks'], readonly base: BlockSource) {
    this.#mem = new Map(blocks.map((b) => [b.cid.toString(), b.bytes]))
  }

  async get (cid: CID, options?: GetOptions): Promise<Uint8Array> {
    return this.#mem.get(cid.toString()) ?? await this.base.get(cid, options)
  }
}

/**
 * The head record (head.json's content) of a pushed timestamp, its CIDs read
 * from the new DAG itself over `base` plus the push's blocks.
 */
export async function headRecordOf (base: BlockSource, input: Pick<AcceptInput, 'timestamp' | 'blocks' | 'now'>): Promise<HeadRecord> {
  const dag = await loadPublished(sourceLoader(new WithBlocks(input.blocks, base)), input.timestamp)
  return {
    timestamp: input.timestamp,
    snapshot: dag.snapshot.cid,
    root: dag.root.cid,
    targets: dag.targets.cid,
    delegated: new Map(dag.roles),
    retired: new Map(dag.retired),
    published: expiresIn(input.now ?? new Date(), 0),
    changes: [],
    source: ''
  }
}

/**
 * Move the head of `repo` to `input.timestamp` if it is still `input.expected`.
 *
 * @throws {RepoError} ERR_REPO_LOCKED (a publish is running) | ERR_REPO_CORRUPT | ERR_REPO_IO | ERR_HEAD_MOVED (head.json changed under the lock: another writer that ignores it)
 * @throws {BlockError} when a block cannot be stored or flushed
 */
export async function acceptHead (repo: Repo, node: RepoNode, input: AcceptInput): Promise<AcceptResult> {
  const release = await acquireLock(repo.path('repo.lock'))
  try {
    const headBytes = await repo.headBytes()
    const previous = await repo.head()
    if (!previous.timestamp.equals(input.expected)) return { kind: 'moved', current: previous.timestamp }
    const head = await headRecordOf(node, input)
    let stored = 0
    for (const b of input.blocks) {
      if (await node.has(b.cid)) continue
      await node.put(b.cid, b.bytes)
      stored++
    }
    // Durable before the head that names them (flushing a block already there is harmless).
    await node.flush(input.blocks.map((b) => b.cid))
    // AUDIT-WRITE-AHEAD: the entry is on disk before the head moves.
    await appendAudit(repo.dir, headEvents('push-accepted', previous, head, { stored }), { now: input.now })
    await repo.moveHead(head, headBytes)
    await repo.appendLog(head, previous)
    return { kind: 'accepted', head, previous, stored }
  } finally {
    await release()
  }
}
