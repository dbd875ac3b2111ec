/**
 * The publisher side of `npm run bench:scale`, one step per fresh process
 * (bench/scale.ts starts it and reads its `RESULT key=value` lines; the
 * process's peak RSS is its own).
 *
 *   node dist/bench/scale-pub.js create DIR N SHARED
 *     A new repository (initRepo, one key per role) with N targets
 *     pkg/file-I.txt. Content: target I's 200 bytes as one raw block
 *     (what addContent makes of content of at most 1 MiB: the CID is the
 *     raw sha2-256 of the bytes), put straight into the repository's node
 *     without addFiles' per-file import and without an fsync; with SHARED=1
 *     every target names ONE shared content block (content(0)), so that
 *     1,000,000 targets do not mean 1,000,000 files on disk. Then ONE
 *     publishStaged with the N `add` operations (applyOps checks, map
 *     update, VALID of the new DAG, blocks written and flushed, head moved).
 *     Timed separately: content_ms (the puts), publish_ms (the publish).
 *   node dist/bench/scale-pub.js add-one DIR FILE PATH
 *     The publisher API's ordinary path for one new target: addFiles(FILE)
 *     then publishStaged. Timed in-process (open_ms, add_ms, publish_ms);
 *     new blocks counted twice: files that appeared under DIR/blocks (with
 *     their bytes), and the node's put calls of CIDs it did not have, by codec.
 *   node dist/bench/scale-pub.js bulk N
 *     buildTargetsMap (src/shard) of N (path, TargetInfo) entries, in memory
 *     (blocks go to a counting sink); the entries are made before the clock.
 *   node dist/bench/scale-pub.js addfiles DIR N
 *     addFiles of N real 200-byte files (already written to DIR/files by
 *     this command before the clock) to a new repository, staging only.
 */
import '../src/polyfill.js'
import { peakRssKb } from './peak-rss.js'
import { createHash } from 'node:crypto'
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { base32upper } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { addContent } from '../src/blocks/unixfs.js'
import { CODEC_RAW } from '../src/model/hash.js'
import type { TargetInfo } from '../src/model/types.js'
import { initRepo, openSession, publishStaged } from '../src/publish/engine.js'
import type { Op } from '../src/publish/files.js'
import { addFiles } from '../src/publish/stage.js'
import { buildTargetsMap } from '../src/shard/index.js'
import { content, writeTargetFiles } from './common.js'

function out (key: string, value: string | number): void {
  process.stdout.write(`RESULT ${key}=${value}\n`)
}

function rawCid (bytes: Uint8Array): CID {
  return CID.createV1(CODEC_RAW, Digest.create(0x12, createHash('sha256').update(bytes).digest()))
}

const now = (): number => performance.now()

/** Every block file under DIR/blocks, with its size. */
async function blockFiles (dir: string): Promise<Map<string, number>> {
  const root = join(dir, 'blocks')
  const outMap = new Map<string, number>()
  for (const f of await readdir(root, { recursive: true })) {
    if (!f.endsWith('.data')) continue
    outMap.set(f, (await stat(join(root, f))).size)
  }
  return outMap
}

async function create (dir: string, n: number, shared: boolean): Promise<void> {
  const init = await initRepo(dir, { rootKeys: 1, rootThreshold: 1 })
  out('root', init.head.root.toString())
  await init.repo.close()
  const session = await openSession(dir, { lock: true })
  try {
    const ops: Op[] = new Array(n)
    let t0 = now()
    // The shortcut must give the CID the publisher's own import gives.
    const first = new TextEncoder().encode(content(0))
    const ref = await addContent(session.node, first)
    if (!ref.cid.equals(rawCid(first))) throw new Error('content CIDs differ from addContent\'s')
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++
        if (shared) { ops[i] = { op: 'add', role: 'targets', path: `pkg/file-${i}.txt`, cid: ref.cid, length: ref.length }; continue }
        const bytes = new TextEncoder().encode(content(i))
        const cid = rawCid(bytes)
        await session.node.put(cid, bytes)
        ops[i] = { op: 'add', role: 'targets', path: `pkg/file-${i}.txt`, cid, length: bytes.byteLength }
      }
    }
    await Promise.all(Array.from({ length: 16 }, worker))
    out('content_ms', (now() - t0).toFixed(1))
    t0 = now()
    const r = await publishStaged(session, ops)
    out('publish_ms', (now() - t0).toFixed(1))
    if (r.kind !== 'published') throw new Error('publish did not complete')
    out('timestamp', r.head.timestamp.toString())
  } finally {
    await session.repo.close()
  }
}

