/** SourceSet: several untrusted sources used as one (src/blocks/source-set.ts). In-memory sources. */
import type { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { SourceSet } from '../../src/blocks/source-set.js'
import type { BlockSource, GetOptions } from '../../src/blocks/types.js'
import { BlockError, UsageError } from '../../src/model/errors.js'
import { rawBlock } from './helpers.js'

const good = rawBlock('the block')
const other = rawBlock('another block')

/** A source that serves `blocks`, counting requests; `behave` may replace its answer. */
function source (blocks: Array<{ cid: CID, bytes: Uint8Array }>, behave?: (cid: CID, o: GetOptions) => Promise<Uint8Array> | undefined): BlockSource & { asked: number } {
  const s = {
    asked: 0,
    async get (cid: CID, o: GetOptions = {}): Promise<Uint8Array> {
      s.asked++
      const special = behave?.(cid, o)
      if (special !== undefined) return await special
      const b = blocks.find((x) => x.cid.equals(cid))
      if (b === undefined) throw new BlockError('ERR_BLOCK_NOT_FOUND', `no ${cid}`)
      return b.bytes
    }
  }
  return s
}

/** Never answers until aborted; then rejects as a real source does. */
function stalled (o: GetOptions): Promise<Uint8Array> {
  return new Promise((_resolve, reject) => {
    o.signal?.addEventListener('abort', () => { reject(new BlockError('ERR_ABORTED', 'aborted')) }, { once: true })
  })
}

/** Serves bytes that do not hash to the CID (the SourceSet checks them itself). */
const liar = (): Promise<Uint8Array> => Promise.resolve(other.bytes)

async function code (p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return (e as { code: string }).code
  }
  throw new Error('expected a failure')
}

