/**
 * Staging (src/publish/stage.ts) over a repository folder whose node is an
 * in-memory block store: each command checks everything before it writes; a
 * refused one leaves head.json, staged.jsonl, keys/ and the node as they
 * were; an accepted one writes (and flushes) content before the staged line
 * that names it, and what it stages is what the next plan publishes.
 */
import { mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { writePrivateKeyFile, writePublicKeyFile } from '../../src/publish/keyfile.js'
import { plan } from '../../src/publish/plan.js'
import {
  addFiles, checkKeyFor, delegate, refresh, removePaths, rotate, type StageSession
} from '../../src/publish/stage.js'
import { loadCurrent } from '../../src/publish/state.js'
import { EXPIRY, T0, diskRepo, newKey, type DiskRepo, type TestKey } from './mem-repo.js'

type Fixture = DiskRepo & { session: StageSession }
const open: Fixture[] = []
afterEach(async () => { for (const f of open.splice(0)) await f.dispose() })

async function fixture (): Promise<Fixture> {
  const d = await diskRepo()
  const f = { ...d, session: { repo: d.repo, node: d.node } }
  open.push(f)
  return f
}

/** Everything a refused command must leave as it was. */
async function snapshotOf (f: Fixture): Promise<string> {
  const read = async (p: string): Promise<string> => { try { return (await readFile(p)).toString('hex') } catch { return '-' } }
  return JSON.stringify({
    head: await read(f.repo.path('head.json')),
    staged: await read(f.repo.path('staged.jsonl')),
    keys: (await readdir(f.repo.keysDir)).sort(),
    drafts: (await readdir(f.repo.draftsDir)).sort(),
    blocks: f.node.cids().map(String).sort()
  })
}

async function refused (f: Fixture, run: () => Promise<unknown>, code: string): Promise<void> {
  const before = await snapshotOf(f)
  await expect(run()).rejects.toMatchObject({ code })
  expect(await snapshotOf(f)).toBe(before)
}

async function files (f: Fixture, entries: Record<string, string>): Promise<string[]> {
  const out: string[] = []
  for (const [name, text] of Object.entries(entries)) {
    const p = join(f.dir, name)
    await mkdir(join(p, '..'), { recursive: true })
    await writeFile(p, text)
    out.push(p)
  }
  return out
}

async function pubFile (f: Fixture, k: TestKey): Promise<string> {
  const p = join(f.dir, `${k.pair.keyid.slice(0, 8)}.pub.json`)
  await writePublicKeyFile(p, k.pair.publicKey)
  return p
}

describe('stage: add', () => {
  it('stages one add per file, content written and flushed before the staged line; the next plan publishes it', async () => {
    const f = await fixture()
    const [a, b] = await files(f, { 'a.txt': 'alpha', 'b.txt': 'beta!' })
    const added = await addFiles(f.session, [a!, b!], { path: 'docs' })
    expect(added.map((x) => [x.path, x.length, x.role])).toEqual([['docs/a.txt', 5, 'targets'], ['docs/b.txt', 5, 'targets']])
    const staged = await f.repo.staged()
    expect(staged.ops.map((o) => o.op === 'add' ? [o.path, o.cid.toString(), o.length] : o.op)).toEqual(added.map((x) => [x.path, x.cid, x.length]))
    for (const x of added) expect(f.node.flushed.has(x.cid)).toBe(true)
    const current = await loadCurrent(f.repo, f.node)
    const p = await plan(current.published, staged.ops, { now: T0, expiry: EXPIRY, source: f.node })
    expect([...p.objects.keys()]).toEqual(['targets'])
    expect(p.changes).toEqual([{ role: 'targets', kind: 'targets-added', count: 2 }])
  })

  it('adds a folder under its name, in name order; a symbolic link inside it is refused, not followed', async () => {
    const f = await fixture()
    await files(f, { 'site/z.txt': 'z', 'site/sub/a.txt': 'a' })
    const added = await addFiles(f.session, [join(f.dir, 'site')])
    expect(added.map((x) => x.path)).toEqual(['site/sub/a.txt', 'site/z.txt'])
    await files(f, { 'outside.txt': 'secret' })
    await symlink(join(f.dir, 'outside.txt'), join(f.dir, 'site', 'link.txt'))
    await refused(f, () => addFiles(f.session, [join(f.dir, 'site')], { path: 'other', replace: true }), 'ERR_TARGET_FILE')
  })

  it('refuses, leaving everything as it was: an existing path without replace, a duplicate, an unsafe path, an unknown role, a missing file', async () => {
    const f = await fixture()
    const [a, b] = await files(f, { 'a.txt': 'alpha', 'x/a.txt': 'other' })
    await addFiles(f.session, [a!])
    await refused(f, () => addFiles(f.session, [a!]), 'ERR_TARGET_EXISTS')
    await refused(f, () => addFiles(f.session, [a!, b!]), 'ERR_TARGET_DUPLICATE')
    await refused(f, () => addFiles(f.session, [a!], { path: '../a.txt' }), 'ERR_TARGET_PATH_UNSAFE')
    await refused(f, () => addFiles(f.session, [a!], { role: 'nobody', path: 'n.txt' }), 'ERR_ROLE_UNKNOWN')
    await refused(f, () => addFiles(f.session, [join(f.dir, 'missing.txt')]), 'ERR_TARGET_FILE')
    // With replace, the same path is staged again.
    await addFiles(f.session, [b!], { path: 'a.txt', replace: true })
    expect((await f.repo.staged()).ops.length).toBe(2)
  })
})

describe('stage: remove, delegate, rotate, refresh', () => {
  it('removes a staged or published path; refuses one that is not there', async () => {
    const f = await fixture()
    const [a] = await files(f, { 'a.txt': 'alpha' })
    await addFiles(f.session, [a!])
    await refused(f, () => removePaths(f.session, ['none.txt']), 'ERR_TARGET_NOT_FOUND')
    await refused(f, () => removePaths(f.session, ['a.txt', 'a.txt']), 'ERR_TARGET_DUPLICATE')
    await removePaths(f.session, ['a.txt'])
    expect((await f.repo.staged()).ops.map((o) => o.op)).toEqual(['add', 'remove'])
  })

  it('delegates with public keys from key files; refuses bad pattern options before reading anything', async () => {
    const f = await fixture()
    const k = newKey()
    const kf = await pubFile(f, k)
    await refused(f, () => delegate(f.session, 'a', { keyFiles: [kf], threshold: 1 }), 'ERR_DELEGATION_PATTERNS')
    await refused(f, () => delegate(f.session, 'a', { keyFiles: [kf], threshold: 1, paths: ['a/*'], hashPrefixes: ['ab'] }), 'ERR_DELEGATION_PATTERNS')
    await refused(f, () => delegate(f.session, 'a', { keyFiles: [kf], threshold: 1, succinctBits: 2, terminating: true }), 'ERR_DELEGATION_PATTERNS')
    await refused(f, () => delegate(f.session, 'a', { keyFiles: [kf], threshold: 1, hashPrefixes: ['XY'] }), 'ERR_DELEGATION_PATTERNS')
    await refused(f, () => delegate(f.session, 'a', { keyFiles: [], threshold: 1, paths: ['a/*'] }), 'ERR_THRESHOLD')
    await refused(f, () => delegate(f.session, 'a', { keyFiles: [kf], threshold: 2, paths: ['a/*'] }), 'ERR_THRESHOLD')
    await refused(f, () => delegate(f.session, 'root', { keyFiles: [kf], threshold: 1, paths: ['a/*'] }), 'ERR_ROLE_NAME_UNSAFE')
    const op = await delegate(f.session, 'a', { keyFiles: [kf], threshold: 1, paths: ['a/*'] })
    expect(op).toMatchObject({ op: 'delegate', from: 'targets', name: 'a', keys: [k.pub], threshold: 1, terminating: false, paths: ['a/*'] })
    expect((await f.repo.staged()).ops).toEqual([op])
  })

  it('rotates with keys made here (written to keys/, 0600) or given as public key files; refuses before writing a key', async () => {
    const f = await fixture()
    await refused(f, () => rotate(f.session, 'nobody', { generate: 1 }), 'ERR_ROLE_UNKNOWN')
    await refused(f, () => rotate(f.session, 'targets', {}), 'ERR_THRESHOLD')
    await refused(f, () => rotate(f.session, 'targets', { generate: 2, threshold: 3 }), 'ERR_THRESHOLD')
    const made = await rotate(f.session, 'targets', { generate: 2 })
    expect(made.threshold).toBe(1)
    expect(made.keys).toHaveLength(2)
    for (const k of made.keys) expect((await stat(k.file!)).mode & 0o777).toBe(0o600)
    const other = newKey()
    const given = await rotate(f.session, 'snapshot', { keyFiles: [await pubFile(f, other)] })
    expect(given.keys).toEqual([{ keyid: other.pair.keyid }])
    const ops = (await f.repo.staged()).ops
    expect(ops.map((o) => o.op === 'rotate' ? [o.role, o.keys.length, o.threshold] : o.op)).toEqual([['targets', 2, 1], ['snapshot', 1, 1]])
  })

  it('refresh stages a re-signing of a known role only', async () => {
    const f = await fixture()
    await refused(f, () => refresh(f.session, 'nobody'), 'ERR_ROLE_UNKNOWN')
    await refresh(f.session, 'root')
    expect((await f.repo.staged()).ops).toEqual([{ op: 'refresh', role: 'root' }])
  })

  it('checkKeyFor: a key of the role (as staged) passes, another is ERR_KEY_NOT_AUTHORIZED', async () => {
    const f = await fixture()
    const own = join(f.dir, 'targets.key.json')
    await writePrivateKeyFile(own, f.keys.targets.pair)
    await checkKeyFor(f.session, 'targets', own, undefined)
    await expect(checkKeyFor(f.session, 'snapshot', own, undefined)).rejects.toMatchObject({ code: 'ERR_KEY_NOT_AUTHORIZED' })
    // After a staged rotation the old targets key no longer signs targets.
    await rotate(f.session, 'targets', { keyFiles: [await pubFile(f, newKey())] })
    await expect(checkKeyFor(f.session, 'targets', own, undefined)).rejects.toMatchObject({ code: 'ERR_KEY_NOT_AUTHORIZED' })
  })
})
