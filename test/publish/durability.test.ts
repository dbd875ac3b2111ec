/**
 * The publisher makes blocks durable before anything names them: `add`
 * flushes the content blocks it wrote before staged.jsonl changes, and
 * `publish` flushes the new metadata blocks before head.json moves. A flush
 * that fails leaves the head where it was.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import type { RepoNode } from '../../src/blocks/repo-node.js'
import { BlockError } from '../../src/model/errors.js'
import { initRepo, openSession, publishStaged, type Session } from '../../src/publish/engine.js'
import { addFiles } from '../../src/publish/stage.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'

let work: TempDir
let dir: string
beforeEach(async () => {
  work = await tempDir('dagtuf-durable-')
  dir = join(work.path, 'repo')
  const init = await initRepo(dir, { rootKeys: 1, rootThreshold: 1 })
  await init.repo.close()
})
afterEach(async () => { await work.remove() })

/** A session whose node and repo record, in order, what is flushed and written. */
async function recorded (failFlush = false): Promise<{ session: Session, events: string[], flushed: CID[] }> {
  const base = await openSession(dir, { lock: true })
  const events: string[] = []
  const flushed: CID[] = []
  const node = base.node
  const overrides: Partial<RepoNode> = {
    put: async (cid, bytes, o) => { events.push(`put ${cid}`); await node.put(cid, bytes, o) },
    flush: async (cids, o) => {
      const list = [...cids]
      events.push('flush')
      if (failFlush) throw new BlockError('ERR_TRANSPORT', 'disk full')
      flushed.push(...list)
      await node.flush(list, o)
    }
  }
  // The node keeps private fields: everything else is called on the node itself.
  const wrapped = new Proxy(node, {
    get: (target, name) => {
      if (Object.hasOwn(overrides, name)) return overrides[name as keyof RepoNode]
      const v: unknown = Reflect.get(target, name, target)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
  const repo = base.repo
  const moveHead = repo.moveHead.bind(repo)
  const writeStaged = repo.writeStaged.bind(repo)
  repo.moveHead = async (...a) => { events.push('head'); await moveHead(...a) }
  repo.writeStaged = async (...a) => { events.push('staged'); await writeStaged(...a) }
  return { session: { ...base, node: wrapped }, events, flushed }
}

it('add flushes every content block it wrote before staged.jsonl names them; publish flushes the new blocks before moving the head', async () => {
  const f = join(work.path, 'big.bin')
  // Over 1 MiB: several UnixFS blocks.
  await writeFile(f, new Uint8Array(2_500_000).map((_, i) => (i * 7) & 0xff))
  const { session, events, flushed } = await recorded()
  try {
    const [added] = await addFiles(session, [f])
    const puts = events.filter((e) => e.startsWith('put ')).map((e) => e.slice(4))
    expect(puts.length).toBeGreaterThan(1)
    expect(events.slice(-2)).toEqual(['flush', 'staged'])
    expect([...new Set(flushed.map(String))].sort()).toEqual([...new Set(puts)].sort())
    expect(puts).toContain(added!.cid)

    events.length = 0
    flushed.length = 0
    const r = await publishStaged(session)
    expect(r.kind).toBe('published')
    if (r.kind !== 'published') return
    const puts2 = events.filter((e) => e.startsWith('put ')).map((e) => e.slice(4))
    const flushAt = events.indexOf('flush')
    expect(flushAt).toBeGreaterThan(events.lastIndexOf(`put ${puts2.at(-1)}`))
    expect(events.indexOf('head')).toBeGreaterThan(flushAt)
    expect(flushed.map(String).sort()).toEqual([...puts2].sort())
    expect(flushed.map(String)).toContain(r.head.timestamp.toString())
    expect(flushed.map(String)).toContain(r.head.snapshot.toString())
  } finally {
    await session.repo.close()
  }
})

it('a flush that fails leaves head.json as it was', async () => {
  const f = join(work.path, 'a.txt')
  await writeFile(f, 'a\n')
  const first = await recorded()
  try {
    await addFiles(first.session, [f])
  } finally {
    await first.session.repo.close()
  }
  const before = await readFile(join(dir, 'head.json'))
  const { session, events } = await recorded(true)
  try {
    await expect(publishStaged(session)).rejects.toMatchObject({ name: 'BlockError', code: 'ERR_TRANSPORT' })
    expect(events).toContain('flush')
    expect(events).not.toContain('head')
  } finally {
    await session.repo.close()
  }
  expect(await readFile(join(dir, 'head.json'))).toEqual(before)
})
