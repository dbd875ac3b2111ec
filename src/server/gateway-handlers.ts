/**
 * The trustless gateway of `dagtuf serve` as plain handlers: a request (method,
 * target, headers) in, a complete response (status, headers, body) out. No
 * sockets here; src/server/http-server.ts puts these behind node:http.
 *
 *   GET|HEAD /ipfs/{cid}?format=raw   (or Accept: application/vnd.ipld.raw)
 *       the block, Content-Type application/vnd.ipld.raw
 *   GET|HEAD /ipfs/{cid}?format=car   (or Accept: application/vnd.ipld.car)
 *       a CARv1 (roots: [cid]) of the DAG below cid in depth-first order,
 *       as `dag-scope` (all, the default; entity; block), `entity-bytes`
 *       (a byte range of a UnixFS file) and `dups` (Accept parameter or
 *       car-dups: n, the default, or y) ask (car-scopes.ts). A CAR that is
 *       one block (block scope, or a root without links) has a
 *       Content-Length; a larger one is streamed, bounded by `maxCarBlocks`
 *       and `maxCarBytes`, and cut when a bound is reached or a block is
 *       missing or bad (status 200 is already sent: the spec's "terminate
 *       the stream").
 *   GET|HEAD /ipfs/bafkqaaa   the spec's probe: 200, an empty raw block or a
 *       CAR with roots [bafkqaaa] and no blocks
 *   GET|HEAD /head
 *       the current timestamp CID as text/plain (ETag: the CID, quoted), 404
 *       when there is none
 *   GET|HEAD /ipns/{name}?format=ipns-record   (or Accept: application/vnd.ipfs.ipns-record)
 *       the marshalled signed IPNS record of the server's own name (the
 *       `ipns` option), Content-Type application/vnd.ipfs.ipns-record; 404
 *       for any other name or when there is no record; at most 10 KiB
 *
 * Everything else: 400 for a bad CID or parameter, 400 for a block request
 * that names no format at all (no ?format=, and no Accept header or only
 * wildcards: the spec's strict trustless mode), 404 for an unknown block
 * and for every other path (no listing, no path resolution), 405 for other
 * methods on these paths, 406 when Accept names only types or CAR variants
 * not served, 412 for `Cache-Control: only-if-cached` when the block is not
 * here, 413
 * for a request with a body, 414 for a long URL (431 for headers over 8 KiB,
 * and 431 ERR_TOO_MANY_HEADERS for more than 64 header fields, come from the
 * adapter). Error bodies are JSON: { "error": { "code", "message" } }.
 *
 * The gateway is as trustless as its clients: it serves only what its
 * BlockSource returns, which is hash-checked there, and clients check again.
 * Blocks are immutable, so they are cached for a year; /head and IPNS
 * records (replaced by every publish) never are. IPNS records are not checked
 * here either: clients verify the signature against the name.
 */
import type { CID } from 'multiformats/cid'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { parseCid } from '../model/hash.js'
import { IPNS_RECORD_MEDIA_TYPE, MAX_IPNS_RECORD_BYTES, parseIpnsName } from '../model/ipns.js'
import * as dagCbor from '@ipld/dag-cbor'
import { deadline, normalizeCid, positiveInt } from '../blocks/util.js'
import { CODEC_RAW } from '../model/hash.js'
import { PROBE_CID, entitySize, parseEntityBytes, resolveRange, walkDag, type ByteRange, type DagScope, type EntityBytes } from './car-scopes.js'
import type { BlockSource } from '../blocks/types.js'
import { UsageError, type BlockCode } from '../model/errors.js'
import { cachedSource, type BlockCache } from './block-cache.js'

export interface GatewayHandlerOptions {
  /** Where blocks come from (checked there). */
  source: BlockSource
  /** The current head, or null when there is none yet. */
  head: () => Promise<CID | null>
  /**
   * The server's own IPNS name (`k51...` or `/ipns/k51...`) and its latest
   * marshalled record, or null when there is none. Without it, /ipns/ is 404.
   */
  ipns?: () => Promise<{ name: string, record: Uint8Array } | null>
  /** Largest block served (default MAX_ANY_BLOCK_BYTES). */
  maxBlockBytes?: number
  /** Time limit to look up one block in the source, in ms (default 20 000). */
  blockTimeoutMs?: number
  /** Most blocks in one CAR response (default 100 000); past it the response is cut. */
  maxCarBlocks?: number
  /** Most block bytes in one CAR response (default 1 GiB); past it the response is cut. */
  maxCarBytes?: number
  /**
   * Blocks the source returned, kept to be served again without reading or
   * hashing them again (block-cache.ts); without it every block is read
   * from the source each time.
   */
  blockCache?: BlockCache
}

