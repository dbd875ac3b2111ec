/**
 * plan (src/publish/plan.ts): what a publish re-signs, over sequences of
 * operations on an in-memory repository. Each case publishes its setup, plans
 * one step, checks the new objects, the thresholds they need and the
 * changes, then signs and commits the step in memory (VALID and `<-*` must
 * hold) and checks that every role not re-signed kept its published object.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { encodeSigned } from '../../src/model/codec.js'
import { binName } from '../../src/model/delegations.js'
import type { RootSigned, TargetsSigned } from '../../src/model/types.js'
import type { Op } from '../../src/publish/files.js'
import { plan, type Plan } from '../../src/publish/plan.js'
import { sign } from '../../src/publish/sign.js'
import { pathHash } from '../../src/validate/delegation.js'
import { binOfHash } from '../../src/model/delegations.js'
import { EXPIRY, MemRepo } from './mem-repo.js'

const content = async (s: string): Promise<CID> => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(s)))
const X = await content('x')
const Y = await content('y')

const add = (path: string, role = 'targets', cid = X, length = 1): Op => ({ op: 'add', role, path, cid, length })
const del = (r: MemRepo, name: string, from = 'targets', patterns: { paths?: string[], succinctBits?: number } = { paths: [`${name}/*`] }): Op =>
  ({ op: 'delegate', from, name, keys: r.makeKeys(name), threshold: 1, terminating: false, ...patterns })
const rotate = (r: MemRepo, role: string, n = 1, threshold = 1): Op => ({ op: 'rotate', role, keys: r.makeKeys(role, n), threshold })
const bin = (path: string): string => binName({ bitLength: 2, namePrefix: 'bins' }, binOfHash(2, pathHash(path)))

interface Case {
  name: string
  /** Publishes before the step, each a list of ops. */
  setup?: (r: MemRepo) => Op[][]
  step: (r: MemRepo) => Op[]
  /** The roles that get a new object, in signing order. */
  resigned: string[]
  /** The changes recorded, as [role, kind]. */
  changes: Array<[string, string]>
  retiring?: string[]
  check?: (p: Plan, r: MemRepo) => void
}

