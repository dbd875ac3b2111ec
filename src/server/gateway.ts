/**
 * The HTTP face of `dagtuf serve`: a trustless gateway for blocks and the
 * current head, on node:http.
 *
 *   GET|HEAD /ipfs/{cid}?format=raw   (or Accept: application/vnd.ipld.raw)
 *       the block, Content-Type application/vnd.ipld.raw
 *   GET|HEAD /ipfs/{cid}?format=car   (or Accept: application/vnd.ipld.car)
 *       a CARv1 holding that one block (dag-scope=block)
 *   GET|HEAD /head
 *       the current timestamp CID as text/plain, 404 when there is none
 *   GET|HEAD /ipns/{name}?format=ipns-record   (or Accept: application/vnd.ipfs.ipns-record)
 *       the marshalled signed IPNS record of the server's own name (the
 *       `ipns` option), Content-Type application/vnd.ipfs.ipns-record; 404
 *       for any other name or when there is no record; at most 10 KiB
 *
 * Everything else: 400 for a bad CID or parameter, 404 for an unknown block
 * and for every other path (no listing, no path resolution), 405 for other
 * methods on these paths, 406 when no supported format was asked for, 413
 * for a request with a body, 414 for a long URL, 431 for large headers.
 * Error bodies are JSON: { "error": { "code", "message" } }.
 *
 * The server is as trustless as its clients: it serves only what its
 * BlockSource returns, which is hash-checked there, and clients check again.
 * Blocks are immutable, so they are cached for a year; /head and IPNS
 * records (replaced by every publish) never are. The server does not check
 * IPNS records either: clients verify the signature against the name.
 * Requests, idle keep-alive connections and block lookups all have time
 * limits, and close() ends every connection.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { CID } from 'multiformats/cid'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { parseCid } from '../model/hash.js'
import { IPNS_RECORD_MEDIA_TYPE, MAX_IPNS_RECORD_BYTES, parseIpnsName } from '../model/ipns.js'
import { encodeCar } from '../blocks/car.js'
import { deadline, normalizeCid, positiveInt } from '../blocks/util.js'
import type { BlockSource } from '../blocks/types.js'
import { BlockError, UsageError } from '../model/errors.js'

export interface ServerOptions {
  /** Where blocks come from (checked there). */
  source: BlockSource
  /** The current head, or null when there is none yet. */
  head: () => Promise<CID | null>
  /**
   * The server's own IPNS name (`k51...` or `/ipns/k51...`) and its latest
   * marshalled record, or null when there is none. Without it, /ipns/ is 404.
   */
  ipns?: () => Promise<{ name: string, record: Uint8Array } | null>
  /** Interface to listen on (default 127.0.0.1). */
  host?: string
  /** Port (default 0: any free port). */
  port?: number
  /** Largest block served (default MAX_ANY_BLOCK_BYTES). */
  maxBlockBytes?: number
  /** Time limit to look up one block in the source, in ms (default 20 000). */
  blockTimeoutMs?: number
  /** Time limit to receive a whole request, in ms (default 15 000). */
  requestTimeoutMs?: number
  /** Idle keep-alive connections are closed after this many ms (default 5 000). */
  idleTimeoutMs?: number
  /** Grace period of close() for responses in flight, in ms (default 2 000). */
  closeGraceMs?: number
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:41234 */
  url: string
  port: number
  /** Stop listening, end every connection (idle ones at once). Idempotent. */
  close: () => Promise<void>
}

const MAX_URL_LENGTH = 2048
const MAX_HEADER_BYTES = 8 * 1024
const RAW = 'application/vnd.ipld.raw'
const CAR = 'application/vnd.ipld.car'
const CAR_CONTENT_TYPE = 'application/vnd.ipld.car; version=1; order=dfs; dups=n'
const IMMUTABLE = 'public, max-age=29030400, immutable'

type Format = 'raw' | 'car'

class HttpError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message)
  }
}

function sendError (res: ServerResponse, req: IncomingMessage, e: HttpError): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify({ error: { code: e.code, message: e.message } })
  res.writeHead(e.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...e.headers
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}

/**
 * The format asked for: ?format= wins, then the Accept header (by q-value,
 * first listed on ties). Null when neither names raw or car.
 */
function negotiate (req: IncomingMessage, params: URLSearchParams): Format | null {
  const format = params.get('format')
  if (format !== null) {
    if (format === 'raw' || format === 'car') return format
    throw new HttpError(400, 'ERR_BAD_FORMAT', `unsupported format ${JSON.stringify(format.slice(0, 40))}: use raw or car`)
  }
  const accept = req.headers.accept
  if (accept === undefined) return null
  let best: { format: Format, q: number } | null = null
  for (const part of accept.split(',').slice(0, 32)) {
    const [type = '', ...rawParams] = part.split(';').map((s) => s.trim().toLowerCase())
    let q = 1
    let version: string | undefined
    for (const p of rawParams) {
      const [k, v = ''] = p.split('=').map((s) => s.trim())
      if (k === 'q') q = Number(v)
      if (k === 'version') version = v
    }
    if (!Number.isFinite(q) || q <= 0) continue
    let f: Format | null = null
    if (type === RAW) f = 'raw'
    else if (type === CAR && (version === undefined || version === '1')) f = 'car'
    if (f !== null && (best === null || q > best.q)) best = { format: f, q }
  }
  return best?.format ?? null
}

