import { existsSync, readlinkSync } from 'node:fs'
import { open as openFile, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import type { RepoNode } from '../../src/blocks/repo-node.js'
import { CODEC_DAG_JSON } from '../../src/model/hash.js'
import { cidOf, jsonBlock, rawBlock, rejectsWith, tempDir } from './helpers.js'

describe('openRepoNode on a filesystem blockstore', () => {
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

  async function open (path: string): Promise<RepoNode> {
    const node = await openRepoNode(path)
    cleanups.push(async () => { await node.close() })
    return node
  }

  it('put/get/has survive close and reopen', async () => {
    const path = await dir()
    const a = rawBlock('kept on disk')
    const b = jsonBlock({ signed: { _type: 'timestamp' } })
    const node = await open(path)
    expect(node.multiaddrs()).toEqual([])
    expect(node.peerId()).toBeNull()
    await node.put(a.cid, a.bytes)
    await node.put(b.cid, b.bytes)
    expect(await node.has(a.cid)).toBe(true)
    await node.close()
    await node.close() // idempotent

    const again = await open(path)
    expect(await again.has(a.cid)).toBe(true)
    expect(await again.has(rawBlock('never stored').cid)).toBe(false)
    expect(await again.get(a.cid)).toEqual(a.bytes)
    expect(await again.get(b.cid)).toEqual(b.bytes)
    expect((await readdir(path)).sort()).toEqual(['blocks', 'datastore'])
  })

  it('a missing block is ERR_BLOCK_NOT_FOUND at once (reads are local)', async () => {
    const node = await open(await dir())
    await rejectsWith(node.get(rawBlock('absent').cid), 'ERR_BLOCK_NOT_FOUND')
  })

  it('put refuses wrong bytes; get enforces maxBytes', async () => {
    const node = await open(await dir())
    const a = rawBlock('0123456789')
    await rejectsWith(node.put(a.cid, new TextEncoder().encode('x')), 'ERR_HASH_MISMATCH')
    expect(await node.has(a.cid)).toBe(false)
    await node.put(a.cid, a.bytes)
    await rejectsWith(node.get(a.cid, { maxBytes: 5 }), 'ERR_BLOCK_TOO_LARGE')
  })

  it.each([['a small block', 'will rot'], ['a block of 1 MiB (hashed off the event loop: OFF_THREAD_HASH_BYTES)', 'x'.repeat(1024 * 1024)]])('%s altered on disk is caught with ERR_HASH_MISMATCH', async (_what, text) => {
    const path = await dir()
    const node = await open(path)
    const a = rawBlock(text)
    expect(await node.put(a.cid, a.bytes).then(async () => await node.get(a.cid))).toEqual(a.bytes)
    await node.put(a.cid, a.bytes)
    const files: string[] = []
    for (const sub of await readdir(join(path, 'blocks'))) {
      for (const f of await readdir(join(path, 'blocks', sub))) files.push(join(path, 'blocks', sub, f))
    }
    expect(files).toHaveLength(1)
    const file = files[0] as string
    const bytes = await readFile(file)
    bytes[0] = (bytes[0] ?? 0) ^ 1
    await writeFile(file, bytes)
    await rejectsWith(node.get(a.cid), 'ERR_HASH_MISMATCH')
  })

  /** Every block file under `path`/blocks, found by listing the folders (not by the sharding code). */
  async function blockFiles (path: string): Promise<string[]> {
    const files: string[] = []
    for (const sub of await readdir(join(path, 'blocks'))) {
      for (const f of await readdir(join(path, 'blocks', sub))) files.push(join(path, 'blocks', sub, f))
    }
    return files.sort()
  }

  it('flush fsyncs the file of each block, its shard folder and the block folder', async () => {
    const path = await realpath(await dir())
    const node = await open(path)
    const blocks = [rawBlock('one'), rawBlock('two'), jsonBlock({ signed: { _type: 'snapshot' } })]
    for (const b of blocks) await node.put(b.cid, b.bytes)
    const files = await blockFiles(path)
    expect(files).toHaveLength(3)
    await node.flush([]) // nothing to flush: fine

    // Which files and folders were fsynced, by the path behind each synced descriptor (Linux /proc).
    const procFds = existsSync('/proc/self/fd')
    const synced: string[] = []
    const probe = await openFile(files[0]!, 'r')
    const proto = Object.getPrototypeOf(probe) as FileHandle
    await probe.close()
    const sync = proto.sync
    const spy = vi.spyOn(proto, 'sync').mockImplementation(async function (this: FileHandle) {
      synced.push(procFds ? readlinkSync(`/proc/self/fd/${this.fd}`) : String(this.fd))
      return sync.call(this)
    })
    try {
      await node.flush(blocks.map((b) => b.cid))
    } finally {
      spy.mockRestore()
    }
    const shards = [...new Set(files.map((f) => join(f, '..')))]
    expect(synced).toHaveLength(files.length + shards.length + 1)
    if (procFds) expect(synced.sort()).toEqual([...files, ...shards, join(path, 'blocks')].sort())
  })

  it('flush of a block whose file is gone is ERR_BLOCK_NOT_FOUND naming it; a closed node refuses with ERR_CLOSED', async () => {
    const path = await dir()
    const node = await open(path)
    const kept = rawBlock('kept')
    const lost = rawBlock('lost before flush')
    await node.put(kept.cid, kept.bytes)
    const [keptFile] = await blockFiles(path)
    await node.put(lost.cid, lost.bytes)
    await node.flush([kept.cid, lost.cid])
    const lostFile = (await blockFiles(path)).find((f) => f !== keptFile)!
    await rm(lostFile)
    const e = await rejectsWith(node.flush([kept.cid, lost.cid]), 'ERR_BLOCK_NOT_FOUND')
    expect(e.details.cid).toBe(lost.cid.toString())
    await rejectsWith(node.flush([rawBlock('never stored').cid]), 'ERR_BLOCK_NOT_FOUND')
    await node.flush([kept.cid])
    await node.close()
    await rejectsWith(node.flush([kept.cid]), 'ERR_CLOSED')
  })

  it('pins a dag-json DAG whose blocks are all local, and refuses one with a hole', async () => {
    const node = await open(await dir())
    const leaf = rawBlock('target bytes')
    const linking = new TextEncoder().encode(`{"t":{"/":"${leaf.cid.toString()}"}}`)
    const root = cidOf(linking, CODEC_DAG_JSON)
    await node.put(root, linking)
    await rejectsWith(node.pin(root, { signal: AbortSignal.timeout(5_000) }), 'ERR_PIN')
    await node.put(leaf.cid, leaf.bytes)
    await node.pin(root)
    await node.pin(root) // twice is fine
    expect(await node.isPinned(root)).toBe(true)
    expect(await node.isPinned(leaf.cid)).toBe(true)
    await node.unpin(root)
    await node.unpin(root)
    expect(await node.isPinned(root)).toBe(false)
  })

  it('a closed node refuses calls with ERR_CLOSED', async () => {
    const node = await open(await dir())
    await node.close()
    await rejectsWith(node.get(rawBlock('a').cid), 'ERR_CLOSED')
    const a = rawBlock('a')
    await rejectsWith(node.put(a.cid, a.bytes), 'ERR_CLOSED')
  })

  it('a listening node keeps its peer id across reopen', async () => {
    const path = await dir()
    const first = await openRepoNode(path, { listen: ['/ip4/127.0.0.1/tcp/0'] })
    const id = first.peerId()
    expect(id).toMatch(/^12D3Koo/)
    await first.close()
    const second = await openRepoNode(path, { listen: ['/ip4/127.0.0.1/tcp/0'] })
    cleanups.push(async () => { await second.close() })
    expect(second.peerId()).toBe(id)
  })

  it('rejects bad listen addresses and reports start failures as ERR_NODE_START', async () => {
    const path = await dir()
    await rejectsWith(openRepoNode(path, { listen: ['not a multiaddr'] }), 'ERR_ARGUMENT', 'UsageError')
    await rejectsWith(openRepoNode(path, { listen: [] }), 'ERR_ARGUMENT', 'UsageError')
    // A file where the blocks directory should be.
    const other = await dir()
    await writeFile(join(other, 'blocks'), 'not a directory')
    await rejectsWith(openRepoNode(other), 'ERR_NODE_START')
  })
})
