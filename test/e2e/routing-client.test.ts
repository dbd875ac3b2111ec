/**
 * The client finds a repository through a Delegated Routing V1 endpoint
 * (`--routing URL`, issue 12 item 3): `dagtuf serve --libp2p` names itself as
 * the provider of its blocks (with its HTTP gateway address) and serves its
 * IPNS record; a client given only the endpoint and a root CID (or an IPNS
 * name) updates and downloads. A hostile endpoint (a tampering gateway as
 * provider, garbage, bitswap-only providers) gets typed refusals and leaves
 * the trusted state unchanged.
 */
import { createServer, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoutingSource } from '../../src/blocks/routing-source.js'
import { gatewayUrlOf } from '../../src/blocks/gateway-source.js'
import { openRepoNode } from '../../src/blocks/repo-node.js'
import { main } from '../../src/cli/main.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { parseIpnsName } from '../../src/model/ipns.js'
import { publishHeadIpns } from '../../src/publish/ipns.js'
import { flippingGateway } from '../../src/server/flipping-gateway.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { makeRepo, type MadeRepo } from '../helpers/repo.js'

const DAY = 86_400_000
let work: TempDir
let repo: MadeRepo
let k51: string
let server: RepositoryServer
let tampering: { url: string, close: () => Promise<void> }
/** A routing endpoint whose providers answer the test chooses. */
let fake: Server
let fakeUrl: string
let fakeAnswer: (path: string) => { status: number, body: string }

async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  return { code, out, err }
}