export interface GatewayRequest {
  /** GET, HEAD... */
  readonly method: string
  /** The request target as received: path and query. */
  readonly url: string
  /** Header names in lower case, as node:http gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

export interface GatewayResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | number>>
  /** Absent for HEAD and 304 (content-length still says how long the GET body is). */
  readonly body?: Uint8Array
  /**
   * The same body in parts, when it is made of some (a CAR: its few header
   * bytes, then the block itself): http-server.ts writes them one after the
   * other, and `body` joins them only if it is read.
   */
  readonly parts?: readonly Uint8Array[]
  /**
   * A body produced as it is sent (a CAR of more than one block): no
   * content-length. It may throw after some chunks (a bound, a missing or
   * bad block): the connection is then cut, so the client sees an
   * incomplete response. Ending the iteration early stops the walk.
   */
  readonly stream?: AsyncIterable<Uint8Array>
}

/** Codes of the JSON error bodies (an HTTP vocabulary, apart from DagtufError codes). */
export type GatewayErrorCode =
  | 'ERR_BAD_CID' | 'ERR_BAD_FORMAT' | 'ERR_BAD_NAME' | 'ERR_BAD_PARAMETER' | 'ERR_BAD_RANGE' | 'ERR_BAD_REQUEST' | 'ERR_BAD_SCOPE'
  | 'ERR_BODY_NOT_ALLOWED' | 'ERR_FORMAT_REQUIRED' | 'ERR_INTERNAL' | 'ERR_METHOD_NOT_ALLOWED' | 'ERR_NAME_NOT_FOUND'
  | 'ERR_NOT_ACCEPTABLE' | 'ERR_NOT_CACHED' | 'ERR_NOT_FOUND' | 'ERR_NO_HEAD' | 'ERR_URI_TOO_LONG' | 'ERR_TOO_MANY_HEADERS'
  // From the adapter: connections, pipelining or block bodies over their caps (503).
  | 'ERR_BUSY'
  // The routing API (routing-handlers.ts): PUT /routing/v1/ipns/{name}.
  | 'ERR_BODY_TOO_LARGE' | 'ERR_UNSUPPORTED_MEDIA_TYPE' | 'ERR_IPNS_STALE'
  // The inspector (ui.ts): GET /ui/dagtuf.js before the browser bundle is built (404).
  | 'ERR_UI_NOT_BUILT'
  // A 502 passes on the block source's own code (ERR_HASH_MISMATCH, ERR_BLOCK_TOO_LARGE...).
  | BlockCode

/**
 * Answer one request. Never throws: every failure is an error response. The
 * signal stops a block lookup (the client went away, or the server is
 * closing); the lookup also stops at `blockTimeoutMs`.
 */
export type GatewayHandler = (req: GatewayRequest, options?: { signal?: AbortSignal }) => Promise<GatewayResponse>

export const MAX_URL_LENGTH = 2048
const RAW = 'application/vnd.ipld.raw'
const CAR = 'application/vnd.ipld.car'
const carContentType = (dups: boolean): string => `application/vnd.ipld.car; version=1; order=dfs; dups=${dups ? 'y' : 'n'}`
const IMMUTABLE = 'public, max-age=29030400, immutable'
const DEFAULT_MAX_CAR_BLOCKS = 100_000
const COALESCE = 64 * 1024
const DEFAULT_MAX_CAR_BYTES = 1024 * 1024 * 1024

type Format = 'raw' | 'car'
/** The format asked for, and for a CAR whether duplicates were asked for (null: not said). */
interface Negotiated { format: Format, dups: boolean | null }

class HttpError extends Error {
  constructor (readonly status: number, readonly code: GatewayErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(message)
  }
}

