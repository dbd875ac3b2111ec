/**
 * More publisher paths through the CLI: IPNS heads, stale and tampered
 * drafts, encrypted repository keys, hash-prefix delegations, rotating the
 * targets key.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ipns } from '@helia/ipns'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { parseCid } from '../../src/model/hash.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { readCar } from '../../src/blocks/car.js'
import { succStar } from '../../src/relations/index.js'
import { cli, fingerprint, ok, verifyRepoHead } from './publish-helpers.js'

let work: string
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'dagtuf-publish-more-')) })
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

describe('publisher paths', () => {
  it('add --custom records a dag-json value; values a reader would refuse (issue 18: a reserved "/" map) are refused before anything is staged', async () => {
    const dir = join(work, 'custom')
    await ok('init', '--dir', dir)
    const file = join(work, 'custom.bin')
    await writeFile(file, 'custom\n')
    const before = await fingerprint(dir)
    for (const [text, code] of [
      ['{"/":""}', 'ERR_DAG_JSON'], // issue 18, seed 77: the reserved link form
      ['{"":{"/":""}}', 'ERR_DAG_JSON'], // seed 123456
      ['{"a":', 'ERR_DAG_JSON'],
      [`"${'x'.repeat(17_000)}"`, 'ERR_LIMIT']
    ] as const) {
      const r = await cli('add', '--dir', dir, file, '--custom', text)
      expect(r.errorCode, text.slice(0, 20)).toBe(code)
    }
    expect(await fingerprint(dir)).toEqual(before)
    const custom = '{"arch":"x64","sig":{"/":{"bytes":"AQID"}},"n":9}'
    await ok('add', '--dir', dir, file, '--custom', custom, '--path', 'c/custom.bin')
    const p = await ok('publish', '--dir', dir)
    const node = await openRepoNode(dir)
    try {
      const loader = sourceLoader(node)
      const t = await loader.load('targets', parseCid(p.targets as string))
      const info = await loader.target(t.signed.targets, 'c/custom.bin')
      expect(info?.custom).toEqual({ arch: 'x64', sig: new Uint8Array([1, 2, 3]), n: 9 })
    } finally {
      await node.close()
    }
  })

  it('staging appends one line per command to staged.jsonl; a line cut short by a crash is dropped, and the next command repairs the file', async () => {
    const dir = join(work, 'staged-log')
    await ok('init', '--dir', dir)
    const f = async (name: string): Promise<string> => { const p = join(work, name); await writeFile(p, `${name}\n`); return p }
    await ok('add', '--dir', dir, await f('s1.txt'))
    const first = await readFile(join(dir, 'staged.jsonl'), 'utf8')
    await ok('add', '--dir', dir, await f('s2.txt'))
    const second = await readFile(join(dir, 'staged.jsonl'), 'utf8')
    // The second command appended; it did not rewrite what was there.
    expect(second.startsWith(first)).toBe(true)
    expect(second.split('\n').filter((l) => l !== '')).toHaveLength(3)
    // A crash in the middle of an append leaves a partial last line.
    await writeFile(join(dir, 'staged.jsonl'), second + '{"ops":[{"op":"add","ro')
    await ok('add', '--dir', dir, await f('s3.txt'))
    const third = await readFile(join(dir, 'staged.jsonl'), 'utf8')
    expect(third.startsWith(second)).toBe(true)
    expect(third.split('\n').filter((l) => l !== '')).toHaveLength(4)
    const p = await ok('publish', '--dir', dir)
    expect((p.changes as Array<{ kind: string, count?: number }>).find((c) => c.kind === 'targets-added')?.count).toBe(3)
    await expect(stat(join(dir, 'staged.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('add takes folders: every file under its path inside the folder, prefixed; symbolic links are refused, not followed', async () => {
    const dir = join(work, 'folders')
    await ok('init', '--dir', dir)
    const tree = join(work, 'dist')
    await mkdir(join(tree, 'linux', 'x64'), { recursive: true })
    await writeFile(join(tree, 'README.txt'), 'read me\n')
    await writeFile(join(tree, 'linux', 'x64', 'app'), 'binary\n')
    await writeFile(join(tree, 'linux', 'app.sig'), 'signature\n')
    const big = Buffer.alloc(2 * 1024 * 1024 + 3, 7) // more than one chunk: the importer path
    await writeFile(join(tree, 'linux', 'big.bin'), big)
    const r = await ok('add', '--dir', dir, tree)
    const added = (r.added as Array<{ path: string, length: number }>).map((a) => [a.path, a.length])
    expect(added).toEqual([['dist/README.txt', 8], ['dist/linux/app.sig', 10], ['dist/linux/big.bin', big.length], ['dist/linux/x64/app', 7]])
    // --path replaces the folder's own name; files and folders mix in one call.
    const single = join(work, 'single.txt')
    await writeFile(single, 'one\n')
    const r2 = await ok('add', '--dir', dir, join(tree, 'linux', 'x64'), single, '--path', 'rel/1.0')
    expect((r2.added as Array<{ path: string }>).map((a) => a.path)).toEqual(['rel/1.0/app', 'rel/1.0/single.txt'])
    await ok('publish', '--dir', dir)
    await verifyRepoHead(dir)
    // A symbolic link inside a folder: refused, nothing staged.
    const withLink = join(work, 'with-link')
    await mkdir(withLink)
    await writeFile(join(withLink, 'a.txt'), 'a\n')
    await symlink('/etc/passwd', join(withLink, 'passwd'))
    const before = await fingerprint(dir)
    const bad = await cli('add', '--dir', dir, withLink)
    expect(bad.errorCode).toBe('ERR_TARGET_FILE')
    expect(await fingerprint(dir)).toEqual(before)
  })

  it('publish --ipns signs and stores an IPNS record for the head', async () => {
    const dir = join(work, 'ipns')
    await ok('init', '--dir', dir)
    const r = await ok('publish', '--dir', dir, '--ipns')
    const rec = r.ipns as { name: string, value: string }
    expect(rec.name).toMatch(/^\/ipns\/k51/)
    expect(rec.value).toBe(`/ipfs/${String(r.timestamp)}`)
    const node = await openRepoNode(dir)
    try {
      const name = ipns(node.helia as never)
      for await (const x of name.resolve(rec.name.slice('/ipns/'.length), { offline: true })) {
        expect(x.value).toBe(`/ipfs/${String(r.timestamp)}`)
        break
      }
    } finally {
      await node.close()
    }
  })

  it('a draft overtaken by another publish is stale and refused', async () => {
    const dir = join(work, 'stale')
    await ok('init', '--dir', dir)
    const alice = join(work, 'stale-alice.key')
    await ok('keygen', '--out', alice)
    await ok('delegate', '--dir', dir, 'alice', '--key', `${alice}.pub`, '--paths', 'alice/*')
    const d = await ok('publish', '--dir', dir)
    const f = join(work, 'stale.txt')
    await writeFile(f, 'x')
    await ok('add', '--dir', dir, f)
    const p = await ok('publish', '--dir', dir)
    const drafts = (await ok('drafts', '--dir', dir)).drafts as Array<{ id: string, stale: boolean }>
    expect(drafts).toEqual([expect.objectContaining({ id: d.draft, stale: true })])
    const before = await fingerprint(dir)
    expect((await cli('sign', '--dir', dir, '--draft', d.draft as string, '--key', alice)).errorCode).toBe('ERR_DRAFT_STALE')
    expect(await fingerprint(dir)).toEqual(before)
    expect((await ok('head', '--dir', dir)).timestamp).toBe(p.timestamp)
  })

  it('a tampered or malformed draft file is refused', async () => {
    const dir = join(work, 'tamper')
    await ok('init', '--dir', dir)
    const bob = join(work, 'tamper-bob.key')
    await ok('keygen', '--out', bob)
    await ok('delegate', '--dir', dir, 'bob', '--key', `${bob}.pub`, '--paths', 'bob/*')
    const d = await ok('publish', '--dir', dir)
    const file = join(work, 'tamper-draft.json')
    await ok('draft', 'export', '--dir', dir, d.draft as string, '--out', file)
    // A different object under the same draft id: refused.
    const v = JSON.parse(await readFile(file, 'utf8')) as { objects: Array<{ role: string, block: string }> }
    const obj = v.objects.find((o) => o.role === 'bob')!
    obj.block = Buffer.from(Buffer.from(obj.block, 'base64').toString('utf8').replace(/"expires":"[^"]+"/, '"expires":"2099-01-01T00:00:00Z"')).toString('base64')
    const other = join(work, 'tamper-other.json')
    await writeFile(other, JSON.stringify(v))
    await ok('sign', '--draft-file', other, '--key', bob)
    const before = await fingerprint(dir)
    expect((await cli('draft', 'import', '--dir', dir, other)).errorCode).toBe('ERR_DRAFT_MISMATCH')
    await writeFile(other, '{"format":"dagtuf-draft/1","id":"draft-00000000"}')
    expect((await cli('draft', 'import', '--dir', dir, other)).errorCode).toBe('ERR_DRAFT_FORMAT')
    expect(await fingerprint(dir)).toEqual(before)
    // The genuine file, signed elsewhere, completes the draft.
    await ok('sign', '--draft-file', file, '--key', bob)
    const done = await ok('draft', 'import', '--dir', dir, file)
    expect(done.finalized).toBe(true)
    await verifyRepoHead(dir)
  })

  it('encrypted repository keys: publish needs the passphrase', async () => {
    const dir = join(work, 'enc')
    const pass = join(work, 'pass.txt')
    await writeFile(pass, 'repo passphrase\n')
    await ok('init', '--dir', dir, '--encrypt', '--kdf-log-n', '15', '--passphrase-file', pass)
    expect((await readFile(join(dir, 'head.json'), 'utf8')).length).toBeGreaterThan(0)
    const before = await fingerprint(dir)
    expect((await cli('publish', '--dir', dir)).errorCode).toBe('ERR_PASSPHRASE_REQUIRED')
    const wrong = join(work, 'wrong.txt')
    await writeFile(wrong, 'nope')
    expect((await cli('publish', '--dir', dir, '--passphrase-file', wrong)).errorCode).toBe('ERR_WRONG_PASSPHRASE')
    expect(await fingerprint(dir)).toEqual(before)
    const r = await ok('publish', '--dir', dir, '--passphrase-file', pass)
    expect(r.timestamp).toEqual(expect.any(String))
  })

  it('hash-prefix delegations and rotating the targets key re-sign only what they must', async () => {
    const dir = join(work, 'prefix')
    await ok('init', '--dir', dir)
    const hb = join(dir, 'keys', 'bins.json')
    await ok('keygen', '--out', hb)
    await ok('delegate', '--dir', dir, 'bins', '--key', `${hb}.pub`, '--hash-prefixes', ...'0123456789abcdef'.split(''))
    await mkdir(join(work, 'bins'), { recursive: true })
    const f = join(work, 'bins', 'x.bin')
    await writeFile(f, 'x')
    await ok('add', '--dir', dir, f, '--path', 'any/where/x.bin', '--role', 'bins')
    const p1 = await ok('publish', '--dir', dir)
    expect(Object.keys(p1.delegated as object)).toEqual(['bins'])

    await ok('rotate', '--dir', dir, 'targets', '--keys', '1')
    const p2 = await ok('publish', '--dir', dir)
    expect(p2.root).not.toBe(p1.root)
    // Same content, new keys: targets is re-signed as a new version; bins is untouched.
    expect(p2.targets).not.toBe(p1.targets)
    expect(p2.delegated).toEqual(p1.delegated)
    const node = await openRepoNode(dir)
    try {
      const t = await sourceLoader(node).load('targets', parseCid(p2.targets as string))
      expect(t.signed.previousVersion?.toString()).toBe(p1.targets)
    } finally {
      await node.close()
    }
    await verifyRepoHead(dir, p1.timestamp as string)

    // --refresh re-signs an unchanged role with a fresh expiry, as its next version.
    const p3 = await ok('publish', '--dir', dir, '--refresh', 'bins', '--expiry', 'delegated=30d')
    const bins3 = (p3.delegated as Record<string, string>).bins!
    expect(bins3).not.toBe((p2.delegated as Record<string, string>).bins)
    expect(p3.targets).toBe(p2.targets)
    const node2 = await openRepoNode(dir)
    try {
      const b = await sourceLoader(node2).load('targets', parseCid(bins3))
      expect(b.signed.previousVersion?.toString()).toBe((p2.delegated as Record<string, string>).bins)
      expect(Date.parse(b.signed.expires) - Date.now()).toBeLessThan(31 * 86400_000)
    } finally {
      await node2.close()
    }
    expect((await ok('status', '--dir', dir)).staged).toEqual([])
  })

  it('nested delegations (--from) and export --since: the CAR alone proves <-*', async () => {
    const dir = join(work, 'nested')
    const init = await ok('init', '--dir', dir)
    const team = join(dir, 'keys', 'team.json')
    const dev = join(dir, 'keys', 'dev.json')
    await ok('keygen', '--out', team)
    await ok('keygen', '--out', dev)
    await ok('delegate', '--dir', dir, 'team', '--key', `${team}.pub`, '--paths', 'team/*/*')
    await ok('delegate', '--dir', dir, 'dev', '--from', 'team', '--key', `${dev}.pub`, '--paths', 'team/dev/*', '--terminating')
    const p1 = await ok('publish', '--dir', dir)
    expect(Object.keys(p1.delegated as object).sort()).toEqual(['dev', 'team'])
    const f = join(work, 'nested.txt')
    await writeFile(f, 'dev build')
    await ok('add', '--dir', dir, f, '--path', 'team/dev/build.txt', '--role', 'dev')
    // team/qa/* is team's, not dev's.
    expect((await cli('add', '--dir', dir, f, '--path', 'team/qa/x.txt', '--role', 'dev')).errorCode).toBe('ERR_TARGET_NOT_DELEGATED')
    const p2 = await ok('publish', '--dir', dir)
    expect((p2.delegated as Record<string, string>).team).toBe((p1.delegated as Record<string, string>).team)
    const p3 = await ok('publish', '--dir', dir)
    const car = join(work, 'nested.car')
    const exp = await ok('export', '--dir', dir, '--car', car, '--since', init.timestamp as string)
    expect(exp.snapshots).toBe(4)
    const loader = sourceLoader(await readCar(car))
    const rel = await succStar(loader, 'timestamp', parseCid(p3.timestamp as string), parseCid(init.timestamp as string))
    expect(rel.violations).toEqual([])
    expect(rel.holds).toBe(true)
    // A timestamp that is not an ancestor is refused.
    const other = join(work, 'nested-other')
    const o = await ok('init', '--dir', other)
    expect((await cli('export', '--dir', dir, '--car', join(work, 'x.car'), '--since', o.timestamp as string)).code).not.toBe(0)
  })

  it('no private key ever leaves keys/: not in blocks, drafts, head, log or staged changes', async () => {
    const dir = join(work, 'leak')
    await ok('init', '--dir', dir, '--root-keys', '2', '--root-threshold', '2')
    const k = join(work, 'leak-k.key')
    await ok('keygen', '--out', k)
    await ok('delegate', '--dir', dir, 'k', '--key', `${k}.pub`, '--paths', 'k/*')
    await ok('publish', '--dir', dir) // a draft
    await ok('rotate', '--dir', dir, 'snapshot', '--keys', '1')
    const seeds: string[] = []
    for (const n of await readdir(join(dir, 'keys'))) seeds.push((JSON.parse(await readFile(join(dir, 'keys', n), 'utf8')) as { seed: string }).seed)
    seeds.push((JSON.parse(await readFile(k, 'utf8')) as { seed: string }).seed)
    const hits: string[] = []
    const scan = async (d: string): Promise<void> => {
      for (const n of await readdir(d)) {
        const p = join(d, n)
        if (p === join(dir, 'keys')) continue
        if ((await stat(p)).isDirectory()) { await scan(p); continue }
        const text = (await readFile(p)).toString('latin1')
        for (const s of seeds) if (text.includes(s) || text.includes(Buffer.from(s, 'hex').toString('latin1'))) hits.push(p)
      }
    }
    await scan(dir)
    expect(hits).toEqual([])
  })
})
