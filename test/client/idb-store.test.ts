/**
 * The IndexedDB ClientStorage (src/client/idb-store.ts) on Node, over
 * fake-indexeddb (an in-memory IndexedDB): the store's own guarantees, and
 * the unchanged Updater running on it against the repository simulator,
 * refusals leaving the stored state byte-identical. test/browser/chromium.test.ts
 * runs it in a real browser (real IndexedDB, Web Locks, fetch).
 */
import { IDBFactory } from 'fake-indexeddb'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import type { BlockSource } from '../../src/blocks/types.js'
import { IdbClientStore } from '../../src/client/idb-store.js'
import { isClientStorage } from '../../src/client/storage.js'
import { Updater } from '../../src/client/updater.js'
import { cidOf } from '../../src/model/codec.js'
import { checkBlock } from '../../src/model/hash.js'
import { RepoSim } from '../helpers/history.js'
import { rejects, text } from '../helpers/client-sim.js'

let n = 0
async function open (factory = new IDBFactory()): Promise<{ store: IdbClientStore, factory: IDBFactory, name: string }> {
  const name = `t${++n}`
  return { store: await IdbClientStore.open(name, { indexedDB: factory, locks: null }), factory, name }
}

/** The raw state entry, as the database holds it. */
async function rawState (factory: IDBFactory, name: string): Promise<string | undefined> {
  const s = await IdbClientStore.open(name, { indexedDB: factory, locks: null })
  try {
    const r = await s.run(['state'], 'readonly', 'default', 'read', async (tx) => await new Promise<unknown>((resolve) => { const q = tx.objectStore('state').get('state'); q.onsuccess = () => { resolve(q.result) } }))
    return r === undefined ? undefined : new TextDecoder().decode(r as Uint8Array)
  } finally {
    s.close()
  }
}

async function putRaw (store: IdbClientStore, os: string, key: string, value: unknown): Promise<void> {
  await store.run([os], 'readwrite', 'default', 'write', async (tx) => { tx.objectStore(os).put(value, key) })
}

describe('IdbClientStore', () => {
  it('is a ClientStorage; the state is null before init, then the record written, replaced whole', async () => {
    const { store, factory, name } = await open()
    expect(isClientStorage(store)).toBe(true)
    expect(store.dir).toBe(`indexeddb:${name}`)
    expect(await store.readState()).toBeNull()
    const a = CID.parse('baguqeeraaaaqapedcktlpwmoszcnqz6jlyrgtmvvgbycvbrqn4kkybzxqeeq')
    await store.writeState({ root: a, trusted: null })
    expect((await store.readState())!.root.equals(a)).toBe(true)
    expect(await rawState(factory, name)).toContain('dagtuf-client-state/2')
  })

  it('a damaged state entry is ERR_STATE_CORRUPT (the strict state reader runs on every read)', async () => {
    const { store } = await open()
    await putRaw(store, 'state', 'state', new TextEncoder().encode('{"format":"dagtuf-client-state/2","root":"x"}'))
    await rejects(store.readState(), 'ERR_STATE_CORRUPT')
    await putRaw(store, 'state', 'state', 'not bytes')
    await rejects(store.readState(), 'ERR_STATE_CORRUPT')
  })

  it('blocks are hash-checked on the way in (nothing stored) and on the way out (a damaged entry is dropped, a miss)', async () => {
    const { store } = await open()
    const bytes = text('{"a":1}')
    const cid = await cidOf(bytes)
    const other = await cidOf(text('{"a":2}'))
    await rejects(store.blocks.put(other, bytes), 'ERR_HASH_MISMATCH')
    expect(await store.blocks.get(other)).toBeUndefined()
    await store.blocks.putMany([{ cid, bytes }])
    expect(await store.blocks.get(cid)).toEqual(bytes)
    // Over the cap asked for: a miss.
    expect(await store.blocks.get(cid, 3)).toBeUndefined()
    // Damaged in the database: a miss, and removed.
    await putRaw(store, 'blocks', cid.toString(), text('{"a":3}'))
    expect(await store.blocks.get(cid)).toBeUndefined()
    await store.blocks.write(cid, bytes)
    expect(await store.blocks.get(cid)).toEqual(bytes)
    // alsoSync names a block that is not there: ERR_STATE_IO, nothing of the batch written.
    const third = text('{"a":4}')
    const c3 = await cidOf(third)
    await rejects(store.blocks.putMany([{ cid: c3, bytes: third }], [other]), 'ERR_STATE_IO')
    expect(await store.blocks.get(c3)).toBeUndefined()
    expect(await store.blocks.putMany([{ cid: c3, bytes: third }], [cid])).toBe(1)
    expect(await store.blocks.retain([cid])).toBe(1)
    expect(await store.blocks.get(c3)).toBeUndefined()
    expect(await store.blocks.get(cid)).toEqual(bytes)
  })

  it('the lock excludes a second holder (ERR_STATE_LOCKED) until released; documents are replaced and removed', async () => {
    const { store } = await open()
    const release = await store.lock()
    await rejects(store.lock(), 'ERR_STATE_LOCKED')
    await release()
    await (await store.lock())()
    expect(await store.readDoc('ipns.json', 100)).toBeUndefined()
    await store.writeDoc('ipns.json', text('{}'))
    expect(await store.readDoc('ipns.json', 100)).toEqual(text('{}'))
    await rejects(store.readDoc('ipns.json', 1), 'ERR_STATE_CORRUPT')
    await store.removeDoc('ipns.json')
    expect(await store.readDoc('ipns.json', 100)).toBeUndefined()
  })

  it('a lock manager (Web Locks) that says the lock is taken gives ERR_STATE_LOCKED', async () => {
    const held = new Set<string>()
    const locks = {
      async request (name: string, _o: unknown, cb: (lock: unknown) => Promise<void>): Promise<void> {
        if (held.has(name)) return await cb(null)
        held.add(name)
        try { await cb({ name }) } finally { held.delete(name) }
      }
    }
    const factory = new IDBFactory()
    const a = await IdbClientStore.open('locked', { indexedDB: factory, locks })
    const b = await IdbClientStore.open('locked', { indexedDB: factory, locks })
    const release = await a.lock()
    await rejects(b.lock(), 'ERR_STATE_LOCKED')
    await release()
    await (await b.lock())()
  })

  it('refuses a bad name, and IndexedDB missing is ERR_STATE_IO', async () => {
    await rejects(IdbClientStore.open('a/b', { indexedDB: new IDBFactory() }), 'ERR_ARGUMENT')
    await rejects(IdbClientStore.open('x'), 'ERR_STATE_IO')
  })
})

