/**
 * The publisher end to end, through the CLI (in-process), on real embedded
 * Helia nodes with filesystem blockstores in temporary folders.
 */
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { parseCid } from '../../src/model/hash.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { cli, fingerprint, ok, verifyCar, verifyRepoHead } from './publish-helpers.js'

let work: string
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'dagtuf-publish-')) })
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

/** Move a key file out of DIR/keys (an offline key). */
async function takeOffline (file: string, to: string): Promise<string> {
  await mkdir(to, { recursive: true })
  const dest = join(to, 'key.json')
  await rename(file, dest)
  return dest
}

function keyFiles (init: Record<string, unknown>, role: string): string[] {
  return (init.keys as Array<{ role: string, file: string }>).filter((k) => k.role === role).map((k) => k.file)
}

async function loadSigned (dir: string, kind: 'root' | 'targets' | 'snapshot', cid: string): Promise<{ previousVersion: string | null }> {
  const node = await openRepoNode(dir)
  try {
    const env = await sourceLoader(node).load(kind, parseCid(cid))
    return { previousVersion: env.signed.previousVersion?.toString() ?? null }
  } finally {
    await node.close()
  }
}

describe('publish end to end', () => {
  it('init, add 100 files, publish, export a CAR that verifies on its own', async () => {
    const dir = join(work, 'e2e')
    const init = await ok('init', '--dir', dir)
    expect(typeof init.root).toBe('string')
    expect(keyFiles(init, 'root')).toHaveLength(1)
    const files: string[] = []
    await mkdir(join(work, 'files'), { recursive: true })
    for (let i = 0; i < 100; i++) {
      const f = join(work, 'files', `pkg-${i}.tgz`)
      await writeFile(f, `package ${i} `.repeat(i + 1))
      files.push(f)
    }
    const added = await ok('add', '--dir', dir, ...files, '--path', 'dist')
    expect(added.added).toHaveLength(100)
    let t = Date.now()
    const pub = await ok('publish', '--dir', dir)
    const ms = Date.now() - t
    console.log(`publish of 100 staged files: ${ms} ms`)
    expect(pub.timestamp).toEqual(expect.any(String))
    expect(pub.root).toBe(init.root)
    expect(pub.delegated).toEqual({})
    await verifyRepoHead(dir, init.timestamp as string)
    expect((await ok('head', '--dir', dir)).timestamp).toBe(pub.timestamp)

    const car = join(work, 'e2e.car')
    t = Date.now()
    const exp = await ok('export', '--dir', dir, '--car', car)
    console.log(`export: ${Date.now() - t} ms, ${String(exp.blocks)} blocks`)
    expect(await verifyCar(car)).toEqual({ valid: true, rules: [] })
    const verified = await cli('verify', '--car', car, '--timestamp', pub.timestamp as string)
    expect(verified.code, JSON.stringify(verified.json)).toBe(0)
    // With the targets' content too.
    const car2 = join(work, 'e2e-content.car')
    const exp2 = await ok('export', '--dir', dir, '--car', car2, '--content', '--since', init.timestamp as string)
    expect(exp2.blocks as number).toBeGreaterThanOrEqual((exp.blocks as number) + 100)
    expect(await verifyCar(car2)).toEqual({ valid: true, rules: [] })
    const since = await cli('verify', '--car', car2, '--timestamp', pub.timestamp as string, '--trusted', init.timestamp as string)
    expect(since.code, JSON.stringify(since.json)).toBe(0)

    // A publish with nothing staged refreshes snapshot and timestamp only.
    const again = await ok('publish', '--dir', dir)
    expect(again.targets).toBe(pub.targets)
    expect(again.snapshot).not.toBe(pub.snapshot)
    await verifyRepoHead(dir, pub.timestamp as string)
    const log = await ok('log', '--dir', dir)
    expect((log.entries as unknown[]).length).toBe(3)
    const status = await ok('status', '--dir', dir)
    expect(status.staged).toEqual([])
  })

  it('a delegation to a second signer: its publishes need only its own key', async () => {
    const dir = join(work, 'deleg')
    const init = await ok('init', '--dir', dir)
    const alice = join(work, 'alice', 'alice.key')
    await mkdir(join(work, 'alice'))
    await ok('keygen', '--out', alice)
    await ok('delegate', '--dir', dir, 'alice', '--key', `${alice}.pub`, '--threshold', '1', '--paths', 'alice/*')
    // The new role's first object must be signed by alice: a draft.
    const d = await ok('publish', '--dir', dir)
    expect(d.draft).toEqual(expect.stringMatching(/^draft-/))
    expect((d.needs as Array<{ role: string }>).map((n) => n.role)).toEqual(['alice'])
    expect((await ok('drafts', '--dir', dir)).drafts).toHaveLength(1)
    const signed = await ok('sign', '--dir', dir, '--draft', d.draft as string, '--key', alice)
    expect(signed.finalized).toBe(true)
    const afterDeleg = signed.timestamp as string
    await verifyRepoHead(dir, init.timestamp as string)

    // The repository's targets key goes offline: alice publishes alone.
    await takeOffline(keyFiles(init, 'targets')[0]!, join(work, 'offline-targets'))
    const f = join(work, 'alice', 'tool-1.0.tgz')
    await writeFile(f, 'alice tool 1.0')
    const pub = await ok('add', '--dir', dir, f, '--path', 'alice/tool-1.0.tgz', '--role', 'alice', '--key', alice)
    expect(pub.timestamp).toEqual(expect.any(String))
    expect(pub.targets).toBe(signed.targets)
    const aliceCid = (pub.delegated as Record<string, string>).alice!
    expect((await loadSigned(dir, 'targets', aliceCid)).previousVersion).toBe((signed.delegated as Record<string, string>).alice)
    await verifyRepoHead(dir, afterDeleg)
    // Her key may be passed to a publish that has nothing of hers to sign.
    const idle = await ok('publish', '--dir', dir, '--key', alice)
    expect(idle.delegated).toEqual(pub.delegated)

    // Outside alice's paths: refused before anything changes.
    const before = await fingerprint(dir)
    const r = await cli('add', '--dir', dir, f, '--path', 'bob/tool.tgz', '--role', 'alice', '--key', alice)
    expect(r.errorCode).toBe('ERR_TARGET_NOT_DELEGATED')
    expect(await fingerprint(dir)).toEqual(before)
  })

  it('a 2-of-3 root rotated to 3-of-5 through drafts signed by separate key files', async () => {
    const dir = join(work, 'rotate')
    const init = await ok('init', '--dir', dir, '--root-keys', '3', '--root-threshold', '2')
    const old = await Promise.all(keyFiles(init, 'root').map(async (f, i) => await takeOffline(f, join(work, `old-root-${i}`))))
    const fresh: string[] = []
    for (let i = 0; i < 5; i++) {
      const f = join(work, `new-root-${i}`, 'key.json')
      await mkdir(join(work, `new-root-${i}`))
      await ok('keygen', '--out', f)
      fresh.push(f)
    }
    await ok('rotate', '--dir', dir, 'root', ...fresh.flatMap((f) => ['--key', `${f}.pub`]), '--threshold', '3')
    const d = await ok('publish', '--dir', dir)
    const id = d.draft as string
    expect(id).toMatch(/^draft-/)
    const needs = d.needs as Array<{ role: string, label: string, threshold: number, have: number }>
    expect(needs.map((n) => [n.label, n.threshold, n.have]).sort()).toEqual([['previous root', 2, 0], ['root', 3, 0]])
    const headBefore = (await ok('head', '--dir', dir)).timestamp

    // One old key in the repository.
    let s = await ok('sign', '--dir', dir, '--key', old[0]!)
    expect(s.finalized).toBe(false)
    // Two new keys on "another machine", through an exported draft file.
    const exported = join(work, 'root-draft.json')
    await ok('draft', 'export', '--dir', dir, id, '--out', exported)
    const signedFile = join(work, 'root-draft-signed.json')
    await ok('sign', '--draft-file', exported, '--key', fresh[0]!, '--out', signedFile)
    const offline = await ok('sign', '--draft-file', signedFile, '--key', fresh[1]!, '-o', signedFile)
    expect((offline.needs as Array<{ label: string, have: number }>).find((n) => n.label === 'root')?.have).toBe(2)
    s = await ok('draft', 'import', '--dir', dir, signedFile)
    expect(s.imported).toBe(2)
    expect(s.finalized).toBe(false)
    expect((await ok('head', '--dir', dir)).timestamp).toBe(headBefore)
    // Second old key: the old threshold is met, the new one not yet.
    s = await ok('sign', '--dir', dir, '--draft', id, '--key', old[1]!)
    expect(s.finalized).toBe(false)
    expect((s.needs as Array<{ label: string }>).map((n) => n.label)).toEqual(['root'])
    // Third new key: both thresholds met, published.
    s = await ok('sign', '--dir', dir, '--draft', id, '--key', fresh[2]!)
    expect(s.finalized).toBe(true)
    expect(s.root).not.toBe(init.root)
    expect((await loadSigned(dir, 'root', s.root as string)).previousVersion).toBe(init.root)
    await verifyRepoHead(dir, init.timestamp as string)
    expect((await ok('drafts', '--dir', dir)).drafts).toEqual([])
    const car = join(work, 'rotated.car')
    const exp = await ok('export', '--dir', dir, '--car', car)
    expect(exp.roots).toBe(2)
    expect(await verifyCar(car)).toEqual({ valid: true, rules: [] })
  })

  it('removing and re-adding a delegation keeps a tombstone and continues the chain', async () => {
    const dir = join(work, 'tomb')
    await ok('init', '--dir', dir)
    const bob = join(work, 'bob.key')
    await ok('keygen', '--out', bob)
    // bob's key is in the repository here, so no draft is needed.
    await copyFile(bob, join(dir, 'keys', 'bob.json'))
    await chmod(join(dir, 'keys', 'bob.json'), 0o600)
    await ok('delegate', '--dir', dir, 'bob', '--key', `${bob}.pub`, '--paths', 'bob/*')
    const p1 = await ok('publish', '--dir', dir)
    const bob1 = (p1.delegated as Record<string, string>).bob!
    await ok('undelegate', '--dir', dir, 'bob')
    const p2 = await ok('publish', '--dir', dir)
    expect(p2.delegated).toEqual({})
    await verifyRepoHead(dir, p1.timestamp as string)
    await ok('delegate', '--dir', dir, 'bob', '--key', `${bob}.pub`, '--paths', 'bob/*')
    const p3 = await ok('publish', '--dir', dir)
    const bob3 = (p3.delegated as Record<string, string>).bob!
    expect((await loadSigned(dir, 'targets', bob3)).previousVersion).toBe(bob1)
    await verifyRepoHead(dir, p1.timestamp as string)
  })
})

