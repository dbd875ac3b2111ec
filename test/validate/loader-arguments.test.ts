/**
 * The loader's argument checks against values that pass the checks' other
 * halves (src/validate/loader.ts): a kind that is an object whose string is
 * a kind's name passes `Object.hasOwn(MAX_BLOCK_BYTES, kind)` (it converts
 * its key to a string), and a function with a `get` method is not an
 * object. Both are ERR_ARGUMENT before anything is fetched. Written against
 * the survivors of the 2026-11-30 mutation runs (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { sourceLoader } from '../../src/validate/loader.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

describe('loader arguments', () => {
  it('ERR_ARGUMENT: load and prefetch refuse a kind that only converts to a kind\'s name, before fetching', async () => {
    const b = new DagBuilder()
    const root = await b.root()
    const asked: string[] = []
    const loader = sourceLoader({ get: async (cid: CID, o?: { maxBytes?: number }) => { asked.push(cid.toString()); return await b.store.get(cid, o) } })
    const sneaky = { toString: () => 'root' } as never
    expect(Object.hasOwn({ root: 1 }, sneaky)).toBe(true) // what the typeof half is for
    for (const e of [await caught(() => loader.load(sneaky, root.cid)), await caught(() => loader.prefetch!(sneaky, root.cid))]) {
      expect(e).toMatchObject({ name: 'UsageError', code: 'ERR_ARGUMENT' })
    }
    expect(asked).toEqual([])
    expect(loader.stats.blocks).toBe(0)
  })

  it('ERR_ARGUMENT: a source that is a function, even with a get method, is refused', () => {
    const fn = Object.assign(() => undefined, { get: async () => new Uint8Array() })
    expect(() => sourceLoader(fn as never)).toThrow(expect.objectContaining({ name: 'UsageError', code: 'ERR_ARGUMENT' }))
    expect(() => sourceLoader(undefined as never)).toThrow(expect.objectContaining({ name: 'UsageError', code: 'ERR_ARGUMENT' }))
  })
})
