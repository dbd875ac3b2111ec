/**
 * IPNS heads end to end (issue 5): a repository published with --ipns,
 * served on 127.0.0.1 (in process, then `dagtuf serve` itself), and clients
 * that take their head from the name's signed record fetched from the
 * gateway. Records for another key, tampered, expired, pointing at
 * something that is not a dagtuf timestamp, or older than one already
 * accepted are refused with their codes, and the client's state is left
 * exactly as it was.
 */
import { spawn } from 'node:child_process'
import { execFile } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createIPNSRecord, IPNSEntry } from '@helia/ipns'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewaySource, fetchIpnsRecord } from '../../src/blocks/gateway-source.js'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import type { BlockSource } from '../../src/blocks/types.js'
import { readIpnsFloors, verifyIpnsRecord } from '../../src/client/ipns.js'
import { ClientStore } from '../../src/client/store.js'
import { Updater } from '../../src/client/updater.js'
import { parseIpnsName, type IpnsName } from '../../src/model/ipns.js'
import { publishHeadIpns, readRepoIpns } from '../../src/publish/ipns.js'
import { startServer, type RunningServer } from '../../src/server/http-server.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'
import { rejects, refusedUnchanged, tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { httpRequest, testServer } from '../server/http-helpers.js'

const DAY = 86_400_000
const IPNS_CODES = ['ERR_IPNS_RECORD', 'ERR_IPNS_SIGNATURE', 'ERR_IPNS_EXPIRED', 'ERR_IPNS_VALUE']

let work: TempDir
let repo: MadeRepo
/** The repository's name, `/ipns/k51...`, and parsed. */
let name: string
let parsed: IpnsName
/** Its records: sequence 1 for timestamps[1], sequence 2 for timestamps[2]. */
let rec1: Uint8Array
let rec2: Uint8Array
/** Hand-made records (see beforeAll). */
const forged: Record<string, Uint8Array> = {}
let otherName: string

function encode (entry: Parameters<typeof IPNSEntry.encode>[0]): Uint8Array {
  return IPNSEntry.encode(entry)
}

beforeAll(async () => {
  work = await tempDir('dagtuf-ipns-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'hello.txt': 'hello over IPNS\n' })
  const publishIpns = async (ts: string): Promise<Uint8Array> => {
    const node = await openRepoNode(repo.dir)
    try {
      const r = await publishHeadIpns(node, CID.parse(ts), DAY)
      name = r.name
    } finally {
      await node.close()
    }
    return (await readRepoIpns(repo.dir))!.record
  }
  rec1 = await publishIpns(repo.timestamps[1]!)
  await publishMore(repo, work.path, { 'b.txt': 'second\n' })
  rec2 = await publishIpns(repo.timestamps[2]!)
  parsed = parseIpnsName(name)

  // Records made with the repository's own IPNS key (and one with another key).
  const node = await openRepoNode(repo.dir)
  try {
    const key = await node.helia.keychain.exportKey('dagtuf-head')
    const other = await node.helia.keychain.generateKey('test-other-key')
    otherName = `/ipns/${parseIpnsName(other.publicKey.toCID().toString()).name}`
    const t2 = `/ipfs/${repo.timestamps[2]!}`
    const rawCid = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('hello over IPNS\n')))
    forged.otherKey = encode(await createIPNSRecord(other, t2, 3n, DAY))
    forged.expired = encode(await createIPNSRecord(key, t2, 3n, 60_000, { now: Date.now() - 120_000 }))
    forged.rawValue = encode(await createIPNSRecord(key, `/ipfs/${rawCid.toString()}`, 3n, DAY))
    forged.ipnsValue = encode(await createIPNSRecord(key, `/ipns/${parsed.name}`, 3n, DAY))
    forged.v2Only = encode(await createIPNSRecord(key, t2, 4n, DAY, { v1Compatible: false }))
    const entry = IPNSEntry.decode(rec2)
    const sig = entry.signatureV2!.slice()
    sig[10]! ^= 0x01
    forged.badSignature = encode({ ...entry, signatureV2: sig })
  } finally {
    await node.close()
  }
}, 60_000)
afterAll(async () => { await work?.remove() })

let n = 0
function clientDir (): string {
  return join(work.path, `client-${++n}`)
}

