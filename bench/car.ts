/**
 * `npm run bench:car [-- --quick]`: throughput of the trustless gateway's
 * CAR responses on loopback (issue 12): `dag-scope=all` of a UnixFS file of
 * 64 MiB (64 leaves of 1 MiB under one dag-pb node) and of a DAG of 2,000
 * small blocks (1 KiB raw leaves under dag-json nodes of 100 links each),
 * served from a repository node on disk (as `dagtuf serve` does), read by
 * this process with node's fetch and dropped. For comparison, the same bytes
 * fetched block by block (`format=raw`, one request at a time and 8 at a
 * time), and the same blocks by bitswap from the node listening on loopback
 * (a separate client node, as `client --peer`). Not a test: it prints
 * figures and writes bench/results/car-DATE.md.
 */
import '../src/polyfill.js'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { openRepoNode } from '../src/blocks/repo-node.js'
import { addContent } from '../src/blocks/unixfs.js'
import { CODEC_DAG_JSON, CODEC_RAW, HASH_SHA2_256, sha256 } from '../src/model/hash.js'
import { create as createDigest } from 'multiformats/hashes/digest'
import { startServer } from '../src/server/http-server.js'
import { openPeerSource } from '../src/blocks/peer-source.js'
import { resultsFile } from './common.js'

const QUICK = process.argv.includes('--quick')
const ROUNDS = QUICK ? 2 : 5
const startedAt = new Date()
const lines: string[] = []
const report = (l: string): void => { lines.push(l); console.log(l) }

async function drain (url: string, accept: string): Promise<number> {
  const res = await fetch(url, { headers: { accept } })
  if (res.status !== 200 || res.body === null) throw new Error(`${url}: ${res.status}`)
  let n = 0
  const reader = res.body.getReader()
  for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.byteLength
  return n
}

/** The best of ROUNDS runs of `once` (after one to warm up), as a table row. */
async function measure (label: string, what: string, blocks: number, once: () => Promise<number>): Promise<void> {
  await once()
  let best = Infinity
  let bytes = 0
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now()
    bytes = await once()
    best = Math.min(best, (performance.now() - t0) / 1000)
  }
  report(`| ${label} | ${what} | ${blocks} | ${bytes} | ${best.toFixed(3)} | ${(bytes / best / 1e6).toFixed(0)} |`)
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dagtuf-bench-car-'))
  // Listening on loopback too: the same node serves bitswap (as `dagtuf serve --libp2p`).
  const node = await openRepoNode(dir, { listen: ['/ip4/127.0.0.1/tcp/0'] })
  try {
    const big = await addContent(node, randomBytes(64 * 1024 * 1024))
    const leaves: CID[] = []
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(1024)
      const cid = CID.createV1(CODEC_RAW, createDigest(HASH_SHA2_256, sha256(bytes)))
      await node.put(cid, bytes)
      leaves.push(cid)
    }
    const parents: CID[] = []
    for (let i = 0; i < leaves.length; i += 100) {
      const bytes = dagJson.encode({ links: leaves.slice(i, i + 100) })
      const cid = CID.createV1(CODEC_DAG_JSON, createDigest(HASH_SHA2_256, sha256(bytes)))
      await node.put(cid, bytes)
      parents.push(cid)
    }
    const topBytes = dagJson.encode({ parts: parents })
    const top = CID.createV1(CODEC_DAG_JSON, createDigest(HASH_SHA2_256, sha256(topBytes)))
    await node.put(top, topBytes)
    const bigBlocks = [big.cid, ...((await import('@ipld/dag-pb')).decode(await node.get(big.cid)).Links.map((l) => l.Hash))]
    const smallBlocks = [top, ...parents, ...leaves]

    // Bitswap serving: a client node of its own (openPeerSource, as `client --peer`)
    // dials the repository's node over TCP on loopback and asks for each block.
    const addr = node.multiaddrs()[0]!
    report(`# CAR responses of the trustless gateway, and bitswap, on loopback (${startedAt.toISOString()}${QUICK ? ', --quick' : ''})`)
    report('')
    report(`Bitswap on loopback (TCP, noise, yamux): a separate client node (openPeerSource, no cache; a new one per round, its dial included) asking the repository's node; best of ${ROUNDS} rounds.`)
    report('')
    report('| DAG | request | blocks | bytes | best s | MB/s |')
    report('|---|---|---|---|---|---|')
    {
      // A fresh client node per round (its dial included): a bitswap session
      // does not get a block it already received asked again (the serving
      // node's ledger), so a node without a cache cannot ask twice.
      const byPeer = (cids: CID[], parallel: number) => async (): Promise<number> => {
        const peer = await openPeerSource(addr, { cacheBytes: 0, timeoutMs: 60_000 })
        try {
          let n = 0
          let next = 0
          await Promise.all(Array.from({ length: parallel }, async () => {
            while (next < cids.length) {
              const got = await peer.get(cids[next++]!)
              n += got.byteLength
            }
          }))
          return n
        } finally {
          await peer.close()
        }
      }
      for (const [label, blocks] of [['64 MiB file', bigBlocks], ['2,000 x 1 KiB blocks', smallBlocks]] as const) {
        await measure(label, 'bitswap, 1 at a time', blocks.length, byPeer([...blocks], 1))
        await measure(label, 'bitswap, 8 at a time', blocks.length, byPeer([...blocks], 8))
      }
    }
    const server = await startServer({ source: node, head: async () => null })
    try {
      report('')
      report(`In-process server over a repository node on disk, node's fetch as the client, best of ${ROUNDS} rounds; MB = 10^6 bytes.`)
      report('')
      report('| DAG | request | blocks | bytes | best s | MB/s |')
      report('|---|---|---|---|---|---|')
      const byBlocks = (cids: CID[], parallel: number) => async (): Promise<number> => {
        let n = 0
        let next = 0
        await Promise.all(Array.from({ length: parallel }, async () => {
          while (next < cids.length) {
            const c = cids[next++]!
            const got = await drain(`${server.url}/ipfs/${c}?format=raw`, 'application/vnd.ipld.raw')
            n += got
          }
        }))
        return n
      }
      for (const [label, root, blocks] of [['64 MiB file', big.cid, bigBlocks], ['2,000 x 1 KiB blocks', top, smallBlocks]] as const) {
        await measure(label, 'CAR dag-scope=all', blocks.length, async () => await drain(`${server.url}/ipfs/${root}?format=car&dag-scope=all`, 'application/vnd.ipld.car'))
        await measure(label, 'raw, block by block, 1 at a time', blocks.length, byBlocks(blocks, 1))
        await measure(label, 'raw, block by block, 8 at a time', blocks.length, byBlocks(blocks, 8))
      }
    } finally {
      await server.close()
    }
  } finally {
    await node.close()
    await rm(dir, { recursive: true, force: true })
  }
  const file = resultsFile('car', startedAt)
  await writeFile(file, lines.join('\n') + '\n')
  console.log(`\nwritten to ${file}`)
}

await main()
