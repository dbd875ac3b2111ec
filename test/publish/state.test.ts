import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { expiresIn } from '../../src/model/build.js'
import { RepoError } from '../../src/model/errors.js'
import { generateKeyPair } from '../../src/model/keys.js'
import type { Op } from '../../src/publish/files.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import type { TargetInfo } from '../../src/model/types.js'
import { ShardReader, buildTargetsMap, targetsCodec, updateMap, type ShardBlock } from '../../src/shard/index.js'
import { sourceLoader } from '../../src/validate/loader.js'
import {
  applyOps, hasTarget, pathDelegatedTo, reachable, requirementsFor, rootSignedFor, sameContent, targetsSignedFor, type DagView, type Desired
} from '../../src/publish/state.js'

const CONTENT = CID.createV1(raw.code, await sha256.digest(new Uint8Array([1])))
const k = (): string => generateKeyPair().publicKey.public
const one = (): { keys: ReturnType<typeof generateKeyPair>['publicKey'][], threshold: number } => ({ keys: [generateKeyPair().publicKey], threshold: 1 })

/** Desired content over a published targets map holding `published` (empty by default). */
function fresh (published: ReadonlyArray<readonly [string, TargetInfo]> = []): Desired & { store: MemoryBlockStore } {
  const store = new MemoryBlockStore()
  const base = buildTargetsMap(published, (b) => { store.unsafePut(b.cid, b.bytes) }).root
  return {
    store,
    maps: sourceLoader(store),
    rootRoles: { root: one(), targets: one(), snapshot: one(), timestamp: one() },
    roles: new Map([['targets', { base, changes: new Map(), delegations: undefined }]]),
    refresh: new Set(),
    touched: new Set()
  }
}

async function code (f: () => Promise<unknown>): Promise<string | undefined> {
  try { await f() } catch (e) { return (e as RepoError).code }
  return undefined
}

/** The root of a role's targets map with its staged changes applied. */
async function mapRoot (d: ReturnType<typeof fresh>, role: string): Promise<CID> {
  const c = d.roles.get(role)!
  const sink = (b: ShardBlock): void => { d.store.unsafePut(b.cid, b.bytes) }
  const base = c.base ?? buildTargetsMap([], sink).root
  return (await updateMap(new ShardReader(d.store, targetsCodec), base, c.changes, sink)).root
}

const delegate = (name: string, from: string, patterns: { paths?: string[], hashPrefixes?: string[] }, keys = [k()], threshold = 1, terminating = false): Op =>
  ({ op: 'delegate', from, name, keys, threshold, terminating, ...patterns })