describe('serving and using an IPNS head in process', () => {
  let real: RepositoryServer
  /** A server in front of `real` whose IPNS record the test chooses. */
  let crafted: RunningServer
  let served: Uint8Array

  beforeAll(async () => {
    real = await serveRepository(repo.dir, { host: '127.0.0.1', port: 0 })
    served = rec2
    crafted = await startServer({
      source: new GatewaySource(real.url, { retries: 0 }),
      head: async () => CID.parse(repo.timestamps[2]!),
      ipns: async () => ({ name, record: served })
    })
  }, 60_000)
  afterAll(async () => {
    await crafted?.close()
    await real?.close()
  })

  it('publish --ipns makes one record per head, and dagtuf serve hands out the latest for its own name only', async () => {
    expect(name).toMatch(/^\/ipns\/k51/)
    expect(await real.ipnsName()).toBe(name)
    const ok = await httpRequest(`${real.url}${name}?format=ipns-record`)
    expect(ok.status).toBe(200)
    expect(ok.headers['content-type']).toBe('application/vnd.ipfs.ipns-record')
    expect(Buffer.compare(ok.body, Buffer.from(rec2))).toBe(0)
    const byAccept = await httpRequest(`${real.url}${name}`, { headers: { accept: 'application/vnd.ipfs.ipns-record' } })
    expect(Buffer.compare(byAccept.body, Buffer.from(rec2))).toBe(0)
    expect((await httpRequest(`${real.url}${name}?format=ipns-record`, { method: 'HEAD' })).status).toBe(200)
    const code = (r: { body: Buffer }): string => (JSON.parse(r.body.toString()) as { error: { code: string } }).error.code
    const other = await httpRequest(`${real.url}${otherName}?format=ipns-record`)
    expect([other.status, code(other)]).toEqual([404, 'ERR_NAME_NOT_FOUND'])
    const none = await httpRequest(`${real.url}${name}`)
    expect([none.status, code(none)]).toEqual([406, 'ERR_NOT_ACCEPTABLE'])
    const raw = await httpRequest(`${real.url}${name}?format=raw`)
    expect([raw.status, code(raw)]).toEqual([400, 'ERR_BAD_FORMAT'])
    const junk = await httpRequest(`${real.url}/ipns/not-a-name?format=ipns-record`)
    expect([junk.status, code(junk)]).toEqual([400, 'ERR_BAD_NAME'])
    expect(Buffer.compare(Buffer.from(await fetchIpnsRecord(real.url, name)), Buffer.from(rec2))).toBe(0)
    await rejects(fetchIpnsRecord(real.url, otherName, { retries: 0 }), 'ERR_IPNS_NOT_FOUND')
  })

  it('a client updates through the name: the record is verified and its sequence kept', async () => {
    const dir = clientDir()
    const up = await Updater.create({ dir, source: new GatewaySource(real.url, { retries: 0 }), ipns: { name } })
    await up.init(repo.root)
    const r = await up.refresh()
    expect(r).toMatchObject({ timestamp: repo.timestamps[2], continuity: 'first', ipns: { name, sequence: '2', value: `/ipfs/${repo.timestamps[2]!}` } })
    expect((await readIpnsFloors(await ClientStore.open(dir))).get(parsed.name)).toEqual({ sequence: 2n, timestamp: repo.timestamps[2] })
    expect((await up.refresh()).continuity).toBe('same') // the same record again is fine
  })

  it('the client asks the source for the ipnsRecord capability, not for a class', async () => {
    const gw = new GatewaySource(real.url, { retries: 0 })
    const wrapped: BlockSource = { get: async (cid, o) => await gw.get(cid, o), ipnsRecord: async (n, o) => await gw.ipnsRecord(n, o) }
    const dir = clientDir()
    const up = await Updater.create({ dir, source: wrapped, ipns: { name } })
    await up.init(repo.root)
    expect(await up.refresh()).toMatchObject({ timestamp: repo.timestamps[2], ipns: { name, sequence: '2' } })
    const blocksOnly: BlockSource = { get: async (cid, o) => await gw.get(cid, o) }
    await rejects(Updater.create({ dir: clientDir(), source: blocksOnly, ipns: { name } }), 'ERR_ARGUMENT')
  })

  it('records for another key, tampered, expired, or naming something else are refused; the state is unchanged', async () => {
    const dir = clientDir()
    const up = await Updater.create({ dir, source: new GatewaySource(crafted.url, { retries: 0 }), ipns: { name } })
    await up.init(repo.root)
    served = rec2
    await up.refresh()
    const floors = await readFile(join(dir, 'ipns.json'), 'utf8')
    const cases: Array<[string, Uint8Array, string]> = [
      ['another key', forged.otherKey!, 'ERR_IPNS_SIGNATURE'],
      ['a flipped signature byte', forged.badSignature!, 'ERR_IPNS_SIGNATURE'],
      ['expired', forged.expired!, 'ERR_IPNS_EXPIRED'],
      ['a raw CID', forged.rawValue!, 'ERR_IPNS_VALUE'],
      ['an /ipns/ path', forged.ipnsValue!, 'ERR_IPNS_VALUE'],
      ['not a record', new TextEncoder().encode('<html>hello</html>'), 'ERR_IPNS_RECORD']
    ]
    for (const [what, bytes, code] of cases) {
      served = bytes
      const e = await refusedUnchanged(dir, async () => await up.refresh(), code)
      expect(e.details.name, what).toBe(parsed.name)
      expect(await readFile(join(dir, 'ipns.json'), 'utf8')).toBe(floors)
    }
    // Valid by the clock, but not at the update's reference time.
    const later = await Updater.create({ dir, source: new GatewaySource(crafted.url, { retries: 0 }), ipns: { name }, unsafeReferenceTime: new Date(Date.now() + 2 * DAY) })
    served = rec2
    await refusedUnchanged(dir, async () => await later.refresh(), 'ERR_IPNS_EXPIRED')
  })

  it('an older record replayed is ERR_IPNS_REPLAY; without the sequence floor TUF refuses it anyway (CLIENT-TS-DESCENDS)', async () => {
    const dir = clientDir()
    const up = await Updater.create({ dir, source: new GatewaySource(crafted.url, { retries: 0 }), ipns: { name } })
    await up.init(repo.root)
    served = rec2
    await up.refresh()
    served = rec1 // genuine, signed, not expired: only older
    const e = await refusedUnchanged(dir, async () => await up.refresh(), 'ERR_IPNS_REPLAY')
    expect(e.details).toMatchObject({ sequence: '1', accepted: '2', cid: repo.timestamps[1] })
    await rm(join(dir, 'ipns.json'))
    await refusedUnchanged(dir, async () => await up.refresh(), 'CLIENT-TS-DESCENDS')
  })

  it('every one-bit flip anywhere in a record is refused; V2-only records are accepted; oversized answers are cut off', async () => {
    const now = new Date()
    expect((await verifyIpnsRecord(parsed, rec2, now)).timestamp.toString()).toBe(repo.timestamps[2])
    expect((await verifyIpnsRecord(parsed, forged.v2Only!, now)).sequence).toBe(4n)
    for (let i = 0; i < rec2.byteLength; i++) {
      const bad = rec2.slice()
      bad[i]! ^= 0x01
      let code: string | undefined
      try {
        await verifyIpnsRecord(parsed, bad, now)
      } catch (e) {
        code = (e as { code?: string }).code
      }
      expect(IPNS_CODES, `byte ${i}`).toContain(code)
    }
    await rejects(verifyIpnsRecord(parsed, new Uint8Array(10 * 1024 + 1), now), 'ERR_IPNS_RECORD')
    const big = await testServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/vnd.ipfs.ipns-record' }); res.end(Buffer.alloc(20_000)) })
    try {
      await rejects(fetchIpnsRecord(big.url, name, { retries: 0 }), 'ERR_IPNS_RECORD')
    } finally {
      await big.close()
    }
    expect(() => parseIpnsName('bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am')).toThrow(expect.objectContaining({ code: 'ERR_IPNS_NAME' }))
  })
})

