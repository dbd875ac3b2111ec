/**
 * The bounds of reading a role map whole (Loader.roleMap, src/validate/loader.ts):
 * ERR_LIMIT past LIMITS.maxDelegatedRoles entries, and past 65,536 nodes in
 * one level (a level that wide belongs to no map within the entry bound).
 *
 * The entry bound is 100,000 names: role-map-read.test.ts reads a map of
 * exactly that many. To check the refusal one name past it without building
 * 100,001 names, this file runs with LIMITS.maxDelegatedRoles mocked to 40
 * (vi.mock of src/model/config.ts for this file only; every other limit is
 * the real one). The level bound is checked for real: link-only nodes may
 * be shared by every slot of every level (they hold no key to place), so a
 * hostile map of nine distinct nodes has 65,536 nodes at depth 4 and 65,537
 * at depth 5. Written against the no-coverage mutants of the 2026-11-30
 * mutation runs (README, "Mutation testing").
 */
import { describe, expect, it, vi } from 'vitest'
import type { CID } from 'multiformats/cid'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { cidOf } from '../../src/model/codec.js'
import { LIMITS } from '../../src/model/config.js'
import { DecodeError } from '../../src/model/errors.js'
import { buildRolesMap, encodeNode, roleLinkCodec, SLOTS, type ShardBlock } from '../../src/shard/index.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { caught } from '../helpers/model.js'

vi.mock('../../src/model/config.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/model/config.js')>()
  return { ...real, LIMITS: Object.freeze({ ...real.LIMITS, maxDelegatedRoles: 40 }) }
})

function mapOf (n: number): { store: MemoryBlockStore, root: CID } {
  const store = new MemoryBlockStore()
  const names: Array<[string, CID]> = []
  for (let i = 0; i < n; i++) names.push([`role-${i}`, cidOf(new TextEncoder().encode(`role ${i}`))])
  const root = buildRolesMap(names, (b) => { store.unsafePut(b.cid, b.bytes) }).root
  return { store, root }
}

/** A node linking `targets[i]` from slot i (the rest of its slots empty). */
function linkNode (store: MemoryBlockStore, targets: CID[]): ShardBlock {
  const b = encodeNode({ elements: targets.map((link, slot) => ({ slot, link })) }, roleLinkCodec)
  store.unsafePut(b.cid, b.bytes)
  return b
}

/**
 * A map of link-only nodes: every node at depths 0-3 has 16 links, so depth 4
 * holds 16^4 = 65,536 nodes; each of those has one link, but the last one
 * read has `lastLinks`, so depth 5 holds 65,535 + lastLinks nodes. Depth 5's
 * nodes are absent from the store.
 */
function wideMap (lastLinks: number): { store: MemoryBlockStore, root: CID } {
  const store = new MemoryBlockStore()
  const absent = Array.from({ length: lastLinks }, (_, i) => linkNode(new MemoryBlockStore(), [cidOf(new TextEncoder().encode(`absent ${i}`))]).cid)
  // Along the last slot of each level: the node whose children include the odd one.
  let plain = linkNode(store, [absent[0]!]).cid // depth 4, one link
  let odd = linkNode(store, absent).cid // depth 4, lastLinks links
  for (let depth = 3; depth >= 0; depth--) {
    const oddParent = linkNode(store, [...Array<CID>(SLOTS - 1).fill(plain), odd]).cid
    plain = linkNode(store, Array<CID>(SLOTS).fill(plain)).cid
    odd = oddParent
  }
  return { store, root: odd }
}

describe('role maps read whole: bounds', () => {
  it('the entry bound is the mocked one here', () => {
    expect(LIMITS.maxDelegatedRoles).toBe(40)
  })

  it('ERR_LIMIT: a map of exactly LIMITS.maxDelegatedRoles names is read; one name more is DecodeError ERR_LIMIT naming the map', async () => {
    const ok = mapOf(40)
    expect((await sourceLoader(ok.store).roleMap(ok.root)).size).toBe(40)
    const over = mapOf(41)
    const e = await caught(() => sourceLoader(over.store).roleMap(over.root))
    expect(e).toBeInstanceOf(DecodeError)
    expect(e.code).toBe('ERR_LIMIT')
    expect(e.details).toEqual({ cid: over.root.toString() })
    expect(e.message).toContain('more than 40 entries')
  })

  it('ERR_LIMIT: 65,536 nodes at one level pass the width check (the next level\'s absent nodes then fail); 65,537 are DecodeError ERR_LIMIT before any of them is fetched', async () => {
    const exact = wideMap(1)
    const e1 = await caught(() => sourceLoader(exact.store).roleMap(exact.root))
    expect(e1.code).toBe('ERR_BLOCK_NOT_FOUND')

    const wide = wideMap(2)
    const loader = sourceLoader(wide.store)
    const e2 = await caught(() => loader.roleMap(wide.root))
    expect(e2).toBeInstanceOf(DecodeError)
    expect(e2.code).toBe('ERR_LIMIT')
    expect(e2.details).toEqual({ cid: wide.root.toString() })
    expect(e2.message).toContain('more than 65536 nodes at depth 5')
    // Only the nine distinct nodes of depths 0-4 were fetched.
    expect(loader.stats.blocks).toBe(9)
  }, 60_000)
})
