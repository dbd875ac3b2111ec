/**
 * The CARs dagtuf writes are what Kubo's `ipfs dag import` takes (issue 12
 * item 5; there is no Kubo binary here, so its requirements are checked one
 * by one, with @ipld/car's reader and our own):
 * - CARv1 (header version 1), one root (Kubo pins one root per CAR);
 * - every section's bytes hash to its CID (Kubo refuses the file otherwise);
 * - codecs Kubo decodes (dag-json, dag-cbor, dag-pb, raw) and blocks of at
 *   most 1 MiB (Kubo refuses larger ones without --allow-big-block);
 * - for `ipfs dag import` to pin the root (its default, --pin-roots=true),
 *   every block reachable from the root must be in the CAR: true of the
 *   gateway's dag-scope=all CAR of the head (the README's way to pin a whole
 *   repository); `dagtuf export` writes what a client needs, which leaves out
 *   older versions, so the README imports it with --pin-roots=false.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CarReader } from '@ipld/car/reader'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { createUnsafe } from 'multiformats/block'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readCar } from '../../src/blocks/car.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { pseudoRandomBytes } from '../blocks/helpers.js'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { httpRequest } from '../server/http-helpers.js'

const run = promisify(execFile)
const KUBO_MAX_BLOCK = 1024 * 1024
const CODECS = new Map<number, typeof dagJson | typeof dagCbor | typeof dagPb | typeof raw>([[dagJson.code, dagJson], [dagCbor.code, dagCbor], [dagPb.code, dagPb], [raw.code, raw]])

let work: TempDir
let repo: MadeRepo
let server: RepositoryServer
/** The blocks of the gateway's dag-scope=all CAR of the head (first test). */
let full: Map<string, { cid: CID, bytes: Uint8Array }> = new Map()

beforeAll(async () => {
  await ensureBuilt()
  work = await tempDir('dagtuf-kubo-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'big.bin': pseudoRandomBytes(2 * 1024 * 1024 + 99, 5), 'a.txt': 'a\n' })
  await publishMore(repo, work.path, { 'b.txt': 'b\n' })
  server = await serveRepository(repo.dir, { host: '127.0.0.1', port: 0 })
}, 120_000)
afterAll(async () => {
  await server?.close()
  await work?.remove()
})

/** What `ipfs dag import` checks of a CAR, with @ipld/car's reader; returns the blocks by CID. */
async function asKuboWould (bytes: Uint8Array): Promise<{ root: CID, blocks: Map<string, { cid: CID, bytes: Uint8Array }> }> {
  const reader = await CarReader.fromBytes(bytes)
  expect(reader.version).toBe(1)
  const roots = await reader.getRoots()
  expect(roots).toHaveLength(1)
  const blocks = new Map<string, { cid: CID, bytes: Uint8Array }>()
  for await (const b of reader.blocks()) {
    expect(CODECS.has(b.cid.code), `codec 0x${b.cid.code.toString(16)}`).toBe(true)
    expect(b.bytes.byteLength).toBeLessThanOrEqual(KUBO_MAX_BLOCK)
    const digest = await sha256.digest(b.bytes)
    expect(Buffer.compare(Buffer.from(digest.bytes), Buffer.from(b.cid.multihash.bytes)), `hash of ${b.cid}`).toBe(0)
    blocks.set(b.cid.toV1().toString(), b)
  }
  // Our reader agrees (it hash-checks every section too).
  expect((await readCar(bytes)).size).toBe(blocks.size)
  return { root: roots[0]!, blocks }
}

/** The CIDs reachable from `root` that are not in `blocks` (a walk over every codec Kubo decodes). */
function missingBelow (root: CID, blocks: Map<string, { cid: CID, bytes: Uint8Array }>): string[] {
  const missing = new Set<string>()
  const seen = new Set<string>()
  const stack = [root]
  while (stack.length > 0) {
    const cid = stack.pop()!
    const key = cid.toV1().toString()
    if (seen.has(key)) continue
    seen.add(key)
    const b = blocks.get(key)
    if (b === undefined) { missing.add(key); continue }
    for (const [, link] of createUnsafe({ cid: b.cid, bytes: b.bytes, codec: CODECS.get(b.cid.code)! }).links()) stack.push(link)
  }
  return [...missing]
}

describe('CARs for ipfs dag import', () => {
  it('the gateway\'s dag-scope=all CAR of the head is a complete CARv1 DAG: ipfs dag import pins its root (history and content included)', async () => {
    const head = (await server.head())!
    const res = await httpRequest(`${server.url}/ipfs/${head}?format=car&dag-scope=all`)
    expect(res.status).toBe(200)
    const { root, blocks } = await asKuboWould(new Uint8Array(res.body))
    expect(root.toString()).toBe(head.toString())
    expect(missingBelow(root, blocks)).toEqual([])
    full = blocks
    // The 2 MiB target: two 1 MiB leaves under a dag-pb node.
    expect([...blocks.values()].filter((b) => b.cid.code === dagPb.code).length).toBeGreaterThanOrEqual(1)
    expect([...blocks.values()].filter((b) => b.bytes.byteLength === KUBO_MAX_BLOCK).length).toBe(2)
  })

  it('dagtuf export --content writes a CARv1 Kubo imports (every block checked); its root\'s DAG is not complete (older versions are left out), hence --pin-roots=false', async () => {
    const car = join(work.path, 'export.car')
    await run(process.execPath, [BIN, 'export', '--dir', repo.dir, '--car', car, '--content'], { cwd: ROOT, timeout: 60_000 })
    const { root, blocks } = await asKuboWould(new Uint8Array(await readFile(car)))
    expect(root.toString()).toBe(repo.timestamps.at(-1))
    const missing = missingBelow(root, blocks)
    // What is missing is the history behind previous-version links (older
    // snapshots and what they alone name), all of it in the gateway's full CAR.
    expect(missing.length).toBeGreaterThan(0)
    for (const m of missing) expect(full.has(m), m).toBe(true)
    for (const k of blocks.keys()) expect(full.has(k), k).toBe(true)
  })
})