/** The JSON error response for `status` and `code`. */
export function errorResponse (method: string, status: number, code: GatewayErrorCode, message: string, headers: Record<string, string> = {}): GatewayResponse {
  const body = new TextEncoder().encode(JSON.stringify({ error: { code, message } }))
  return response(method, status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.byteLength,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers
  }, body)
}

function response (method: string, status: number, headers: Record<string, string | number>, body: Uint8Array): GatewayResponse {
  return method === 'HEAD' ? { status, headers } : { status, headers, body }
}

function header (req: GatewayRequest, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v.join(', ') : v
}

/**
 * The format asked for: ?format= wins, then the Accept header (by q-value,
 * first listed on ties; a CAR entry counts only for a variant served:
 * version 1, order dfs or unk, dups y or n). Null when neither was given (no
 * Accept, or only wildcards).
 *
 * @throws {HttpError} 400 for an unknown ?format=, 406 when Accept names no type and variant served
 */
function negotiate (req: GatewayRequest, params: URLSearchParams): Negotiated | null {
  const format = params.get('format')
  if (format !== null) {
    if (format === 'raw' || format === 'car') return { format, dups: null }
    throw new HttpError(400, 'ERR_BAD_FORMAT', `unsupported format ${JSON.stringify(format.slice(0, 40))}: use raw or car`)
  }
  const accept = header(req, 'accept')
  if (accept === undefined || accept.trim() === '') return null
  let best: (Negotiated & { q: number }) | null = null
  let concrete = false
  for (const part of accept.split(',').slice(0, 32)) {
    const [type = '', ...rawParams] = part.split(';').map((s) => s.trim().toLowerCase())
    if (type === '') continue
    if (!type.includes('*')) concrete = true
    let q = 1
    const p: Record<string, string> = {}
    for (const param of rawParams) {
      const [k = '', v = ''] = param.split('=').map((s) => s.trim())
      if (k === 'q') q = Number(v)
      else p[k] = v.replace(/^"(.*)"$/, '$1')
    }
    if (!Number.isFinite(q) || q <= 0) continue
    let f: Negotiated | null = null
    if (type === RAW) f = { format: 'raw', dups: null }
    else if (type === CAR && (p.version === undefined || p.version === '1') && (p.order === undefined || p.order === 'dfs' || p.order === 'unk') &&
      (p.dups === undefined || p.dups === 'y' || p.dups === 'n')) {
      f = { format: 'car', dups: p.dups === undefined ? null : p.dups === 'y' }
    }
    if (f !== null && (best === null || q > best.q)) best = { ...f, q }
  }
  if (best !== null) return { format: best.format, dups: best.dups }
  if (!concrete) return null
  throw new HttpError(406, 'ERR_NOT_ACCEPTABLE', `Accept names nothing served here: ask for ${RAW} or ${CAR}; version=1 (order=dfs, dups=n or y)`)
}

/** ?format=ipns-record, or an Accept header that lists the record type with q > 0. */
function wantsIpnsRecord (req: GatewayRequest, params: URLSearchParams): boolean {
  const format = params.get('format')
  if (format !== null) {
    if (format === 'ipns-record') return true
    throw new HttpError(400, 'ERR_BAD_FORMAT', `unsupported format ${JSON.stringify(format.slice(0, 40))} for /ipns/: use ipns-record`)
  }
  for (const part of (header(req, 'accept') ?? '').split(',').slice(0, 32)) {
    const [type = '', ...rawParams] = part.split(';').map((s) => s.trim().toLowerCase())
    if (type !== IPNS_RECORD_MEDIA_TYPE) continue
    const q = rawParams.map((p) => p.split('=').map((x) => x.trim())).find(([k]) => k === 'q')?.[1]
    if (q === undefined || Number(q) > 0) return true
  }
  return false
}

/** An unsigned LEB128 varint, as CAR lengths are written. */
function uvarint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

/**
 * The bytes of a CARv1 of the one block `cid` (roots: [cid]) that come before
 * the block's own: the header's length, the header, the section's length and
 * the CID. Followed by the block, that is the CAR (encodeCar writes the same
 * bytes through its streaming writer, which copies the block).
 */
