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

describe('sourceLoader: caches, budgets and what the source is asked', () => {
  it('forget drops a block and its decoded objects: the next load fetches (and counts) it again', async () => {
    const { b, root, top } = await objects()
    const src = spy(b.store)
    const loader = sourceLoader(src)
    const first = await loader.load('root', root.cid)
    await loader.load('targets', top.cid)
    loader.forget!(root.cid)
    const again = await loader.load('root', root.cid)
    expect(again).not.toBe(first)
    expect(again.cid.equals(root.cid)).toBe(true)
    // The other block stays cached.
    await loader.load('targets', top.cid)
    expect(src.calls.map((c) => c.cid)).toEqual([root.cid.toString(), top.cid.toString(), root.cid.toString()])
    expect(loader.stats).toEqual({ blocks: 3, bytes: 2 * root.bytes.byteLength + top.bytes.byteLength })
  })

  it('ENC-CID: a verdict on a block stays cached (no second fetch); a transient failure does not', async () => {
    const { b, root } = await objects()
    b.store.tamper(root.cid, (x) => { x[10] = x[10]! ^ 1; return x })
    const src = spy(b.store)
    const loader = sourceLoader(src)
    expect((await caught(() => loader.load('root', root.cid))).code).toBe('ERR_HASH_MISMATCH')
    expect((await caught(() => loader.load('root', root.cid))).code).toBe('ERR_HASH_MISMATCH')
    expect(src.calls.length).toBe(1)
    // A transient failure is retried on the next load.
    let fail = true
    const flaky = spy({ get: async (cid: CID, o?: { signal?: AbortSignal, maxBytes?: number }) => { if (fail) throw new BlockError('ERR_TIMEOUT', 'slow'); return await b.store.get(cid, o) } })
    const l2 = sourceLoader(flaky)
    const { top } = await objects()
    await b.store.put(top.cid, top.bytes)
    expect((await caught(() => l2.load('targets', top.cid))).code).toBe('ERR_TIMEOUT')
    fail = false
    expect((await l2.load('targets', top.cid)).cid.equals(top.cid)).toBe(true)
    expect(flaky.calls.length).toBe(2)
  })

  it('BOUND-BYTES: the source is asked for at most what is left of the byte budget, and never for a negative amount', async () => {
    const { b, root, top } = await objects()
    const budget = root.bytes.byteLength + top.bytes.byteLength + 5
    const src = spy(b.store)
    const loader = sourceLoader(src, { maxBytes: budget })
    await loader.load('root', root.cid)
    await loader.load('targets', top.cid)
    expect(src.calls.map((c) => c.maxBytes)).toEqual([budget, budget - root.bytes.byteLength])
    expect(MAX_BLOCK_BYTES.root).toBeGreaterThan(budget)

    // A source that ignores maxBytes overruns the budget once, caught after
    // the fact; the next fetch asks for 0 bytes, not a negative number.
    const greedy = spy({ get: async (cid: CID) => await b.store.get(cid) })
    const l2 = sourceLoader(greedy, { maxBytes: root.bytes.byteLength - 1 })
    expect((await caught(() => l2.load('root', root.cid))).code).toBe('BOUND-BYTES')
    expect((await caught(() => l2.load('targets', top.cid))).code).toBe('BOUND-BYTES')
    expect(greedy.calls.map((c) => c.maxBytes)).toEqual([root.bytes.byteLength - 1, 0])
  })

  it('BOUND-BYTES vs BOUND-BLOCK-SIZE: a source refusing a block over the cap asked is BOUND-BYTES only when the budget, not the kind\'s cap, set that cap', async () => {
    const { b, root } = await objects()
    const refusing = { get: async (cid: CID, o?: { maxBytes?: number }) => { throw new BlockError('ERR_BLOCK_TOO_LARGE', `over ${o?.maxBytes}`) } }
    // The kind's cap (the budget is larger): the source's refusal stands.
    const e1 = await caught(() => sourceLoader(refusing).load('root', root.cid))
    expect(e1).toBeInstanceOf(BlockError)
    expect(e1.code).toBe('ERR_BLOCK_TOO_LARGE')
    // The budget is the smaller cap: the bound is what refused.
    const e2 = await caught(() => sourceLoader(refusing, { maxBytes: 100 }).load('root', root.cid))
    expect(e2).toBeInstanceOf(ValidationError)
    expect(e2.code).toBe('BOUND-BYTES')
    expect(e2.details).toEqual({ cid: root.cid.toString(), max: 100 })
    // A budget exactly the kind's cap leaves the refusal to the cap.
    const e3 = await caught(() => sourceLoader(refusing, { maxBytes: MAX_BLOCK_BYTES.root }).load('root', root.cid))
    expect(e3.code).toBe('ERR_BLOCK_TOO_LARGE')
    // Other failures pass through unchanged whatever the budget.
    const down = { get: async () => { throw new BlockError('ERR_TRANSPORT', 'down') } }
    expect((await caught(() => sourceLoader(down, { maxBytes: 100 }).load('root', root.cid))).code).toBe('ERR_TRANSPORT')
  })

  it('BOUND-BLOCKS: a bound of 0 fetches nothing; a bound of one fetches one block', async () => {
    const { b, root, top } = await objects()
    const e = await caught(() => b.loader({ maxBlocks: 0 }).load('root', root.cid))
    expect(e.code).toBe('BOUND-BLOCKS')
    expect(e.details).toEqual({ cid: root.cid.toString(), max: 0 })
    const one = b.loader({ maxBlocks: 1 })
    await one.load('root', root.cid)
    expect((await caught(() => one.load('targets', top.cid))).code).toBe('BOUND-BLOCKS')
    expect(one.stats.blocks).toBe(1)
  })

  it('a source that returns something other than bytes is ERR_TRANSPORT, not a crash', async () => {
    const { root } = await objects()
    const e = await caught(() => sourceLoader({ get: async () => 'bytes' as never }).load('root', root.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_TRANSPORT')
  })

  it('the caller\'s signal is passed to the source, and none is passed without one', async () => {
    const { b, root, top } = await objects()
    const seen: Array<AbortSignal | undefined> = []
    const src = { get: async (cid: CID, o?: { signal?: AbortSignal, maxBytes?: number }) => { seen.push(o?.signal); return await b.store.get(cid, o) } }
    const ac = new AbortController()
    await sourceLoader(src, { signal: ac.signal }).load('root', root.cid)
    await sourceLoader(src).load('targets', top.cid)
    expect(seen).toEqual([ac.signal, undefined])
  })

  it('limit options must be non-negative safe integers', () => {
    const src = { get: async () => new Uint8Array() }
    const usage = expect.objectContaining({ name: 'UsageError', code: 'ERR_ARGUMENT' })
    for (const bad of [-1, 1.5, Number.NaN, Infinity, '3' as never]) {
      expect(() => sourceLoader(src, { maxBlocks: bad })).toThrow(usage)
      expect(() => sourceLoader(src, { maxBytes: bad })).toThrow(usage)
    }
    expect(() => sourceLoader(src, { maxBlocks: 0, maxBytes: 0 })).not.toThrow()
    expect(() => sourceLoader(null as never)).toThrow(usage)
    expect(() => sourceLoader({ get: 'no' } as never)).toThrow(usage)
  })

  it('roleMap reads a role map whole, names in code-unit order, and caches it by root', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const names = ['zeta', 'alpha', 'Beta', 'mid']
    const roles: Record<string, Awaited<ReturnType<typeof b.targets>>> = {}
    for (const n of names) roles[n] = await b.targets(n, { targets: [] })
    const top = await b.targets('targets', { delegations: names.map((n) => b.deleg(n, [`${n}/*`])) })
    const snap = await b.snapshot({ root, targets: top, delegated: roles })
    const src = spy(b.store)
    const loader = sourceLoader(src)
    const m = await loader.roleMap(snap.signed.meta.delegatedTargets)
    expect([...m.keys()]).toEqual(['Beta', 'alpha', 'mid', 'zeta'])
    for (const n of names) expect(m.get(n)?.equals(roles[n]!.cid)).toBe(true)
    const fetched = src.calls.length
    expect(await loader.roleMap(snap.signed.meta.delegatedTargets)).toBe(m)
    expect(src.calls.length).toBe(fetched)
    expect((await loader.roleEntry(snap.signed.meta.delegatedTargets, 'mid'))?.equals(roles.mid!.cid)).toBe(true)
    expect(await loader.roleEntry(snap.signed.meta.delegatedTargets, 'nope')).toBeUndefined()
  })
})

describe('sourceLoader: edges (survivors of the 2026-11-30 mutation run)', () => {
  it('an aborted signal stops loading before the source is asked, even a source that ignores signals', async () => {
    const { b, root } = await objects()
    const deaf = spy({ get: async (cid: CID) => await b.store.get(cid) })
    const ac = new AbortController()
    ac.abort(new Error('stop'))
    const e = await caught(() => sourceLoader(deaf, { signal: ac.signal }).load('root', root.cid))
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_ABORTED')
    expect(e.details).toEqual({ cid: root.cid.toString() })
    expect(e.cause).toBe(ac.signal.reason)
    expect(deaf.calls).toEqual([])
  })

  it('BOUND-BLOCK-SIZE and BOUND-BYTES are "more than": a block of exactly the kind\'s cap, and exactly the byte budget, pass those checks', async () => {
    const { b, root } = await objects()
    // Exactly the cap: not refused for its size (it then fails its hash check).
    const exact = new Uint8Array(MAX_BLOCK_BYTES.timestamp)
    const e = await caught(() => sourceLoader({ get: async () => exact }).load('timestamp', root.cid))
    expect(e.code).not.toBe('ERR_BLOCK_TOO_LARGE')
    const over = await caught(() => sourceLoader({ get: async () => new Uint8Array(MAX_BLOCK_BYTES.timestamp + 1) }).load('timestamp', root.cid))
    expect(over.details).toEqual({ cid: root.cid.toString(), size: MAX_BLOCK_BYTES.timestamp + 1, max: MAX_BLOCK_BYTES.timestamp })
    // Exactly the byte budget, from a source that ignores maxBytes: accepted.
    const greedy = { get: async (cid: CID) => await b.store.get(cid) }
    const loader = sourceLoader(greedy, { maxBytes: root.bytes.byteLength })
    expect((await loader.load('root', root.cid)).cid.equals(root.cid)).toBe(true)
    expect(loader.stats.bytes).toBe(root.bytes.byteLength)
  })

  it('an unknown kind is refused before anything is fetched', async () => {
    const { b, root } = await objects()
    const src = spy(b.store)
    const loader = sourceLoader(src)
    expect((await caught(() => loader.load('nope' as never, root.cid))).code).toBe('ERR_ARGUMENT')
    expect((await caught(() => loader.load(5 as never, root.cid))).code).toBe('ERR_ARGUMENT')
    expect(src.calls).toEqual([])
    expect(loader.stats.blocks).toBe(0)
  })

  it('ERR_TRANSPORT for an answer that is not bytes names the CID', async () => {
    const { root } = await objects()
    const e = await caught(() => sourceLoader({ get: async () => null as never }).load('root', root.cid))
    expect(e.details).toEqual({ cid: root.cid.toString() })
  })

  it('a role map that failed to load is not cached: it is read again once its node is there', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const child = await b.targets('child', { targets: [] })
    const top = await b.targets('targets', { delegations: [b.deleg('child', ['c/*'])] })
    const snap = await b.snapshot({ root, targets: top, delegated: { child } })
    const mapRoot = snap.signed.meta.delegatedTargets
    const bytes = await b.store.get(mapRoot)
    b.store.delete(mapRoot)
    const loader = b.loader()
    expect((await caught(() => loader.roleMap(mapRoot))).code).toBe('ERR_BLOCK_NOT_FOUND')
    b.store.unsafePut(mapRoot, bytes)
    expect([...(await loader.roleMap(mapRoot)).keys()]).toEqual(['child'])
  })
})
