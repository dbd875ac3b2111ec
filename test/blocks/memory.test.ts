import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha512 } from 'multiformats/hashes/sha2'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { checkBlock } from '../../src/model/hash.js'
import { cidOf, jsonBlock, rawBlock, rejectsWith } from './helpers.js'

describe('checkBlock', () => {
  const { cid, bytes } = rawBlock('some block')

  it('accepts the bytes a CID addresses', () => {
    expect(() => { checkBlock(cid, bytes, 1024) }).not.toThrow()
  })

  it('refuses bytes over the cap (ERR_BLOCK_TOO_LARGE), before hashing', () => {
    let caught: unknown
    try { checkBlock(cid, bytes, bytes.byteLength - 1) } catch (e) { caught = e }
    expect(caught).toMatchObject({ name: 'BlockError', code: 'ERR_BLOCK_TOO_LARGE' })
  })

  it('refuses bytes that hash to something else (ERR_HASH_MISMATCH)', () => {
    const other = bytes.slice()
    other[0] = (other[0] ?? 0) ^ 1
    let caught: unknown
    try { checkBlock(cid, other, 1024) } catch (e) { caught = e }
    expect(caught).toMatchObject({ name: 'BlockError', code: 'ERR_HASH_MISMATCH' })
  })

  it('refuses a CID with another multihash (ERR_UNSUPPORTED_HASH)', async () => {
    const cid512 = CID.createV1(raw.code, await sha512.digest(bytes))
    const cidId = CID.createV1(raw.code, identity.digest(bytes))
    for (const c of [cid512, cidId]) {
      let caught: unknown
      try { checkBlock(c, bytes, 1024) } catch (e) { caught = e }
      expect(caught).toMatchObject({ name: 'BlockError', code: 'ERR_UNSUPPORTED_HASH' })
    }
  })
})

describe('MemoryBlockStore', () => {
  it('puts, has and gets blocks, by value', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('a')
    const b = jsonBlock({ b: 1 })
    expect(await store.has(a.cid)).toBe(false)
    await store.put(a.cid, a.bytes)
    await store.put(b.cid, b.bytes)
    expect(await store.has(a.cid)).toBe(true)
    expect(await store.get(b.cid)).toEqual(b.bytes)
    // Mutating what get returned or what was put does not change the store.
    const got = await store.get(a.cid)
    got[0] = 0
    a.bytes[0] = 0
    expect(await store.get(a.cid)).toEqual(new TextEncoder().encode('a'))
    expect(store.size).toBe(2)
    expect(store.cids().map(String)).toEqual([a.cid.toString(), b.cid.toString()])
  })

  it('reports a missing block as ERR_BLOCK_NOT_FOUND', async () => {
    await rejectsWith(new MemoryBlockStore().get(rawBlock('nope').cid), 'ERR_BLOCK_NOT_FOUND')
  })

  it('put refuses bytes that do not hash to the CID', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('a')
    await rejectsWith(store.put(a.cid, new TextEncoder().encode('b')), 'ERR_HASH_MISMATCH')
    expect(store.size).toBe(0)
  })

  it('put refuses CIDs with other hashes', async () => {
    const bytes = new TextEncoder().encode('x')
    const c = CID.createV1(raw.code, await sha512.digest(bytes))
    await rejectsWith(new MemoryBlockStore().put(c, bytes), 'ERR_UNSUPPORTED_HASH')
  })

  it('get enforces maxBytes', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('0123456789')
    await store.put(a.cid, a.bytes)
    await rejectsWith(store.get(a.cid, { maxBytes: 9 }), 'ERR_BLOCK_TOO_LARGE')
    expect(await store.get(a.cid, { maxBytes: 10 })).toEqual(a.bytes)
  })

  it('unsafePut and tamper bypass the check on write, get catches them', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('published')
    await store.put(a.cid, a.bytes)
    store.tamper(a.cid, (bytes) => { bytes[0] = (bytes[0] ?? 0) ^ 0xff; return bytes })
    await rejectsWith(store.get(a.cid), 'ERR_HASH_MISMATCH')
    const b = rawBlock('other')
    store.unsafePut(b.cid, new TextEncoder().encode('not other'))
    await rejectsWith(store.get(b.cid), 'ERR_HASH_MISMATCH')
    expect(await store.has(b.cid)).toBe(true)
    expect(() => { store.tamper(rawBlock('absent').cid, (x) => x) }).toThrow(expect.objectContaining({ code: 'ERR_BLOCK_NOT_FOUND' }))
  })

  it('an oversized block planted by unsafePut fails with ERR_BLOCK_TOO_LARGE', async () => {
    const store = new MemoryBlockStore()
    const bytes = new Uint8Array(2048)
    const c = cidOf(bytes)
    store.unsafePut(c, bytes)
    await rejectsWith(store.get(c, { maxBytes: 1024 }), 'ERR_BLOCK_TOO_LARGE')
  })

  it('treats a CIDv0 as the CIDv1 dag-pb with the same multihash', async () => {
    const store = new MemoryBlockStore()
    const bytes = new Uint8Array([0x0a, 0x02, 0x08, 0x01]) // any bytes; the codec is not decoded here
    const v1 = cidOf(bytes, 0x70)
    const v0 = CID.createV0(v1.multihash as Parameters<typeof CID.createV0>[0])
    await store.put(v0, bytes)
    expect(await store.has(v1)).toBe(true)
    expect(await store.get(v0)).toEqual(bytes)
  })

  it('honours an aborted signal and rejects bad arguments', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('a')
    await store.put(a.cid, a.bytes)
    await rejectsWith(store.get(a.cid, { signal: AbortSignal.abort() }), 'ERR_ABORTED')
    await rejectsWith(store.get(a.cid, { maxBytes: -1 }), 'ERR_ARGUMENT', 'UsageError')
    await rejectsWith(store.get('bafy' as unknown as CID), 'ERR_ARGUMENT', 'UsageError')
  })

  it('counts gets and puts', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('a')
    await store.put(a.cid, a.bytes)
    await store.get(a.cid)
    await store.get(a.cid)
    expect(store.stats).toEqual({ gets: 2, puts: 1 })
  })
})

describe('CID spelling', () => {
  it('a CID parsed from a non-canonical spelling finds the same block', async () => {
    const store = new MemoryBlockStore()
    const a = rawBlock('case')
    await store.put(a.cid, a.bytes)
    const text = a.cid.toString()
    const odd = CID.parse('b' + text.slice(1).toUpperCase())
    expect(odd.toString()).not.toBe(text) // multiformats keeps the parsed string
    expect(await store.get(odd)).toEqual(a.bytes)
  })
})
