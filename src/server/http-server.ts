/**
 * The node:http adapter of `dagtuf serve`: it listens, turns each request
 * into a GatewayRequest for the handlers of gateway-handlers.ts, and writes
 * the GatewayResponse back. What it adds is about sockets only: header size
 * limits (431), request, idle and socket time limits, an abort signal for
 * each request (the client went away, or close() gave up waiting), and a
 * close() that ends every connection. With `registry`, GET /config and
 * PUT|POST /head go to the head registry (registry-handlers.ts), which gets
 * the request body as a stream and the remote address.
 *
 * What bounds the memory a client can make it hold (flow.ts for the details):
 * - at most `maxConnections` connections. The ones beyond are answered, to
 *   their first request, 503 ERR_BUSY (JSON body, Retry-After: 1,
 *   Connection: close) and closed; past twice the cap (plus 64) node closes
 *   new connections at once, without an answer.
 * - at most `maxInFlight` requests per connection are looked up or written
 *   at once; pipelined requests beyond wait, unread past what node already
 *   parsed (the socket is paused), and start only as earlier responses
 *   finish. More than MAX_QUEUED waiting on one connection closes it.
 * - block bodies held at once: `maxHeldBlocks` slots and `maxHeldBytes`
 *   (BodyPool); a request that waits for a slot longer than
 *   `queueTimeoutMs` is answered 503 ERR_BUSY. Blocks served before and
 *   known to be small (at most SMALL_BLOCK bytes; sizes of the last
 *   SIZE_MEMO CIDs are kept) go through a pool of their own (SMALL_SLOTS
 *   slots, so at most SMALL_SLOTS x SMALL_BLOCK bytes), so that large
 *   transfers, or readers that stopped reading, do not make them wait.
 * - large bodies (over SMALL_BLOCK, and CAR streams) are written at most
 *   `largeBytesPerTurn` bytes per turn of the event loop, all together
 *   (TurnBudget): small answers go between two rounds of large chunks.
 * - bodies are written in 256 KiB chunks as the socket drains, and a
 *   connection whose socket takes nothing for `writeTimeoutMs` (a reader
 *   that stopped reading) is destroyed, which frees what it held.
 * - verified blocks kept to be served again (BlockCache, `blockCacheBytes`,
 *   default 32 MiB): a hit is neither read nor hashed again, and its bytes
 *   are the cache's (a response holds no copy). The pools above still bound
 *   the requests served at once, hits or not.
 * `stats()` counts all of it (tests and the bench read it).
 *
 * `routes` adds routes answered before all others (GET /metrics, /healthz,
 * /readyz of `dagtuf serve`), and `observe` is told of every request the
 * handlers answered, once its response is done or abandoned: method, target,
 * status, body bytes written, and the body of a small error answer (what
 * metrics-handlers.ts counts).
 */
import { setMaxListeners } from 'node:events'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { positiveInt } from '../blocks/util.js'
import { BlockError, UsageError } from '../model/errors.js'
import { errorResponse, gatewayHandler, type GatewayHandlerOptions, type GatewayRequest, type GatewayResponse } from './gateway-handlers.js'
import type { ResponseRecord } from './metrics-handlers.js'
import { BodyPool, TurnBudget, writeBody, type Lease, type PoolStats, type TurnStats } from './flow.js'
import { BlockCache, type BlockCacheStats } from './block-cache.js'
import { isRegistryRoute, registryHandler, type RegistryHandler, type RegistryOptions } from './registry-handlers.js'
import { isSessionRoute } from './session-handlers.js'
import { isOpenApiRoute, openApiHandler } from './openapi.js'
import { isUiRoute, uiHandler } from './ui.js'
import { isRoutingRoute, routingHandler, type RoutingOptions } from './routing-handlers.js'

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
  /** The Delegated Routing V1 API, /routing/v1/ (routing-handlers.ts); without it those paths are 404. */
  routing?: RoutingOptions
  /** Connections at once (default 256); beyond, 503 ERR_BUSY and close. */
  maxConnections?: number
  /** Requests looked up or written at once per connection (default 1); pipelined ones beyond wait. */
  maxInFlight?: number
  /** A connection whose socket takes no bytes for this many ms is destroyed (default 10 000). */
  writeTimeoutMs?: number
  /** Block bodies (lookups and responses) held at once (default 16). */
  maxHeldBlocks?: number
  /** No new block lookup starts while the bodies held add up to this (default 16 MiB). */
  maxHeldBytes?: number
  /**
   * CAR responses streamed at once (default 8); beyond, 503 ERR_BUSY. Each
   * holds a block slot for its whole length and its walk up to PREFETCH + 1
   * blocks (car-scopes.ts).
   */
  maxCarStreams?: number
  /** Longest wait for a block slot before 503 ERR_BUSY, in ms (default 5 000). */
  queueTimeoutMs?: number
  /**
   * Bytes of verified blocks kept to be served again without a read and a
   * hash (block-cache.ts; default 32 MiB, 0: none). Ignored with `blockCache`.
   */
  blockCacheBytes?: number
  /**
   * Bytes of large bodies (over SMALL_BLOCK, and CAR streams) written per
   * turn of the event loop, all responses together (default 4 MiB): small
   * answers are not budgeted and go between two rounds (flow.ts TurnBudget).
   */
  largeBytesPerTurn?: number
  /**
   * More routes (GET /metrics, /healthz, /readyz: metrics-handlers.ts,
   * health-handlers.ts), answered before all others when `matches`.
   */
  routes?: ReadonlyArray<ExtraRoute>
  /** Told of every answered request once its response is done or abandoned (metrics-handlers.ts). */
  observe?: (record: ResponseRecord) => void
}

