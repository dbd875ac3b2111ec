/**
 * The Delegated Routing V1 HTTP API (ipfs/specs, routing/http-routing-v1)
 * for what `dagtuf serve` holds, so that IPFS clients using delegated
 * routing find the repository's blocks and its IPNS name:
 *
 *   GET|HEAD /routing/v1/providers/{cid}
 *       when the service holds the block and has a peer id (serve --libp2p):
 *       itself, as one peer record { Schema: "peer", ID, Addrs, Protocols }:
 *       its libp2p addresses (transport-bitswap) and its gateway's
 *       (/ip4/H/tcp/P/http, transport-ipfs-gateway-http); otherwise no
 *       providers (200 with an empty list, as IPIP-513 answers). JSON, or
 *       NDJSON for Accept: application/x-ndjson. `filter-protocols` and
 *       `filter-addrs` (IPIP-484) are applied.
 *   GET|HEAD /routing/v1/ipns/{name}
 *       the latest signed record of the service's own name, 404 for any other
 *   PUT /routing/v1/ipns/{name}
 *       a record for the service's own name (body at most 10 KiB,
 *       Content-Type application/vnd.ipfs.ipns-record), taken only when it
 *       verifies as a client verifies one (src/client/ipns.ts: signed by the
 *       name's key, not expired, pointing to a dagtuf timestamp) and its
 *       sequence is above the one served (the same record again is 200).
 *       It is kept in memory and served, here and at /ipns/{name}, until a
 *       higher one comes (from a PUT or from `publish --ipns`). A record for
 *       another name is 404: this is not a public router.
 *
 * Errors are the gateway's JSON bodies (gateway-handlers.ts). Nothing is
 * stored that did not verify; the record served never goes down in sequence.
 */
import type { CID } from 'multiformats/cid'
import { parseCid } from '../model/hash.js'
import { IPNS_RECORD_MEDIA_TYPE, MAX_IPNS_RECORD_BYTES, parseIpnsName, type IpnsName } from '../model/ipns.js'
import { verifyIpnsRecord } from '../client/ipns.js'
import { normalizeCid } from '../blocks/util.js'
import { UsageError } from '../model/errors.js'
import { errorResponse, type GatewayErrorCode, type GatewayRequest, type GatewayResponse } from './gateway-handlers.js'

export interface RoutingOptions {
  /** Whether the service holds the block (locally: no network lookup). */
  has: (cid: CID) => Promise<boolean>
  /** The service's libp2p peer id and addresses, or null without libp2p. */
  peer: () => { id: string, addrs: string[] } | null
  /** The gateway's own addresses as multiaddrs (/ip4/127.0.0.1/tcp/8080/http). */
  gatewayAddrs: () => string[]
  /** The service's IPNS name and latest record (the file's or a PUT's, the higher), or null. */
  ipns: () => Promise<{ name: string, record: Uint8Array } | null>
  /** Keep a record that verified (PUT); without it, PUT is 405. */
  keepIpns?: (record: Uint8Array, sequence: bigint) => void
  /** The sequence of the record served now (0 when none). */
  ipnsSequence?: () => Promise<bigint>
  /** The clock records are checked against (tests). */
  now?: () => Date
}

export interface RoutingRequest extends GatewayRequest {
  readonly body?: AsyncIterable<Uint8Array>
}

export type RoutingHandler = (req: RoutingRequest, options?: { signal?: AbortSignal }) => Promise<GatewayResponse>

const JSON_TYPE = 'application/json'
const NDJSON_TYPE = 'application/x-ndjson'

export function isRoutingRoute (req: Pick<GatewayRequest, 'url'>): boolean {
  return req.url.startsWith('/routing/v1/')
}

class RoutingError extends Error {
  constructor (readonly status: number, readonly code: GatewayErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(message)
  }
}

interface PeerRecord { Schema: 'peer', ID: string, Addrs: string[], Protocols: string[] }

