/**
 * Transports for real, with a repository made by the publisher's API:
 * - two Helia nodes on 127.0.0.1 (TCP + noise + yamux + bitswap);
 * - `dagtuf serve` (the built CLI, in a child process) over HTTP on
 *   loopback, driven by the Updater and by the `dagtuf client` commands,
 *   and a gateway in front of it that flips a byte;
 * - CAR files: an exported one for offline installs, one with a foreign
 *   block, and one rooted in another repository's timestamp.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { encodeCar, readCar } from '../../src/blocks/car.js'
import { GatewaySource, fetchHead } from '../../src/blocks/gateway-source.js'
import { openPeerSource } from '../../src/blocks/peer-source.js'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { Updater } from '../../src/client/updater.js'
import { exportCar } from '../../src/publish/export.js'
import { Repo } from '../../src/publish/repo.js'
import { sourceLoader } from '../../src/validate/loader.js'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'
import { rejects, refusedUnchanged, tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, publishMore, type MadeRepo } from '../helpers/repo.js'
import { flippingGateway } from '../../src/server/flipping-gateway.js'

/** 1.5 MiB: a UnixFS file of two raw leaves under a dag-pb root. */
const BIG = new Uint8Array(1536 * 1024).map((_, i) => (i * 31 + 7) & 0xff)
const FILES = { 'hello.txt': 'hello, verified world\n', 'dir/big.bin': BIG }

let work: TempDir
let repo: MadeRepo

