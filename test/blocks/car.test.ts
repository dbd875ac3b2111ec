import { readFile, writeFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeCar, importCar, readCar, writeCar } from '../../src/blocks/car.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { addContent, readContentBytes } from '../../src/blocks/unixfs.js'
import { cidOf, expectSameBytes, jsonBlock, pseudoRandomBytes, rawBlock, rejectsWith, tempDir } from './helpers.js'

/** A CAR of blocks taken as given (encodeCar does no hash check): the way to build hostile CARs. */
const rawCar = encodeCar

describe('CAR files', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })
  async function dir (): Promise<string> {
    const d = await tempDir('dagtuf-car-')
    cleanups.push(d.remove)
    return d.path
  }

  it('round trip: writeCar to a file, readCar and importCar back', async () => {
    const store = new MemoryBlockStore()
    const content = pseudoRandomBytes(1024 * 1024 + 777, 4)
    const ref = await addContent(store, content)
    const meta = jsonBlock({ signed: { target: { '/': ref.cid.toString() } } })
    await store.put(meta.cid, meta.bytes)
    const path = join(await dir(), 'update.car')
    const cids = [meta.cid, ...store.cids(), meta.cid] // a duplicate is written once
    const written = await writeCar(store, [meta.cid], cids, path)
    expect(written.blocks).toBe(store.size)
    expect((await readFile(path)).byteLength).toBe(written.bytes)
    expect((await readdir(join(path, '..'))).filter((f) => f.endsWith('.tmp'))).toEqual([])

    const car = await readCar(path)
    expect(car.roots.map(String)).toEqual([meta.cid.toString()])
    expect(car.size).toBe(store.size)
    expect(await car.get(meta.cid)).toEqual(meta.bytes)
    expectSameBytes(await readContentBytes(car, ref.cid, ref.length), content)
    await rejectsWith(car.get(rawBlock('not in the car').cid), 'ERR_BLOCK_NOT_FOUND')
    await rejectsWith(car.get(meta.cid, { maxBytes: 3 }), 'ERR_BLOCK_TOO_LARGE')

    const target = new MemoryBlockStore()
    const imported = await importCar(path, target)
    expect(imported.blocks).toBe(store.size)
    expect(imported.roots.map(String)).toEqual([meta.cid.toString()])
    expectSameBytes(await readContentBytes(target, ref.cid, ref.length), content)
  })

  it('writeCar to a stream ends it; readCar takes bytes', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('a')
    await store.put(a.cid, a.bytes)
    const sink = new PassThrough()
    const chunks: Buffer[] = []
    sink.on('data', (c: Buffer) => chunks.push(c))
    const ended = new Promise((resolve) => sink.on('end', resolve))
    await writeCar(store, [a.cid], [a.cid], sink)
    await ended
    const car = await readCar(new Uint8Array(Buffer.concat(chunks)))
    expect(await car.get(a.cid)).toEqual(a.bytes)
  })

  it('writeCar fails cleanly when a block is missing: no file left behind', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('a')
    await store.put(a.cid, a.bytes)
    const d = await dir()
    await rejectsWith(writeCar(store, [a.cid], [a.cid, rawBlock('missing').cid], join(d, 'x.car')), 'ERR_BLOCK_NOT_FOUND')
    expect(await readdir(d)).toEqual([])
    // ...and a tampered block in the source is never written.
    store.tamper(a.cid, (b) => new Uint8Array([...b, 1]))
    await rejectsWith(writeCar(store, [a.cid], [a.cid], join(d, 'y.car')), 'ERR_HASH_MISMATCH')
    expect(await readdir(d)).toEqual([])
  })

  it('a block whose bytes do not match its CID fails the whole CAR with ERR_CAR_BLOCK', async () => {
    const good = rawBlock('good')
    const bad = rawBlock('bad')
    const bytes = await rawCar([good.cid], [good, { cid: bad.cid, bytes: new TextEncoder().encode('evil') }])
    const err = await rejectsWith(readCar(bytes), 'ERR_CAR_BLOCK')
    expect(err.details.cid).toBe(bad.cid.toString())

    // importCar stores nothing at all, not even the good block before it.
    const path = join(await dir(), 'bad.car')
    await writeFile(path, bytes)
    const store = new MemoryBlockStore()
    await rejectsWith(importCar(path, store), 'ERR_CAR_BLOCK')
    expect(store.size).toBe(0)
  })

  it('a foreign hash (sha2-512) in a CAR is refused with ERR_CAR_BLOCK', async () => {
    const { sha512 } = await import('multiformats/hashes/sha2')
    const bytes = new TextEncoder().encode('x')
    const cid = CID.createV1(0x55, await sha512.digest(bytes))
    await rejectsWith(readCar(await rawCar([cid], [{ cid, bytes }])), 'ERR_CAR_BLOCK')
  })

  it('a truncated CAR is refused with ERR_CAR, at every cut', async () => {
    const a = rawBlock('first block')
    const b = jsonBlock({ second: true })
    const bytes = await rawCar([a.cid], [a, b])
    for (let cut = 1; cut < bytes.byteLength; cut++) {
      // A cut exactly between sections is a valid, shorter CAR.
      const header = await rawCar([a.cid], [])
      const afterA = await rawCar([a.cid], [a])
      if (cut === header.byteLength || cut === afterA.byteLength) continue
      await rejectsWith(readCar(bytes.subarray(0, cut)), 'ERR_CAR')
    }
    await rejectsWith(readCar(new Uint8Array(0)), 'ERR_CAR')
    await rejectsWith(readCar(new Uint8Array([0x05, 1, 2, 3, 4, 5])), 'ERR_CAR')
  })

  it('limits: total bytes, block count, block size, and a huge length prefix', async () => {
    const blocks = [rawBlock('one'), rawBlock('two'), rawBlock('three')]
    const bytes = await rawCar([blocks[0]!.cid], blocks)
    await rejectsWith(readCar(bytes, { maxBytes: bytes.byteLength - 1 }), 'ERR_CAR')
    expect((await readCar(bytes, { maxBytes: bytes.byteLength })).size).toBe(3)
    await rejectsWith(readCar(bytes, { maxBlocks: 2 }), 'ERR_CAR')
    await rejectsWith(readCar(bytes, { maxBlockBytes: 4 }), 'ERR_CAR')

    // A section that claims 2^40 bytes is refused before reading further.
    const header = await rawCar([blocks[0]!.cid], [])
    const hostile = new Uint8Array([...header, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, ...new Uint8Array(64)])
    await rejectsWith(readCar(hostile), 'ERR_CAR')
  })

  it('reading a missing file is ERR_CAR; a signal aborts', async () => {
    await rejectsWith(readCar(join(await dir(), 'absent.car')), 'ERR_CAR')
    const a = rawBlock('a')
    await rejectsWith(readCar(await rawCar([a.cid], [a]), { signal: AbortSignal.abort() }), 'ERR_ABORTED')
  })

  it('encodeCar makes a CAR readCar accepts', async () => {
    const a = rawBlock('single')
    const car = await readCar(await encodeCar([a.cid], [a]))
    expect(car.roots.map(String)).toEqual([a.cid.toString()])
    expect(await car.get(a.cid)).toEqual(a.bytes)
    expect(cidOf(a.bytes).equals(a.cid)).toBe(true)
  })
})
