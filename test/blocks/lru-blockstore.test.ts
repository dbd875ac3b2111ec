import { describe, expect, it } from 'vitest'
import { LruBlockstore } from '../../src/blocks/lru-blockstore.js'
import { rawBlock } from './helpers.js'

async function bytesOf (store: LruBlockstore, b: { cid: import('multiformats/cid').CID }): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of store.get(b.cid)) parts.push(p)
  return parts[0]!
}

describe('LruBlockstore (the peer source\'s bounded cache)', () => {
  it('keeps the most recently used blocks within its byte budget', async () => {
    const [a, b, c] = [rawBlock('aaaa'), rawBlock('bbbb'), rawBlock('cccc')]
    const store = new LruBlockstore(8)
    await store.put(a.cid, a.bytes)
    await store.put(b.cid, b.bytes)
    expect(await bytesOf(store, a)).toEqual(a.bytes) // a is now the most recent
    await store.put(c.cid, c.bytes) // over budget: b, the least recently used, goes
    expect(await store.has(a.cid)).toBe(true)
    expect(await store.has(b.cid)).toBe(false)
    expect(await store.has(c.cid)).toBe(true)
    await expect(bytesOf(store, b)).rejects.toMatchObject({ name: 'NotFoundError' })
  })

  it('does not keep a block larger than the whole budget, and forgets deleted blocks', async () => {
    const big = rawBlock('x'.repeat(20))
    const small = rawBlock('y')
    const store = new LruBlockstore(8)
    await store.put(small.cid, small.bytes)
    await store.put(big.cid, big.bytes)
    expect(await store.has(big.cid)).toBe(false)
    expect(await store.has(small.cid)).toBe(true)
    await store.delete(small.cid)
    expect(await store.has(small.cid)).toBe(false)
  })
})
