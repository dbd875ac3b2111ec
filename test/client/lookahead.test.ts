/**
 * RefreshOptions.lookahead: the searches of the paths a caller names start
 * once the new state has passed its checks, while it is being written, so
 * that the blocks on their paths are already held when getTargetInfo asks
 * (`dagtuf client get --update` names its PATH). Their results and errors
 * are not the refresh's: getTargetInfo searches again at the moment of use.
 *
 * The repository: top-level targets delegates `dev/*` to the role `dev`,
 * whose object is read by a search only (CLIENT-VALID-TOP), never by the
 * update: which CIDs a source is asked for, and when, shows the lookahead.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import type { RepoNode } from '../../src/blocks/types.js'
import type { BlockSource, GetOptions } from '../../src/blocks/types.js'
import { Updater } from '../../src/client/updater.js'
import { BlockError, UsageError } from '../../src/model/errors.js'
import { ok } from '../cli/publish-helpers.js'

let work: string
let node: RepoNode
let head: { root: string, timestamp: string, delegated: Record<string, string> }
let k = 0

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'dagtuf-lookahead-'))
  const dir = join(work, 'repo')
  await ok('init', '--dir', dir)
  const key = join(dir, 'keys', 'dev.json')
  await ok('keygen', '--out', key)
  await ok('delegate', '--dir', dir, 'dev', '--key', `${key}.pub`, '--paths', 'dev/*')
  await ok('publish', '--dir', dir)
  const files = join(work, 'files')
  await mkdir(files)
  await writeFile(join(files, 'a.txt'), 'dev a\n')
  await writeFile(join(files, 'top.txt'), 'top\n')
  await ok('add', '--dir', dir, join(files, 'a.txt'), '--path', 'dev/a.txt', '--role', 'dev')
  await ok('add', '--dir', dir, join(files, 'top.txt'), '--path', 'top.txt')
  await ok('publish', '--dir', dir)
  head = JSON.parse(await readFile(join(dir, 'head.json'), 'utf8')) as typeof head
  node = await openRepoNode(dir)
}, 60_000)

afterAll(async () => {
  await node?.close()
  await rm(work, { recursive: true, force: true })
})

/** A fresh client over the repository's blocks that records what it asks for; `refuse` CIDs fail as not found. */
async function client (refuse: Set<string> = new Set()): Promise<{ up: Updater, asked: string[] }> {
  const asked: string[] = []
  const source: BlockSource = {
    get: async (cid: CID, o?: GetOptions) => {
      asked.push(cid.toString())
      if (refuse.has(cid.toString())) throw new BlockError('ERR_BLOCK_NOT_FOUND', `refused ${cid}`)
      return await node.get(cid, o)
    }
  }
  const up = await Updater.create({ dir: join(work, `client-${k++}`), source })
  await up.init(head.root)
  return { up, asked }
}

describe('refresh lookahead (RefreshOptions.lookahead)', () => {
  it('CLIENT-VALID-TOP: without a lookahead the update reads no delegated role; with one, the refresh reads the role its path leads to, and the search then asks the source for nothing', async () => {
    const dev = head.delegated.dev!
    const plain = await client()
    await plain.up.refresh(head.timestamp)
    expect(plain.asked).not.toContain(dev)

    const ahead = await client()
    await ahead.up.refresh(head.timestamp, { lookahead: ['dev/a.txt'] })
    expect(ahead.asked).toContain(dev)
    const before = ahead.asked.length
    const info = await ahead.up.getTargetInfo('dev/a.txt')
    expect(info?.role).toBe('dev')
    expect(info?.chain).toEqual(['targets', 'dev'])
    expect(ahead.asked.length).toBe(before)
    // The download still fetches the content, and only it.
    const got = await ahead.up.downloadTarget(info!, join(work, 'a.out'))
    expect(await readFile(got.path, 'utf8')).toBe('dev a\n')
    expect(ahead.asked.slice(before)).toEqual([info!.cid.toString()])
  })

  it('a lookahead whose search fails is not the refresh\'s error: the update is accepted, and getTargetInfo meets the failure itself', async () => {
    const dev = head.delegated.dev!
    const c = await client(new Set([dev]))
    const r = await c.up.refresh(head.timestamp, { lookahead: ['dev/a.txt'] })
    expect(r.timestamp).toBe(head.timestamp)
    expect(c.asked).toContain(dev)
    expect((await c.up.state()).trusted?.timestamp.toString()).toBe(head.timestamp)
    const e = await c.up.getTargetInfo('dev/a.txt').catch((x: unknown) => x)
    expect(e).toBeInstanceOf(BlockError)
    expect((e as BlockError).code).toBe('ERR_BLOCK_NOT_FOUND')
    // A path of the top-level role needs no delegated object.
    expect((await c.up.getTargetInfo('top.txt'))?.role).toBe('targets')
  })

  it('a lookahead of a path nobody lists changes nothing: the search answers null', async () => {
    const c = await client()
    await c.up.refresh(head.timestamp, { lookahead: ['dev/none.txt', 'nowhere/x'] })
    expect(await c.up.getTargetInfo('dev/none.txt')).toBeNull()
    expect(await c.up.getTargetInfo('nowhere/x')).toBeNull()
  })

  it('ERR_ARGUMENT: a lookahead that is not a list of at most 16 non-empty paths is refused before anything is fetched', async () => {
    for (const bad of [[''], Array.from({ length: 17 }, (_, i) => `p/${i}`), [7], 'dev/a.txt']) {
      const c = await client()
      const asked = c.asked.length
      const e = await c.up.refresh(head.timestamp, { lookahead: bad as unknown as string[] }).catch((x: unknown) => x)
      expect(e).toBeInstanceOf(UsageError)
      expect((e as UsageError).code).toBe('ERR_ARGUMENT')
      expect(c.asked.length).toBe(asked)
      expect((await c.up.state()).trusted).toBeNull()
    }
  })
})
