import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { MAX_BLOCK_BYTES } from '../../src/model/config.js'
import { BlockError, DecodeError, UsageError, ValidationError } from '../../src/model/errors.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

async function objects () {
  const b = new DagBuilder()
  const root = await b.root()
  const top = await b.targets('targets', { targets: ['a.txt'] })
  const snap = await b.snapshot({ root, targets: top })
  const ts = await b.timestamp(snap)
  return { b, root, top, snap, ts }
}

/** A source that records what it was asked. */
function spy (inner: { get: (cid: CID, o?: { signal?: AbortSignal, maxBytes?: number }) => Promise<Uint8Array> }) {
  const calls: Array<{ cid: string, maxBytes: number | undefined }> = []
  return {
    calls,
    get: async (cid: CID, o?: { signal?: AbortSignal, maxBytes?: number }) => {
      calls.push({ cid: cid.toString(), maxBytes: o?.maxBytes })
      return await inner.get(cid, o)
    }
  }
}

describe('sourceLoader', () => {
  it('decodes a block as the kind asked for and fetches it once', async () => {
    const { b, root } = await objects()
    const src = spy(b.store)
    const loader = sourceLoader(src)
    const a = await loader.load('root', root.cid)
    const again = await loader.load('root', root.cid)
    expect(a.cid.equals(root.cid)).toBe(true)
    expect(again).toBe(a)
    expect(src.calls.length).toBe(1)
    expect(loader.stats).toEqual({ blocks: 1, bytes: root.bytes.byteLength })
  })

  it('concurrent loads of one CID share one fetch', async () => {
    const { b, snap } = await objects()
    const src = spy(b.store)
    const loader = sourceLoader(src)
    await Promise.all([loader.load('snapshot', snap.cid), loader.load('snapshot', snap.cid), loader.load('snapshot', snap.cid)])
    expect(src.calls.length).toBe(1)
  })

  it('VALID-KIND: a block asked for as the wrong kind is DecodeError ERR_KIND, before or after it was loaded as its own', async () => {
    const { b, root } = await objects()
    const loader = b.loader()
    const e1 = await caught(() => loader.load('targets', root.cid))
    expect(e1).toBeInstanceOf(DecodeError)
    expect(e1.code).toBe('ERR_KIND')
    // The failure as one kind does not poison the block for its own kind.
    expect((await loader.load('root', root.cid)).signed.type).toBe('root')
    const e2 = await caught(() => loader.load('snapshot', root.cid))
    expect(e2.code).toBe('ERR_KIND')
    expect(loader.stats.blocks).toBe(1)
  })

  it('asks the source for at most the kind\'s block cap', async () => {
    const { b, ts, snap } = await objects()
    const src = spy(b.store)
    const loader = sourceLoader(src)
    await loader.load('timestamp', ts.cid)
    await loader.load('snapshot', snap.cid)
    expect(src.calls.map((c) => c.maxBytes)).toEqual([MAX_BLOCK_BYTES.timestamp, MAX_BLOCK_BYTES.snapshot])
  })

  it('refuses a block from a source that ignored the cap', async () => {
    const { b, root } = await objects()
    const big = new Uint8Array(MAX_BLOCK_BYTES.timestamp + 1)
    const loader = sourceLoader({ get: async () => big })
    const e = await caught(() => loader.load('timestamp', root.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_BLOCK_TOO_LARGE')
    void b
  })

  it('BOUND-BLOCKS: fetching more blocks than the bound fails; cache hits are free', async () => {
    const { b, root, top, snap } = await objects()
    const loader = b.loader({ maxBlocks: 2 })
    await loader.load('root', root.cid)
    await loader.load('targets', top.cid)
    await loader.load('root', root.cid)
    const e = await caught(() => loader.load('snapshot', snap.cid))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('BOUND-BLOCKS')
  })

  it('BOUND-BYTES: fetching more bytes than the bound fails', async () => {
    const { b, root, top } = await objects()
    const loader = b.loader({ maxBytes: root.bytes.byteLength + 10 })
    await loader.load('root', root.cid)
    const e = await caught(() => loader.load('targets', top.cid))
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('BOUND-BYTES')
  })

  it('BOUND-BYTES: a source that returns more than the budget is caught after the fact', async () => {
    const { b, root } = await objects()
    const loader = sourceLoader({ get: async (cid) => await b.store.get(cid) }, { maxBytes: 10 })
    expect((await caught(() => loader.load('root', root.cid))).code).toBe('BOUND-BYTES')
  })

  it('a missing block propagates as BlockError and may be retried once present', async () => {
    const { b, root } = await objects()
    const loader = b.loader()
    b.store.delete(root.cid)
    const e = await caught(() => loader.load('root', root.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_BLOCK_NOT_FOUND')
    await b.store.put(root.cid, root.bytes)
    expect((await loader.load('root', root.cid)).cid.equals(root.cid)).toBe(true)
  })

  it('a tampered block propagates as BlockError ERR_HASH_MISMATCH', async () => {
    const { b, root } = await objects()
    b.store.tamper(root.cid, (x) => { x[10] = x[10]! ^ 1; return x })
    const e = await caught(() => b.loader().load('root', root.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_HASH_MISMATCH')
  })

  it('an aborted signal stops loading', async () => {
    const { b, root } = await objects()
    const ac = new AbortController()
    ac.abort()
    const e = await caught(() => b.loader({ signal: ac.signal }).load('root', root.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_ABORTED')
  })

  it('wrong arguments are usage errors', async () => {
    const { b, root } = await objects()
    expect(() => sourceLoader({} as never)).toThrow(UsageError)
    expect(() => b.loader({ maxBlocks: -1 })).toThrow(UsageError)
    expect((await caught(() => b.loader().load('nope' as never, root.cid))).code).toBe('ERR_ARGUMENT')
    expect((await caught(() => b.loader().load('root', 'bafy' as never))).code).toBe('ERR_ARGUMENT')
  })
})