/**
 * Start the gateway. Resolves once it listens.
 *
 * @throws {UsageError} ERR_ARGUMENT for bad options; the listen error (e.g. EADDRINUSE) otherwise
 */
export async function startServer (options: ServerOptions): Promise<RunningServer> {
  const { source, head } = options
  if (source == null || typeof source.get !== 'function') throw new UsageError('ERR_ARGUMENT', 'source: expected a BlockSource')
  if (typeof head !== 'function') throw new UsageError('ERR_ARGUMENT', 'head: expected a function')
  if (options.ipns !== undefined && typeof options.ipns !== 'function') throw new UsageError('ERR_ARGUMENT', 'ipns: expected a function')
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('ERR_ARGUMENT', 'port: expected 0..65535')
  const maxBlockBytes = positiveInt(options.maxBlockBytes, MAX_ANY_BLOCK_BYTES, 'maxBlockBytes')
  const blockTimeoutMs = positiveInt(options.blockTimeoutMs, 20_000, 'blockTimeoutMs')
  const requestTimeoutMs = positiveInt(options.requestTimeoutMs, 15_000, 'requestTimeoutMs')
  const idleTimeoutMs = positiveInt(options.idleTimeoutMs, 5_000, 'idleTimeoutMs')
  const closeGraceMs = positiveInt(options.closeGraceMs, 2_000, 'closeGraceMs')

  // Aborts block lookups still running when close() gives up waiting.
  const shutdown = new AbortController()

  async function serveBlock (req: IncomingMessage, res: ServerResponse, cidText: string, params: URLSearchParams): Promise<void> {
    let cid: CID
    try {
      cid = normalizeCid(parseCid(cidText))
    } catch (e) {
      throw new HttpError(400, (e as { code?: string }).code ?? 'ERR_BAD_CID', 'not a CIDv1 (or CIDv0) with a sha2-256 multihash')
    }
    const format = negotiate(req, params)
    if (format === null) {
      throw new HttpError(406, 'ERR_NOT_ACCEPTABLE', `ask for ?format=raw or ?format=car (Accept: ${RAW} or ${CAR})`)
    }
    const scope = params.get('dag-scope')
    if (format === 'car' && scope !== null && scope !== 'block') throw new HttpError(400, 'ERR_BAD_SCOPE', 'only dag-scope=block is served')
    if (params.has('entity-bytes')) throw new HttpError(400, 'ERR_BAD_PARAMETER', 'entity-bytes is not supported')

    const id = cid.toString()
    const etag = format === 'raw' ? `"${id}.raw"` : `"${id}.car.block"`
    const common = {
      'x-content-type-options': 'nosniff',
      'cache-control': IMMUTABLE,
      etag,
      vary: 'Accept',
      'x-ipfs-path': `/ipfs/${id}`,
      'x-ipfs-roots': id
    }
    const ifNoneMatch = req.headers['if-none-match']
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').map((s) => s.trim().replace(/^W\//, '')).includes(etag)) {
      res.writeHead(304, common)
      res.end()
      return
    }

    // The lookup stops when the client goes away, at the time limit, or on close().
    const gone = new AbortController()
    const onClose = (): void => { if (!res.writableFinished) gone.abort() }
    res.once('close', onClose)
    const stopOnShutdown = (): void => { gone.abort() }
    shutdown.signal.addEventListener('abort', stopOnShutdown, { once: true })
    const d = deadline(blockTimeoutMs, gone.signal)
    let bytes: Uint8Array
    try {
      bytes = await source.get(cid, { signal: d.signal, maxBytes: maxBlockBytes })
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'ERR_INTERNAL'
      if (d.timedOut() || code === 'ERR_TIMEOUT') throw new HttpError(504, 'ERR_TIMEOUT', `block ${id} was not found in time`)
      if (code === 'ERR_BLOCK_NOT_FOUND') throw new HttpError(404, code, `block ${id} not found`)
      if (code === 'ERR_UNSUPPORTED_HASH') throw new HttpError(400, code, 'unsupported hash')
      if (code === 'ERR_ABORTED') throw new HttpError(503, code, 'the request was cancelled')
      if (code === 'ERR_INTERNAL') throw new HttpError(500, code, `block ${id} could not be served`)
      // A corrupted store, an oversized block, a failing upstream: not the client's fault.
      throw new HttpError(502, code, `block ${id} could not be served`)
    } finally {
      d.clear()
      res.removeListener('close', onClose)
      shutdown.signal.removeEventListener('abort', stopOnShutdown)
    }

    const body = format === 'raw' ? bytes : await encodeCar([cid], [{ cid, bytes }])
    res.writeHead(200, {
      ...common,
      'content-type': format === 'raw' ? RAW : CAR_CONTENT_TYPE,
      'content-length': body.byteLength,
      'content-disposition': `attachment; filename="${id}.${format === 'raw' ? 'bin' : 'car'}"`,
      'accept-ranges': 'none'
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }

  async function serveHead (req: IncomingMessage, res: ServerResponse): Promise<void> {
    let current: CID | null
    try {
      current = await head()
    } catch {
      throw new HttpError(500, 'ERR_INTERNAL', 'the head could not be read')
    }
    if (current === null) throw new HttpError(404, 'ERR_NO_HEAD', 'no head has been published yet')
    const body = `${current.toString()}\n`
    res.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff'
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }

  /** ?format=ipns-record, or an Accept header that lists the record type with q > 0. */
  function wantsIpnsRecord (req: IncomingMessage, params: URLSearchParams): boolean {
    const format = params.get('format')
    if (format !== null) {
      if (format === 'ipns-record') return true
      throw new HttpError(400, 'ERR_BAD_FORMAT', `unsupported format ${JSON.stringify(format.slice(0, 40))} for /ipns/: use ipns-record`)
    }
    for (const part of (req.headers.accept ?? '').split(',').slice(0, 32)) {
      const [type = '', ...rawParams] = part.split(';').map((s) => s.trim().toLowerCase())
      if (type !== IPNS_RECORD_MEDIA_TYPE) continue
      const q = rawParams.map((p) => p.split('=').map((x) => x.trim())).find(([k]) => k === 'q')?.[1]
      if (q === undefined || Number(q) > 0) return true
    }
    return false
  }

  async function serveIpns (req: IncomingMessage, res: ServerResponse, nameText: string, params: URLSearchParams): Promise<void> {
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
    res.writeHead(200, {
      'content-type': IPNS_RECORD_MEDIA_TYPE,
      'content-length': body.byteLength,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      vary: 'Accept',
      'x-ipfs-path': `/ipns/${wanted}`,
      'content-disposition': `attachment; filename="${wanted}.ipns-record"`
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? ''
    if (target.length > MAX_URL_LENGTH) throw new HttpError(414, 'ERR_URI_TOO_LONG', `the URL is longer than ${MAX_URL_LENGTH} characters`)
    // No request bodies: refuse before reading any, and do not reuse the connection.
    const length = req.headers['content-length']
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
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
    if (match === null) {
      await serveHead(req, res)
      return
    }
    const ipns = match[1] === 'ipns'
    let id: string
    try {
      id = decodeURIComponent(match[2] as string)
    } catch {
      throw ipns ? new HttpError(400, 'ERR_BAD_NAME', 'not an IPNS name') : new HttpError(400, 'ERR_BAD_CID', 'not a CID')
    }
    if (ipns) await serveIpns(req, res, id, url.searchParams)
    else await serveBlock(req, res, id, url.searchParams)
  }

  const server: Server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(requestTimeoutMs, 10_000),
    keepAliveTimeout: idleTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, requestTimeoutMs)
  }, (req, res) => {
    res.on('error', () => { res.destroy() })
    req.on('error', () => { res.destroy() })
    handle(req, res).catch((e: unknown) => {
      const err = e instanceof HttpError ? e : new HttpError(500, 'ERR_INTERNAL', 'internal error')
      try {
        sendError(res, req, err)
      } catch {
        res.destroy()
      }
    })
  })
  // Inactive sockets (slow readers, half-open connections) are dropped.
  server.setTimeout(Math.max(requestTimeoutMs, blockTimeoutMs) + 5_000, (socket: Socket) => { socket.destroy() })
  server.maxHeadersCount = 64

  await new Promise<void>((resolve, reject) => {
    // Address in use, not ours, or a host that does not resolve: typed, not a crash.
    const onError = (cause: NodeJS.ErrnoException): void => {
      reject(new BlockError('ERR_LISTEN', `cannot listen on ${host}:${port} (${cause.code ?? 'error'})`, { cause, details: { host, port } }))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.removeListener('error', onError)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const hostInUrl = address.family === 'IPv6' || host.includes(':') ? `[${address.address}]` : address.address

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        shutdown.abort()
        server.closeAllConnections()
      }, closeGraceMs)
      server.close(() => {
        clearTimeout(timer)
        resolve()
      })
      server.closeIdleConnections()
    })
    return closing
  }

  return { url: `http://${hostInUrl}:${address.port}`, port: address.port, close }
}
