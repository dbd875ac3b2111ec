/**
 * Publishing, step 3 of 3: commit (NOTES section 10). After plan.ts and
 * sign.ts, the only step that writes.
 *
 * - `commit` publishes a signed DAG: VALID (`assertValidTimestamp`) on the
 *   new DAG and `<-*` from the head the publish started from are checked
 *   before anything is written (RepoError ERR_PUBLISH_INVALID, details.rule
 *   = the rule ID); then every block (shard nodes and envelopes) is written
 *   and flushed to disk; then head.json is replaced atomically after a
 *   compare-and-swap against the head the publish started from
 *   (ERR_HEAD_MOVED); then the log line is appended. The audit entries
 *   (audit.ts) go between the blocks and head.json (AUDIT-WRITE-AHEAD).
 * - `commitDraft` stores a draft: the new shard nodes its objects name are
 *   written and flushed first (unreferenced blocks until it is published),
 *   then drafts/ID.json atomically.
 *
 * A commit killed at any point leaves either the old head (with some
 * unreferenced blocks) or the new one, both VALID. The `pausePoint`s let the
 * kill tests (test/cli/publish-kill.test.ts) stop a child process here.
 */
import type { CID } from 'multiformats/cid'
import { MemoryBlockStore } from '../blocks/memory.js'
import { expiresIn } from '../model/build.js'
import { RepoError, ValidationError } from '../model/errors.js'
import type { TimestampEnvelope } from '../model/types.js'
import { succStar } from '../relations/index.js'
import type { ShardBlock } from '../shard/index.js'
import { pausePoint } from '../util/test-hooks.js'
import { sourceLoader } from '../validate/loader.js'
import { assertValidTimestamp } from '../validate/valid.js'
import { appendAudit, draftEvent, headEvents } from './audit.js'
import { saveDraft, type Draft, type DraftObject } from './drafts.js'
import type { Change, HeadRecord } from './files.js'
import { newId, Repo } from './repo.js'
import type { Block, SignedDag } from './sign.js'
import { Overlay, type Current, type NodeBlocks, type Requirement } from './state.js'

/**
 * Where a commit moves the head and appends the audit log: the repository
 * folder (Repo), or another place that keeps the head with the same
 * compare-and-swap (the Redis backend of `serve --redis`,
 * src/server/redis-sessions.ts). `moveHead` throws ERR_HEAD_MOVED when the
 * head is no longer `expected`; `dir` is the folder whose audit/ is appended.
 */
export type HeadPlace = Pick<Repo, 'dir' | 'moveHead' | 'appendLog'>

/** Where a commit writes. */
export interface CommitTarget {
  readonly repo: HeadPlace
  readonly node: NodeBlocks
  /** The time recorded in the head (`published`) or the draft (`created`). */
  readonly now: Date
}

/** What the head records about where a publish came from. */
export interface CommitInfo {
  readonly changes: readonly Change[]
  /** The staged set or draft id published ('' for none). */
  readonly source: string
  /** What the audit log calls it (default 'publish'; a re-sign by `serve --online-keys`: 'online-resign'). */
  readonly action?: 'publish' | 'online-resign'
}

/**
 * Publish `dag` over `current` (the head the publish started from).
 *
 * @throws {RepoError} ERR_PUBLISH_INVALID (nothing written) | ERR_HEAD_MOVED (blocks written, head unchanged)
 */
export async function commit (target: CommitTarget, current: Current, dag: SignedDag, info: CommitInfo): Promise<HeadRecord> {
  await checkAndWrite(target.node, dag.blocks, dag.timestamp, current.published.timestamp.cid, current)
  const head = headOf(dag, target.now, info)
  await writeAhead(target, current.head, head, info)
  await moveHeadAudited(target, head, current.headBytes)
  await pausePoint('after-head')
  await target.repo.appendLog(head, current.head)
  return head
}

/**
 * Publish a new repository's first DAG (no head yet).
 *
 * @throws {RepoError} ERR_PUBLISH_INVALID | ERR_HEAD_MOVED
 */
export async function commitFirst (target: CommitTarget, dag: SignedDag, info: CommitInfo): Promise<HeadRecord> {
  await checkAndWrite(target.node, dag.blocks, dag.timestamp, undefined)
  const head = headOf(dag, target.now, info)
  await writeAhead(target, undefined, head, info)
  await moveHeadAudited(target, head, undefined)
  await target.repo.appendLog(head)
  return head
}

/**
 * AUDIT-WRITE-AHEAD: the publish's entries (and a root change, a draft
 * completed) are on disk before head.json moves; a failed append (a full
 * disk) fails the publish with the head unchanged.
 */
async function writeAhead (target: CommitTarget, previous: HeadRecord | undefined, head: HeadRecord, info: CommitInfo): Promise<void> {
  await appendAudit(target.repo.dir, headEvents(info.action ?? 'publish', previous, head), { now: target.now })
  await pausePoint('after-audit')
}