const CASES: Case[] = [
  {
    name: 'add a target: targets only',
    step: () => [add('x.txt')],
    resigned: ['targets'],
    changes: [['targets', 'targets-added']]
  },
  {
    name: 'add a target with the content already published: nothing but snapshot and timestamp',
    setup: () => [[add('x.txt')]],
    step: () => [add('x.txt')],
    resigned: [],
    changes: []
  },
  {
    name: 'replace a target\'s content',
    setup: () => [[add('x.txt')]],
    step: () => [add('x.txt', 'targets', Y, 2)],
    resigned: ['targets'],
    changes: [['targets', 'targets-changed']]
  },
  {
    name: 'remove a target',
    setup: () => [[add('x.txt'), add('y.txt')]],
    step: () => [{ op: 'remove', role: 'targets', path: 'x.txt' }],
    resigned: ['targets'],
    changes: [['targets', 'targets-removed']]
  },
  {
    name: 'delegate a new role: the delegator and the new role, which starts from null',
    step: (r) => [del(r, 'a')],
    resigned: ['targets', 'a'],
    changes: [['targets', 'delegations-changed'], ['a', 'created']],
    check: (p) => { expect((p.objects.get('a') as TargetsSigned).previousVersion).toBeNull() }
  },
  {
    name: 'add a target to a delegated role: that role only',
    setup: (r) => [[del(r, 'a')]],
    step: () => [add('a/x.txt', 'a')],
    resigned: ['a'],
    changes: [['a', 'targets-added']]
  },
  {
    name: 'undelegate: the delegator is re-signed and the role becomes a tombstone',
    setup: (r) => [[del(r, 'a'), add('a/x.txt', 'a')]],
    step: () => [{ op: 'undelegate', name: 'a' }],
    resigned: ['targets'],
    changes: [['targets', 'delegations-changed'], ['a', 'retired']],
    retiring: ['a']
  },
  {
    name: 'undelegate a parent: its whole sub-tree becomes tombstones',
    setup: (r) => [[del(r, 'a'), del(r, 'b', 'a', { paths: ['a/*'] })]],
    step: () => [{ op: 'undelegate', name: 'a' }],
    resigned: ['targets'],
    changes: [['targets', 'delegations-changed'], ['a', 'retired'], ['b', 'retired']],
    retiring: ['a', 'b']
  },
  {
    name: 're-add a removed role: it continues from its tombstone',
    setup: (r) => [[del(r, 'a'), add('a/x.txt', 'a')], [{ op: 'undelegate', name: 'a' }]],
    step: (r) => [del(r, 'a')],
    resigned: ['targets', 'a'],
    changes: [['targets', 'delegations-changed'], ['a', 'restored']],
    check: (p, r) => {
      const tomb = r.published.retired.get('a')
      expect(tomb).toBeDefined()
      expect((p.objects.get('a') as TargetsSigned).previousVersion?.equals(tomb!)).toBe(true)
    }
  },
  {
    name: 'rotate a delegated role\'s key: the delegator, and the role whose signatures no longer meet its keys',
    setup: (r) => [[del(r, 'a'), add('a/x.txt', 'a')]],
    step: (r) => [rotate(r, 'a')],
    resigned: ['targets', 'a'],
    changes: [['targets', 'delegations-changed'], ['a', 'resigned']],
    check: (p, r) => {
      const a = p.needs.get('a')!
      expect(a.map((q) => [q.label, q.keyids])).toEqual([['delegation from targets', [r.keys.get('a')![0]!.pair.keyid]]])
      // Same content, new history.
      expect((p.objects.get('a') as TargetsSigned).previousVersion?.equals(r.published.delegated.get('a')!.cid)).toBe(true)
    }
  },
  {
    name: 'rotate the targets key: a new root, and targets re-signed for the new key',
    setup: () => [[add('x.txt')]],
    step: (r) => [rotate(r, 'targets')],
    resigned: ['root', 'targets'],
    changes: [['root', 'keys-rotated'], ['targets', 'resigned']]
  },
  {
    name: 'rotate the snapshot key: a new root only',
    step: (r) => [rotate(r, 'snapshot')],
    resigned: ['root'],
    changes: [['root', 'keys-rotated']]
  },
  {
    name: 'rotate root to 2 of 3: the new root needs its own threshold and the previous root\'s',
    step: (r) => [rotate(r, 'root', 3, 2)],
    resigned: ['root'],
    changes: [['root', 'keys-rotated']],
    check: (p, r) => {
      expect(p.needs.get('root')!.map((q) => [q.label, q.threshold, q.keyids.length])).toEqual([['root', 2, 3], ['previous root', 1, 1]])
      expect((p.objects.get('root') as RootSigned).previousVersion?.equals(r.published.root.cid)).toBe(true)
    }
  },
  {
    name: 'expiry-only refresh of targets: same content, later expiry',
    setup: () => [[add('x.txt')]],
    step: () => [{ op: 'refresh', role: 'targets' }],
    resigned: ['targets'],
    changes: [['targets', 'resigned']],
    check: (p, r) => {
      const t = p.objects.get('targets') as TargetsSigned
      const old = r.published.targets.signed
      expect(t.expires > old.expires).toBe(true)
      expect(Buffer.from(encodeSigned({ ...t, expires: old.expires, previousVersion: old.previousVersion }))).toEqual(Buffer.from(r.published.targets.signedBytes))
    }
  },
  {
    name: 'expiry-only refresh of root',
    step: () => [{ op: 'refresh', role: 'root' }],
    resigned: ['root'],
    changes: [['root', 'resigned']]
  },
  {
    name: 'nothing staged: no object but the snapshot and timestamp',
    setup: (r) => [[del(r, 'a'), add('x.txt')]],
    step: () => [],
    resigned: [],
    changes: []
  },
  {
    name: 'succinct bins: the delegator and every bin',
    step: (r) => [del(r, 'bins', 'targets', { succinctBits: 2 })],
    resigned: ['targets', 'bins-0', 'bins-1', 'bins-2', 'bins-3'],
    changes: [['targets', 'delegations-changed'], ['bins-0', 'created'], ['bins-1', 'created'], ['bins-2', 'created'], ['bins-3', 'created']]
  },
  {
    name: 'succinct bins: a target goes to its one bin',
    setup: (r) => [[del(r, 'bins', 'targets', { succinctBits: 2 })]],
    step: () => [add('p/x.txt', bin('p/x.txt'))],
    resigned: [bin('p/x.txt')],
    changes: [[bin('p/x.txt'), 'targets-added']]
  },
  {
    name: 'succinct bins: rotating their shared key re-signs the delegator and every bin',
    setup: (r) => [[del(r, 'bins', 'targets', { succinctBits: 2 })]],
    step: (r) => [rotate(r, 'bins')],
    resigned: ['targets', 'bins-0', 'bins-1', 'bins-2', 'bins-3'],
    changes: [['targets', 'delegations-changed'], ['bins-0', 'resigned'], ['bins-1', 'resigned'], ['bins-2', 'resigned'], ['bins-3', 'resigned']]
  }
]

