/** Helpers for the head registry's tests: HeadStores (in memory, in Redis) and CAR bodies. */
import type { CID } from 'multiformats/cid'
import { headRecordOf } from '../../src/publish/accept.js'
import { RedisHeadStore } from '../../src/server/redis-store.js'
import { encodeCar } from '../../src/blocks/car.js'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import type { HeadStore } from '../../src/server/registry-handlers.js'

/** A HeadStore as the registry tests see it, whatever its backend. */
export interface TestHeadStore extends HeadStore {
  /** Whether the store holds `cid`. */
  readonly blocks: { has: (cid: CID) => Promise<boolean> }
  /** Every stored CID (sorted) and the head, for before/after comparisons. */
  snapshot: () => Promise<string>
  /** Commits accepted. */
  commits: number
  close: () => Promise<void>
}

export interface MemoryHeadStore extends TestHeadStore {
  readonly blocks: MemoryBlockStore
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
    snapshot: async () => JSON.stringify({ head: current?.toString() ?? null, cids: blocks.cids().map(String).sort() }),
    close: async () => {},
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

let prefixes = 0

/**
 * A HeadStore in Redis (src/server/redis-store.ts) under a fresh prefix,
 * seeded with `head` and every block of `from` (as an empty Redis is seeded
 * by `serve --redis`).
 */
export async function redisHeadStore (url: string, from: MemoryBlockStore, head: CID): Promise<TestHeadStore> {
  const { store: redis } = await RedisHeadStore.open({ url, prefix: `t${process.pid}-${++prefixes}` })
  const record = await headRecordOf(from, { timestamp: head, blocks: [] })
  if (await redis.seed(record, from) !== 'seeded') throw new Error('a fresh prefix was not empty')
  const store: TestHeadStore = {
    source: redis.source,
    blocks: { has: async (cid) => await redis.source.has(cid) },
    commits: 0,
    head: async () => await redis.head(),
    snapshot: async () => JSON.stringify({ head: (await redis.head())?.toString() ?? null, cids: (await redis.blockCids()).sort() }),
    commit: async (input) => {
      const r = await redis.commit(input)
      if (r.kind === 'accepted') store.commits++
      return r
    },
    close: async () => { await redis.close() }
  }
  return store
}

/** A CAR whose one root is `root`, holding every block of `store` that `except` lacks (all when no `except`). */
export async function carOf (root: CID, store: MemoryBlockStore, except?: { has: (cid: CID) => Promise<boolean> }): Promise<Uint8Array> {
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
