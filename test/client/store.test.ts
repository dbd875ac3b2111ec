/** The trusted-state folder: atomic state writes, the hash-checked block cache, the lock. */
import { spawnSync } from 'node:child_process'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ClientStore } from '../../src/client/store.js'
import type { StateRecord } from '../../src/client/statefile.js'
import { CID } from 'multiformats/cid'
import { cidOf } from '../../src/model/codec.js'
import { buildTargetsMap, type ShardBlock } from '../../src/shard/index.js'
import { rejects, tempDir, type TempDir } from '../helpers/client-sim.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('ClientStore', () => {
  const dirs: TempDir[] = []
  afterEach(async () => { for (const d of dirs.splice(0)) await d.remove() })
  async function open (): Promise<ClientStore> {
    const d = await tempDir()
    dirs.push(d)
    return await ClientStore.open(join(d.path, 'client'))
  }

  it('CLIENT-STATE-ATOMIC: state.json is replaced whole, and temporary files of a crashed writer are ignored and removed', async () => {
    const store = await open()
    expect(await store.readState()).toBeNull()
    const a: StateRecord = { root: cidOf(enc('a')), trusted: null }
    const b: StateRecord = { root: cidOf(enc('b')), trusted: null }
    await store.writeState(a)
    // A writer killed between its write and its rename leaves a temporary file.
    await writeFile(join(store.dir, '.state.json.0123456789ab.tmp'), '{"format": torn')
    expect((await store.readState())?.root.equals(a.root)).toBe(true)
    await store.writeState(b)
    expect((await store.readState())?.root.equals(b.root)).toBe(true)
    expect((await readdir(store.dir)).filter((n) => n.endsWith('.tmp'))).toEqual([])
  })

  it('a damaged state.json is ERR_STATE_CORRUPT, never a partial state', async () => {
    const store = await open()
    await writeFile(join(store.dir, 'state.json'), '{"format":"dagtuf-client-state/2","root":')
    await rejects(store.readState(), 'ERR_STATE_CORRUPT', 'StateError')
  })

  it('the block cache hash-checks what it reads back and drops damaged files', async () => {
    const store = await open()
    const bytes = enc('{"a":1}')
    const c = cidOf(bytes)
    expect(await store.blocks.get(c)).toBeUndefined()
    await store.blocks.put(c, bytes)
    expect(await store.blocks.get(c)).toEqual(bytes)
    await writeFile(join(store.blocks.dir, c.toString()), enc('{"a":2}'))
    expect(await store.blocks.get(c)).toBeUndefined()
    expect(await store.blocks.has(c)).toBe(false)
    await rejects(store.blocks.put(c, enc('{"a":3}')), 'ERR_HASH_MISMATCH', 'BlockError')
    // A cap smaller than the file is a miss too.
    await store.blocks.put(c, bytes)
    expect(await store.blocks.get(c, 3)).toBeUndefined()
  })

  it('retain keeps only the named blocks, shard nodes included (a cache that never dropped them grew with every update)', async () => {
    const store = await open()
    const x = enc('"x"')
    const y = enc('"y"')
    const content = CID.createV1(0x55, cidOf(x).multihash)
    const shardA = buildTargetsMap([['a', { length: 1, cid: content }]], () => {})
    const nodes: ShardBlock[] = []
    buildTargetsMap([['a', { length: 1, cid: content }]], (b) => { nodes.push(b) })
    buildTargetsMap([['b', { length: 1, cid: content }]], (b) => { nodes.push(b) })
    await store.blocks.put(cidOf(x), x)
    await store.blocks.put(cidOf(y), y)
    for (const n of nodes) await store.blocks.put(n.cid, n.bytes)
    await writeFile(join(store.blocks.dir, 'README'), 'not ours')
    expect(await store.blocks.retain([cidOf(y), shardA.root])).toBe(2)
    expect((await readdir(store.blocks.dir)).sort()).toEqual([cidOf(y).toString(), shardA.root.toString(), 'README'].sort())
  })

  it('putMany stores a batch (new and damaged blocks written, intact ones kept), refuses a bad block before writing any, and needs the files it is asked to sync', async () => {
    const store = await open()
    const blocks = ['{"n":1}', '{"n":2}', '{"n":3}'].map((t) => { const bytes = enc(t); return { cid: cidOf(bytes), bytes } })
    const [a, b, c] = blocks as [typeof blocks[0], typeof blocks[0], typeof blocks[0]]
    await store.blocks.put(a.cid, a.bytes)
    await writeFile(join(store.blocks.dir, b.cid.toString()), enc('{"n":9}'))
    expect(await store.blocks.putMany([a, b, c, c])).toBe(2)
    for (const x of blocks) expect(await store.blocks.get(x.cid)).toEqual(x.bytes)
    expect((await readdir(store.blocks.dir)).filter((n) => n.startsWith('.'))).toEqual([])

    const d = { cid: cidOf(enc('{"n":4}')), bytes: enc('{"n":4}') }
    await rejects(store.blocks.putMany([d, { cid: a.cid, bytes: enc('{"n":5}') }]), 'ERR_HASH_MISMATCH', 'BlockError')
    expect(await store.blocks.has(d.cid)).toBe(false)

    // write(): cached without an fsync, hash-checked like the rest; putMany can then sync it.
    await store.blocks.write(d.cid, d.bytes)
    expect(await store.blocks.get(d.cid)).toEqual(d.bytes)
    await rejects(store.blocks.write(d.cid, enc('{"n":5}')), 'ERR_HASH_MISMATCH', 'BlockError')
    expect(await store.blocks.putMany([], [d.cid, a.cid.toString()])).toBe(0)
    await rejects(store.blocks.putMany([], [cidOf(enc('"absent"'))]), 'ERR_STATE_IO', 'StateError')
  })

  it('the lock is exclusive, also within one process, and released', async () => {
    const store = await open()
    const release = await store.lock()
    await rejects(store.lock(), 'ERR_STATE_LOCKED', 'StateError')
    await release()
    const again = await store.lock()
    await again()
  })

  it('a lock left by a process that no longer exists is taken over', async () => {
    const store = await open()
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    await writeFile(join(store.dir, 'lock'), `${dead} 0123456789abcdef`)
    const release = await store.lock()
    expect(await readFile(join(store.dir, 'lock'), 'utf8')).toMatch(new RegExp(`^${process.pid} `))
    await release()
  })

  it('a lock held by a live process is ERR_STATE_LOCKED', async () => {
    const store = await open()
    await writeFile(join(store.dir, 'lock'), `${process.ppid} 0123456789abcdef`)
    const e = await rejects(store.lock(), 'ERR_STATE_LOCKED')
    expect(e.details.pid).toBe(process.ppid)
  })
})