/** A route served next to the gateway's: a bodiless request in, a JSON or text answer out. */
export interface ExtraRoute {
  matches: (req: GatewayRequest) => boolean
  handler: (req: GatewayRequest, options: { signal: AbortSignal }) => Promise<GatewayResponse>
}

/** What the server holds and has refused, for tests, the bench and operators. */
export interface ServerStats extends PoolStats {
  /** Open connections, and the most open at once. */
  connections: number
  peakConnections: number
  /** Connections answered 503 ERR_BUSY for being over maxConnections. */
  refusedConnections: number
  /** Connections closed for pipelining more than MAX_QUEUED requests. */
  pipelineOverflows: number
  /** Connections cut by the write-inactivity timeout. */
  writeTimeouts: number
  /** Requests answered 503 ERR_BUSY after waiting queueTimeoutMs for a block slot, or over maxCarStreams. */
  busyRequests: number
  /** CAR responses being streamed now, and the most at once. */
  carStreams: number
  peakCarStreams: number
  /** Most requests started (looked up or written) at once on one connection. */
  peakInFlightPerConnection: number
  /** Most requests waiting on one connection. */
  peakQueuedPerConnection: number
  /** Most body bytes held for one connection at once. */
  peakHeldPerConnection: number
  /** Most bytes node buffered for one response (res.writableLength: its own, plus its socket's once attached), sampled after each write. */
  peakBufferedPerResponse: number
  /** The pool of blocks known to be small (the fields above are the main pool's). */
  small: PoolStats
  /** The verified-block cache (block-cache.ts). */
  cache: BlockCacheStats
  /** The bytes of large bodies written per turn of the event loop (flow.ts TurnBudget). */
  turns: TurnStats
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:41234 */
  url: string
  port: number
  /** Stop listening, end every connection (idle ones at once). Idempotent. */
  close: () => Promise<void>
  stats: () => ServerStats
}

/** The verified-block cache's budget by default (block-cache.ts). */
export const DEFAULT_BLOCK_CACHE_BYTES = 32 * 1024 * 1024
/** Bytes of large bodies written per turn of the event loop by default (flow.ts TurnBudget). */
export const DEFAULT_LARGE_BYTES_PER_TURN = 4 * 1024 * 1024
const MAX_HEADER_BYTES = 8 * 1024
/** Request header fields at most; more is 431 (node itself would only drop the excess). */
const MAX_HEADERS = 64
/** Requests waiting on one connection (pipelined, not started) beyond which it is closed. */
export const MAX_QUEUED = 64

/** Blocks up to this size, once known, take the small pool. */
export const SMALL_BLOCK = 64 * 1024
const SMALL_SLOTS = 64
/** CIDs whose block size is remembered. */
const SIZE_MEMO = 16_384

/** Per connection: requests started and waiting, body bytes held. */
interface Conn {
  active: number
  readonly queue: Array<() => void>
  paused: boolean
  held: number
  /** Over the connection cap, or closed for pipelining too much: no more requests are started. */
  refused: boolean
}

/**
 * Start the gateway. Resolves once it listens.
 *
 * @throws {UsageError} ERR_ARGUMENT for bad options
 * @throws {BlockError} ERR_LISTEN when the address cannot be listened on (in use, not ours, does not resolve)
 */
