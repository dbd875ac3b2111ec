/**
 * The node:http adapter of `dagtuf serve`: it listens, turns each request
 * into a GatewayRequest for the handlers of gateway-handlers.ts, and writes
 * the GatewayResponse back. What it adds is about sockets only: header size
 * limits (431), request, idle and socket time limits, an abort signal for
 * each request (the client went away, or close() gave up waiting), and a
 * close() that ends every connection. With `registry`, GET /config and
 * PUT|POST /head go to the head registry (registry-handlers.ts), which gets
 * the request body as a stream and the remote address.
 */
import { setMaxListeners } from 'node:events'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { positiveInt } from '../blocks/util.js'
import { BlockError, UsageError } from '../model/errors.js'
import { errorResponse, gatewayHandler, type GatewayHandlerOptions } from './gateway-handlers.js'
import { isRegistryRoute, registryHandler, type RegistryHandler, type RegistryOptions } from './registry-handlers.js'
import { isSessionRoute } from './session-handlers.js'
import { isOpenApiRoute, openApiHandler } from './openapi.js'

export interface ServerOptions extends GatewayHandlerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string
  /** Port (default 0: any free port). */
  port?: number
  /** Time limit to receive a whole request, in ms (default 15 000). */
  requestTimeoutMs?: number
  /** Idle keep-alive connections are closed after this many ms (default 5 000). */
  idleTimeoutMs?: number
  /** Grace period of close() for responses in flight, in ms (default 2 000). */
  closeGraceMs?: number
  /** The head registry (GET /config, PUT /head); without it those are the gateway's 404/405. */
  registry?: RegistryOptions
  /** Signing sessions, the /drafts routes (session-handlers.ts). */
  sessions?: RegistryHandler
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:41234 */
  url: string
  port: number
  /** Stop listening, end every connection (idle ones at once). Idempotent. */
  close: () => Promise<void>
}

const MAX_HEADER_BYTES = 8 * 1024
/** Request header fields at most; more is 431 (node itself would only drop the excess). */
const MAX_HEADERS = 64

/**
 * Start the gateway. Resolves once it listens.
 *
 * @throws {UsageError} ERR_ARGUMENT for bad options
 * @throws {BlockError} ERR_LISTEN when the address cannot be listened on (in use, not ours, does not resolve)
 */
export async function startServer (options: ServerOptions): Promise<RunningServer> {
  const handler = gatewayHandler(options)
  const registry = options.registry === undefined ? undefined : registryHandler(options.registry)
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('ERR_ARGUMENT', 'port: expected 0..65535')
  const blockTimeoutMs = positiveInt(options.blockTimeoutMs, 20_000, 'blockTimeoutMs')
  const requestTimeoutMs = positiveInt(options.requestTimeoutMs, 15_000, 'requestTimeoutMs')
  const idleTimeoutMs = positiveInt(options.idleTimeoutMs, 5_000, 'idleTimeoutMs')
  const closeGraceMs = positiveInt(options.closeGraceMs, 2_000, 'closeGraceMs')

  // Aborts block lookups still running when close() gives up waiting.
  const shutdown = new AbortController()
  // One listener per request in flight: no fixed number is "too many".
  setMaxListeners(0, shutdown.signal)

  const server: Server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(requestTimeoutMs, 10_000),
    keepAliveTimeout: idleTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, requestTimeoutMs)
  }, (req, res) => {
    res.on('error', () => { res.destroy() })
    req.on('error', () => { res.destroy() })
    // The lookup stops when the client goes away or on close().
    const gone = new AbortController()
    const onClose = (): void => { if (!res.writableFinished) gone.abort() }
    const onShutdown = (): void => { gone.abort() }
    res.once('close', onClose)
    shutdown.signal.addEventListener('abort', onShutdown, { once: true })
    if (req.rawHeaders.length / 2 > MAX_HEADERS) {
      // Refused here with a JSON body: node's own maxHeadersCount answers a
      // bare 400. What node parses is bounded by maxHeaderSize (8 KiB).
      const answer = errorResponse(req.method ?? 'GET', 431, 'ERR_TOO_MANY_HEADERS', `more than ${MAX_HEADERS} request header fields`)
      res.removeListener('close', onClose)
      shutdown.signal.removeEventListener('abort', onShutdown)
      res.writeHead(answer.status, { ...answer.headers, connection: 'close' })
      res.end(answer.body)
      return
    }
    const request = { method: req.method ?? 'GET', url: req.url ?? '', headers: req.headers }
    // A refused body is left unread (not destroyed) so that the refusal can still be sent.
    const answering = isOpenApiRoute(request)
      ? openApiHandler(request)
      : options.sessions !== undefined && isSessionRoute(request)
      ? options.sessions({ ...request, body: req.iterator({ destroyOnReturn: false }), remoteAddress: req.socket.remoteAddress }, { signal: gone.signal })
      : registry !== undefined && isRegistryRoute(request)
      ? registry({ ...request, body: req.iterator({ destroyOnReturn: false }), remoteAddress: req.socket.remoteAddress }, { signal: gone.signal })
      : handler(request, { signal: gone.signal })
    answering
      .then((answer) => {
        res.removeListener('close', onClose)
        shutdown.signal.removeEventListener('abort', onShutdown)
        if (res.destroyed) return
        res.writeHead(answer.status, answer.headers)
        res.end(answer.body)
      })
      .catch(() => { res.destroy() })
  })
  // Inactive sockets (slow readers, half-open connections) are dropped.
  server.setTimeout(Math.max(requestTimeoutMs, blockTimeoutMs) + 5_000, (socket: Socket) => { socket.destroy() })
  // Counted in the request handler (MAX_HEADERS, 431); the bytes are capped by maxHeaderSize.
  server.maxHeadersCount = 0

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