async function addOne (dir: string, file: string, path: string): Promise<void> {
  const before = await blockFiles(dir)
  let t0 = now()
  const session = await openSession(dir, { lock: true })
  out('open_ms', (now() - t0).toFixed(1))
  // Note the node's puts (nothing else inside the timed region: no has(),
  // whose file stat per put was counted in publish_ms until 2026-11-30);
  // which of them were new is decided after the clock, from the block files
  // that were on disk before (FsBlockstore's NextToLast names).
  const node = session.node
  const put = node.put.bind(node)
  const puts: Array<{ cid: CID, bytes: number }> = []
  node.put = async (cid, bytes, o) => {
    puts.push({ cid, bytes: bytes.byteLength })
    await put(cid, bytes, o)
  }
  try {
    t0 = now()
    await addFiles(session, [file], { path })
    out('add_ms', (now() - t0).toFixed(1))
    t0 = now()
    const r = await publishStaged(session)
    out('publish_ms', (now() - t0).toFixed(1))
    if (r.kind !== 'published') throw new Error('publish did not complete')
    out('timestamp', r.head.timestamp.toString())
  } finally {
    await session.repo.close()
  }
  const after = await blockFiles(dir)
  let blocks = 0
  let bytes = 0
  for (const [f, size] of after) if (!before.has(f)) { blocks++; bytes += size }
  out('new_block_files', blocks)
  out('new_block_bytes', bytes)
  const fresh = new Map<string, number>()
  const byCodec = new Map<number, number>()
  for (const { cid, bytes } of puts) {
    const name = base32upper.encoder.encode(cid.multihash.bytes)
    const key = cid.toString()
    if (fresh.has(key) || before.has(join(name.slice(-2), `${name}.data`))) continue
    fresh.set(key, bytes)
    byCodec.set(cid.code, (byCodec.get(cid.code) ?? 0) + 1)
  }
  out('put_new_blocks', fresh.size)
  out('put_new_bytes', [...fresh.values()].reduce((a, b) => a + b, 0))
  const names: Record<number, string> = { 0x55: 'raw', 0x70: 'dag-pb', 0x71: 'dag-cbor', 0x0129: 'dag-json' }
  out('put_by_codec', [...byCodec].map(([c, k]) => `${names[c] ?? c}:${k}`).join(','))
}

function bulk (n: number): void {
  const entries: Array<readonly [string, TargetInfo]> = new Array(n)
  for (let i = 0; i < n; i++) {
    const bytes = Buffer.from(content(i))
    entries[i] = [`pkg/file-${i}.txt`, { length: bytes.byteLength, cid: rawCid(bytes) }]
  }
  let blocks = 0
  let bytes = 0
  const t0 = now()
  const r = buildTargetsMap(entries, (b) => { blocks++; bytes += b.bytes.byteLength })
  out('bulk_ms', (now() - t0).toFixed(1))
  out('blocks', blocks)
  out('bytes', bytes)
  out('root', r.root.toString())
}

async function addfiles (dir: string, n: number): Promise<void> {
  const paths = await writeTargetFiles(join(dir, 'files'), n)
  const repoDir = join(dir, 'repo')
  await (await initRepo(repoDir, { rootKeys: 1, rootThreshold: 1 })).repo.close()
  const session = await openSession(repoDir, { lock: true })
  try {
    const t0 = now()
    await addFiles(session, paths, { path: 'pkg' })
    out('addfiles_ms', (now() - t0).toFixed(1))
  } finally {
    await session.repo.close()
  }
}

const [mode, ...args] = process.argv.slice(2)
if (mode === 'create' && args.length === 3) await create(args[0]!, Number(args[1]), args[2] === '1')
else if (mode === 'add-one' && args.length === 3) await addOne(args[0]!, args[1]!, args[2]!)
else if (mode === 'bulk' && args.length === 1) bulk(Number(args[0]))
else if (mode === 'addfiles' && args.length === 2) await addfiles(args[0]!, Number(args[1]))
else {
  process.stderr.write('usage: scale-pub.js create DIR N SHARED | add-one DIR FILE PATH | bulk N | addfiles DIR N\n')
  process.exit(2)
}
out('maxrss_kb', peakRssKb())