export async function startServer (options: ServerOptions): Promise<RunningServer> {
  const blockCacheBytes = options.blockCacheBytes ?? DEFAULT_BLOCK_CACHE_BYTES
  if (!Number.isSafeInteger(blockCacheBytes) || blockCacheBytes < 0) throw new UsageError('ERR_ARGUMENT', 'blockCacheBytes: expected an integer >= 0')
  const cache = options.blockCache ?? new BlockCache(blockCacheBytes)
  const handler = gatewayHandler({ ...options, blockCache: cache })
  const registry = options.registry === undefined ? undefined : registryHandler(options.registry)
  const routing = options.routing === undefined ? undefined : routingHandler(options.routing)
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('ERR_ARGUMENT', 'port: expected 0..65535')
  const blockTimeoutMs = positiveInt(options.blockTimeoutMs, 20_000, 'blockTimeoutMs')
  const requestTimeoutMs = positiveInt(options.requestTimeoutMs, 15_000, 'requestTimeoutMs')
  const idleTimeoutMs = positiveInt(options.idleTimeoutMs, 5_000, 'idleTimeoutMs')
  const closeGraceMs = positiveInt(options.closeGraceMs, 2_000, 'closeGraceMs')
  const maxConnections = positiveInt(options.maxConnections, 256, 'maxConnections')
  const maxInFlight = positiveInt(options.maxInFlight, 1, 'maxInFlight')
  const writeTimeoutMs = positiveInt(options.writeTimeoutMs, 10_000, 'writeTimeoutMs')
  const queueTimeoutMs = positiveInt(options.queueTimeoutMs, 5_000, 'queueTimeoutMs')
  const maxCarStreams = positiveInt(options.maxCarStreams, 8, 'maxCarStreams')
  const pool = new BodyPool(
    positiveInt(options.maxHeldBlocks, 16, 'maxHeldBlocks'),
    positiveInt(options.maxHeldBytes, 16 * 1024 * 1024, 'maxHeldBytes')
  )
  const smallPool = new BodyPool(SMALL_SLOTS, SMALL_SLOTS * SMALL_BLOCK)
  const turns = new TurnBudget(positiveInt(options.largeBytesPerTurn, DEFAULT_LARGE_BYTES_PER_TURN, 'largeBytesPerTurn'))
  // Raw block sizes by the CID as written in the URL, oldest first (a Map keeps insertion order).
  const sizes = new Map<string, number>()
  const remember = (id: string, size: number): void => {
    if (sizes.has(id)) return
    if (sizes.size >= SIZE_MEMO) sizes.delete(sizes.keys().next().value as string)
    sizes.set(id, size)
  }

  // Aborts block lookups still running when close() gives up waiting.
  const shutdown = new AbortController()
  // One listener per request in flight: no fixed number is "too many".
  setMaxListeners(0, shutdown.signal)

  const counts = {
    connections: 0,
    peakConnections: 0,
    refusedConnections: 0,
    pipelineOverflows: 0,
    writeTimeouts: 0,
    busyRequests: 0,
    carStreams: 0,
    peakCarStreams: 0,
    peakInFlightPerConnection: 0,
    peakQueuedPerConnection: 0,
    peakHeldPerConnection: 0,
    peakBufferedPerResponse: 0
  }
  const conns = new WeakMap<Socket, Conn>()
  const connOf = (socket: Socket): Conn => {
    let conn = conns.get(socket)
    if (conn === undefined) {
      conn = { active: 0, queue: [], paused: false, held: 0, refused: false }
      conns.set(socket, conn)
    }
    return conn
  }

  // Body bytes written per response, and an error answer's body (options.observe).
  const meters = new WeakMap<ServerResponse, { bytes: number, errorBody?: Uint8Array }>()

  /** Write `answer` (head and body) with backpressure; `lease` holds its body until then. */
  const send = async (res: ServerResponse, answer: GatewayResponse, conn: Conn, lease?: Lease): Promise<void> => {
    if (res.destroyed) return
    const meter = meters.get(res)
    if (meter !== undefined && answer.status >= 400 && answer.body !== undefined && answer.body.byteLength <= 16 * 1024) meter.errorBody = answer.body
    if (answer.stream !== undefined) {
      // A streamed CAR: the pool counts the chunk being written (the walk
      // holds at most PREFETCH + 1 blocks besides, car-scopes.ts); its slot is
      // taken for the whole response.
      const stream = answer.stream
      const held = (async function * () {
        for await (const chunk of stream) {
          lease?.hold(chunk.byteLength)
          if (meter !== undefined) meter.bytes += chunk.byteLength
          yield chunk
        }
      })()
      res.writeHead(answer.status, answer.headers)
      await writeBody(res, held, writeTimeoutMs, {
        buffered: (bytes) => { if (bytes > counts.peakBufferedPerResponse) counts.peakBufferedPerResponse = bytes },
        stalled: () => { counts.writeTimeouts++ },
        budget: turns
      })
      return
    }
    // `parts` first: reading `body` of a response in parts would join them.
    const parts = answer.parts ?? (answer.body === undefined ? [] : [answer.body])
    const length = parts.reduce((n, part) => n + part.byteLength, 0)
    if (meter !== undefined) meter.bytes += length
    if (lease !== undefined) {
      const bytes = length
      lease.hold(bytes)
      conn.held += bytes
      if (conn.held > counts.peakHeldPerConnection) counts.peakHeldPerConnection = conn.held
      res.once('close', () => { conn.held -= bytes })
    }
    res.writeHead(answer.status, answer.headers)
    await writeBody(res, parts, writeTimeoutMs, {
      buffered: (bytes) => { if (bytes > counts.peakBufferedPerResponse) counts.peakBufferedPerResponse = bytes },
      stalled: () => { counts.writeTimeouts++ },
      // Small bodies go at once, between two rounds of large chunks.
      ...(length > SMALL_BLOCK ? { budget: turns } : {})
    })
  }

  const busy = (method: string, message: string): GatewayResponse =>
    errorResponse(method, 503, 'ERR_BUSY', message, { 'retry-after': '1', connection: 'close' })

  /** Answer one request (its turn on the connection has come). */
  const handle = (req: IncomingMessage, res: ServerResponse, conn: Conn): void => {
    const observe = options.observe
    if (observe !== undefined) {
      const meter: { bytes: number, errorBody?: Uint8Array } = { bytes: 0 }
      meters.set(res, meter)
      res.once('close', () => {
        try {
          observe({ method: req.method ?? 'GET', url: req.url ?? '', status: res.statusCode, bytes: meter.bytes, ...(meter.errorBody !== undefined ? { errorBody: meter.errorBody } : {}) })
        } catch {}
      })
    }
    // The lookup stops when the client goes away or on close().
    const gone = new AbortController()
    const onClose = (): void => { if (!res.writableFinished) gone.abort() }
    const onShutdown = (): void => { gone.abort() }
    res.once('close', onClose)
    shutdown.signal.addEventListener('abort', onShutdown, { once: true })
    const settle = (): void => {
      res.removeListener('close', onClose)
      shutdown.signal.removeEventListener('abort', onShutdown)
    }
    if (req.rawHeaders.length / 2 > MAX_HEADERS) {
      // Refused here with a JSON body: node's own maxHeadersCount answers a
      // bare 400. What node parses is bounded by maxHeaderSize (8 KiB).
      settle()
      const answer = errorResponse(req.method ?? 'GET', 431, 'ERR_TOO_MANY_HEADERS', `more than ${MAX_HEADERS} request header fields`)
      void send(res, { ...answer, headers: { ...answer.headers, connection: 'close' } }, conn)
      return
    }
    const request = { method: req.method ?? 'GET', url: req.url ?? '', headers: req.headers }
    const answering = (async (): Promise<void> => {
      const sessions = options.sessions
      const extra = options.routes?.find((r) => r.matches(request))
      if (extra !== undefined) {
        const answer = await extra.handler(request, { signal: gone.signal })
        settle()
        await send(res, answer, conn)
        return
      }
      if (routing !== undefined && isRoutingRoute(request)) {
        // A refused body is left unread (not destroyed) so that the refusal can still be sent.
        const answer = await routing({ ...request, body: req.iterator({ destroyOnReturn: false }) }, { signal: gone.signal })
        settle()
        await send(res, answer, conn)
        return
      }
      if (isUiRoute(request)) {
        const answer = await uiHandler(request)
        settle()
        await send(res, answer, conn)
        return
      }
      if (isOpenApiRoute(request) || (sessions !== undefined && isSessionRoute(request)) || (registry !== undefined && isRegistryRoute(request))) {
        // A refused body is left unread (not destroyed) so that the refusal can still be sent.
        const withBody = { ...request, body: req.iterator({ destroyOnReturn: false }), remoteAddress: req.socket.remoteAddress }
        const answer = isOpenApiRoute(request)
          ? await openApiHandler(request)
          : sessions !== undefined && isSessionRoute(request)
            ? await sessions(withBody, { signal: gone.signal })
            : await registry!(withBody, { signal: gone.signal })
        settle()
        await send(res, answer, conn)
        return
      }
      // A block lookup (every /ipfs/ request that gets that far) holds a
      // slot of the pool until its response is written or abandoned.
      let lease: Lease | undefined
      const id = /^\/ipfs\/([^/?#]+)/.exec(request.url)?.[1]
      // Only raw block requests (?format=raw, what gateway clients send) may
      // take the small pool: a CAR of the same CID can be its whole DAG.
      const sizeKey = id !== undefined && /[?&]format=raw(&|#|$)/.test(request.url) ? id : undefined
      if (id !== undefined) {
        const known = sizeKey === undefined ? undefined : sizes.get(sizeKey)
        const got = await (known !== undefined && known <= SMALL_BLOCK ? smallPool : pool).acquire(queueTimeoutMs, gone.signal)
        if (got === null) {
          settle()
          if (gone.signal.aborted) { res.destroy(); return }
          counts.busyRequests++
          await send(res, busy(request.method, 'too many blocks are being served: retry'), conn)
          return
        }
        lease = got
        res.once('close', () => { got.release() })
      }
      try {
        const answer = await handler(request, { signal: gone.signal })
        // A streamed CAR still looks blocks up while it is written: its
        // lookups stop when the client goes away or on close() until then.
        if (answer.stream === undefined) settle()
        if (answer.stream !== undefined) {
          if (counts.carStreams >= maxCarStreams) {
            // Not started: ending the iteration before it begins stops the walk.
            await answer.stream[Symbol.asyncIterator]().return?.()
            counts.busyRequests++
            settle()
            await send(res, busy(request.method, `more than ${maxCarStreams} CAR responses are being streamed: retry`), conn)
            return
          }
          counts.carStreams++
          if (counts.carStreams > counts.peakCarStreams) counts.peakCarStreams = counts.carStreams
          res.once('close', () => { counts.carStreams-- })
        }
        if (id !== undefined && answer.status === 200) {
          const length = Number(answer.headers['content-length'])
          if (Number.isSafeInteger(length) && sizeKey !== undefined) remember(sizeKey, length)
        }
        await send(res, answer, conn, lease)
      } finally {
        settle()
        lease?.release()
      }
    })()
    // A failure after the head was sent (a streamed CAR cut by a bound or a
    // missing block) ends here too: the connection is cut, the response incomplete.
    answering.catch(() => { res.destroy() })
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
    const socket = req.socket
    const conn = connOf(socket)
    if (conn.refused || socket.destroyed) {
      res.destroy()
      return
    }
    if (overCap.has(socket)) {
      // Over the connection cap: one clean refusal, then the connection closes.
      conn.refused = true
      counts.refusedConnections++
      void send(res, busy(req.method ?? 'GET', `more than ${maxConnections} connections: retry`), conn)
      return
    }
    const start = (): void => {
      conn.active++
      if (conn.active > counts.peakInFlightPerConnection) counts.peakInFlightPerConnection = conn.active
      res.once('close', () => {
        conn.active--
        const next = conn.queue.shift()
        if (next !== undefined) next()
        else if (conn.paused) {
          conn.paused = false
          socket.resume()
        }
      })
      handle(req, res, conn)
    }
    if (conn.active < maxInFlight && conn.queue.length === 0) {
      start()
      return
    }
    if (conn.queue.length >= MAX_QUEUED) {
      // Pipelining far ahead of what it reads: not served any further.
      conn.refused = true
      counts.pipelineOverflows++
      socket.destroy()
      return
    }
    conn.queue.push(start)
    if (conn.queue.length > counts.peakQueuedPerConnection) counts.peakQueuedPerConnection = conn.queue.length
    if (!conn.paused) {
      // Read no further requests until the ones waiting have started.
      conn.paused = true
      socket.pause()
    }
  })

  const overCap = new WeakSet<Socket>()
  server.on('connection', (socket: Socket) => {
    counts.connections++
    if (counts.connections > counts.peakConnections) counts.peakConnections = counts.connections
    if (counts.connections > maxConnections) overCap.add(socket)
    const conn = connOf(socket)
    // node resumes a socket it paused itself once its responses drain; ours
    // stays paused while requests wait on it.
    socket.on('resume', () => { if (conn.paused) socket.pause() })
    socket.once('close', () => {
      counts.connections--
      conn.queue.length = 0
    })
  })
  // Past this, node closes new connections at once (no answer): a bound on
  // the refusals in progress too.
  server.maxConnections = 2 * maxConnections + 64

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

  return {
    url: `http://${hostInUrl}:${address.port}`,
    port: address.port,
    close,
    stats: () => ({ ...counts, ...pool.stats(), small: smallPool.stats(), cache: cache.stats(), turns: turns.stats() })
  }
}