beforeAll(async () => {
  work = await tempDir('dagtuf-transport-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, FILES)
}, 60_000)
afterAll(async () => { await work?.remove() })

let n = 0
function clientDir (): string {
  return join(work.path, `client-${++n}`)
}

describe('bitswap between two Helia nodes on 127.0.0.1', () => {
  it('a listening repository node serves the Updater by bitswap: update, then a two-block UnixFS download', async () => {
    const node = await openRepoNode(repo.dir, { listen: ['/ip4/127.0.0.1/tcp/0'] })
    const peer = await openPeerSource(node.multiaddrs()[0]!, { timeoutMs: 10_000 })
    try {
      const up = await Updater.create({ dir: clientDir(), source: peer })
      await up.init(repo.root)
      const r = await up.refresh(repo.timestamps[1]!)
      expect(r.continuity).toBe('first')
      const info = (await up.getTargetInfo('dir/big.bin'))!
      expect(info.cid.code).toBe(0x70) // dag-pb root over raw leaves
      const out = join(work.path, 'big-by-bitswap.bin')
      await up.downloadTarget(info, out)
      expect(Buffer.compare(await readFile(out), BIG)).toBe(0)
      // A block the peer does not have: bounded by the source's time limit, state unchanged.
      const short = await openPeerSource(node.multiaddrs()[0]!, { timeoutMs: 500 })
      try {
        const missing = CID.parse('baguqeeraaaaqapedcktlpwmoszcnqz6jlyrgtmvvgbycvbrqn4kkybzxqeeq')
        const up2 = await Updater.create({ dir: up.dir, source: short })
        await refusedUnchanged(up.dir, async () => await up2.refresh(missing), 'ERR_TIMEOUT')
      } finally {
        await short.close()
      }
    } finally {
      await peer.close()
      await node.close()
    }
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

describe('dagtuf serve over HTTP on loopback', () => {
  let serve: ChildProcess
  let url: string
  let exited: Promise<{ code: number | null, signal: string | null }>
  let serveErr = ''

  beforeAll(async () => {
    await ensureBuilt()
    serve = spawn(process.execPath, [BIN, 'serve', '--dir', repo.dir, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    exited = new Promise((resolve) => serve.on('exit', (code, signal) => { resolve({ code, signal }) }))
    serve.stderr!.on('data', (d: Buffer) => { serveErr += d.toString() })
    url = await new Promise<string>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => { reject(new Error(`serve did not start: ${serveErr}`)) }, 60_000)
      serve.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        const line = out.split('\n')[0]!
        if (out.includes('\n')) { clearTimeout(timer); resolve(line.trim()) }
      })
      serve.on('exit', () => { clearTimeout(timer); reject(new Error(`serve exited: ${serveErr}`)) })
    })
  }, 180_000)
  afterAll(async () => {
    if (serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL')
  })

  it('serves GET /head and the blocks; the Updater updates from the head and downloads verified content', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect((await fetchHead(url))?.toString()).toBe(repo.timestamps[1])
    const gw = new GatewaySource(url, { timeoutMs: 5_000, retries: 0 })
    const up = await Updater.create({ dir: clientDir(), source: gw, head: async () => (await fetchHead(url))! })
    await up.init(repo.root)
    const r = await up.refresh()
    expect(r.timestamp).toBe(repo.timestamps[1])
    const out = join(work.path, 'hello-by-http.txt')
    await up.downloadTarget((await up.getTargetInfo('hello.txt'))!, out)
    expect(await readFile(out, 'utf8')).toBe(FILES['hello.txt'])
    expect((await up.listTargets()).map((t) => t.path)).toEqual(['dir/big.bin', 'hello.txt'])
  })

  it('a gateway that flips a byte is refused: metadata with ENC-CID, content with CLIENT-TARGET-CONTENT', async () => {
    const dir = clientDir()
    const everything = await flippingGateway(url, () => true)
    // Raw (bafk...) and dag-pb (bafybei...) content; dag-cbor shard nodes (bafyrei...) are metadata.
    const contentOnly = await flippingGateway(url, (p) => p.startsWith('/ipfs/bafk') || p.startsWith('/ipfs/bafybei'))
    try {
      const up = await Updater.create({ dir, source: new GatewaySource(everything.url, { retries: 0 }) })
      await up.init(repo.root).catch(() => {}) // the root block is flipped too
      const honest = await Updater.create({ dir, source: new GatewaySource(url, { retries: 0 }) })
      await honest.init(repo.root)
      const e = await refusedUnchanged(dir, async () => await up.refresh(repo.timestamps[1]!), 'ENC-CID')
      expect(e.details.cid).toBe(repo.timestamps[1])
      const viaContent = await Updater.create({ dir, source: new GatewaySource(contentOnly.url, { retries: 0 }) })
      await viaContent.refresh(repo.timestamps[1]!) // metadata passes untouched
      const info = (await viaContent.getTargetInfo('hello.txt'))!
      const c = await rejects(viaContent.downloadTarget(info, join(work.path, 'flipped.txt')), 'CLIENT-TARGET-CONTENT')
      expect(c.details.reason).toBe('ERR_HASH_MISMATCH')
      await rejects(readFile(join(work.path, 'flipped.txt')), 'ENOENT')
    } finally {
      await everything.close()
      await contentOnly.close()
    }
  })

  it('the client commands: init, update --json, list, get; a flipping gateway exits 1 naming the rule and the CID', async () => {
    const dir = clientDir()
    expect((await cli('client', 'init', '--dir', dir, '--root', repo.root, '--gateway', url)).code).toBe(0)
    const up = await cli('client', 'update', '--dir', dir, '--gateway', url, '--json')
    expect(up.code).toBe(0)
    const json = JSON.parse(up.stdout) as Record<string, unknown>
    expect(json).toMatchObject({ timestamp: repo.timestamps[1], changed: ['timestamp', 'snapshot', 'targets'] })
    expect(Object.keys(json)).toEqual(expect.arrayContaining(['timestamp', 'snapshot', 'root', 'changed']))
    // The targets map stays in its shards until a lookup needs it: list reads it through a source.
    const list = JSON.parse((await cli('client', 'list', '--dir', dir, '--gateway', url, '--json')).stdout) as { targets: Array<{ path: string }> }
    expect(list.targets.map((t) => t.path)).toEqual(['dir/big.bin', 'hello.txt'])
    const out = join(work.path, 'big-by-cli.bin')
    const get = await cli('client', 'get', '--dir', dir, 'dir/big.bin', '-o', out, '--gateway', url)
    expect(get.code).toBe(0)
    expect(Buffer.compare(await readFile(out), BIG)).toBe(0)
    // What the client already trusts comes from its cache; a client that
    // only trusts the root must fetch through the flipping gateway.
    const fresh = clientDir()
    expect((await cli('client', 'init', '--dir', fresh, '--root', repo.root, '--gateway', url)).code).toBe(0)
    const flip = await flippingGateway(url, () => true)
    try {
      const before = await readFile(join(fresh, 'state.json'), 'utf8')
      const bad = await cli('client', 'update', '--dir', fresh, '--gateway', flip.url, '--timeout', '5000')
      expect(bad.code).toBe(1)
      expect(bad.stderr).toMatch(/^dagtuf: ENC-CID: .*baguqeera/m)
      const badJson = await cli('client', 'update', '--dir', fresh, '--gateway', flip.url, '--json')
      expect(JSON.parse(badJson.stdout)).toMatchObject({ error: { code: 'ENC-CID', cid: repo.timestamps[1] } })
      expect(await readFile(join(fresh, 'state.json'), 'utf8')).toBe(before)
    } finally {
      await flip.close()
    }
  }, 120_000)

  it('serve sees a new publish at once, and shuts down cleanly on SIGTERM', async () => {
    const ts = await publishMore(repo, work.path, { 'later.txt': 'published while serving\n' })
    expect((await fetchHead(url))?.toString()).toBe(ts)
    const dir = clientDir()
    const up = await Updater.create({ dir, source: new GatewaySource(url), head: async () => (await fetchHead(url))! })
    await up.init(repo.root)
    expect((await up.refresh()).timestamp).toBe(ts)
    serve.kill('SIGTERM')
    expect(await exited).toEqual({ code: 0, signal: null })
    expect(serveErr).toContain('stopped (SIGTERM)')
  })
})

describe('CAR files', () => {
  async function exportTo (file: string, content: boolean): Promise<void> {
    const r = await Repo.open(repo.dir)
    try {
      const node = await r.node()
      await exportCar(node, sourceLoader(node), CID.parse(repo.timestamps[1]!), file, { content })
    } finally {
      await r.close()
    }
  }

  it('an exported CAR is enough to init, update and download offline', async () => {
    const file = join(work.path, 'offline.car')
    await exportTo(file, true)
    const car = await readCar(file)
    const up = await Updater.create({ dir: clientDir(), source: car })
    await up.init(repo.root)
    await up.refresh(car.roots[0]!)
    const out = join(work.path, 'big-from-car.bin')
    await up.downloadTarget((await up.getTargetInfo('dir/big.bin'))!, out)
    expect(Buffer.compare(await readFile(out), BIG)).toBe(0)
  })

  it('a CAR holding a foreign block under a CID is refused before anything is decoded (ERR_CAR_BLOCK)', async () => {
    const file = join(work.path, 'foreign.car')
    await exportTo(file, false)
    const bytes = await readFile(file)
    const ts = (await readCar(file)).roots[0]!
    const block = await (await readCar(file)).get(ts)
    const at = bytes.indexOf(Buffer.from(block))
    expect(at).toBeGreaterThan(0)
    bytes[at + 20]! ^= 0x01
    const bad = join(work.path, 'foreign-tampered.car')
    await writeFile(bad, bytes)
    await rejects(readCar(bad), 'ERR_CAR_BLOCK', 'BlockError')
    await ensureBuilt()
    const dir = clientDir()
    expect((await cli('client', 'init', '--dir', dir, '--root', repo.root, '--car', file)).code).toBe(0)
    const r = await cli('client', 'update', '--dir', dir, '--car', bad)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('ERR_CAR_BLOCK')
  }, 60_000)

  it('a CAR of genuine blocks rooted in another repository\'s timestamp is refused (CLIENT-ROOT-CHAIN)', async () => {
    const other = await makeRepo(join(work.path, 'other'), work.path, { 'x.txt': 'other repository' })
    const r = await Repo.open(other.dir)
    let carBytes: Uint8Array
    try {
      const node = await r.node()
      const file = join(work.path, 'other.car')
      await exportCar(node, sourceLoader(node), CID.parse(other.timestamps[1]!), file)
      const src = await readCar(file)
      carBytes = await encodeCar([...src.roots], await Promise.all(src.cids().map(async (c) => ({ cid: c, bytes: await src.get(c) }))))
    } finally {
      await r.close()
    }
    const car = await readCar(carBytes)
    const dir = clientDir()
    const honest = await Updater.create({ dir, source: await readCar(join(work.path, 'offline.car')) })
    await honest.init(repo.root)
    const up = await Updater.create({ dir, source: car })
    await refusedUnchanged(dir, async () => await up.refresh(car.roots[0]!), 'CLIENT-ROOT-CHAIN')
  })
})