describe('SourceSet', () => {
  it('asks the sources in order and stops at the first that serves the block', async () => {
    const a = source([])
    const b = source([good])
    const c = source([good])
    const set = new SourceSet([{ label: 'a', source: a }, { label: 'b', source: b }, { label: 'c', source: c }])
    expect(await set.get(good.cid)).toEqual(good.bytes)
    expect([a.asked, b.asked, c.asked]).toEqual([1, 1, 0])
    const stats = set.stats()
    expect(stats.map((s) => [s.label, s.blocks, s.failures])).toEqual([['a', 0, { ERR_BLOCK_NOT_FOUND: 1 }], ['b', 1, {}], ['c', 0, {}]])
  })

  it('checks the bytes itself: a source that serves wrong bytes is excluded for the rest of the set\'s life', async () => {
    const lying = source([good], liar)
    const honest = source([good, other])
    const set = new SourceSet([{ label: 'lying', source: lying }, { label: 'honest', source: honest }])
    expect(await set.get(good.cid)).toEqual(good.bytes)
    expect(await set.get(other.cid)).toEqual(other.bytes)
    expect(lying.asked).toBe(1) // not asked for the second block
    expect(set.stats()[0]).toMatchObject({ excluded: true, failures: { ERR_HASH_MISMATCH: 1 } })
  })

  it('a stalled source costs its time limit once: it is then asked after the others', async () => {
    const slow = source([good], (_cid, o) => stalled(o))
    const fast = source([good, other])
    const set = new SourceSet([{ label: 'slow', source: slow, timeoutMs: 50 }, { label: 'fast', source: fast }])
    expect(await set.get(good.cid)).toEqual(good.bytes)
    expect(set.stats()[0]!.failures).toEqual({ ERR_TIMEOUT: 1 })
    expect(await set.get(other.cid)).toEqual(other.bytes)
    expect(slow.asked).toBe(1)
  })

  it('hedges: with hedgeMs the next source is asked while the first still runs, and the first good answer wins', async () => {
    let abortedFirst = false
    const slow = source([good], (_cid, o) => {
      o.signal?.addEventListener('abort', () => { abortedFirst = true }, { once: true })
      return stalled(o)
    })
    const fast = source([good])
    const set = new SourceSet([{ label: 'slow', source: slow }, { label: 'fast', source: fast }], { hedgeMs: 20, timeoutMs: 60_000 })
    expect(await set.get(good.cid)).toEqual(good.bytes)
    expect(fast.asked).toBe(1)
    expect(abortedFirst).toBe(true) // the loser is aborted, not left running
    expect(set.stats()[0]!.failures).toEqual({}) // being outrun is not a failure
  })

  it('races with hedgeMs 0: every source is asked at once', async () => {
    const a = source([good], (_cid, o) => stalled(o))
    const b = source([good])
    const set = new SourceSet([{ label: 'a', source: a }, { label: 'b', source: b }], { hedgeMs: 0 })
    expect(await set.get(good.cid)).toEqual(good.bytes)
    expect([a.asked, b.asked]).toEqual([1, 1])
  })

  it('fails with the most telling error, listing every source, when none serves the block', async () => {
    const set = new SourceSet([{ label: 'a', source: source([]) }, { label: 'b', source: source([], liar) }, { label: 'c', source: source([]) }])
    const e = await set.get(good.cid).catch((x: unknown) => x) as BlockError
    expect(e).toBeInstanceOf(BlockError)
    expect(e.code).toBe('ERR_HASH_MISMATCH')
    expect(e.details?.sources).toEqual([{ source: 'a', code: 'ERR_BLOCK_NOT_FOUND' }, { source: 'b', code: 'ERR_HASH_MISMATCH' }, { source: 'c', code: 'ERR_BLOCK_NOT_FOUND' }])
    // Only "not found" everywhere: not found.
    const none = new SourceSet([{ label: 'a', source: source([]) }, { label: 'b', source: source([]) }])
    expect(await code(none.get(good.cid))).toBe('ERR_BLOCK_NOT_FOUND')
  })

  it('once every source has lied there is nobody left to ask', async () => {
    const set = new SourceSet([{ label: 'a', source: source([good], liar) }])
    expect(await code(set.get(good.cid))).toBe('ERR_HASH_MISMATCH')
    expect(await code(set.get(good.cid))).toBe('ERR_BLOCK_NOT_FOUND')
  })

  it('a CID no source can serve (unsupported hash) fails at once, without asking the rest', async () => {
    const first = source([], () => Promise.reject(new BlockError('ERR_UNSUPPORTED_HASH', 'sha1')))
    const second = source([good])
    const set = new SourceSet([{ label: 'a', source: first }, { label: 'b', source: second }])
    expect(await code(set.get(good.cid))).toBe('ERR_UNSUPPORTED_HASH')
    expect(second.asked).toBe(0)
  })

  it('the caller\'s signal ends the get with ERR_ABORTED and aborts the sources', async () => {
    let aborted = false
    const a = source([good], (_cid, o) => {
      o.signal?.addEventListener('abort', () => { aborted = true }, { once: true })
      return stalled(o)
    })
    const set = new SourceSet([{ label: 'a', source: a }, { label: 'b', source: source([good], (_c, o) => stalled(o)) }], { hedgeMs: 0 })
    const ctl = new AbortController()
    const p = set.get(good.cid, { signal: ctl.signal })
    setTimeout(() => { ctl.abort() }, 10)
    expect(await code(p)).toBe('ERR_ABORTED')
    expect(aborted).toBe(true)
    expect(await code(set.get(good.cid, { signal: AbortSignal.abort() }))).toBe('ERR_ABORTED')
  })

  it('passes the size cap on to each source and enforces it on what comes back', async () => {
    let seen: number | undefined
    const big = source([good], (_c, o) => { seen = o.maxBytes; return undefined })
    const set = new SourceSet([{ label: 'a', source: big }])
    expect(await code(set.get(good.cid, { maxBytes: 3 }))).toBe('ERR_BLOCK_TOO_LARGE')
    expect(seen).toBe(3)
  })

  it('refuses bad arguments with ERR_ARGUMENT', () => {
    expect(() => new SourceSet([])).toThrow(UsageError)
    expect(() => new SourceSet([{ label: 'x', source: {} as BlockSource }])).toThrow(UsageError)
    expect(() => new SourceSet([{ label: 'x', source: source([]) }], { hedgeMs: -1 })).toThrow(UsageError)
    expect(() => new SourceSet([{ label: 'x', source: source([]), timeoutMs: 0 }])).toThrow(UsageError)
    expect(() => new SourceSet(Array.from({ length: 33 }, (_, i) => ({ label: `s${i}`, source: source([]) })))).toThrow(UsageError)
  })

  it('offers IPNS records when a source can, trying each that can in order', async () => {
    const noIpns = new SourceSet([{ label: 'a', source: source([]) }])
    expect(noIpns.ipnsRecord).toBeUndefined()
    const failing: BlockSource = { get: async () => { throw new BlockError('ERR_BLOCK_NOT_FOUND', 'x') }, ipnsRecord: async () => { throw new BlockError('ERR_IPNS_NOT_FOUND', 'none') } }
    const having: BlockSource = { get: async () => { throw new BlockError('ERR_BLOCK_NOT_FOUND', 'x') }, ipnsRecord: async () => new Uint8Array([1, 2, 3]) }
    const set = new SourceSet([{ label: 'f', source: failing }, { label: 'h', source: having }])
    expect(await set.ipnsRecord!('k51')).toEqual(new Uint8Array([1, 2, 3]))
    const onlyFailing = new SourceSet([{ label: 'f', source: failing }])
    expect(await code(onlyFailing.ipnsRecord!('k51'))).toBe('ERR_IPNS_NOT_FOUND')
  })
})