/** IPIP-484: keep what the filters allow (a `!x` entry excludes x; `unknown` matches a record without protocols). */
function filtered (record: PeerRecord, params: URLSearchParams): PeerRecord | null {
  const list = (name: string): string[] => (params.get(name) ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0).slice(0, 32)
  const protocols = list('filter-protocols')
  if (protocols.length > 0) {
    const positive = protocols.filter((p) => !p.startsWith('!'))
    const negative = protocols.filter((p) => p.startsWith('!')).map((p) => p.slice(1))
    if (record.Protocols.some((p) => negative.includes(p))) return null
    const known = record.Protocols.length === 0 ? ['unknown'] : record.Protocols
    if (positive.length > 0 && !known.some((p) => positive.includes(p))) return null
  }
  const addrFilter = list('filter-addrs')
  if (addrFilter.length > 0) {
    const positive = addrFilter.filter((p) => !p.startsWith('!'))
    const negative = addrFilter.filter((p) => p.startsWith('!')).map((p) => p.slice(1))
    const names = (addr: string): string[] => addr.split('/').filter((_, i) => i % 2 === 1)
    const addrs = record.Addrs.filter((a) => {
      const n = names(a)
      if (n.some((x) => negative.includes(x))) return false
      return positive.length === 0 || n.some((x) => positive.includes(x))
    })
    if (addrs.length === 0) return null
    return { ...record, Addrs: addrs }
  }
  return record
}

function json (method: string, value: unknown): GatewayResponse {
  const body = new TextEncoder().encode(JSON.stringify(value))
  const headers = { 'content-type': JSON_TYPE, 'content-length': body.byteLength, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', vary: 'Accept' }
  return method === 'HEAD' ? { status: 200, headers } : { status: 200, headers, body }
}

async function readBody (req: RoutingRequest, max: number): Promise<Uint8Array> {
  const declared = req.headers['content-length']
  if (typeof declared === 'string' && Number(declared) > max) throw new RoutingError(413, 'ERR_BODY_TOO_LARGE', `an IPNS record is at most ${max} bytes`, { connection: 'close' })
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of req.body ?? []) {
    total += chunk.byteLength
    if (total > max) throw new RoutingError(413, 'ERR_BODY_TOO_LARGE', `an IPNS record is at most ${max} bytes`, { connection: 'close' })
    chunks.push(chunk)
  }
  return new Uint8Array(Buffer.concat(chunks))
}

/**
 * The routing API's handler.
 *
 * @throws {UsageError} ERR_ARGUMENT for bad options
 */
