import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openPeerSource } from '../../src/blocks/peer-source.js'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import type { PeerSource, RepoNode } from '../../src/blocks/types.js'
import { cidOf, expectSameBytes, jsonBlock, pseudoRandomBytes, rawBlock, rejectsWith, tempDir } from './helpers.js'

describe('bitswap between two nodes on 127.0.0.1', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })

  async function serverNode (): Promise<RepoNode> {
    const dir = await tempDir()
    cleanups.push(dir.remove)
    const node = await openRepoNode(dir.path, { listen: ['/ip4/127.0.0.1/tcp/0'] })
    cleanups.push(async () => { await node.close() })
    return node
  }

  async function client (addr: string, timeoutMs = 5_000): Promise<PeerSource> {
    const source = await openPeerSource(addr, { timeoutMs })
    cleanups.push(async () => { await source.close() })
    return source
  }

  it('fetches raw and dag-json blocks from a listening repo node', async () => {
    const node = await serverNode()
    const addrs = node.multiaddrs()
    expect(addrs.length).toBeGreaterThan(0)
    expect(addrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
    const a = rawBlock('hello bitswap')
    const b = jsonBlock({ hello: 'dag-json' })
    const big = pseudoRandomBytes(900 * 1024, 7)
    const c = { cid: cidOf(big), bytes: big }
    for (const blk of [a, b, c]) await node.put(blk.cid, blk.bytes)

    const source = await client(addrs[0] as string)
    expect(await source.get(a.cid)).toEqual(a.bytes)
    expect(await source.get(b.cid)).toEqual(b.bytes)
    expectSameBytes(await source.get(c.cid), c.bytes)
  })

  it('a block the peer lacks times out with ERR_TIMEOUT within the limit', async () => {
    const node = await serverNode()
    const source = await client(node.multiaddrs()[0] as string, 600)
    const started = Date.now()
    await rejectsWith(source.get(rawBlock('nobody has this').cid), 'ERR_TIMEOUT')
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(500)
    expect(elapsed).toBeLessThan(3_000)
  })

  it('dials an address without /p2p/ too, and redials after the connection drops', async () => {
    const node = await serverNode()
    const a = rawBlock('redial')
    const b = rawBlock('after the redial')
    for (const blk of [a, b]) await node.put(blk.cid, blk.bytes)
    const full = node.multiaddrs()[0] as string
    const source = await client(full.replace(/\/p2p\/.*$/, ''))
    expect(await source.get(a.cid)).toEqual(a.bytes)
    const remote = source.helia.libp2p.getConnections()[0]?.remotePeer
    expect(remote?.toString()).toBe(node.peerId())
    await source.helia.libp2p.hangUp(remote!)
    expect(source.helia.libp2p.getConnections()).toHaveLength(0)
    expect(await source.get(b.cid)).toEqual(b.bytes)
  })

  it('the same block asked for again soon is answered (from the bounded cache)', async () => {
    // A serving bitswap peer does not resend a block to the same peer within
    // a few seconds, so the client must keep recent blocks.
    const node = await serverNode()
    const a = rawBlock('asked twice')
    await node.put(a.cid, a.bytes)
    const source = await client(node.multiaddrs()[0] as string, 2_000)
    for (let i = 0; i < 3; i++) expect(await source.get(a.cid)).toEqual(a.bytes)
  })

  it('honours the caller signal with ERR_ABORTED', async () => {
    const node = await serverNode()
    const source = await client(node.multiaddrs()[0] as string, 10_000)
    const ac = new AbortController()
    setTimeout(() => { ac.abort() }, 100)
    await rejectsWith(source.get(rawBlock('missing').cid, { signal: ac.signal }), 'ERR_ABORTED')
  })

  it('enforces maxBytes on what bitswap brought', async () => {
    const node = await serverNode()
    const blk = rawBlock('x'.repeat(2000))
    await node.put(blk.cid, blk.bytes)
    const source = await client(node.multiaddrs()[0] as string)
    await rejectsWith(source.get(blk.cid, { maxBytes: 1000 }), 'ERR_BLOCK_TOO_LARGE')
  })

  it('bytes a peer sends that do not match the CID are never accepted', async () => {
    const dir = await tempDir()
    cleanups.push(dir.remove)
    const node = await openRepoNode(dir.path, { listen: ['/ip4/127.0.0.1/tcp/0'] })
    cleanups.push(async () => { await node.close() })
    const a = rawBlock('tampered on the serving side')
    await node.put(a.cid, a.bytes)
    // Corrupt the served copy on disk: the serving node does not re-check
    // what it sends, so the wrong bytes really travel.
    for (const sub of await readdir(join(dir.path, 'blocks'))) {
      for (const f of await readdir(join(dir.path, 'blocks', sub))) {
        const file = join(dir.path, 'blocks', sub, f)
        const bytes = await readFile(file)
        bytes[0] = (bytes[0] ?? 0) ^ 1
        await writeFile(file, bytes)
      }
    }
    const source = await client(node.multiaddrs()[0] as string, 800)
    // Bitswap drops a block whose hash is wrong and keeps waiting for a good one.
    await rejectsWith(source.get(a.cid), 'ERR_TIMEOUT')
  })

  it('fails to open with a typed error when nobody listens', async () => {
    await rejectsWith(openPeerSource('/ip4/127.0.0.1/tcp/1', { dialTimeoutMs: 2_000 }), 'ERR_TRANSPORT')
  })
})