describe('bad input gives a typed error and changes nothing', () => {
  let dir: string
  let init: Record<string, unknown>
  let outsider: string
  let carol: string
  const file = (): string => join(work, 'bad-a.txt')

  beforeAll(async () => {
    dir = join(work, 'bad')
    init = await ok('init', '--dir', dir)
    await writeFile(file(), 'a')
    await mkdir(join(work, 'other'), { recursive: true })
    await writeFile(join(work, 'other', 'bad-a.txt'), 'other a')
    await ok('add', '--dir', dir, file())
    await ok('publish', '--dir', dir)
    outsider = join(work, 'outsider.key')
    await ok('keygen', '--out', outsider)
    carol = join(work, 'carol.key')
    process.env.DAGTUF_PASSPHRASE = 'carol passphrase'
    await ok('keygen', '--out', carol, '--encrypt', '--kdf-log-n', '15')
    delete process.env.DAGTUF_PASSPHRASE
    await ok('delegate', '--dir', dir, 'carol', '--key', `${carol}.pub`, '--paths', 'carol/*')
    const d = await ok('publish', '--dir', dir)
    process.env.DAGTUF_PASSPHRASE = 'carol passphrase'
    await ok('sign', '--dir', dir, '--draft', d.draft as string, '--key', carol)
    delete process.env.DAGTUF_PASSPHRASE
    void init
  })

  const cases: Array<[string, string, () => string[], Record<string, string>?]> = [
    ['a missing file', 'ERR_TARGET_FILE', () => ['add', '--dir', dir, join(work, 'no-such-file')]],
    ['a folder with no file in it', 'ERR_TARGET_FILE', () => { mkdirSync(join(work, 'empty-folder', 'sub'), { recursive: true }); return ['add', '--dir', dir, join(work, 'empty-folder')] }],
    ['duplicate paths', 'ERR_TARGET_DUPLICATE', () => ['add', '--dir', dir, file(), join(work, 'other', 'bad-a.txt'), '--path', 'x']],
    ['an existing path', 'ERR_TARGET_EXISTS', () => ['add', '--dir', dir, file()]],
    ['an unsafe path', 'ERR_TARGET_PATH_UNSAFE', () => ['add', '--dir', dir, file(), '--path', '../etc/passwd']],
    ['an absolute path', 'ERR_TARGET_PATH_UNSAFE', () => ['add', '--dir', dir, file(), '--path', '/abs']],
    ['an unknown role', 'ERR_ROLE_UNKNOWN', () => ['add', '--dir', dir, file(), '--role', 'nobody']],
    ['removing an unknown path', 'ERR_TARGET_NOT_FOUND', () => ['remove', '--dir', dir, 'nope.txt']],
    ['undelegating an unknown role', 'ERR_ROLE_UNKNOWN', () => ['undelegate', '--dir', dir, 'nobody']],
    ['an unsafe role name', 'ERR_ROLE_NAME_UNSAFE', () => ['delegate', '--dir', dir, '../x', '--key', `${outsider}.pub`, '--paths', 'x/*']],
    ['a threshold above the keys', 'ERR_THRESHOLD', () => ['delegate', '--dir', dir, 'dave', '--key', `${outsider}.pub`, '--threshold', '2', '--paths', 'd/*']],
    ['a missing key file', 'ERR_KEY_MISSING', () => ['delegate', '--dir', dir, 'dave', '--key', join(work, 'nokey.pub'), '--paths', 'd/*']],
    ['an unauthorized key for a role', 'ERR_KEY_NOT_AUTHORIZED', () => ['add', '--dir', dir, file(), '--path', 'carol/a', '--role', 'carol', '--key', outsider]],
    ['an unauthorized key on publish', 'ERR_KEY_NOT_AUTHORIZED', () => ['publish', '--dir', dir, '--key', outsider]],
    ['a wrong passphrase', 'ERR_WRONG_PASSPHRASE', () => ['add', '--dir', dir, file(), '--path', 'carol/a', '--role', 'carol', '--key', carol], { DAGTUF_PASSPHRASE: 'not it' }],
    ['no passphrase for an encrypted key', 'ERR_PASSPHRASE_REQUIRED', () => ['add', '--dir', dir, file(), '--path', 'carol/a', '--role', 'carol', '--key', carol]],
    ['refreshing an unknown role', 'ERR_ROLE_UNKNOWN', () => ['publish', '--dir', dir, '--refresh', 'nobody']],
    ['a bad expiry', 'ERR_USAGE', () => ['publish', '--dir', dir, '--expiry', 'targets=forever']],
    ['signing when no draft is pending', 'ERR_DRAFT_NOT_FOUND', () => ['sign', '--dir', dir, '--key', outsider]],
    ['a repository that does not exist', 'ERR_REPO_NOT_FOUND', () => ['publish', '--dir', join(work, 'nowhere')]],
    ['init over a repository', 'ERR_REPO_EXISTS', () => ['init', '--dir', dir]]
  ]

  it.each(cases)('%s -> %s', async (_name, expected, argv, env = {}) => {
    const before = await fingerprint(dir)
    for (const [k, v] of Object.entries(env)) process.env[k] = v
    try {
      const r = await cli(...argv())
      expect(r.code).not.toBe(0)
      expect(r.errorCode).toBe(expected)
    } finally {
      for (const k of Object.keys(env)) delete process.env[k]
    }
    expect(await fingerprint(dir)).toEqual(before)
  })

  it('a corrupt head.json is ERR_REPO_CORRUPT and is not overwritten', async () => {
    const copy = join(work, 'bad-copy')
    await ok('init', '--dir', copy)
    const head = join(copy, 'head.json')
    await writeFile(head, (await readFile(head, 'utf8')).replace('"timestamp"', '"timestamp":"x","timestamp"'))
    const before = await fingerprint(copy)
    expect((await cli('publish', '--dir', copy)).errorCode).toBe('ERR_REPO_CORRUPT')
    expect(await fingerprint(copy)).toEqual(before)
  })

  it('usage errors exit 2', async () => {
    const r = await cli('publish', '--dir', dir, '--no-such-flag')
    expect(r.code).toBe(2)
    expect(r.errorCode).toBe('ERR_USAGE')
  })
})
