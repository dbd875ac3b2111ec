/**
 * The Delegated Routing V1 API of `dagtuf serve` (issue 12 item 3),
 * in process on 127.0.0.1: providers for the blocks it holds (itself, with
 * --libp2p), its own IPNS record by GET, and PUT of a newer record for its
 * name, taken only when it verifies; hostile records (another key, expired,
 * not a timestamp, garbage, lower sequence, another name, too large) are
 * refused with their codes and leave the record served unchanged. Standard
 * clients: Helia's delegated routing client, and verified-fetch finding the
 * gateway through the routing API alone.
 */
import { join } from 'node:path'
import { createIPNSRecord, IPNSEntry } from '@helia/ipns'
import { withHTTP } from '@helia/http'
import { createVerifiedFetch } from '@helia/verified-fetch'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { parseIpnsName } from '../../src/model/ipns.js'
import { publishHeadIpns, readRepoIpns } from '../../src/publish/ipns.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { rawBlock } from '../blocks/helpers.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, type MadeRepo } from '../helpers/repo.js'
import { httpRequest } from './http-helpers.js'

const DAY = 86_400_000
const RECORD = 'application/vnd.ipfs.ipns-record'
let work: TempDir
let repo: MadeRepo
let name: string
let k51: string
let rec1: Uint8Array
const forged: Record<string, Uint8Array> = {}
let otherName: string
let server: RepositoryServer
let plain: RepositoryServer

const code = (r: { body: Buffer }): string => (JSON.parse(r.body.toString()) as { error: { code: string } }).error.code

beforeAll(async () => {
  work = await tempDir('dagtuf-routing-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'hello.txt': 'hello over routing\n' })
  const ts = repo.timestamps.at(-1)!
  const node = await openRepoNode(repo.dir)
  try {
    name = (await publishHeadIpns(node, CID.parse(ts), DAY)).name
    k51 = parseIpnsName(name).name
    const key = await node.helia.keychain.exportKey('dagtuf-head')
    const other = await node.helia.keychain.generateKey('routing-other')
    otherName = parseIpnsName(other.publicKey.toCID().toString()).name
    const enc = (e: Parameters<typeof IPNSEntry.encode>[0]): Uint8Array => IPNSEntry.encode(e)
    forged.seq5 = enc(await createIPNSRecord(key, `/ipfs/${ts}`, 5n, DAY))
    forged.seq3 = enc(await createIPNSRecord(key, `/ipfs/${ts}`, 3n, DAY))
    forged.otherKey = enc(await createIPNSRecord(other, `/ipfs/${ts}`, 9n, DAY))
    forged.expired = enc(await createIPNSRecord(key, `/ipfs/${ts}`, 9n, 60_000, { now: Date.now() - 120_000 }))
    forged.notTimestamp = enc(await createIPNSRecord(key, `/ipfs/${rawBlock('x').cid}`, 9n, DAY))
    forged.otherNameOwnKey = enc(await createIPNSRecord(other, `/ipfs/${ts}`, 9n, DAY))
  } finally {
    await node.close()
  }
  rec1 = (await readRepoIpns(repo.dir))!.record
  server = await serveRepository(repo.dir, { host: '127.0.0.1', port: 0, libp2p: ['/ip4/127.0.0.1/tcp/0'] })
}, 120_000)
afterAll(async () => {
  await plain?.close()
  await server?.close()
  await work?.remove()
})

describe('Delegated Routing V1: providers', () => {
  it('GET /routing/v1/providers/{cid}: the service itself (peer id, libp2p and gateway addresses) for a block it holds, none for others', async () => {
    const ts = repo.timestamps.at(-1)!
    const res = await httpRequest(`${server.url}/routing/v1/providers/${ts}`, { headers: { accept: 'application/json' } })
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json')
    const { Providers } = JSON.parse(res.body.toString()) as { Providers: Array<{ Schema: string, ID: string, Addrs: string[], Protocols: string[] }> }
    expect(Providers).toHaveLength(1)
    const p = Providers[0]!
    const [tcpAddr] = server.multiaddrs()
    expect(p.Schema).toBe('peer')
    expect(tcpAddr).toContain(`/p2p/${p.ID}`)
    expect(p.Addrs).toEqual([tcpAddr!.replace(`/p2p/${p.ID}`, ''), `/ip4/127.0.0.1/tcp/${server.port}/http`])
    expect(p.Protocols).toEqual(['transport-bitswap', 'transport-ipfs-gateway-http'])
    const absent = await httpRequest(`${server.url}/routing/v1/providers/${rawBlock('not held').cid}`)
    expect(JSON.parse(absent.body.toString())).toEqual({ Providers: [] })
    const nd = await httpRequest(`${server.url}/routing/v1/providers/${ts}`, { headers: { accept: 'application/x-ndjson' } })
    expect(nd.headers['content-type']).toBe('application/x-ndjson')
    expect(nd.body.toString().trim().split('\n').map((l) => (JSON.parse(l) as { ID: string }).ID)).toEqual([p.ID])
    const bad = await httpRequest(`${server.url}/routing/v1/providers/not-a-cid`)
    expect([bad.status, code(bad)]).toEqual([400, 'ERR_BAD_CID'])
    const post = await httpRequest(`${server.url}/routing/v1/providers/${ts}`, { method: 'POST' })
    expect([post.status, code(post)]).toEqual([405, 'ERR_METHOD_NOT_ALLOWED'])
  })

  it('IPIP-484 filters: filter-protocols and filter-addrs (with ! exclusions) apply', async () => {
    const ts = repo.timestamps.at(-1)!
    const ask = async (q: string): Promise<Array<{ Addrs: string[] }>> => (JSON.parse((await httpRequest(`${server.url}/routing/v1/providers/${ts}?${q}`)).body.toString()) as { Providers: Array<{ Addrs: string[] }> }).Providers
    expect(await ask('filter-protocols=transport-bitswap')).toHaveLength(1)
    expect(await ask('filter-protocols=transport-graphsync-filecoinv1')).toHaveLength(0)
    expect(await ask('filter-protocols=!transport-bitswap')).toHaveLength(0)
    expect((await ask('filter-addrs=http'))[0]!.Addrs).toEqual([`/ip4/127.0.0.1/tcp/${server.port}/http`])
    expect((await ask('filter-addrs=!http'))[0]!.Addrs.every((a) => !a.endsWith('/http'))).toBe(true)
    expect(await ask('filter-addrs=!tcp')).toHaveLength(0)
  })

  it('without --libp2p there is no peer id to name: no providers', async () => {
    plain = await serveRepository(repo.dir, { host: '127.0.0.1', port: 0 })
    const res = await httpRequest(`${plain.url}/routing/v1/providers/${repo.timestamps.at(-1)!}`)
    expect([res.status, JSON.parse(res.body.toString())]).toEqual([200, { Providers: [] }])
  })

  it('verified-fetch finds the gateway through the routing API alone (no gateway named) and fetches a metadata block from it', async () => {
    const helia = await withHTTP(createHeliaLight({}), { delegatedRouters: [server.url], recursiveGateways: [], allowLocal: true }).start()
    const verifiedFetch = await createVerifiedFetch(helia)
    try {
      const ts = repo.timestamps.at(-1)!
      const res = await verifiedFetch(`ipfs://${ts}`, { headers: { accept: 'application/vnd.ipld.raw' }, signal: AbortSignal.timeout(20_000) })
      expect(res.status).toBe(200)
      const direct = await httpRequest(`${server.url}/ipfs/${ts}?format=raw`)
      expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), direct.body)).toBe(0)
    } finally {
      await verifiedFetch.stop()
      await helia.stop()
    }
  })
})

