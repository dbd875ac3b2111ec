/**
 * `npm run bench:shard` — the sharded map (src/shard) on this machine: bulk
 * build, the bytes and blocks a lookup fetches (its path), one change in a
 * large map, a diff, and the node codec compared with dag-json on the same
 * trees. A benchmark, not a test: it asserts nothing, it measures.
 *
 * BENCH_SHARD_MAX (default 1000000) caps the largest map.
 */
import '../src/polyfill.js'
import * as dagJson from '@ipld/dag-json'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { MemoryBlockStore } from '../src/blocks/memory.js'
import { DecodeError } from '../src/model/errors.js'
import { CODEC_RAW, sha256 } from '../src/model/hash.js'
import { ShardReader, buildMap, updateMap, type ShardBlock, type ValueCodec } from '../src/shard/index.js'

interface Info { cid: CID, length: number }
const infoCodec: ValueCodec<Info> = {
  name: 'targets',
  checkKey () {},
  fromWire (w, where) {
    const o = w as { cid?: unknown, length?: unknown }
    const cid = CID.asCID(o?.cid)
    if (cid === null || typeof o.length !== 'number') throw new DecodeError('ERR_SCHEMA', where)
    return { cid, length: o.length }
  },
  toWire: (v) => ({ cid: v.cid, length: v.length })
}

function content (i: number): Info {
  const bytes = new TextEncoder().encode(`content ${i}`)
  return { cid: CID.createV1(CODEC_RAW, Digest.create(0x12, sha256(bytes))), length: 1000 + i }
}

function pct (xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0
}

async function main (): Promise<void> {
  const max = Number(process.env.BENCH_SHARD_MAX ?? 1_000_000)
  console.log(`dagtuf shard benchmark — node ${process.version}\n`)
  console.log('| entries | bulk build | blocks | total bytes | lookup bytes median / max | lookup blocks max | one change: blocks / bytes / ms | diff one change: blocks | dag-json total bytes |')
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const n of [1_000, 10_000, 100_000, 1_000_000].filter((x) => x <= max)) {
    const mem = new MemoryBlockStore()
    const blocks: ShardBlock[] = []
    const entries = Array.from({ length: n }, (_, i) => [`packages/p${i % 997}/pkg-${i}.tar.gz`, content(i)] as const)
    const t0 = performance.now()
    const res = buildMap(entries, infoCodec, (b) => { blocks.push(b) })
    const buildMs = performance.now() - t0
    for (const b of blocks) mem.unsafePut(b.cid, b.bytes)
    const bytes: number[] = []
    let maxBlocks = 0
    for (let i = 0; i < 200; i++) {
      const r = new ShardReader(mem, infoCodec)
      const key = entries[(i * 7919) % n]![0]
      if ((await r.get(res.root, key)) === undefined) throw new Error('lookup failed')
      bytes.push(r.budget.bytes)
      maxBlocks = Math.max(maxBlocks, r.budget.blocks)
    }
    const sink: ShardBlock[] = []
    const t1 = performance.now()
    const up = await updateMap(new ShardReader(mem, infoCodec), res.root, new Map([['packages/new/one.tar.gz', content(-1)]]), (b) => { sink.push(b) })
    const upMs = performance.now() - t1
    for (const b of sink) mem.unsafePut(b.cid, b.bytes)
    const d = new ShardReader(mem, infoCodec)
    let changes = 0
    for await (const _ of d.diff(up.root, res.root)) changes++
    if (changes !== 1) throw new Error('diff found ' + String(changes))
    // The same trees in dag-json (sizes only).
    let jsonBytes = 0
    for (const b of blocks) jsonBytes += dagJson.encode(dagCbor.decode(b.bytes)).byteLength
    console.log(`| ${n.toLocaleString('en')} | ${buildMs.toFixed(0)} ms | ${res.blocks.toLocaleString('en')} | ${(res.bytes / 1e6).toFixed(1)} MB | ${(pct(bytes, 0.5) / 1000).toFixed(1)} / ${(Math.max(...bytes) / 1000).toFixed(1)} KB | ${maxBlocks} | ${up.blocks} / ${up.bytes.toLocaleString('en')} / ${upMs.toFixed(1)} | ${d.budget.blocks} | ${(jsonBytes / 1e6).toFixed(1)} MB |`)
  }

  // Strict decode of nodes in both codecs (one 100k tree, or smaller).
  const n = Math.min(max, 100_000)
  const blocks: ShardBlock[] = []
  buildMap(Array.from({ length: n }, (_, i) => [`packages/pkg-${i}.tar.gz`, content(i)] as const), infoCodec, (b) => { blocks.push(b) })
  const json = blocks.map((b) => dagJson.encode(dagCbor.decode(b.bytes)))
  const time = (f: () => void): number => { const t = performance.now(); f(); return performance.now() - t }
  const cborMs = time(() => { for (const b of blocks) { const v = dagCbor.decode(b.bytes); dagCbor.encode(v) } })
  const jsonMs = time(() => { for (const b of json) { const v = dagJson.decode(b); dagJson.encode(v) } })
  const total = (xs: Uint8Array[]): number => xs.reduce((s, x) => s + x.byteLength, 0)
  console.log(`\nstrict decode + re-encode of ${blocks.length.toLocaleString('en')} nodes (${n.toLocaleString('en')} entries):`)
  console.log(`  dag-cbor ${(total(blocks.map((b) => b.bytes)) / 1e6).toFixed(2)} MB in ${cborMs.toFixed(0)} ms (${(cborMs * 1000 / blocks.length).toFixed(0)} µs a node)`)
  console.log(`  dag-json ${(total(json) / 1e6).toFixed(2)} MB in ${jsonMs.toFixed(0)} ms (${(jsonMs * 1000 / blocks.length).toFixed(0)} µs a node)`)
}

await main()