export function routingHandler (options: RoutingOptions): RoutingHandler {
  for (const k of ['has', 'peer', 'gatewayAddrs', 'ipns'] as const) {
    if (typeof options[k] !== 'function') throw new UsageError('ERR_ARGUMENT', `${k}: expected a function`)
  }
  const now = options.now ?? (() => new Date())

  async function providers (req: RoutingRequest, cidText: string, params: URLSearchParams): Promise<GatewayResponse> {
    let cid: CID
    try {
      cid = normalizeCid(parseCid(cidText))
    } catch {
      throw new RoutingError(400, 'ERR_BAD_CID', 'not a CIDv1 (or CIDv0) with a sha2-256 multihash')
    }
    const records: PeerRecord[] = []
    const peer = options.peer()
    if (peer !== null && await options.has(cid)) {
      const record = filtered({ Schema: 'peer', ID: peer.id, Addrs: [...peer.addrs, ...options.gatewayAddrs()], Protocols: ['transport-bitswap', 'transport-ipfs-gateway-http'] }, params)
      if (record !== null) records.push(record)
    }
    const accept = String(req.headers.accept ?? '')
    if (accept.includes(NDJSON_TYPE) && !accept.includes(JSON_TYPE)) {
      const body = new TextEncoder().encode(records.map((r) => `${JSON.stringify(r)}\n`).join(''))
      const headers = { 'content-type': NDJSON_TYPE, 'content-length': body.byteLength, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', vary: 'Accept' }
      return req.method === 'HEAD' ? { status: 200, headers } : { status: 200, headers, body }
    }
    return json(req.method, { Providers: records })
  }

  async function ipnsGet (req: RoutingRequest, wanted: IpnsName): Promise<GatewayResponse> {
    const current = await options.ipns()
    if (current === null || parseIpnsName(current.name).name !== wanted.name) throw new RoutingError(404, 'ERR_NAME_NOT_FOUND', `no IPNS record for /ipns/${wanted.name} here`)
    const body = current.record
    const headers = { 'content-type': IPNS_RECORD_MEDIA_TYPE, 'content-length': body.byteLength, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', vary: 'Accept' }
    return req.method === 'HEAD' ? { status: 200, headers } : { status: 200, headers, body }
  }

  async function ipnsPut (req: RoutingRequest, wanted: IpnsName): Promise<GatewayResponse> {
    if (options.keepIpns === undefined || options.ipnsSequence === undefined) throw new RoutingError(405, 'ERR_METHOD_NOT_ALLOWED', 'records are not taken here', { allow: 'GET, HEAD' })
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== IPNS_RECORD_MEDIA_TYPE) throw new RoutingError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `the body must be ${IPNS_RECORD_MEDIA_TYPE}`, { connection: 'close' })
    const current = await options.ipns()
    if (current === null || parseIpnsName(current.name).name !== wanted.name) {
      throw new RoutingError(404, 'ERR_NAME_NOT_FOUND', `this service takes records for its own name only, not /ipns/${wanted.name}`, { connection: 'close' })
    }
    const bytes = await readBody(req, MAX_IPNS_RECORD_BYTES)
    let sequence: bigint
    try {
      sequence = (await verifyIpnsRecord(wanted, bytes, now())).sequence
    } catch (e) {
      const code = (e as { code?: string }).code
      if (code === 'ERR_IPNS_RECORD' || code === 'ERR_IPNS_SIGNATURE' || code === 'ERR_IPNS_EXPIRED' || code === 'ERR_IPNS_VALUE') {
        throw new RoutingError(400, code, (e as Error).message)
      }
      throw new RoutingError(500, 'ERR_INTERNAL', 'the record could not be checked')
    }
    const served = await options.ipnsSequence()
    if (sequence < served || (sequence === served && Buffer.compare(Buffer.from(bytes), Buffer.from(current.record)) !== 0)) {
      throw new RoutingError(409, 'ERR_IPNS_STALE', `sequence ${sequence} is not above the record served (${served})`)
    }
    if (sequence > served) options.keepIpns(bytes, sequence)
    return json(req.method, { Name: wanted.name, Sequence: sequence.toString() })
  }

  async function route (req: RoutingRequest): Promise<GatewayResponse> {
    let url: URL
    try {
      url = new URL(req.url, 'http://routing.invalid')
    } catch {
      throw new RoutingError(400, 'ERR_BAD_REQUEST', 'the URL does not parse')
    }
    const m = /^\/routing\/v1\/(providers|ipns)\/([^/]+)$/.exec(url.pathname)
    if (m === null) throw new RoutingError(404, 'ERR_NOT_FOUND', 'no such routing path (providers/{cid} and ipns/{name} are served)')
    const [, kind, id = ''] = m
    const put = kind === 'ipns' && req.method === 'PUT'
    if (req.method !== 'GET' && req.method !== 'HEAD' && !put) {
      throw new RoutingError(405, 'ERR_METHOD_NOT_ALLOWED', 'method not allowed', { allow: kind === 'ipns' ? 'GET, HEAD, PUT' : 'GET, HEAD' })
    }
    if (!put && (req.headers['content-length'] ?? '0') !== '0') throw new RoutingError(413, 'ERR_BODY_NOT_ALLOWED', 'request bodies are not accepted', { connection: 'close' })
    let decoded: string
    try { decoded = decodeURIComponent(id) } catch { throw new RoutingError(400, 'ERR_BAD_REQUEST', 'the path does not decode') }
    if (kind === 'providers') return await providers(req, decoded, url.searchParams)
    let name: IpnsName
    try {
      name = parseIpnsName(decoded)
    } catch {
      throw new RoutingError(400, 'ERR_BAD_NAME', 'not an IPNS name with an Ed25519 key (k51...)', put ? { connection: 'close' } : {})
    }
    return put ? await ipnsPut(req, name) : await ipnsGet(req, name)
  }

  return async (req) => {
    try {
      return await route(req)
    } catch (e) {
      const err = e instanceof RoutingError ? e : new RoutingError(500, 'ERR_INTERNAL', 'internal error')
      return errorResponse(req.method, err.status, err.code, err.message, err.headers)
    }
  }
}
