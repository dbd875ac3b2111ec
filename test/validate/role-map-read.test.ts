/**
 * Reading a snapshot's role map whole (Loader.roleMap, NOTES 11.2): level by
 * level with each level's nodes asked for at once, so a cold client at PEP 458
 * scale pays a few rounds of requests rather than one per node; every node is
 * still checked in place.
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { buildRolesMap } from '../../src/shard/index.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { roundCounting } from '../helpers/rounds.js'
import { cidOf } from '../../src/model/codec.js'

function mapOf (n: number): { store: MemoryBlockStore, root: CID, names: Map<string, CID>, nodes: number } {
  const store = new MemoryBlockStore()
  let nodes = 0
  const names = new Map<string, CID>()
  for (let i = 0; i < n; i++) names.set(`bins-${i.toString(16).padStart(5, '0')}`, cidOf(new TextEncoder().encode(`bin ${i}`)))
  const root = buildRolesMap([...names], (b) => { nodes++; store.unsafePut(b.cid, b.bytes) }).root
  return { store, root, names, nodes }
}

describe('role maps read whole', () => {
  it('SHARD-PLACEMENT: 16,384 names come back exactly, every node read once, in far fewer rounds than nodes', async () => {
    const { store, root, names, nodes } = mapOf(16_384)
    const src = roundCounting(store)
    const got = await sourceLoader(src).roleMap(root)
    expect(got.size).toBe(names.size)
    for (const [n, c] of names) expect(got.get(n)?.toString()).toBe(c.toString())
    expect(src.requests).toBe(nodes)
    expect(nodes).toBeGreaterThan(1000)
    expect(src.rounds).toBeLessThan(nodes / 10)
  })

  it('SHARD-PLACEMENT: a map of the most names allowed (100,000) comes back exactly, level by level', async () => {
    const { store, root, names, nodes } = mapOf(100_000)
    const src = roundCounting(store)
    const got = await sourceLoader(src).roleMap(root)
    expect(got.size).toBe(names.size)
    expect([...got.keys()]).toEqual([...names.keys()].sort())
    expect(src.requests).toBe(nodes)
    expect(src.rounds).toBeLessThan(nodes / 10)
  }, 120_000)
})