/** Run the built CLI; never throws on a non-zero exit. */
async function cli (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : 99), stdout, stderr })
    })
  })
}

describe('the CLI: publish --ipns, head, serve --json, client update --ipns', () => {
  it('one JSON object from serve; a client follows the name through the gateway', async () => {
    await ensureBuilt()
    const f = join(work.path, 'c.txt')
    await writeFile(f, 'third\n')
    expect((await cli('add', '--dir', repo.dir, f)).code).toBe(0)
    const pub = await cli('publish', '--dir', repo.dir, '--ipns', '--json')
    expect(pub.code).toBe(0)
    const published = JSON.parse(pub.stdout) as { timestamp: string, ipns: { name: string, sequence: string } }
    expect(published.ipns).toMatchObject({ name, sequence: '3' })
    const head = JSON.parse((await cli('head', '--dir', repo.dir, '--json')).stdout) as { ipns: { name: string, current: boolean } }
    expect(head.ipns).toMatchObject({ name, current: true })

    const serve = spawn(process.execPath, [BIN, 'serve', '--dir', repo.dir, '--port', '0', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    serve.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const exited = new Promise<number | null>((resolve) => serve.on('exit', (code) => { resolve(code) }))
    try {
      const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`serve did not start: ${stderr}`)) }, 30_000)
        serve.stdout.on('data', (d: Buffer) => {
          stdout += d.toString()
          if (stdout.includes('\n')) { clearTimeout(timer); resolve(JSON.parse(stdout.split('\n')[0]!) as Record<string, unknown>) }
        })
        serve.on('exit', () => { clearTimeout(timer); reject(new Error(`serve exited: ${stderr}`)) })
      })
      expect(ready).toMatchObject({ head: published.timestamp, ipns: name })
      const url = ready.url as string
      expect(ready.port).toBe(Number(new URL(url).port))

      const dir = clientDir()
      expect((await cli('client', 'init', '--dir', dir, '--root', repo.root, '--gateway', url)).code).toBe(0)
      const up = await cli('client', 'update', '--dir', dir, '--ipns', name, '--gateway', url, '--json')
      expect(up.code).toBe(0)
      expect(JSON.parse(up.stdout)).toMatchObject({ timestamp: published.timestamp, ipns: { name, sequence: '3' } })
      const usage = await cli('client', 'update', '--dir', dir, '--ipns', name, '--repo', repo.dir, '--json')
      expect([usage.code, (JSON.parse(usage.stdout) as { error: { code: string } }).error.code]).toEqual([2, 'ERR_USAGE'])
    } finally {
      serve.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    // Exactly one JSON object on stdout for the whole run.
    expect(stdout.trim().split('\n')).toHaveLength(1)
  }, 60_000)
})