describe('Delegated Routing V1: IPNS', () => {
  const put = async (n: string, body: Uint8Array, type = RECORD): Promise<{ status: number, body: Buffer }> => {
    const res = await fetch(`${server.url}/routing/v1/ipns/${n}`, { method: 'PUT', body: Buffer.from(body), headers: { 'content-type': type } })
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) }
  }
  const served = async (): Promise<Buffer> => (await httpRequest(`${server.url}/routing/v1/ipns/${k51}`, { headers: { accept: RECORD } })).body

  it('GET /routing/v1/ipns/{name}: the service\'s own record, 404 for another name, 400 for a bad one', async () => {
    const res = await httpRequest(`${server.url}/routing/v1/ipns/${k51}`, { headers: { accept: RECORD } })
    expect([res.status, res.headers['content-type']]).toEqual([200, RECORD])
    expect(Buffer.compare(res.body, Buffer.from(rec1))).toBe(0)
    const other = await httpRequest(`${server.url}/routing/v1/ipns/${otherName}`)
    expect([other.status, code(other)]).toEqual([404, 'ERR_NAME_NOT_FOUND'])
    const bad = await httpRequest(`${server.url}/routing/v1/ipns/k51-not-a-name`)
    expect([bad.status, code(bad)]).toEqual([400, 'ERR_BAD_NAME'])
  })

  it('PUT refuses hostile records with their codes and leaves the record served unchanged', async () => {
    const before = await served()
    const cases: Array<[string, Uint8Array, number, string, string?]> = [
      [k51, forged.otherKey!, 400, 'ERR_IPNS_SIGNATURE'],
      [k51, forged.expired!, 400, 'ERR_IPNS_EXPIRED'],
      [k51, forged.notTimestamp!, 400, 'ERR_IPNS_VALUE'],
      [k51, new TextEncoder().encode('not a record'), 400, 'ERR_IPNS_RECORD'],
      [otherName, forged.otherNameOwnKey!, 404, 'ERR_NAME_NOT_FOUND'],
      [k51, new Uint8Array(10 * 1024 + 1), 413, 'ERR_BODY_TOO_LARGE'],
      [k51, forged.seq5!, 415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'application/octet-stream']
    ]
    for (const [n, body, status, c, type] of cases) {
      const res = await put(n, body, type)
      expect([c, res.status, code(res)]).toEqual([c, status, c])
      expect(Buffer.compare(await served(), before)).toBe(0)
    }
  })

  it('PUT takes a newer record for its own name (verified), serves it here and at /ipns/{name}, and refuses a lower sequence afterwards', async () => {
    const ok = await put(k51, forged.seq5!)
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body.toString())).toEqual({ Name: k51, Sequence: '5' })
    expect(Buffer.compare(await served(), Buffer.from(forged.seq5!))).toBe(0)
    const gw = await httpRequest(`${server.url}${name}?format=ipns-record`)
    expect(Buffer.compare(gw.body, Buffer.from(forged.seq5!))).toBe(0)
    // The same record again is fine; an older one is stale.
    expect((await put(k51, forged.seq5!)).status).toBe(200)
    const stale = await put(k51, forged.seq3!)
    expect([stale.status, code(stale)]).toEqual([409, 'ERR_IPNS_STALE'])
    const first = await put(k51, rec1)
    expect([first.status, code(first)]).toEqual([409, 'ERR_IPNS_STALE'])
    expect(Buffer.compare(await served(), Buffer.from(forged.seq5!))).toBe(0)
  })
})
