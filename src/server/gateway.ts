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
 *
 * Everything else: 400 for a bad CID or parameter, 404 for an unknown block
 * and for every other path (no listing, no path resolution), 405 for other
 * methods on these paths, 406 when no supported format was asked for, 413
 * for a request with a body, 414 for a long URL, 431 for large headers.
 * Error bodies are JSON: { "error": { "code", "message" } }.
 *
 * The server is as trustless as its clients: it serves only what its
 * BlockSource returns, which is hash-checked there, and clients check again.
 * Blocks are immutable, so they are cached for a year; /head never is.
 * Requests, idle keep-alive connections and block lookups all have time
 * limits, and close() ends every connection.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { CID } from 'multiformats/cid'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { parseCid } from '../model/hash.js'
import { encodeCar } from '../blocks/car.js'
import { deadline, normalizeCid, positiveInt } from '../blocks/util.js'
import type { BlockSource } from '../blocks/types.js'
import { UsageError } from '../model/errors.js'

export interface ServerOptions {
  /** Where blocks come from (checked there). */
  source: BlockSource
  /** The current head, or null when there is none yet. */
  head: () => Promise<CID | null>
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
    const match = /^\/ipfs\/([^/]+)$/.exec(path)
    if (path !== '/head' && match === null) throw new HttpError(404, 'ERR_NOT_FOUND', 'no such path')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'only GET and HEAD are allowed', { allow: 'GET, HEAD' })
    }
    if (match === null) {
      await serveHead(req, res)
      return
    }
    let cidText: string
    try {
      cidText = decodeURIComponent(match[1] as string)
    } catch {
      throw new HttpError(400, 'ERR_BAD_CID', 'not a CID')
    }
    await serveBlock(req, res, cidText, url.searchParams)
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
    server.once('error', reject)
    server.listen(port, host, () => {
      server.removeListener('error', reject)
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