/** Move the head; when that fails after the audit entry, say so in the log too (best effort). */
async function moveHeadAudited (target: CommitTarget, head: HeadRecord, expected: Uint8Array | undefined): Promise<void> {
  try {
    await target.repo.moveHead(head, expected)
  } catch (e) {
    const code = (e as { code?: unknown }).code
    await appendAudit(target.repo.dir, [{ action: 'publish-failed', details: { timestamp: head.timestamp.toString(), code: typeof code === 'string' ? code : 'ERR_INTERNAL' } }]).catch(() => {})
    throw e
  }
}

function headOf (dag: SignedDag, now: Date, info: CommitInfo): HeadRecord {
  return {
    timestamp: dag.timestamp.cid,
    snapshot: dag.snapshot.cid,
    root: dag.root,
    targets: dag.targets,
    delegated: new Map(dag.delegated),
    retired: new Map(dag.retired),
    published: expiresIn(now, 0),
    changes: info.changes,
    source: info.source
  }
}

/**
 * Store a draft of `objects` made over `current`. The shard nodes its
 * objects name are made durable first: the draft may be finalized by
 * another process.
 */
export async function commitDraft (
  target: CommitTarget,
  current: Current,
  d: { readonly objects: ReadonlyMap<string, DraftObject>, readonly needs: ReadonlyMap<string, readonly Requirement[]>, readonly changes: readonly Change[] },
  shardBlocks: readonly ShardBlock[],
  /** Where the draft is kept (default: the repository folder's drafts/). */
  save?: (draft: Draft) => Promise<void>
): Promise<Draft> {
  await putAll(target.node, shardBlocks)
  await target.node.flush(shardBlocks.map((b) => b.cid))
  const draft: Draft = { id: newId('draft'), created: expiresIn(target.now, 0), base: current.head.timestamp, objects: d.objects, needs: d.needs, changes: d.changes }
  await appendAudit(target.repo.dir, [draftEvent('draft-created', draft.id, { base: draft.base.toString(), roles: [...draft.objects.keys()] })], { now: target.now })
  if (save !== undefined) await save(draft)
  else if (target.repo instanceof Repo) await saveDraft(target.repo, draft)
  else throw new TypeError('commitDraft: a target that is not a repository folder needs `save`')
  return draft
}

/** Blocks written at once by `putAll`, at most. */
const PUT_CONCURRENCY = 8

/** Put every block, at most PUT_CONCURRENCY at once; the first failure is thrown once the started puts ended. */
async function putAll (node: Pick<NodeBlocks, 'put'>, blocks: readonly Block[]): Promise<void> {
  let next = 0
  let failure: { e: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (next < blocks.length && failure === undefined) {
      const b = blocks[next++]!
      try {
        await node.put(b.cid, b.bytes)
      } catch (e) {
        failure ??= { e }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(PUT_CONCURRENCY, blocks.length) }, worker))
  if (failure !== undefined) throw failure.e
}

/**
 * VALID on the new DAG, `<-*` against the previous head (when there is one),
 * then write every block and flush them to disk. Nothing is written when a
 * check fails.
 *
 * @throws {RepoError} ERR_PUBLISH_INVALID
 */
async function checkAndWrite (node: NodeBlocks, blocks: readonly Block[], timestamp: TimestampEnvelope, previous: CID | undefined, current?: Current): Promise<void> {
  const mem = current?.pending ?? new MemoryBlockStore()
  for (const b of blocks) if (!(await mem.has(b.cid))) await mem.put(b.cid, b.bytes)
  const loader = current?.loader ?? sourceLoader(new Overlay(mem, node))
  try {
    await assertValidTimestamp(loader, timestamp.cid)
    if (previous !== undefined) {
      // The new DAG is VALID as a whole (just above) and the head was when it
      // was published, so the chain between needs only the relations' top
      // premises (NOTES 5.6), not full VALID of every snapshot again.
      const rel = await succStar(loader, 'timestamp', timestamp.cid, previous, { premise: 'top', witness: 'ends' })
      if (!rel.holds) {
        const v = rel.violations[0]
        throw new ValidationError(v?.rule ?? 'SUCC-TS-SNAPSHOT', v?.message ?? 'the new timestamp does not descend from the head', { details: { cid: v?.cid } })
      }
    }
  } catch (e) {
    if (e instanceof ValidationError) {
      throw new RepoError('ERR_PUBLISH_INVALID', `refusing to publish: the new DAG breaks ${e.code} (${e.message})`, { cause: e, details: { rule: e.code, ...e.details } })
    }
    throw e
  }
  await pausePoint('before-blocks')
  // A few puts at once (each is a temporary file and a rename in the block
  // store: round trips to the file-system threads, not CPU); the crash
  // tests' pause point still falls after the first half.
  const half = Math.ceil(blocks.length / 2)
  await putAll(node, blocks.slice(0, half))
  await pausePoint('mid-blocks')
  await putAll(node, blocks.slice(half))
  // put() does not fsync: make the new blocks durable before the head that
  // names them is written, or a power loss could keep the head and lose them.
  await node.flush(blocks.map((b) => b.cid))
  await pausePoint('after-blocks')
}
