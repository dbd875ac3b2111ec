/**
 * RepoBlockFiles: a repository's blocks read from their files without the
 * node (what status, drafts and draft show use). The files must be found
 * where the node writes them itself and where FsBlockstore (which writes
 * them when the node networks) puts them, and every block is checked.
 */
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { afterEach, describe, expect, it } from 'vitest'
import { RepoBlockFiles } from '../../src/blocks/repo-files.js'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { expectSameBytes, jsonBlock, rawBlock, rejectsWith, tempDir } from './helpers.js'

describe('RepoBlockFiles', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })
  async function dir (): Promise<string> {
    const d = await tempDir()
    cleanups.push(d.remove)
    return d.path
  }

  it('reads the blocks the repository node wrote, and says which it does not have', async () => {
    const path = await dir()
    const a = rawBlock('written by the node')
    const b = jsonBlock({ signed: { _type: 'timestamp' } })
    const node = await openRepoNode(path)
    await node.put(a.cid, a.bytes)
    await node.put(b.cid, b.bytes)
    await node.flush([a.cid, b.cid])
    await node.close()
    const files = new RepoBlockFiles(path)
    expectSameBytes(await files.get(a.cid), a.bytes)
    expectSameBytes(await files.get(b.cid), b.bytes)
    expect(await files.has(a.cid)).toBe(true)
    const missing = rawBlock('never written')
    expect(await files.has(missing.cid)).toBe(false)
    await rejectsWith(files.get(missing.cid), 'ERR_BLOCK_NOT_FOUND')
    // A repository without blocks/ at all: not found, not a crash.
    await rejectsWith(new RepoBlockFiles(join(path, 'nothing-here')).get(a.cid), 'ERR_BLOCK_NOT_FOUND')
  })

  it('reads the blocks FsBlockstore wrote with its defaults (as a networked node does)', async () => {
    const path = await dir()
    const store = new FsBlockstore(join(path, 'blocks'))
    await store.open()
    const a = rawBlock('written by FsBlockstore')
    await store.put(a.cid, a.bytes)
    await store.close()
    expectSameBytes(await new RepoBlockFiles(path).get(a.cid), a.bytes)
  })

  it('checks every block: a file edited on disk is ERR_HASH_MISMATCH, one over the cap ERR_BLOCK_TOO_LARGE', async () => {
    const path = await dir()
    const a = rawBlock('this block will rot')
    const node = await openRepoNode(path)
    await node.put(a.cid, a.bytes)
    await node.flush([a.cid])
    await node.close()
    const files = new RepoBlockFiles(path)
    await rejectsWith(files.get(a.cid, { maxBytes: 4 }), 'ERR_BLOCK_TOO_LARGE')
    const shard = (await readdir(join(path, 'blocks')))[0]!
    const file = (await readdir(join(path, 'blocks', shard)))[0]!
    await writeFile(join(path, 'blocks', shard, file), 'this block has rotted')
    await rejectsWith(files.get(a.cid), 'ERR_HASH_MISMATCH')
  })
})
