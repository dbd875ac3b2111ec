/** The client loader's shard nodes: written to the cache as they arrive, remembered by CID only. */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { clientLoader, NO_SOURCE } from '../../src/client/loader.js'
import { ClientStore } from '../../src/client/store.js'
import { cidOf } from '../../src/model/codec.js'
import { StateError } from '../../src/model/errors.js'
import type { TargetInfo } from '../../src/model/types.js'
import { buildTargetsMap } from '../../src/shard/index.js'
import { rejects, tempDir, type TempDir } from '../helpers/client-sim.js'

describe('clientLoader: shard nodes', () => {
  const dirs: TempDir[] = []
  afterEach(async () => { for (const d of dirs.splice(0)) await d.remove() })

  async function setup (n: number): Promise<{ store: ClientStore, source: MemoryBlockStore, root: CID, nodes: number }> {
    const d = await tempDir()
    dirs.push(d)
    const store = await ClientStore.open(join(d.path, 'client'))
    const source = new MemoryBlockStore()
    const content = CID.createV1(0x55, cidOf(new TextEncoder().encode('"c"')).multihash)
    const entries: Array<[string, TargetInfo]> = []
    for (let i = 0; i < n; i++) entries.push([`pkg/f-${i}`, { length: i + 1, cid: content }])
    const puts: Array<Promise<void>> = []
    const built = buildTargetsMap(entries, (b) => { puts.push(source.put(b.cid, b.bytes)) })
    await Promise.all(puts)
    return { store, source, root: built.root, nodes: puts.length }
  }

  it('a listing holds the nodes it fetched until writeShards, keeps only their CIDs, and a later loader reads the map offline', async () => {
    const { store, source, root, nodes } = await setup(3000)
    expect(nodes).toBeGreaterThan(10)
    const loader = clientLoader(store.blocks, source)
    let seen = 0
    for await (const _ of loader.targetEntries(root)) seen++
    expect(seen).toBe(3000)
    expect(loader.stats.blocks).toBe(nodes)
    // Only CID strings are remembered, not the nodes' bytes.
    expect([...loader.shards].every((k) => typeof k === 'string')).toBe(true)
    expect(loader.shards.size).toBe(nodes)
    // Nothing is written before the caller vouches for the nodes (a refused update leaves no files)...
    expect(await loader.settleShards()).toEqual([])
    for (const k of loader.shards) expect(await store.blocks.has(CID.parse(k))).toBe(false)
    // ... then everything held, once.
    loader.writeShards()
    expect((await loader.settleShards()).sort()).toEqual([...loader.shards].sort())
    expect(await loader.settleShards()).toEqual([])
    for (const k of loader.shards) expect(await store.blocks.has(CID.parse(k))).toBe(true)

    const offline = clientLoader(store.blocks, NO_SOURCE)
    expect(await offline.target(root, 'pkg/f-1234')).toEqual({ length: 1235, cid: expect.anything() })
    expect(offline.stats.blocks).toBe(0)
    expect(offline.stats.cacheHits).toBeGreaterThan(0)
    expect(await offline.settleShards()).toEqual([])
  })

  it('after writeShards, nodes are written as they arrive', async () => {
    const { store, source, root } = await setup(3000)
    const loader = clientLoader(store.blocks, source)
    loader.writeShards()
    expect((await loader.target(root, 'pkg/f-42'))?.length).toBe(43)
    const path = await loader.settleShards()
    expect(path.length).toBe(loader.stats.blocks)
    expect(path.length).toBeGreaterThan(1)
    for (const k of path) expect(await store.blocks.has(CID.parse(k))).toBe(true)
  })

  it('a node let go of (forget) before writeShards is neither written nor listed; after it, forget changes nothing', async () => {
    const { store, source, root } = await setup(3000)
    const loader = clientLoader(store.blocks, source)
    expect((await loader.target(root, 'pkg/f-42'))?.length).toBe(43)
    const path = [...loader.shards]
    expect(path.length).toBeGreaterThan(1)
    const leaf = CID.parse(path[path.length - 1]!)
    loader.forget!(leaf)
    expect(loader.shards.has(leaf.toString())).toBe(false)
    expect(loader.shards.size).toBe(path.length - 1)
    loader.writeShards()
    expect((await loader.settleShards()).sort()).toEqual(path.slice(0, -1).sort())
    expect(await store.blocks.has(leaf)).toBe(false)
    // After writeShards nothing is held any more: forget leaves the list alone.
    const first = CID.parse(path[0]!)
    loader.forget!(first)
    expect(loader.shards.has(first.toString())).toBe(true)
  })

  it('a cache write that fails is reported by settleShards, once; the lookup itself still answers', async () => {
    const { store, source, root } = await setup(50)
    // A cache whose every write fails (a full disk, say).
    let tried = 0
    store.blocks.write = async () => { tried++; throw new StateError('ERR_STATE_IO', 'disk full') }
    const loader = clientLoader(store.blocks, source)
    loader.writeShards()
    expect((await loader.target(root, 'pkg/f-7'))?.length).toBe(8)
    expect(tried).toBeGreaterThan(0)
    await rejects(loader.settleShards(), 'ERR_STATE_IO', 'StateError')
    expect(await loader.settleShards()).toEqual([])
  })
})
