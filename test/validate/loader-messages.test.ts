/**
 * What the loader's errors say (src/validate/loader.ts): its argument checks
 * carry messages naming the option, and each refusal names the block and
 * the bound or cap it is about. The codes are checked in loader.test.ts;
 * these are the named parts of the messages. Written against the message
 * survivors of the 2026-11-30 third mutation run (README, "Mutation testing").
 */
import { describe, expect, it } from 'vitest'
import { MAX_BLOCK_BYTES } from '../../src/model/config.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { DagBuilder } from '../helpers/dag.js'
import { caught } from '../helpers/model.js'

async function objects () {
  const b = new DagBuilder()
  const root = await b.root()
  const top = await b.targets('targets', { targets: ['a.txt'] })
  return { b, root, top }
}

describe('loader messages', () => {
  it('ERR_ARGUMENT: the source, the options, load and prefetch refuse bad arguments with a message naming what is wrong', async () => {
    const { b, root } = await objects()
    const l = b.loader()
    const usage = async (f: () => unknown): Promise<string> => {
      const e = await caught(f)
      expect(e).toMatchObject({ name: 'UsageError', code: 'ERR_ARGUMENT' })
      expect(e.message).not.toBe('')
      return e.message as string
    }
    await usage(() => sourceLoader(null as never))
    expect(await usage(() => b.loader({ maxBlocks: -1 }))).toContain('maxBlocks: ')
    expect(await usage(() => b.loader({ maxBytes: 1.5 }))).toContain('maxBytes: ')
    await usage(async () => await l.load('root', 'not a cid' as never))
    await usage(async () => await l.load('nope' as never, root.cid))
    await usage(async () => await l.prefetch!('nope' as never, root.cid))
    // A good kind is prefetched.
    expect((await l.prefetch!('root', root.cid))?.byteLength).toBe(root.bytes.byteLength)
  })

  it('BOUND-BLOCKS, BOUND-BYTES, ERR_ABORTED, ERR_TRANSPORT, ERR_BLOCK_TOO_LARGE: each names the block and the bound or cap', async () => {
    const { b, root, top } = await objects()
    const key = root.cid.toString()
    const blocks = b.loader({ maxBlocks: 1 })
    await blocks.load('targets', top.cid)
    expect((await caught(() => blocks.load('root', root.cid))).message).toContain('more than 1 metadata blocks')
    const bytes = b.loader({ maxBytes: 10 })
    expect((await caught(() => bytes.load('root', root.cid))).message).toContain('more than 10 bytes')
    const ac = new AbortController()
    ac.abort()
    expect((await caught(() => b.loader({ signal: ac.signal }).load('root', root.cid))).message).toContain(`loading ${key}`)
    expect((await caught(() => sourceLoader({ get: async () => 'bytes' as never }).load('root', root.cid))).message).toContain(`no bytes for ${key}`)
    const big = new Uint8Array(MAX_BLOCK_BYTES.timestamp + 1)
    const tooLarge = await caught(() => sourceLoader({ get: async () => big }).load('timestamp', root.cid))
    expect(tooLarge.code).toBe('ERR_BLOCK_TOO_LARGE')
    expect(tooLarge.message).toContain(`block ${key} is ${big.byteLength} bytes, over the timestamp cap of ${MAX_BLOCK_BYTES.timestamp}`)
  })
})
