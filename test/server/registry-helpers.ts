/** Helpers for the head registry's tests: an in-memory HeadStore and CAR bodies. */
import type { CID } from 'multiformats/cid'
import { encodeCar } from '../../src/blocks/car.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import type { HeadStore } from '../../src/server/registry-handlers.js'

export interface MemoryHeadStore extends HeadStore {
  readonly blocks: MemoryBlockStore
  /** Every stored CID (sorted) and the head, for before/after comparisons. */
  snapshot: () => string
  commits: number
}

/** A HeadStore in memory holding a copy of `from`'s blocks, at `head`. */
export async function memoryHeadStore (from: MemoryBlockStore, head: CID | null): Promise<MemoryHeadStore> {
  const blocks = new MemoryBlockStore()
  for (const cid of from.cids()) await blocks.put(cid, await from.get(cid))
  let current = head
  const store: MemoryHeadStore = {
    blocks,
    source: blocks,
    commits: 0,
    head: async () => current,
    snapshot: () => JSON.stringify({ head: current?.toString() ?? null, cids: blocks.cids().map(String).sort() }),
    commit: async ({ expected, timestamp, blocks: incoming }) => {
      if (current === null || !current.equals(expected)) return { kind: 'moved', current: current! }
      let stored = 0
      for (const b of incoming) {
        if (await blocks.has(b.cid)) continue
        await blocks.put(b.cid, b.bytes)
        stored++
      }
      current = timestamp
      store.commits++
      return { kind: 'accepted', stored }
    }
  }
  return store
}

/** A CAR whose one root is `root`, holding every block of `store` that `except` lacks (all when no `except`). */
export async function carOf (root: CID, store: MemoryBlockStore, except?: MemoryBlockStore): Promise<Uint8Array> {
  const blocks = []
  for (const cid of store.cids()) {
    if (except !== undefined && await except.has(cid)) continue
    blocks.push({ cid, bytes: await store.get(cid) })
  }
  return await encodeCar([root], blocks)
}

/** `bytes` as a request body arriving in chunks. */
export async function * chunks (bytes: Uint8Array, size = 16 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size)
}
