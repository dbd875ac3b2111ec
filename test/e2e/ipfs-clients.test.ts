/**
 * Standard IPFS clients fetch from `dagtuf serve` (issue 12 item 1): a
 * repository served in process on 127.0.0.1 (serveRepository, what the
 * command runs), and
 * - @helia/verified-fetch, over a Helia HTTP node (@helia/http) that names
 *   the gateway;
 * - a plain Helia node whose only block broker is
 *   @helia/trustless-gateway-client (through @helia/http), naming the gateway;
 * each fetching a target (a multi-block UnixFS file and a one-block one)
 * and a metadata block (the timestamp, dag-json), and checking them.
 *
 * "Naming the gateway" is three settings of theirs: the gateway (their
 * `gateways`/`recursiveGateways`), the same URL as delegated router (their
 * default is a public one; these tests send nothing off this machine; dagtuf
 * serve answers the routing API, with no providers without --libp2p, and
 * test/server/routing.test.ts finds the gateway through it alone), and
 * `allowLocal: true`, without which both clients drop any gateway on a
 * loopback or private address before sending a request (their SSRF guard:
 * the cause of "verified-fetch sent no request" in the issue).
 * verified-fetch's own createVerifiedFetch() with no Helia node starts a
 * full libp2p node (bootstrap peers, DHT, UPnP) that dials the public
 * network; it is given the Helia HTTP node instead.
 */
import { join } from 'node:path'
import { createHeliaLight } from 'helia'
import { withHTTP } from '@helia/http'
import { unixfs } from '@helia/unixfs'
import { createVerifiedFetch } from '@helia/verified-fetch'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { addContent } from '../../src/blocks/unixfs.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { pseudoRandomBytes } from '../blocks/helpers.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, type MadeRepo } from '../helpers/repo.js'
import { httpRequest } from '../server/http-helpers.js'

let work: TempDir
let repo: MadeRepo
let server: RepositoryServer
const big = pseudoRandomBytes(2 * 1024 * 1024 + 12_345, 31)
const small = new TextEncoder().encode('a small target\n')
let bigCid: CID
let smallCid: CID
let timestamp: CID
let timestampBytes: Uint8Array
/** Every request the clients sent, as method and path. */
const sent: string[] = []

beforeAll(async () => {
  work = await tempDir('dagtuf-ipfs-clients-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'big.bin': big, 'small.txt': small })
  // Target CIDs are those of the UnixFS profile: the same content added anywhere gives them.
  const scratch = new MemoryBlockStore()
  bigCid = (await addContent(scratch, big)).cid
  smallCid = (await addContent(scratch, small)).cid
  server = await serveRepository(repo.dir, { host: '127.0.0.1', port: 0 })
  timestamp = (await server.head())!
  const raw = await httpRequest(`${server.url}/ipfs/${timestamp}?format=raw`)
  expect(raw.status).toBe(200)
  timestampBytes = new Uint8Array(raw.body)
  const realFetch = globalThis.fetch
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    // Nothing leaves this machine: a request elsewhere fails the test.
    if (url.hostname !== '127.0.0.1') throw new Error(`request to ${url.hostname} in a loopback test`)
    sent.push(`${init?.method ?? 'GET'} ${url.pathname}`)
    return await realFetch(input, init)
  }) as typeof fetch
  afterAll(() => { globalThis.fetch = realFetch })
}, 120_000)
afterAll(async () => {
  await server?.close()
  await work?.remove()
})

function gatewayOnly (): Parameters<typeof withHTTP>[1] {
  return { delegatedRouters: [server.url], recursiveGateways: [server.url], allowLocal: true }
}

describe('standard IPFS clients against dagtuf serve on 127.0.0.1', () => {
  it('@helia/verified-fetch fetches a multi-block target, a one-block target and a metadata block, verified', async () => {
    const helia = await withHTTP(createHeliaLight({}), gatewayOnly()).start()
    const verifiedFetch = await createVerifiedFetch(helia)
    try {
      sent.length = 0
      const bigRes = await verifiedFetch(`ipfs://${bigCid}`, { signal: AbortSignal.timeout(30_000) })
      expect(bigRes.status).toBe(200)
      expect(Buffer.compare(Buffer.from(await bigRes.arrayBuffer()), Buffer.from(big))).toBe(0)
      const smallRes = await verifiedFetch(`ipfs://${smallCid}`, { signal: AbortSignal.timeout(30_000) })
      expect(new Uint8Array(await smallRes.arrayBuffer())).toEqual(small)
      // The timestamp: as its raw block (the exact bytes), and decoded as dag-json.
      const rawRes = await verifiedFetch(`ipfs://${timestamp}`, { headers: { accept: 'application/vnd.ipld.raw' }, signal: AbortSignal.timeout(30_000) })
      expect(rawRes.status).toBe(200)
      expect(new Uint8Array(await rawRes.arrayBuffer())).toEqual(timestampBytes)
      const jsonRes = await verifiedFetch(`ipfs://${timestamp}`, { signal: AbortSignal.timeout(30_000) })
      expect(jsonRes.status).toBe(200)
      const decoded = dagJson.decode(new Uint8Array(await jsonRes.arrayBuffer())) as { signed: { _type: string } }
      expect(decoded.signed._type).toBe('timestamp')
      // It asked our gateway for blocks (and our server as its router).
      expect(sent).toContain(`GET /ipfs/${bigCid}`)
      expect(sent).toContain(`GET /ipfs/${timestamp}`)
    } finally {
      await verifiedFetch.stop()
      await helia.stop()
    }
  })

  it('a plain Helia node with @helia/trustless-gateway-client as its block broker reads a target with @helia/unixfs, and a metadata block from its blockstore', async () => {
    const helia = await withHTTP(createHeliaLight({}), gatewayOnly()).start()
    try {
      sent.length = 0
      const chunks: Uint8Array[] = []
      for await (const c of unixfs(helia).cat(bigCid, { signal: AbortSignal.timeout(30_000) })) chunks.push(c)
      expect(Buffer.compare(Buffer.concat(chunks), Buffer.from(big))).toBe(0)
      // Helia 7's blockstore.get yields the block in chunks.
      const parts: Uint8Array[] = []
      for await (const c of helia.blockstore.get(timestamp, { signal: AbortSignal.timeout(30_000) }) as AsyncIterable<Uint8Array>) parts.push(c)
      expect(new Uint8Array(Buffer.concat(parts))).toEqual(timestampBytes)
      expect(sent).toContain(`GET /ipfs/${bigCid}`)
      expect(sent).toContain(`GET /ipfs/${timestamp}`)
    } finally {
      await helia.stop()
    }
  })
})