export function carPrefix (cid: CID, blockBytes: number): Uint8Array {
  return concatParts([carHeader(cid), sectionPrefix(cid, blockBytes)])
}

/** The header of a CARv1 whose roots are [root], with its length prefix. */
export function carHeader (root: CID): Uint8Array {
  const header = dagCbor.encode({ version: 1, roots: [root] })
  return concatParts([new Uint8Array(uvarint(header.byteLength)), header])
}

/** What comes before a block's bytes in a CAR section: the section's length and the CID. */
function sectionPrefix (cid: CID, blockBytes: number): Uint8Array {
  const id = cid.bytes
  return concatParts([new Uint8Array(uvarint(id.byteLength + blockBytes)), id])
}

/** A CARv1 of the one block `cid`, in one buffer. */
export function carOfOne (cid: CID, bytes: Uint8Array): Uint8Array {
  return concatParts([carPrefix(cid, bytes.byteLength), bytes])
}

function concatParts (parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}

/**
 * The gateway's handler over `options`.
 *
 * @throws {UsageError} ERR_ARGUMENT for bad options
 */
export function gatewayHandler (options: GatewayHandlerOptions): GatewayHandler {
  const { head, blockCache } = options
  if (options.source == null || typeof options.source.get !== 'function') throw new UsageError('ERR_ARGUMENT', 'source: expected a BlockSource')
  // The CAR walk reads through the cache; a single block looks it up first itself (no deadline to arm on a hit).
  const source = blockCache === undefined ? options.source : cachedSource(options.source, blockCache)
  if (typeof head !== 'function') throw new UsageError('ERR_ARGUMENT', 'head: expected a function')
  if (options.ipns !== undefined && typeof options.ipns !== 'function') throw new UsageError('ERR_ARGUMENT', 'ipns: expected a function')
  const maxBlockBytes = positiveInt(options.maxBlockBytes, MAX_ANY_BLOCK_BYTES, 'maxBlockBytes')
  const blockTimeoutMs = positiveInt(options.blockTimeoutMs, 20_000, 'blockTimeoutMs')
  const maxCarBlocks = positiveInt(options.maxCarBlocks, DEFAULT_MAX_CAR_BLOCKS, 'maxCarBlocks')
  const maxCarBytes = positiveInt(options.maxCarBytes, DEFAULT_MAX_CAR_BYTES, 'maxCarBytes')

  /** The CAR parameters of a request: scope, byte range, dups (query parameters over Accept's). */
  function carParams (params: URLSearchParams, negotiated: Negotiated): { scope: DagScope, bytes: EntityBytes | null, dups: boolean } {
    for (const [name, allowed] of [['car-version', ['1']], ['car-order', ['dfs', 'unk']], ['car-dups', ['y', 'n']]] as const) {
      const v = params.get(name)
      if (v !== null && !(allowed as readonly string[]).includes(v)) {
        throw new HttpError(400, 'ERR_BAD_PARAMETER', `${name}=${JSON.stringify(v.slice(0, 20))} is not served: use ${allowed.join(' or ')}`)
      }
    }
    const carDups = params.get('car-dups')
    const dups = carDups !== null ? carDups === 'y' : negotiated.dups === true
    const scopeText = params.get('dag-scope')
    if (scopeText !== null && scopeText !== 'all' && scopeText !== 'entity' && scopeText !== 'block') {
      throw new HttpError(400, 'ERR_BAD_SCOPE', 'dag-scope must be all, entity or block')
    }
    const bytesText = params.get('entity-bytes')
    let bytes: EntityBytes | null = null
    if (bytesText !== null) {
      bytes = parseEntityBytes(bytesText)
      if (bytes === null) throw new HttpError(400, 'ERR_BAD_RANGE', 'entity-bytes must be from:to with integers (to may be *; negative counts from the end)')
    }
    // entity-bytes implies dag-scope=entity (an explicit other scope is refused: it would be ambiguous).
    if (bytes !== null && scopeText !== null && scopeText !== 'entity') throw new HttpError(400, 'ERR_BAD_SCOPE', 'entity-bytes goes with dag-scope=entity only')
    return { scope: bytes !== null ? 'entity' : (scopeText ?? 'all') as DagScope, bytes, dups }
  }

  async function block (req: GatewayRequest, cidText: string, params: URLSearchParams, signal: AbortSignal | undefined): Promise<GatewayResponse> {
    let cid: CID
    let probe = false
    try {
      const parsed = parseCid(cidText)
      probe = parsed.equals(PROBE_CID)
      cid = probe ? PROBE_CID : normalizeCid(parsed)
    } catch (e) {
      const code = (e as { code?: string }).code === 'ERR_UNSUPPORTED_HASH' ? 'ERR_UNSUPPORTED_HASH' : 'ERR_BAD_CID'
      throw new HttpError(400, code, 'not a CIDv1 (or CIDv0) with a sha2-256 multihash')
    }
    const negotiated = negotiate(req, params)
    if (negotiated === null) {
      throw new HttpError(400, 'ERR_FORMAT_REQUIRED', `this is a trustless gateway: ask for ?format=raw or ?format=car (Accept: ${RAW} or ${CAR})`)
    }
    const format = negotiated.format
    if (format === 'raw' && (params.has('dag-scope') || params.has('entity-bytes'))) {
      throw new HttpError(400, 'ERR_BAD_PARAMETER', 'dag-scope and entity-bytes apply to CAR responses only')
    }
    const car = format === 'car' ? carParams(params, negotiated) : null

    const id = cid.toString()
    const etag = car === null
      ? `"${id}.raw"`
      : `"${id}.car.${car.scope}${car.bytes === null ? '' : `.${car.bytes.from}_${car.bytes.to ?? '*'}`}.dfs.${car.dups ? 'y' : 'n'}"`
    const common = {
      'x-content-type-options': 'nosniff',
      'cache-control': IMMUTABLE,
      etag,
      vary: 'Accept',
      'x-ipfs-path': `/ipfs/${id}`,
      'x-ipfs-roots': id
    }
    const ifNoneMatch = header(req, 'if-none-match')
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').map((s) => s.trim().replace(/^W\//, '')).includes(etag)) {
      return { status: 304, headers: common }
    }

    let bytes: Uint8Array
    const hit = probe ? undefined : blockCache?.get(cid)
    if (probe) {
      bytes = new Uint8Array(0)
    } else if (hit !== undefined && hit.byteLength <= maxBlockBytes) {
      bytes = hit
    } else {
      const d = deadline(blockTimeoutMs, signal)
      try {
        bytes = await options.source.get(cid, { signal: d.signal, maxBytes: maxBlockBytes })
        blockCache?.put(cid, bytes)
      } catch (e) {
        const code = (e as { code?: string }).code
        if (d.timedOut() || code === 'ERR_TIMEOUT') throw new HttpError(504, 'ERR_TIMEOUT', `block ${id} was not found in time`)
        if (code === 'ERR_BLOCK_NOT_FOUND') {
          if (/(^|,)\s*only-if-cached\s*(,|$)/i.test(header(req, 'cache-control') ?? '')) throw new HttpError(412, 'ERR_NOT_CACHED', `block ${id} is not here`)
          throw new HttpError(404, code, `block ${id} not found`)
        }
        if (code === 'ERR_UNSUPPORTED_HASH') throw new HttpError(400, code, 'unsupported hash')
        if (code === 'ERR_ABORTED') throw new HttpError(503, code, 'the request was cancelled')
        if (code === undefined) throw new HttpError(500, 'ERR_INTERNAL', `block ${id} could not be served`)
        // A corrupted store, an oversized block, a failing upstream: not the client's fault.
        throw new HttpError(502, code as BlockCode, `block ${id} could not be served`)
      } finally {
        d.clear()
      }
    }

    const disposition = `attachment; filename="${id}.${format === 'raw' ? 'bin' : 'car'}"`
    if (car === null) {
      const headers = { ...common, 'content-type': RAW, 'content-length': bytes.byteLength, 'content-disposition': disposition, 'accept-ranges': 'none' }
      return req.method === 'HEAD' ? { status: 200, headers } : { status: 200, headers, body: bytes }
    }

    // What the CAR holds beyond the root: entity-bytes resolved against the file's size first.
    let scope = car.scope
    let range: ByteRange | undefined
    if (car.bytes !== null && !probe) {
      const size = entitySize(cid, bytes)
      if (size !== null) {
        const resolved = resolveRange(car.bytes, size)
        if (resolved === 'outside') throw new HttpError(400, 'ERR_BAD_RANGE', `entity-bytes starts at or past the end of the ${size}-byte file`)
        if (resolved === 'empty') scope = 'block'
        else range = resolved
      }
    }
    const contentType = carContentType(car.dups)
    // The probe is a CAR of no blocks (its identity block is not sent); a
    // root with nothing to follow is a CAR of one block, sent in parts.
    const walk = probe || scope === 'block' || cid.code === CODEC_RAW ? null : { scope, range }
    if (walk === null) {
      const parts = probe ? [carHeader(cid)] : [carPrefix(cid, bytes.byteLength), bytes]
      const headers = { ...common, 'content-type': contentType, 'content-length': parts.reduce((n, part) => n + part.byteLength, 0), 'content-disposition': disposition, 'accept-ranges': 'none' }
      if (req.method === 'HEAD') return { status: 200, headers }
      // The block is not copied behind the CAR header unless `body` is read.
      let joined: Uint8Array | undefined
      return {
        status: 200,
        headers,
        parts,
        get body (): Uint8Array {
          joined ??= concatParts(parts)
          return joined
        }
      }
    }
    const headers = { ...common, 'content-type': contentType, 'content-disposition': disposition, 'accept-ranges': 'none' }
    if (req.method === 'HEAD') return { status: 200, headers }
    const walkOptions = {
      scope: walk.scope,
      ...(walk.range !== undefined ? { range: walk.range } : {}),
      dups: car.dups,
      maxBlocks: maxCarBlocks,
      maxBytes: maxCarBytes,
      // Links waiting: at most twice the blocks a response may hold (and 1024 more).
      maxPending: 2 * maxCarBlocks + 1024,
      maxBlockBytes,
      blockTimeoutMs,
      ...(signal !== undefined ? { signal } : {})
    }
    const root = cid
    const rootBytes = bytes
    // Small sections are joined into writes of up to COALESCE bytes (a
    // write per 1 KiB block cost more than the block); large blocks go as they are.
    async function * stream (): AsyncGenerator<Uint8Array> {
      let pending: Uint8Array[] = [carHeader(root)]
      let size = pending[0]!.byteLength
      const flush = (): Uint8Array => {
        const out = pending.length === 1 ? pending[0]! : concatParts(pending)
        pending = []
        size = 0
        return out
      }
      for await (const b of walkDag(source, root, rootBytes, walkOptions)) {
        const prefix = sectionPrefix(b.cid, b.bytes.byteLength)
        if (b.bytes.byteLength >= COALESCE) {
          pending.push(prefix)
          yield flush()
          yield b.bytes
          continue
        }
        pending.push(prefix, b.bytes)
        size += prefix.byteLength + b.bytes.byteLength
        if (size >= COALESCE) yield flush()
      }
      if (pending.length > 0) yield flush()
    }
    return { status: 200, headers, stream: stream() }
  }

  async function currentHead (req: GatewayRequest): Promise<GatewayResponse> {
    let current: CID | null
    try {
      current = await head()
    } catch {
      throw new HttpError(500, 'ERR_INTERNAL', 'the head could not be read')
    }
    if (current === null) throw new HttpError(404, 'ERR_NO_HEAD', 'no head has been published yet')
    const body = new TextEncoder().encode(`${current.toString()}\n`)
    return response(req.method, 200, {
      'content-type': 'text/plain; charset=utf-8',
      // What a push names in If-Match (registry-handlers.ts).
      etag: `"${current.toString()}"`,
      'content-length': body.byteLength,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff'
    }, body)
  }

  async function ipnsRecord (req: GatewayRequest, nameText: string, params: URLSearchParams): Promise<GatewayResponse> {
    let wanted: string
    try {
      wanted = parseIpnsName(nameText).name
    } catch {
      throw new HttpError(400, 'ERR_BAD_NAME', 'not an IPNS name with an Ed25519 key (k51...)')
    }
    if (!wantsIpnsRecord(req, params)) {
      throw new HttpError(406, 'ERR_NOT_ACCEPTABLE', `ask for ?format=ipns-record (Accept: ${IPNS_RECORD_MEDIA_TYPE}); names are not resolved here`)
    }
    if (params.has('dag-scope') || params.has('entity-bytes')) throw new HttpError(400, 'ERR_BAD_PARAMETER', 'no parameters apply to IPNS records')
    let current: { name: string, record: Uint8Array } | null = null
    try {
      current = options.ipns === undefined ? null : await options.ipns()
    } catch {
      throw new HttpError(500, 'ERR_INTERNAL', 'the IPNS record could not be read')
    }
    // Only the server's own name: this is not a resolver for anyone else's.
    let own: string | undefined
    try {
      own = current === null ? undefined : parseIpnsName(current.name).name
    } catch {
      throw new HttpError(500, 'ERR_INTERNAL', 'the server\'s IPNS name is malformed')
    }
    if (current === null || own !== wanted) throw new HttpError(404, 'ERR_NAME_NOT_FOUND', `no IPNS record for /ipns/${wanted} here`)
    const body = current.record
    if (body.byteLength === 0 || body.byteLength > MAX_IPNS_RECORD_BYTES) throw new HttpError(500, 'ERR_INTERNAL', 'the IPNS record is empty or too large to serve')
    return response(req.method, 200, {
      'content-type': IPNS_RECORD_MEDIA_TYPE,
      'content-length': body.byteLength,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      vary: 'Accept',
      'x-ipfs-path': `/ipns/${wanted}`,
      'content-disposition': `attachment; filename="${wanted}.ipns-record"`
    }, body)
  }

  async function route (req: GatewayRequest, signal: AbortSignal | undefined): Promise<GatewayResponse> {
    const target = req.url
    if (target.length > MAX_URL_LENGTH) throw new HttpError(414, 'ERR_URI_TOO_LONG', `the URL is longer than ${MAX_URL_LENGTH} characters`)
    // No request bodies: refuse before reading any, and do not reuse the connection.
    const length = header(req, 'content-length')
    if ((length !== undefined && length !== '0') || header(req, 'transfer-encoding') !== undefined) {
      throw new HttpError(413, 'ERR_BODY_NOT_ALLOWED', 'request bodies are not accepted', { connection: 'close' })
    }
    if (!target.startsWith('/')) throw new HttpError(400, 'ERR_BAD_REQUEST', 'the request target must be a path')
    let url: URL
    try {
      url = new URL(target, 'http://gateway.invalid')
    } catch {
      throw new HttpError(400, 'ERR_BAD_REQUEST', 'the URL does not parse')
    }
    const path = url.pathname
    const match = /^\/(ipfs|ipns)\/([^/]+)$/.exec(path)
    if (path !== '/head' && match === null) throw new HttpError(404, 'ERR_NOT_FOUND', 'no such path')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'only GET and HEAD are allowed', { allow: 'GET, HEAD' })
    }
    if (match === null) return await currentHead(req)
    const ipns = match[1] === 'ipns'
    let id: string
    try {
      id = decodeURIComponent(match[2] as string)
    } catch {
      throw ipns ? new HttpError(400, 'ERR_BAD_NAME', 'not an IPNS name') : new HttpError(400, 'ERR_BAD_CID', 'not a CID')
    }
    return ipns ? await ipnsRecord(req, id, url.searchParams) : await block(req, id, url.searchParams, signal)
  }

  return async (req, opts = {}) => {
    let answer: GatewayResponse
    try {
      answer = await route(req, opts.signal)
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, 'ERR_INTERNAL', 'internal error')
      answer = errorResponse(req.method, err.status, err.code, err.message, err.headers)
    }
    // Readable from pages of any origin (a browser client such as the
    // inspector served elsewhere), as trustless gateways do: the responses
    // are public and the client checks every byte; GET and HEAD with an
    // Accept header need no preflight.
    // Copied by descriptors: spreading the answer would read a lazy `body`
    // (a CAR of one block: the block copied behind its header, 1 MiB per
    // request that nobody reads).
    return Object.defineProperties({}, {
      ...Object.getOwnPropertyDescriptors(answer),
      headers: { value: { ...answer.headers, 'access-control-allow-origin': '*' }, enumerable: true }
    }) as GatewayResponse
  }
}
