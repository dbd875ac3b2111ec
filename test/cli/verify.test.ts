/**
 * `dagtuf verify` end to end: the built CLI in a child process, on CAR files
 * written from a generated history.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import * as dagCbor from '@ipld/dag-cbor'
import { encodeCar } from '../../src/blocks/car.js'
import { hashKey, shardCid, slotAt } from '../../src/shard/index.js'
import { RepoSim, generateHistory } from '../helpers/history.js'

const ROOT = resolve(import.meta.dirname, '../..')
const BIN = join(ROOT, 'bin', 'dagtuf.js')

interface Run { code: number, stdout: string, stderr: string }

async function dagtuf (...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [BIN, ...args], { cwd: ROOT })
    return { code: 0, stdout, stderr }
  } catch (e) {
    const x = e as { code?: number, stdout?: string, stderr?: string }
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' }
  }
}

async function json (...args: string[]): Promise<{ code: number, out: any }> {
  const r = await dagtuf(...args, '--json')
  return { code: r.code, out: JSON.parse(r.stdout) }
}

async function carOf (sim: RepoSim, root: CID, file: string): Promise<string> {
  const blocks = await Promise.all(sim.store.cids().map(async (cid) => ({ cid, bytes: await sim.store.get(cid) })))
  const path = join(work, file)
  await writeFile(path, await encodeCar([root], blocks))
  return path
}

let work: string
let sim: RepoSim
let car: string

beforeAll(async () => {
  // The CLI is built once by test/global-setup.ts.
  await stat(join(ROOT, 'dist', 'src', 'cli', 'commands', 'verify.js'))
  work = await mkdtemp(join(tmpdir(), 'dagtuf-verify-'))
  sim = (await generateHistory(20261122, 24)).sim
  car = await carOf(sim, sim.head.timestamp.cid, 'history.car')
}, 180_000)

afterAll(async () => { await rm(work, { recursive: true, force: true }) })

describe('dagtuf verify', () => {
  it('a VALID head that descends from the first timestamp: exit 0, with the snapshot witness chain', async () => {
    const first = sim.versions[0]!
    const head = sim.head
    const { code, out } = await json('verify', '--car', car, '--timestamp', head.timestamp.cid.toString(), '--trusted', first.timestamp.cid.toString())
    expect(code).toBe(0)
    expect(out.valid).toBe(true)
    expect(out.violations).toEqual([])
    expect(out.descends).toBe(true)
    expect(out.witness[0]).toBe(head.snapshot.cid.toString())
    expect(out.witness[out.witness.length - 1]).toBe(first.snapshot.cid.toString())
    const snapshots = new Set(sim.versions.map((v) => v.snapshot.cid.toString()))
    expect(out.witness.length).toBe(snapshots.size)
  })

  it('without --trusted, descends is null and the witness empty', async () => {
    const { code, out } = await json('verify', '--car', car, '--timestamp', sim.head.timestamp.cid.toString())
    expect(code).toBe(0)
    expect(out).toEqual({ valid: true, violations: [], descends: null, witness: [] })
    const human = await dagtuf('verify', '--car', car, '--timestamp', sim.head.timestamp.cid.toString())
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^valid\s+yes$/m)
  })

  it('an older timestamp checked against a newer trusted one: exit 1, SUCC-TS-SNAPSHOT', async () => {
    const { code, out } = await json('verify', '--car', car, '--timestamp', sim.versions[0]!.timestamp.cid.toString(), '--trusted', sim.head.timestamp.cid.toString())
    expect(code).toBe(1)
    expect(out.valid).toBe(true)
    expect(out.descends).toBe(false)
    expect(out.witness).toEqual([])
    expect(out.violations.map((v: { rule: string }) => v.rule)).toContain('SUCC-TS-SNAPSHOT')
  })

  it('a timestamp signed by the wrong key: exit 1 with VALID-TS-SIG and the CID at fault', async () => {
    const forged = await sim.forgeTimestamp(sim.head.snapshot.cid, sim.allSignersOf('snapshot'))
    const bad = await carOf(sim, forged.cid, 'forged.car')
    const { code, out } = await json('verify', '--car', bad, '--timestamp', forged.cid.toString())
    expect(code).toBe(1)
    expect(out.valid).toBe(false)
    expect(out.violations).toEqual([expect.objectContaining({ rule: 'VALID-TS-SIG', cid: forged.cid.toString() })])
  })

  it('--now reports the newest objects that have expired, as CLIENT-EXPIRES', async () => {
    const ts = sim.head.timestamp.cid.toString()
    expect((await json('verify', '--car', car, '--timestamp', ts, '--now', sim.now.toISOString())).code).toBe(0)
    const { code, out } = await json('verify', '--car', car, '--timestamp', ts, '--now', '2100-01-01T00:00:00Z')
    expect(code).toBe(1)
    expect(out.valid).toBe(true)
    const h = sim.head
    expect(out.violations.map((v: { rule: string, cid: string }) => `${v.rule} ${v.cid}`).sort())
      .toEqual([h.timestamp, h.snapshot, h.root, h.targets].map((e) => `CLIENT-EXPIRES ${e.cid.toString()}`).sort())
  })

  it('SHARD-PLACEMENT: a signed top-level targets map with a node out of place, which VALID alone never reads, fails verify', async () => {
    // A one-node map whose only entry sits in a slot its hash does not name.
    const key = 'app.tgz'
    const info = await sim.storeContent(new TextEncoder().encode('app'))
    const wrongSlot = (slotAt(hashKey(key), 0) + 1) % 16
    const bitmap = new Uint8Array(2)
    bitmap[wrongSlot >> 3] = 0x80 >> (wrongSlot & 7)
    const node = dagCbor.encode([bitmap, [[[key, { cid: info.cid, length: info.length }]]]])
    const root = shardCid(node)
    sim.store.unsafePut(root, node)
    const targets = await sim.forgeTargets('targets', (t) => ({ ...t, targets: root }))
    const snap = await sim.forgeSnapshot({ targets: targets.cid })
    const ts = await sim.forgeTimestamp(snap.cid)
    const bad = await carOf(sim, ts.cid, 'bad-map.car')
    const { code, out } = await json('verify', '--car', bad, '--timestamp', ts.cid.toString())
    expect(code).toBe(1)
    expect(out.valid).toBe(false)
    expect(out.violations).toEqual([expect.objectContaining({ rule: 'SHARD-PLACEMENT', cid: targets.cid.toString() })])
  })

  it('usage errors exit 2; an unreadable CAR exits 1', async () => {
    const ts = sim.head.timestamp.cid.toString()
    expect((await dagtuf('verify', '--car', car)).code).toBe(2)
    expect((await dagtuf('verify', '--timestamp', ts)).code).toBe(2)
    expect((await dagtuf('verify', '--car', car, '--timestamp', 'not-a-cid')).code).toBe(2)
    expect((await dagtuf('verify', '--car', car, '--timestamp', ts, '--now', 'yesterday-ish')).code).toBe(2)
    const junk = join(work, 'junk.car')
    await writeFile(junk, 'this is not a CAR file')
    const r = await json('verify', '--car', junk, '--timestamp', ts)
    expect(r.code).toBe(1)
    expect(r.out.error.code).toBe('ERR_CAR')
  })
})