const provider = (addrs: string[]): string => JSON.stringify({ Providers: [{ Schema: 'peer', ID: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo', Addrs: addrs, Protocols: ['transport-ipfs-gateway-http'] }] })
const multiaddrOf = (url: string): string => { const u = new URL(url); return `/ip4/${u.hostname}/tcp/${u.port}/http` }

beforeAll(async () => {
  work = await tempDir('dagtuf-routing-client-')
  repo = await makeRepo(join(work.path, 'repo'), work.path, { 'hello.txt': 'found by routing\n' })
  const node = await openRepoNode(repo.dir)
  try {
    k51 = parseIpnsName((await publishHeadIpns(node, CID.parse(repo.timestamps.at(-1)!), DAY)).name).name
  } finally {
    await node.close()
  }
  server = await serveRepository(repo.dir, { host: '127.0.0.1', port: 0, libp2p: ['/ip4/127.0.0.1/tcp/0'] })
  tampering = await flippingGateway(server.url)
  fakeAnswer = () => ({ status: 404, body: '' })
  fake = createServer((req, res) => {
    const a = fakeAnswer(req.url ?? '/')
    res.writeHead(a.status, { 'content-type': 'application/json' })
    res.end(a.body)
  })
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
  fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`
}, 120_000)

afterAll(async () => {
  await tampering?.close()
  await server?.close()
  await new Promise((resolve) => fake?.close(resolve))
  await work?.remove()
})

describe('client --routing URL', () => {
  it('init from a root CID, update from the IPNS name, and get a target, given only the routing endpoint', async () => {
    const c = join(work.path, 'c1')
    const init = await dagtuf('client', 'init', '--dir', c, '--root', repo.root, '--routing', server.url)
    expect(init.code, init.err.join('\n')).toBe(0)
    const up = await dagtuf('client', 'update', '--dir', c, '--ipns', k51, '--routing', server.url, '--json')
    expect(up.code, up.err.join('\n')).toBe(0)
    expect(JSON.parse(up.out[0]!)).toMatchObject({ timestamp: repo.timestamps.at(-1), ipns: { name: `/ipns/${k51}` } })
    const out = join(work.path, 'hello.out')
    const got = await dagtuf('client', 'get', '--dir', c, 'hello.txt', '-o', out, '--routing', server.url)
    expect(got.code, got.err.join('\n')).toBe(0)
    expect(await readFile(out, 'utf8')).toBe('found by routing\n')
  }, 60_000)

  it('a routing endpoint that names a tampering gateway: the blocks are refused (ENC-CID) and the state is unchanged; an honest provider next to it is used', async () => {
    const c = join(work.path, 'c2')
    expect((await dagtuf('client', 'init', '--dir', c, '--root', repo.root, '--routing', server.url)).code).toBe(0)
    const state = await readFile(join(c, 'state.json'), 'utf8')
    fakeAnswer = () => ({ status: 200, body: provider([multiaddrOf(tampering.url)]) })
    const bad = await dagtuf('client', 'update', '--dir', c, '--timestamp', repo.timestamps.at(-1)!, '--routing', fakeUrl, '--json')
    expect(bad.code).toBe(1)
    expect(JSON.parse(bad.out[0]!)).toMatchObject({ error: { code: 'ENC-CID' } })
    expect(await readFile(join(c, 'state.json'), 'utf8')).toBe(state)
    fakeAnswer = () => ({ status: 200, body: provider([multiaddrOf(tampering.url), multiaddrOf(server.url)]) })
    const good = await dagtuf('client', 'update', '--dir', c, '--timestamp', repo.timestamps.at(-1)!, '--routing', fakeUrl, '--json')
    expect(good.code, good.err.join('\n')).toBe(0)
  }, 60_000)

  it('hostile or useless answers: garbage is ERR_TRANSPORT, bitswap-only providers and none are ERR_BLOCK_NOT_FOUND, a missing record ERR_IPNS_NOT_FOUND', async () => {
    const cid = CID.parse(repo.root)
    const code = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'none', (e: { code: string }) => e.code)
    fakeAnswer = () => ({ status: 200, body: 'not json {' })
    expect(await code(new RoutingSource(fakeUrl, { retries: 0 }).get(cid))).toBe('ERR_TRANSPORT')
    fakeAnswer = () => ({ status: 200, body: JSON.stringify({ Providers: 'no' }) })
    expect(await code(new RoutingSource(fakeUrl, { retries: 0 }).get(cid))).toBe('ERR_TRANSPORT')
    fakeAnswer = () => ({ status: 200, body: provider(['/ip4/127.0.0.1/tcp/4001']) })
    expect(await code(new RoutingSource(fakeUrl, { retries: 0 }).get(cid))).toBe('ERR_BLOCK_NOT_FOUND')
    fakeAnswer = () => ({ status: 200, body: JSON.stringify({ Providers: null }) })
    expect(await code(new RoutingSource(fakeUrl, { retries: 0 }).get(cid))).toBe('ERR_BLOCK_NOT_FOUND')
    fakeAnswer = () => ({ status: 404, body: '' })
    expect(await code(new RoutingSource(fakeUrl, { retries: 0 }).ipnsRecord(k51))).toBe('ERR_IPNS_NOT_FOUND')
    // Many providers: at most maxGateways are kept.
    fakeAnswer = () => ({ status: 200, body: provider(Array.from({ length: 40 }, (_, i) => `/ip4/127.0.0.1/tcp/${20000 + i}/http`).concat(multiaddrOf(server.url))) })
    const capped = new RoutingSource(fakeUrl, { retries: 0, maxGateways: 3, timeoutMs: 500 })
    expect(await code(capped.get(cid))).not.toBe('none')
    expect(capped.gateways).toHaveLength(3)
  }, 60_000)

  it('gatewayUrlOf takes only HTTP gateway multiaddrs', () => {
    expect(gatewayUrlOf('/ip4/127.0.0.1/tcp/8080/http')).toBe('http://127.0.0.1:8080')
    expect(gatewayUrlOf('/dns4/example.org/tcp/443/https')).toBe('https://example.org:443')
    expect(gatewayUrlOf('/ip6/::1/tcp/8080/tls/http')).toBe('https://[::1]:8080')
    expect(gatewayUrlOf('/ip4/127.0.0.1/tcp/4001')).toBeNull()
    expect(gatewayUrlOf('/ip4/127.0.0.1/tcp/99999/http')).toBeNull()
    expect(gatewayUrlOf('/dns4/a@b/tcp/80/http')).toBeNull()
    expect(gatewayUrlOf('/ip4/127.0.0.1/udp/4001/quic-v1')).toBeNull()
  })
})