/** Role -> CID of the published root, targets and delegated objects. */
function objectCids (r: MemRepo): Map<string, string> {
  const p = r.published
  const out = new Map<string, string>([['root', p.root.cid.toString()], ['targets', p.targets.cid.toString()]])
  for (const [n, e] of p.delegated) out.set(n, e.cid.toString())
  return out
}

describe('plan: what gets re-signed', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await MemRepo.create()
    for (const ops of c.setup?.(r) ?? []) await r.publish(ops)
    const step = c.step(r)
    const before = objectCids(r)
    const p = await r.plan(step)
    expect([...p.objects.keys()]).toEqual(c.resigned)
    expect([...p.needs.keys()]).toEqual(c.resigned)
    for (const reqs of p.needs.values()) expect(reqs.length).toBeGreaterThan(0)
    expect(p.changes.map((ch) => [ch.role, ch.kind])).toEqual(c.changes)
    expect([...p.retiring]).toEqual(c.retiring ?? [])
    c.check?.(p, r)

    // Signed with every key and committed in memory: VALID and <-* hold,
    // a new snapshot and timestamp always, and every role not re-signed
    // keeps its published object.
    const oldSnapshot = r.published.snapshot.cid
    const signing = await sign(p, r.pool())
    expect(signing.kind).toBe('signed')
    if (signing.kind !== 'signed') return
    await r.take(signing.dag, r.published.timestamp.cid)
    expect(r.published.snapshot.cid.equals(oldSnapshot)).toBe(false)
    expect(r.published.snapshot.signed.previousVersion?.equals(oldSnapshot)).toBe(true)
    const after = objectCids(r)
    for (const [role, cid] of after) {
      if (c.resigned.includes(role)) expect(cid, role).not.toBe(before.get(role))
      else expect(cid, role).toBe(before.get(role))
    }
    for (const role of c.retiring ?? []) {
      expect(after.has(role)).toBe(false)
      expect(r.published.retired.get(role)?.toString()).toBe(before.get(role))
    }
  })
})

describe('plan: no keys, no writes, no clock but `now`', () => {
  it('writes nothing to the source and gives the same objects for the same inputs', async () => {
    const r = await MemRepo.create()
    await r.publish([add('x.txt')])
    const ops: Op[] = [add('y.txt'), del(r, 'a'), { op: 'refresh', role: 'root' }]
    const size = r.store.size
    const puts = r.store.stats.puts
    const now = new Date('2031-02-03T04:05:06Z')
    const a = await plan(r.published, ops, { now, expiry: EXPIRY, source: r.store })
    const b = await plan(r.published, ops, { now, expiry: EXPIRY, source: r.store })
    expect(r.store.size).toBe(size)
    expect(r.store.stats.puts).toBe(puts)
    const bytes = (q: Plan): string[] => [...q.objects].map(([n, s]) => `${n}:${Buffer.from(encodeSigned(s)).toString('hex')}`)
    expect(bytes(a)).toEqual(bytes(b))
    expect(a.shardBlocks.map((s) => s.cid.toString())).toEqual(b.shardBlocks.map((s) => s.cid.toString()))
    // Expiries come from `now` and the expiry table only.
    expect((a.objects.get('root') as RootSigned).expires).toBe('2032-02-03T04:05:06Z')
    expect((a.objects.get('a') as TargetsSigned).expires).toBe(new Date(now.getTime() + EXPIRY.delegated * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'))
    // The new shard nodes are in the plan, not in the store.
    let unstored = 0
    for (const s of a.shardBlocks) if (!await r.store.has(s.cid)) unstored++
    expect(unstored).toBeGreaterThan(0)
  })

  it('lists every key the new DAG authorizes (a rotated-out key is no longer one)', async () => {
    const r = await MemRepo.create()
    const oldTargets = r.keys.get('targets')![0]!.pair.keyid
    const p = await r.plan([rotate(r, 'targets')])
    expect(p.authorized.has(r.keys.get('targets')![0]!.pair.keyid)).toBe(true)
    expect(p.authorized.has(oldTargets)).toBe(false)
    for (const role of ['root', 'snapshot', 'timestamp']) expect(p.authorized.has(r.keys.get(role)![0]!.pair.keyid)).toBe(true)
  })

  it('refuses an op as applyOps does, before planning anything', async () => {
    const r = await MemRepo.create()
    await expect(r.plan([add('x.txt', 'nobody')])).rejects.toMatchObject({ code: 'ERR_ROLE_UNKNOWN' })
  })
})
