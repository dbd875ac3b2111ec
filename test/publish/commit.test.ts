/**
 * commit (src/publish/commit.ts) over a repository folder whose node is an
 * in-memory block store: VALID and `<-*` are checked before anything is
 * written (ERR_PUBLISH_INVALID, details.rule); blocks are written and
 * flushed before the head moves; the head moves only by compare-and-swap
 * (ERR_HEAD_MOVED); a draft's shard nodes are flushed before the draft file.
 */
import { readFile, readdir } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { signEnvelope } from '../../src/model/sign.js'
import type { TargetsSigned } from '../../src/model/types.js'
import { commit, commitDraft } from '../../src/publish/commit.js'
import { readDraft, type DraftObject } from '../../src/publish/drafts.js'
import type { Op } from '../../src/publish/files.js'
import { plan, type Plan } from '../../src/publish/plan.js'
import { sign, signTop, type SignedDag } from '../../src/publish/sign.js'
import { loadCurrent, type Current } from '../../src/publish/state.js'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { EXPIRY, T0, diskRepo, newKey, type DiskRepo } from './mem-repo.js'

const X = CID.createV1(raw.code, await sha256.digest(new Uint8Array([5])))
const add = (path: string): Op => ({ op: 'add', role: 'targets', path, cid: X, length: 1 })
const LATER = new Date(T0.getTime() + 3600_000)

const made: DiskRepo[] = []
afterEach(async () => { for (const d of made.splice(0)) await d.dispose() })

async function setup (): Promise<DiskRepo & { target: { repo: DiskRepo['repo'], node: DiskRepo['node'], now: Date } }> {
  const d = await diskRepo()
  made.push(d)
  return { ...d, target: { repo: d.repo, node: d.node, now: LATER } }
}

async function planned (d: DiskRepo, ops: readonly Op[]): Promise<{ current: Current, p: Plan }> {
  const current = await loadCurrent(d.repo, d.node)
  return { current, p: await plan(current.published, ops, { now: LATER, expiry: EXPIRY, source: d.node }) }
}

async function signed (d: DiskRepo, p: Plan): Promise<SignedDag> {
  const s = await sign(p, [d.keys.targets.signer, d.keys.snapshot.signer, d.keys.timestamp.signer])
  if (s.kind !== 'signed') throw new Error('expected a signed DAG')
  return s.dag
}

/** head.json, the log and the node's blocks: what a refused commit must leave as it was. */
async function stateOf (d: DiskRepo): Promise<string> {
  return JSON.stringify({
    head: (await readFile(d.repo.path('head.json'))).toString('hex'),
    log: (await readFile(d.repo.path('log.jsonl'))).toString('hex'),
    drafts: await readdir(d.repo.draftsDir),
    blocks: d.node.cids().map(String).sort()
  })
}

describe('commit', () => {
  it('writes and flushes every block, then moves the head and logs it', async () => {
    const d = await setup()
    const { current, p } = await planned(d, [add('x.txt')])
    const dag = await signed(d, p)
    const head = await commit(d.target, current, dag, { changes: p.changes, source: 'staged-0123456789ab' })
    for (const b of dag.blocks) {
      expect(await d.node.has(b.cid)).toBe(true)
      expect(d.node.flushed.has(b.cid.toString())).toBe(true)
    }
    expect(head.timestamp.equals(dag.timestamp.cid)).toBe(true)
    expect(head.source).toBe('staged-0123456789ab')
    expect(head.published).toBe('2030-01-01T01:00:00Z')
    expect((await d.repo.head()).timestamp.equals(dag.timestamp.cid)).toBe(true)
    expect((await d.repo.log()).map((h) => h.timestamp.toString())).toEqual([current.head.timestamp.toString(), dag.timestamp.cid.toString()])
  })

  it('refuses a DAG that is not <-* the head it started from (ERR_PUBLISH_INVALID), writing nothing', async () => {
    const d = await setup()
    const first = await planned(d, [add('x.txt')])
    const second = await planned(d, [add('y.txt')])
    await commit(d.target, first.current, await signed(d, first.p), { changes: first.p.changes, source: '' })
    // `second` was planned from the old head: against the new one it is a fork.
    const dag = await signed(d, second.p)
    const now = await loadCurrent(d.repo, d.node)
    const before = await stateOf(d)
    const e = await commit(d.target, now, dag, { changes: second.p.changes, source: '' }).catch((x: unknown) => x)
    expect(e).toMatchObject({ name: 'RepoError', code: 'ERR_PUBLISH_INVALID' })
    expect((e as { details: { rule: string } }).details.rule).toMatch(/^SUCC-/)
    expect(await stateOf(d)).toBe(before)
  })

  it('refuses a DAG that breaks VALID (an unsigned targets object), writing nothing', async () => {
    const d = await setup()
    const { current, p } = await planned(d, [add('x.txt')])
    const unsigned = await signEnvelope(p.objects.get('targets') as TargetsSigned, [])
    const dag = await signTop(current.published, new Map<string, DraftObject>([['targets', unsigned]]), [d.keys.snapshot.signer, d.keys.timestamp.signer], LATER, EXPIRY, p.shardBlocks)
    const before = await stateOf(d)
    const e = await commit(d.target, current, dag, { changes: p.changes, source: '' }).catch((x: unknown) => x)
    expect(e).toMatchObject({ name: 'RepoError', code: 'ERR_PUBLISH_INVALID', details: { rule: 'VALID-TARGETS-SIG' } })
    expect(await stateOf(d)).toBe(before)
  })

  it('moves the head only from the head it started from (ERR_HEAD_MOVED)', async () => {
    const d = await setup()
    const a = await planned(d, [add('x.txt')])
    const b = await planned(d, [add('y.txt')])
    const won = await commit(d.target, a.current, await signed(d, a.p), { changes: a.p.changes, source: '' })
    // `b` still holds the head it started from: its DAG is checked against that one, the swap fails.
    await expect(commit(d.target, b.current, await signed(d, b.p), { changes: b.p.changes, source: '' })).rejects.toMatchObject({ code: 'ERR_HEAD_MOVED' })
    expect((await d.repo.head()).timestamp.equals(won.timestamp)).toBe(true)
  })
})

describe('commitDraft', () => {
  it('flushes the shard nodes the draft names, then writes the draft; the head does not move', async () => {
    const d = await setup()
    const { current, p } = await planned(d, [add('x.txt'), { op: 'rotate', role: 'targets', keys: [newKey().pub], threshold: 1 }])
    const s = await sign(p, [d.keys.root.signer, d.keys.snapshot.signer, d.keys.timestamp.signer])
    expect(s.kind).toBe('draft')
    if (s.kind !== 'draft') return
    const head = await readFile(d.repo.path('head.json'))
    const draft = await commitDraft(d.target, current, { objects: s.objects, needs: s.needs, changes: p.changes }, p.shardBlocks)
    expect(p.shardBlocks.length).toBeGreaterThan(0)
    for (const b of p.shardBlocks) expect(d.node.flushed.has(b.cid.toString())).toBe(true)
    expect(draft.base.equals(current.head.timestamp)).toBe(true)
    expect(draft.created).toBe('2030-01-01T01:00:00Z')
    const back = await readDraft(d.repo, draft.id)
    expect([...back.objects.keys()]).toEqual(['root', 'targets'])
    expect(await readFile(d.repo.path('head.json'))).toEqual(head)
  })
})
