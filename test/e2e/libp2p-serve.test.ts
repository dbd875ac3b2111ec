/**
 * `dagtuf serve --libp2p` (issue 12 item 2): the command itself, in a child
 * process, listening on TCP on 127.0.0.1 next to its HTTP gateway; it
 * prints its multiaddrs (peer id included), and
 * - a plain Helia node (helia, @helia/libp2p, @helia/bitswap, TCP, noise,
 *   yamux, identify: no dagtuf code) dials it and reads a target with
 *   @helia/unixfs and a metadata block by bitswap;
 * - `dagtuf client init/get --peer ADDR` sets up a client and downloads a
 *   target from it by bitswap alone (the head given with --timestamp: a peer
 *   has none).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { addContent } from '../../src/blocks/unixfs.js'
import { pseudoRandomBytes } from '../blocks/helpers.js'
import { BIN, ROOT, ensureBuilt } from '../helpers/build.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, type MadeRepo } from '../helpers/repo.js'
import { httpRequest } from '../server/http-helpers.js'

const run = promisify(execFile)
let work: TempDir
let repo: MadeRepo
let child: ChildProcess
let ready: { url: string, multiaddrs: string[], head: string }
const big = pseudoRandomBytes(1024 * 1024 + 4321, 44)
let bigCid: CID

beforeAll(async () => {
  await ensureBuilt()
  work = await tempDir('dagtuf-libp2p-serve-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'big.bin': big, 'hello.txt': 'hello over bitswap\n' })
  bigCid = (await addContent(new MemoryBlockStore(), big)).cid
  child = spawn(process.execPath, [BIN, 'serve', '--dir', repo.dir, '--libp2p', '/ip4/127.0.0.1/tcp/0', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`serve did not start: ${stderr}`)) }, 30_000)
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (stdout.includes('\n')) { clearTimeout(timer); resolve(JSON.parse(stdout.split('\n')[0]!)) }
    })
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`serve exited: ${stderr}`)) })
  })
}, 120_000)

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
  await work?.remove()
})

describe('dagtuf serve --libp2p', () => {
  it('prints the TCP multiaddr it listens on, with its peer id, next to the HTTP URL', async () => {
    expect(ready.multiaddrs.length).toBeGreaterThan(0)
    const addr = ready.multiaddrs[0]!
    expect(addr).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo\w+$/)
    expect(ready.head).toBe(repo.timestamps.at(-1))
    // The HTTP gateway still answers.
    expect((await httpRequest(`${ready.url}/head`)).status).toBe(200)
  })

  it('a plain Helia node dials it and reads a target and a metadata block by bitswap', async () => {
    const helia = withBitswap(withLibp2pLight(createHeliaLight({}), {
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
      peerDiscovery: []
    }))
    await helia.start()
    try {
      await helia.libp2p.dial(multiaddr(ready.multiaddrs[0]!), { signal: AbortSignal.timeout(10_000) })
      const chunks: Uint8Array[] = []
      for await (const c of unixfs(helia).cat(bigCid, { signal: AbortSignal.timeout(30_000) })) chunks.push(c)
      expect(Buffer.compare(Buffer.concat(chunks), Buffer.from(big))).toBe(0)
      const parts: Uint8Array[] = []
      const ts = CID.parse(ready.head)
      for await (const c of helia.blockstore.get(ts, { signal: AbortSignal.timeout(30_000) }) as AsyncIterable<Uint8Array>) parts.push(c)
      const viaHttp = await httpRequest(`${ready.url}/ipfs/${ts}?format=raw`)
      expect(Buffer.compare(Buffer.concat(parts), viaHttp.body)).toBe(0)
    } finally {
      await helia.stop()
    }
  })

  it('dagtuf client init and get --peer download a target from it, verified', async () => {
    const dir = join(work.path, 'client')
    const peer = ready.multiaddrs[0]!
    const opts = { cwd: ROOT, timeout: 60_000 }
    await run(process.execPath, [BIN, 'client', 'init', '--dir', dir, '--root', repo.root, '--peer', peer], opts)
    const out = join(work.path, 'big.out')
    await run(process.execPath, [BIN, 'client', 'get', '--dir', dir, 'big.bin', '-o', out, '--peer', peer, '--update', '--timestamp', ready.head], opts)
    expect(Buffer.compare(await readFile(out), Buffer.from(big))).toBe(0)
  })

  it('a bad --libp2p address is a usage error, before anything listens', async () => {
    for (const [addr, code] of [['tcp:4001', 'ERR_USAGE'], ['/ip4/1.2.3/tcp/x', 'ERR_ARGUMENT'], ['/ip4/127.0.0.1/tcp/99999', 'ERR_ARGUMENT']]) {
      const r = await run(process.execPath, [BIN, 'serve', '--dir', repo.dir, '--libp2p', addr!, '--json'], { cwd: ROOT, timeout: 30_000 }).then(() => null, (e: { code: number, stdout: string }) => e)
      expect(r, addr).not.toBeNull()
      expect([addr, r!.code, (JSON.parse(r!.stdout) as { error: { code: string } }).error.code]).toEqual([addr, 2, code])
    }
  })
})