describe('applyOps', () => {
  it('adds, replaces and removes targets', async () => {
    const d = fresh()
    await applyOps(d, [{ op: 'add', role: 'targets', path: 'a/b.txt', cid: CONTENT, length: 1 }])
    await applyOps(d, [{ op: 'add', role: 'targets', path: 'a/b.txt', cid: CONTENT, length: 2 }])
    expect(d.roles.get('targets')!.changes.get('a/b.txt')!.length).toBe(2)
    expect(await hasTarget(d.maps, d.roles.get('targets')!, 'a/b.txt')).toBe(true)
    await applyOps(d, [{ op: 'remove', role: 'targets', path: 'a/b.txt' }])
    expect(await hasTarget(d.maps, d.roles.get('targets')!, 'a/b.txt')).toBe(false)
    expect(await await code(() => applyOps(d, [{ op: 'remove', role: 'targets', path: 'a/b.txt' }]))).toBe('ERR_TARGET_NOT_FOUND')
    expect((await mapRoot(d, 'targets')).equals(buildTargetsMap([], () => {}).root)).toBe(true)
  })

  it('removes a published target (looked up in the published map) and stages only the change', async () => {
    const d = fresh([['old/a.txt', { cid: CONTENT, length: 1 }], ['old/b.txt', { cid: CONTENT, length: 2 }]])
    await applyOps(d, [{ op: 'remove', role: 'targets', path: 'old/a.txt' }])
    expect([...d.roles.get('targets')!.changes]).toEqual([['old/a.txt', null]])
    expect(await await code(() => applyOps(d, [{ op: 'remove', role: 'targets', path: 'old/none.txt' }]))).toBe('ERR_TARGET_NOT_FOUND')
    expect((await mapRoot(d, 'targets')).equals(buildTargetsMap([['old/b.txt', { cid: CONTENT, length: 2 }]], () => {}).root)).toBe(true)
  })

  it('keeps delegations in order and changes one in place (DELEG-ORDER)', async () => {
    const d = fresh()
    await applyOps(d, [delegate('a', 'targets', { paths: ['a/*'] }), delegate('b', 'targets', { paths: ['b/*'] }), delegate('a', 'targets', { paths: ['a2/*'] })])
    expect(d.roles.get('targets')!.delegations!.map((e) => [e.name, e.paths])).toEqual([['a', ['a2/*']], ['b', ['b/*']]])
    expect(reachable(d.roles)).toEqual(['targets', 'a', 'b'])
  })

  it('checks paths along the whole delegation chain (VALID-DELEG-PATHS)', async () => {
    const d = fresh()
    await applyOps(d, [delegate('team', 'targets', { paths: ['team/*/*'] }), delegate('dev', 'team', { paths: ['team/dev/*', 'other/*'] })])
    expect(pathDelegatedTo(d.roles, 'dev', 'team/dev/x')).toBe(true)
    expect(pathDelegatedTo(d.roles, 'dev', 'other/x')).toBe(false)
    expect(await code(() => applyOps(d, [{ op: 'add', role: 'dev', path: 'other/x', cid: CONTENT, length: 1 }]))).toBe('ERR_TARGET_NOT_DELEGATED')
    await applyOps(d, [{ op: 'add', role: 'dev', path: 'team/dev/x', cid: CONTENT, length: 1 }])
  })

  it('matches hash prefixes (DELEG-HASH-PREFIX)', async () => {
    const d = fresh()
    // SHA-256("a/b.txt") starts with 5550000d (NOTES example).
    await applyOps(d, [delegate('bin', 'targets', { hashPrefixes: ['555'] })])
    expect(pathDelegatedTo(d.roles, 'bin', 'a/b.txt')).toBe(true)
    expect(pathDelegatedTo(d.roles, 'bin', 'a/c.txt')).toBe(false)
  })

  it('undelegating prunes the sub-tree; re-delegating starts empty', async () => {
    const d = fresh()
    await applyOps(d, [delegate('team', 'targets', { paths: ['team/*'] }), delegate('dev', 'team', { paths: ['team/*'] }),
      { op: 'add', role: 'dev', path: 'team/x', cid: CONTENT, length: 1 }, { op: 'undelegate', name: 'team' }])
    expect([...d.roles.keys()]).toEqual(['targets'])
    await applyOps(d, [delegate('team', 'targets', { paths: ['team/*'] })])
    expect(d.roles.get('team')!.base).toBeUndefined()
    expect(d.roles.get('team')!.changes.size).toBe(0)
  })

  it.each([
    ['an unknown role', { op: 'add', role: 'nobody', path: 'x', cid: CONTENT, length: 1 }, 'ERR_ROLE_UNKNOWN'],
    ['an unsafe path', { op: 'add', role: 'targets', path: 'a/../b', cid: CONTENT, length: 1 }, 'ERR_TARGET_PATH_UNSAFE'],
    ['an unsafe name', delegate('__proto__', 'targets', { paths: ['x'] }), 'ERR_ROLE_NAME_UNSAFE'],
    ['a self-delegation', delegate('a', 'a', { paths: ['x'] }), 'ERR_DELEGATION_SELF'],
    ['a threshold above the keys', delegate('a', 'targets', { paths: ['x'] }, [k()], 2), 'ERR_THRESHOLD'],
    ['a duplicate key counted twice', delegate('a', 'targets', { paths: ['x'] }, (() => { const x = k(); return [x, x] })(), 2), 'ERR_THRESHOLD'],
    ['an unsafe pattern', delegate('a', 'targets', { paths: ['../*'] }), 'ERR_TARGET_PATH_UNSAFE'],
    ['a root threshold above the keys', { op: 'rotate', role: 'root', keys: [k(), k()], threshold: 3 }, 'ERR_THRESHOLD'],
    ['undelegating an unknown role', { op: 'undelegate', name: 'nobody' }, 'ERR_ROLE_UNKNOWN']
  ] as Array<[string, Op, string]>)('refuses %s', async (_n, op, expected) => {
    expect(await code(() => applyOps(fresh(), [op]))).toBe(expected)
  })
})

describe('requirements', () => {
  const fixed = expiresIn(new Date(0), 0)
  function view (d: Desired, previous?: Desired): DagView {
    // Requirements depend on the delegations only: any map root will do.
    const roles = new Map([...d.roles].map(([n, c]) => [n, targetsSignedFor(c, buildTargetsMap([], () => {}).root, fixed, null)]))
    return previous === undefined ? { root: rootSignedFor(d, fixed, null), roles } : { root: rootSignedFor(d, fixed, null), previousRoot: rootSignedFor(previous, fixed, null), roles }
  }

  it('a rotated root needs its own threshold and the previous root\'s', () => {
    const before = fresh()
    const after = fresh()
    after.rootRoles.root = { keys: [generateKeyPair().publicKey, generateKeyPair().publicKey, generateKeyPair().publicKey], threshold: 2 }
    const reqs = requirementsFor(view(after, before), 'root')
    expect(reqs.map((r) => [r.label, r.threshold, r.keyids.length])).toEqual([['root', 2, 3], ['previous root', 1, 1]])
  })

  it('a role delegated twice (a diamond) must meet every edge (VALID-DELEG-SIG)', async () => {
    const d = fresh()
    await applyOps(d, [delegate('a', 'targets', { paths: ['*'] }), delegate('shared', 'targets', { paths: ['s/*'] }, [k(), k()], 2), delegate('shared', 'a', { paths: ['s/*'] })])
    const reqs = requirementsFor(view(d), 'shared')
    expect(reqs.map((r) => [r.label, r.threshold])).toEqual([['delegation from targets', 2], ['delegation from a', 1]])
  })

  it('compares content with expiry and history held fixed', async () => {
    const d = fresh()
    const a = targetsSignedFor(d.roles.get('targets')!, await mapRoot(d, 'targets'), '2030-01-01T00:00:00Z', null)
    const b = targetsSignedFor(d.roles.get('targets')!, await mapRoot(d, 'targets'), '2031-01-01T00:00:00Z', null)
    expect(sameContent(a, b)).toBe(true)
    await applyOps(d, [{ op: 'add', role: 'targets', path: 'x', cid: CONTENT, length: 1 }])
    expect(sameContent(a, targetsSignedFor(d.roles.get('targets')!, await mapRoot(d, 'targets'), a.expires, null))).toBe(false)
  })
})
