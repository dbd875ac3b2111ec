/**
 * Faults named truthfully (issue 16): a full disk is ERR_DISK_FULL naming
 * the path, exit 1, during add, publish, the repository lock, client update
 * and client get; a failed lock write leaves no lock file; a missing
 * head.json in a repository says so; a corrupted block is named by CID.
 *
 * The full disk is injected (no root, no tmpfs): node:fs/promises is mocked
 * for the project's modules so that writes through handles opened on chosen
 * paths fail with ENOSPC (or EDQUOT), as write(2) does on a full disk.
 */
import { createHash } from 'node:crypto'
import * as realFs from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { DiskFullError, RepoError, diskFull } from '../../src/model/errors.js'
import { dagtufJson as dagtuf } from '../helpers/cli.js'
import type { FullDisk } from '../helpers/full-disk.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, type MadeRepo } from '../helpers/repo.js'

const fault = vi.hoisted(() => ({ when: null as FullDisk['when'], code: 'ENOSPC', hits: 0 }))

vi.mock('node:fs/promises', async (importOriginal) => (await import('../helpers/full-disk.js')).fullDiskFs(await importOriginal(), fault))

let work: TempDir
let repo: MadeRepo

beforeAll(async () => {
  work = await tempDir('dagtuf-faults-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'a.txt': 'A\n', 'sub/b.txt': 'B\n' })
}, 60_000)
afterAll(async () => { await work.remove() })
afterEach(() => { fault.when = null; fault.code = 'ENOSPC'; fault.hits = 0 })

async function listing (dir: string): Promise<string[]> {
  return (await realFs.readdir(dir)).sort()
}

describe('a full disk is ERR_DISK_FULL, naming the path', () => {
  it('diskFull finds ENOSPC and EDQUOT down a cause chain, keeps the outermost path, and nothing else', () => {
    const errno = Object.assign(new Error('x'), { code: 'EDQUOT', path: '/deep/file' })
    const wrapped = new RepoError('ERR_REPO_IO', 'could not write', { cause: errno, details: { path: '/outer/file' } })
    expect(diskFull(wrapped)).toMatchObject({ code: 'ERR_DISK_FULL', details: { path: '/outer/file', errno: 'EDQUOT' } })
    expect(diskFull(errno)).toMatchObject({ code: 'ERR_DISK_FULL', details: { path: '/deep/file' } })
    expect(diskFull(errno, '/given')?.details.path).toBe('/given')
    expect(diskFull(Object.assign(new Error('y'), { code: 'EACCES' }))).toBeUndefined()
    expect(diskFull(new Error('z'))).toBeUndefined()
    const already = new DiskFullError('ERR_DISK_FULL', 'm', { details: { path: '/p' } })
    expect(diskFull(new RepoError('ERR_REPO_IO', 'w', { cause: already }))).toBe(already)
  })

  it('add: a block that cannot be written is ERR_DISK_FULL (exit 1) naming the block file, not ERR_TRANSPORT', async () => {
    const file = join(work.path, 'new.txt')
    await realFs.writeFile(file, 'new content that makes a new block\n')
    fault.when = (p) => p.startsWith(join(repo.dir, 'blocks'))
    const r = await dagtuf('add', '--dir', repo.dir, file)
    expect(fault.hits).toBeGreaterThan(0)
    expect(r.code).toBe(1)
    expect(r.json.error?.code).toBe('ERR_DISK_FULL')
    expect(r.json.error?.path).toMatch(new RegExp(`^${join(repo.dir, 'blocks')}/.+\\.data$`))
    expect(r.json.error?.message).toContain(r.json.error?.path)
  })

  it('publish: EDQUOT on head.json is ERR_DISK_FULL naming head.json, and the head is unchanged', async () => {
    const before = await realFs.readFile(join(repo.dir, 'head.json'))
    fault.code = 'EDQUOT'
    fault.when = (p) => p.includes('.head.json.')
    const r = await dagtuf('publish', '--dir', repo.dir, '--refresh', 'targets')
    expect(fault.hits).toBeGreaterThan(0)
    expect(r.code).toBe(1)
    expect(r.json.error?.code).toBe('ERR_DISK_FULL')
    expect(r.json.error?.path).toBe(join(repo.dir, 'head.json'))
    expect(await realFs.readFile(join(repo.dir, 'head.json'))).toEqual(before)
  })

  it('the repository lock: a failed write leaves no lock file (and no temporary one), and the next command runs', async () => {
    fault.when = (p) => p.includes('repo.lock')
    const r = await dagtuf('publish', '--dir', repo.dir, '--refresh', 'targets')
    expect(fault.hits).toBeGreaterThan(0)
    expect(r.json.error?.code).toBe('ERR_DISK_FULL')
    expect(r.json.error?.path).toBe(join(repo.dir, 'repo.lock'))
    expect((await listing(repo.dir)).filter((n) => n.includes('.lock'))).toEqual([])
    fault.when = null
    expect((await dagtuf('status', '--dir', repo.dir)).code).toBe(0)
  })

  it('client update and client get into a full disk: ERR_DISK_FULL (exit 1, not 3) naming state.json and the output file; nothing half written', async () => {
    const client = join(work.path, 'client')
    expect((await dagtuf('client', 'init', '--dir', client, '--root', repo.root, '--repo', repo.dir)).code).toBe(0)
    const state = await realFs.readFile(join(client, 'state.json'))
    fault.when = (p) => p.startsWith(join(client, '.state.json.'))
    const up = await dagtuf('client', 'update', '--dir', client, '--repo', repo.dir)
    expect(fault.hits).toBeGreaterThan(0)
    expect(up.code).toBe(1)
    expect(up.json.error?.code).toBe('ERR_DISK_FULL')
    expect(up.json.error?.path).toBe(join(client, 'state.json'))
    expect(await realFs.readFile(join(client, 'state.json'))).toEqual(state)
    fault.when = null
    expect((await dagtuf('client', 'update', '--dir', client, '--repo', repo.dir)).code).toBe(0)

    const outDir = join(work.path, 'out')
    await realFs.mkdir(outDir, { recursive: true })
    const dest = join(outDir, 'a.txt')
    fault.when = (p) => p.startsWith(outDir)
    const get = await dagtuf('client', 'get', '--dir', client, 'a.txt', '-o', dest, '--repo', repo.dir)
    expect(fault.hits).toBeGreaterThan(0)
    expect(get.code).toBe(1)
    expect(get.json.error?.code).toBe('ERR_DISK_FULL')
    expect(get.json.error?.path).toBe(dest)
    expect(await listing(outDir)).toEqual([])
  })
})

describe('repository faults say what is wrong', () => {
  it('a deleted head.json in an existing repository is ERR_REPO_CORRUPT naming head.json, not "run init"', async () => {
    const dir = join(work.path, 'headless')
    await realFs.cp(repo.dir, dir, { recursive: true })
    await realFs.rm(join(dir, 'head.json'))
    for (const command of [['status'], ['publish', '--refresh', 'targets'], ['export', '--car', join(work.path, 'x.car')]]) {
      const r = await dagtuf(command[0]!, '--dir', dir, ...command.slice(1))
      expect(r.code, command[0]).toBe(1)
      expect(r.json.error?.code, command[0]).toBe('ERR_REPO_CORRUPT')
      expect(r.json.error?.message).toContain(`${join(dir, 'head.json')} is missing`)
      expect(r.json.error?.message).toContain('log.jsonl')
      expect(r.json.error?.message).not.toMatch(/init/)
    }
    // A folder that never was a repository still gets the init hint.
    const empty = join(work.path, 'empty')
    await realFs.mkdir(empty)
    const r = await dagtuf('status', '--dir', empty)
    expect(r.json.error?.code).toBe('ERR_REPO_NOT_FOUND')
    expect(r.json.error?.message).toMatch(/init/)
  })

  it('a corrupted block of the head\'s DAG is named by CID with a hint, by status, publish and export', async () => {
    const dir = join(work.path, 'rotten')
    await realFs.cp(repo.dir, dir, { recursive: true })
    const head = JSON.parse(await realFs.readFile(join(dir, 'head.json'), 'utf8')) as { snapshot: string }
    // The snapshot's block file: the one whose bytes hash to the CID's digest.
    const digest = Buffer.from(CID.parse(head.snapshot).multihash.digest).toString('hex')
    let target: string | undefined
    for (const shard of await realFs.readdir(join(dir, 'blocks'))) {
      if (!(await realFs.stat(join(dir, 'blocks', shard))).isDirectory()) continue
      for (const f of await realFs.readdir(join(dir, 'blocks', shard))) {
        const file = join(dir, 'blocks', shard, f)
        if (createHash('sha256').update(await realFs.readFile(file)).digest('hex') === digest) target = file
      }
    }
    expect(target).toBeDefined()
    const bytes = await realFs.readFile(target!)
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x01
    await realFs.writeFile(target!, bytes)
    for (const command of [['status'], ['publish', '--refresh', 'targets'], ['export', '--car', join(work.path, 'y.car')]]) {
      const r = await dagtuf(command[0]!, '--dir', dir, ...command.slice(1))
      expect(r.code, command[0]).toBe(1)
      expect(r.json.error?.code, command[0]).toBe('ERR_REPO_CORRUPT')
      expect(r.json.error?.message, command[0]).toContain(`block ${head.snapshot} is corrupted`)
      expect(r.json.error?.message, command[0]).toContain('dagtuf verify')
      expect(r.json.error, command[0]).toMatchObject({ block: head.snapshot, reason: 'ERR_HASH_MISMATCH' })
    }
  })
})