describe('the Updater on IndexedDB (unchanged, storage option)', () => {
  it('init, refresh, a target as checked bytes; a rollback and a tampered block refused with the Node rule IDs, the stored state byte-identical; kept across a reopen', async () => {
    const sim = await RepoSim.create({ seed: 7 })
    await sim.addTarget('targets', 'app.txt', text('app v1'))
    const v1 = await sim.publish()
    await sim.addTarget('targets', 'app.txt', text('app v2'))
    const v2 = await sim.publish()
    const { store, factory, name } = await open()
    const opts = { source: sim.store as BlockSource, unsafeReferenceTime: sim.now }
    await rejects(Updater.create({ ...opts, dir: '/tmp/x', storage: store }), 'ERR_ARGUMENT')
    await rejects(Updater.create({ ...opts, storage: { dir: 'x' } as never }), 'ERR_ARGUMENT')
    const up = await Updater.create({ ...opts, storage: store })
    expect(up.dir).toBe(`indexeddb:${name}`)
    await up.init(sim.versions[0]!.root.cid)
    await up.refresh(v2.timestamp.cid)
    const info = (await up.getTargetInfo('app.txt'))!
    expect(new TextDecoder().decode(await up.fetchTarget(info))).toBe('app v2')
    await rejects(up.downloadTarget(info, ''), 'ERR_ARGUMENT')

    const before = await rawState(factory, name)
    expect(before).toContain(v2.timestamp.cid.toString())
    await rejects(up.refresh(v1.timestamp.cid), 'CLIENT-TS-DESCENDS')
    expect(await rawState(factory, name)).toBe(before)

    // A gateway that flips a byte of every block, behind a BlockSource that
    // hash-checks what it returns (the contract GatewaySource keeps): ENC-CID.
    const flipping: BlockSource = {
      async get (cid, o) {
        const b = (await sim.store.get(cid, o)).slice()
        b[b.length >> 1] = b[b.length >> 1]! ^ 1
        checkBlock(cid, b, Number.MAX_SAFE_INTEGER)
        return b
      }
    }
    await sim.addTarget('targets', 'app.txt', text('app v3'))
    const v3 = await sim.publish()
    const bad = await Updater.create({ storage: store, source: flipping, unsafeReferenceTime: sim.now })
    await rejects(bad.refresh(v3.timestamp.cid), 'ENC-CID')
    expect(await rawState(factory, name)).toBe(before)
    // Content through the flipping source: CLIENT-TARGET-CONTENT, nothing returned.
    await rejects(bad.fetchTarget(info), 'CLIENT-TARGET-CONTENT')

    // The honest update is still accepted; a new handle on the same database sees it.
    await up.refresh(v3.timestamp.cid)
    store.close()
    const again = await Updater.create({ ...opts, storage: await IdbClientStore.open(name, { indexedDB: factory, locks: null }) })
    expect((await again.state()).trusted!.timestamp.equals(v3.timestamp.cid)).toBe(true)
    expect(new TextDecoder().decode(await again.fetchTarget((await again.getTargetInfo('app.txt'))!))).toBe('app v3')
  })
})
