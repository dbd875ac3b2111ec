/**
 * `dagtuf serve --dir D [--host 127.0.0.1] [--port N]` — serve a repository
 * folder over HTTP: the trustless gateway routes for the blocks of its
 * embedded node, GET /head for the timestamp CID of its head.json, and
 * GET /ipns/{name}?format=ipns-record for the last IPNS record of
 * `publish --ipns` (ipns.json). Both files are read again whenever they
 * change, so a publish in another process is seen at once. Runs until
 * SIGINT or SIGTERM, then closes every connection and the node.
 *
 * GET /config gives the registry's limits; with --allow-push, PUT /head
 * accepts a new head from anyone whose push is a VALID successor of the
 * current one (src/server/registry-handlers.ts, NOTES 10.1), rate limited per
 * client address (--push-rate).
 *
 * With --sessions, the /drafts routes take proposals and signatures and
 * publish a draft once its thresholds are met (src/server/session-handlers.ts,
 * src/publish/sessions.ts, NOTES 10.2); with --online-keys the snapshot and
 * timestamp are re-signed before they expire (src/publish/online.ts). Either
 * refuses to start while keys/ holds a root or targets key (ONLINE-KEYS-ONLY).
 * GET /openapi.json describes every route.
 *
 * With --redis URL the head, its log and the blocks live in Redis
 * (src/server/redis-store.ts), shared by every replica; with --sessions the
 * drafts too (src/server/redis-sessions.ts), and --online-keys re-signs the
 * head in Redis (one replica per head: the compare-and-swap decides). Keys,
 * config.json and the audit log stay in the folder (NOTES 10.3).
 *
 * GET /metrics gives Prometheus metrics (src/server/metrics-handlers.ts);
 * GET /healthz answers while the process serves, GET /readyz only while the
 * head verifies and no role is within --expiry-warning of expiring
 * (src/server/health-handlers.ts). Refused pushes go to the audit log,
 * counted past a rate (src/publish/audit.ts, AUDIT-REFUSALS-BOUNDED).
 *
 * /routing/v1/ answers the Delegated Routing V1 API for what the service
 * holds (src/server/routing-handlers.ts): providers (itself, with
 * --libp2p), its IPNS record, and PUT of a newer verified record for its
 * own name, kept in memory.
 *
 * With --libp2p ADDR (a multiaddr, e.g. /ip4/0.0.0.0/tcp/4001; several
 * separated by commas) the embedded node also listens on libp2p (TCP, noise,
 * yamux, identify) and serves its blocks by bitswap, to `dagtuf client
 * --peer` and to any IPFS node that dials it; it dials no one, discovers no
 * one and announces nothing (no DHT): peers are given its address.
 *
 * Once listening it prints the URL as its first line on stdout (then, with
 * --libp2p, each multiaddr it listens on, /p2p/ peer id included, one a
 * line), or with --json its one JSON object `{ url, port, head, ipns?,
 * multiaddrs?, dir, pushes }`, so scripts and tests can wait for it; nothing
 * more goes to stdout after that.
 */
import { stat } from 'node:fs/promises'
import type { CID } from 'multiformats/cid'
import { startServer } from '../../server/http-server.js'
import { DEFAULT_MAX_BLOCKS, DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_LIMIT, type RateLimit } from '../../server/registry-handlers.js'
import { repoHeadStore } from '../../server/repo-registry.js'
import { sessionHandler } from '../../server/session-handlers.js'
import { Metrics, isMetricsRoute, metricsResponse } from '../../server/metrics-handlers.js'
import { healthHandler, isHealthRoute } from '../../server/health-handlers.js'
import type { GatewayRequest } from '../../server/gateway-handlers.js'
import { RefusalAudit, appendAudit, headEvents } from '../../publish/audit.js'
import { DEFAULT_EXPIRY_WARNING_SECONDS, headStatus, headStatusAt, type HeadStatus } from '../../publish/horizon.js'
import type { HeadStore, RegistryHandler } from '../../server/registry-handlers.js'
import type { BlockSource } from '../../blocks/types.js'
import type { RedisHeadStore } from '../../server/redis-store.js'
import { SigningSessions } from '../../publish/sessions.js'
import { OnlineResigner, assertOnlineKeysOnly } from '../../publish/online.js'
import { parseDuration } from '../../publish/files.js'
import { readPassphrase } from '../../publish/keyfile.js'
import { IPNS_FILE, readRepoIpns, type RepoIpns } from '../../publish/ipns.js'
import { Repo } from '../../publish/repo.js'
import { DEFAULT_REPO_DIR } from '../../publish/repo.js'
import { flag, int, str, type Parsed } from '../args.js'
import type { Signer } from '../../model/keys.js'
import { PKCS11, pkcs11Of } from './publish-common.js'
import { UsageError } from '../../model/errors.js'
import type { Command, Io } from '../command.js'

export interface RepositoryServer {
  readonly url: string
  readonly port: number
  readonly dir: string
  /** The current head, or null. */
  head: () => Promise<CID | null>
  /** The IPNS name served (`/ipns/k51...`), or null before any publish --ipns. */
  ipnsName: () => Promise<string | null>
  /** The libp2p addresses the node listens on (with /p2p/ and its peer id); empty without --libp2p. */
  multiaddrs: () => string[]
  close: () => Promise<void>
}

/** A file's identity for caching: changes whenever the file is replaced. */
async function fileKey (path: string): Promise<string | null> {
  try {
    const st = await stat(path)
    return `${st.mtimeMs} ${st.size} ${st.ino}`
  } catch {
    return null
  }
}

/**
 * Serve the repository in `dir` (not locked: publishing may go on meanwhile).
 *
 * @throws {RepoError} ERR_REPO_NOT_FOUND; {BlockError} ERR_NODE_START; the listen error
 */
export interface ServeOptions {
  host?: string
  port?: number
  /** Accept pushes of new heads (PUT /head); off by default: a mirror stays read-only. */
  allowPush?: boolean
  maxPushBytes?: number
  maxPushBlocks?: number
  /** Pushes per remote address; false for none (default DEFAULT_RATE_LIMIT). */
  rateLimit?: RateLimit | false
  /** Signing sessions, the /drafts routes (NOTES 10.2): off by default. */
  sessions?: boolean
  /** Drafts older than this many seconds take no signatures and are removed (default 7 days). */
  draftTtlSeconds?: number
  /** Re-sign snapshot and timestamp before they expire (NOTES 10.2): off by default. */
  onlineKeys?: boolean
  /** Passphrase of encrypted online key files. */
  passphrase?: string
  /** Proposals, signatures and withdrawals per remote address; false for none. */
  sessionRateLimit?: RateLimit | false
  /** The clock of sessions and re-signing (tests). */
  now?: () => Date
  /** Where the service logs what it does on its own (re-signs, drafts published at start). */
  log?: (line: string) => void
  /** Online keys held on a PKCS#11 token (the caller closes them after the server). */
  signers?: readonly Signer[]
  /** Load limits of the HTTP server (http-server.ts; defaults there). */
  maxConnections?: number
  maxInFlight?: number
  writeTimeoutMs?: number
  maxHeldBlocks?: number
  maxHeldBytes?: number
  /** Bytes of verified blocks kept to be served again (http-server.ts; default 32 MiB, 0: none). */
  blockCacheBytes?: number
  /** Bytes of large bodies written per turn of the event loop (http-server.ts; default 4 MiB). */
  largeBytesPerTurn?: number
  /** Most blocks, and most block bytes, in one CAR response of the gateway (gateway-handlers.ts; defaults there). */
  maxCarBlocks?: number
  maxCarBytes?: number
  /** CAR responses streamed at once (http-server.ts; default there). */
  maxCarStreams?: number
  /** libp2p multiaddrs to listen on (bitswap serving); none by default. */
  libp2p?: string[]
  /**
   * Keep the head and the blocks (and with --sessions the drafts) in Redis (src/server/redis-store.ts), shared
   * by every replica given the same URL and prefix; the folder's node is a
   * cache. An empty Redis is seeded from the folder's head.
   */
  redis?: { url: string, prefix?: string }
  /** /readyz fails once a role is this many seconds or fewer from expiry (default 7 days). */
  expiryWarningSeconds?: number
  /** Refused pushes written to the audit log one by one per minute (default 10; AUDIT-REFUSALS-BOUNDED). */
  auditRefusalsPerMinute?: number
}

export async function serveRepository (dir: string, options: ServeOptions = {}): Promise<RepositoryServer> {
  const repo = await Repo.open(dir)
  let closeRedis = async (): Promise<void> => {}
  try {
    const node = await repo.node(options.libp2p !== undefined ? { listen: options.libp2p } : {})
    const headFile = repo.path('head.json')
    let cached: { key: string, cid: CID } | undefined
    let head = async (): Promise<CID | null> => {
      const key = await fileKey(headFile)
      if (key === null) return null
      if (cached?.key !== key) cached = { key, cid: (await repo.head()).timestamp }
      return cached.cid
    }
    const log = options.log ?? (() => {})
    let source: BlockSource & { has: (cid: CID) => Promise<boolean> } = node
    let store: HeadStore = repoHeadStore(repo, node, head)
    let redisStore: RedisHeadStore | undefined
    if (options.redis !== undefined) {
      const { RedisHeadStore } = await import('../../server/redis-store.js')
      const now = options.now ?? (() => new Date())
      const { store: redis, durability } = await RedisHeadStore.open({
        url: options.redis.url,
        ...(options.redis.prefix === undefined ? {} : { prefix: options.redis.prefix }),
        local: node,
        // The replica's own audit log (NOTES 10.3): the accepted push before the head moves in Redis, and a lost race after.
        beforeMove: async (previous, next, stored) => { await appendAudit(repo.dir, headEvents('push-accepted', previous ?? undefined, next, { stored }), { now: now() }) },
        onLost: async (next) => { await appendAudit(repo.dir, [{ action: 'publish-failed', details: { timestamp: next.timestamp.toString(), code: 'ERR_HEAD_MOVED' } }], { now: now() }) }
      })
      closeRedis = async () => { await redis.close() }
      try {
        if (durability === null) log('redis: CONFIG GET is not allowed here; make sure it runs with appendonly yes and appendfsync always, or an accepted head may name blocks a crash lost')
        else if (!durability.durable) log(`redis: appendonly ${durability.appendonly}, appendfsync ${durability.appendfsync}: a crash of Redis may lose accepted heads or their blocks (appendonly yes and appendfsync always keep them)`)
        if (await redis.seed(await repo.head(), node) === 'seeded') log(`redis: seeded ${redis.prefix} with the folder's head`)
      } catch (e) {
        await closeRedis()
        closeRedis = async () => {}
        throw e
      }
      head = async () => await redis.head()
      source = redis.source
      store = redis
      redisStore = redis
    }
    const ipnsFile = repo.path(IPNS_FILE)
    let cachedIpns: { key: string, ipns: RepoIpns | null } | undefined
    const latestIpns = async (): Promise<RepoIpns | null> => {
      const key = await fileKey(ipnsFile)
      if (key === null) return null
      if (cachedIpns?.key !== key) cachedIpns = { key, ipns: await readRepoIpns(repo.dir) }
      return cachedIpns.ipns
    }
    // A record for our own name taken by PUT /routing/v1/ipns (verified
    // there), served while its sequence is above the file's. Memory only.
    let put: { record: Uint8Array, sequence: bigint } | undefined
    const ipns = async (): Promise<{ name: string, record: Uint8Array } | null> => {
      const r = await latestIpns()
      if (r === null) return null
      return { name: r.name, record: put !== undefined && put.sequence > BigInt(r.sequence) ? put.record : r.record }
    }
    const ipnsSequence = async (): Promise<bigint> => {
      const r = await latestIpns()
      const file = r === null ? 0n : BigInt(r.sequence)
      return put !== undefined && put.sequence > file ? put.sequence : file
    }
    // The head's status (loaded and VALID-checked once per version of head.json) for /metrics and /readyz.
    let checked: { key: string, status: Promise<HeadStatus | undefined> } | undefined
    const status = async (): Promise<HeadStatus | undefined> => {
      const key = redisStore === undefined ? await fileKey(headFile) : (await redisStore.head())?.toString() ?? null
      if (key === null) return undefined
      if (checked?.key !== key) {
        const mine = { key, status: redisStore === undefined ? headStatus(repo, node) : redisHeadStatus(repo, redisStore) }
        checked = mine
        // A failure that is not a verdict (a bug, the node closing) is not kept: the next request tries again.
        mine.status.catch(() => { if (checked === mine) checked = undefined })
      }
      return await checked.status
    }
    const metrics = new Metrics({ head: status, ...(options.now !== undefined ? { now: options.now } : {}) })
    // AUDIT-REFUSALS-BOUNDED: anyone may send a push; the audit log counts refusals past a rate.
    const refusals = new RefusalAudit(repo.dir, { perWindow: options.auditRefusalsPerMinute ?? 10 })
    const registry = {
      store,
      onRefusal: async (r: { code: string, status: number, rule?: string }) => {
        try {
          await refusals.refused(r)
        } catch (e) {
          metrics.auditFailed()
          log(`audit: a refused push could not be logged: ${e instanceof Error ? e.message : String(e)}`)
        }
      },
      pushes: options.allowPush === true,
      ...(options.maxPushBytes !== undefined ? { maxBodyBytes: options.maxPushBytes } : {}),
      ...(options.maxPushBlocks !== undefined ? { maxBlocks: options.maxPushBlocks } : {}),
      ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {})
    }
    const limits = {
      ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
      ...(options.writeTimeoutMs !== undefined ? { writeTimeoutMs: options.writeTimeoutMs } : {}),
      ...(options.maxHeldBlocks !== undefined ? { maxHeldBlocks: options.maxHeldBlocks } : {}),
      ...(options.maxHeldBytes !== undefined ? { maxHeldBytes: options.maxHeldBytes } : {}),
      ...(options.blockCacheBytes !== undefined ? { blockCacheBytes: options.blockCacheBytes } : {}),
      ...(options.largeBytesPerTurn !== undefined ? { largeBytesPerTurn: options.largeBytesPerTurn } : {}),
      ...(options.maxCarBlocks !== undefined ? { maxCarBlocks: options.maxCarBlocks } : {}),
      ...(options.maxCarBytes !== undefined ? { maxCarBytes: options.maxCarBytes } : {}),
      ...(options.maxCarStreams !== undefined ? { maxCarStreams: options.maxCarStreams } : {})
    }
    let sessions: RegistryHandler | undefined
    let resigner: { stop: () => Promise<void> } | undefined
    // With --redis the drafts and the head are Redis's (shared by the replicas); keys and the audit log stay in the folder.
    const backend = redisStore === undefined ? undefined : (await import('../../server/redis-sessions.js')).redisSessionBackend(redisStore, repo)
    if (options.sessions === true || options.onlineKeys === true) {
      // ONLINE-KEYS-ONLY: a service never holds the root or targets keys.
      await assertOnlineKeysOnly(repo, options.signers, backend)
    }
    if (options.sessions === true) {
      const store = new SigningSessions({ repo, ...(backend !== undefined ? { backend } : {}), passphrase: options.passphrase, signers: options.signers, ttlSeconds: options.draftTtlSeconds, onPublished: (p) => { metrics.published({ action: 'session', ...p }) }, ...(options.now !== undefined ? { now: options.now } : {}) })
      for (const r of await store.resume()) log('timestamp' in r ? `draft ${r.id} published at start: timestamp ${r.timestamp}` : `draft ${r.id} is signed but could not be published at start: ${r.error}`)
      sessions = sessionHandler({ sessions: store, ...(options.sessionRateLimit !== undefined ? { rateLimit: options.sessionRateLimit } : {}) })
    }
    let gatewayAddrs: string[] = []
    const routing = {
      has: async (cid: CID) => await source.has(cid),
      peer: () => {
        const id = node.peerId()
        return id === null ? null : { id, addrs: node.multiaddrs().map((a) => a.replace(/\/p2p\/[^/]+$/, '')) }
      },
      gatewayAddrs: () => gatewayAddrs,
      ipns,
      ipnsSequence,
      keepIpns: (record: Uint8Array, sequence: bigint) => { put = { record, sequence } },
      ...(options.now !== undefined ? { now: options.now } : {})
    }
    const health = healthHandler({ head: status, warningSeconds: options.expiryWarningSeconds ?? DEFAULT_EXPIRY_WARNING_SECONDS, ...(options.now !== undefined ? { now: options.now } : {}) })
    const routes = [
      { matches: isMetricsRoute, handler: async (req: GatewayRequest) => await metricsResponse(metrics, req) },
      { matches: isHealthRoute, handler: health }
    ]
    const server = await startServer({ source, head, ipns, routing, host: options.host ?? '127.0.0.1', port: options.port ?? 0, registry, ...limits, ...(sessions !== undefined ? { sessions } : {}), routes, observe: (r) => { metrics.request(r) } })
    metrics.serverStats(() => server.stats())
    {
      const u = new URL(server.url)
      const host = u.hostname.replace(/^\[|\]$/g, '')
      gatewayAddrs = [`/${host.includes(':') ? 'ip6' : 'ip4'}/${host}/tcp/${u.port}/http`]
    }
    if (options.onlineKeys === true) {
      resigner = new OnlineResigner({ repo, ...(backend !== undefined ? { backend } : {}), passphrase: options.passphrase, signers: options.signers, log, onPublished: (p) => { metrics.published({ action: 'online-resign', ...p }) }, ...(options.now !== undefined ? { now: options.now } : {}) }).start()
    }
    let closing: Promise<void> | undefined
    return {
      url: server.url,
      port: server.port,
      dir: repo.dir,
      head,
      ipnsName: async () => (await latestIpns())?.name ?? null,
      multiaddrs: () => node.multiaddrs(),
      close: async () => {
        closing ??= (async () => {
          try {
            // A re-sign under way finishes before the node and Redis close.
            await resigner?.stop()
            await server.close()
            await refusals.flush().catch((e: unknown) => { log(`audit: the refusal counts could not be logged: ${e instanceof Error ? e.message : String(e)}`) })
          } finally {
            await closeRedis().catch(() => {})
            await repo.close()
          }
        })()
        await closing
      }
    }
  } catch (e) {
    await closeRedis().catch(() => {})
    await repo.close().catch(() => {})
    throw e
  }
}

/**
 * The head's status for /metrics and /readyz with the Redis backend: the
 * head record and the blocks are Redis's, the expiry periods the folder's.
 */
async function redisHeadStatus (repo: Repo, redis: RedisHeadStore): Promise<HeadStatus | undefined> {
  const record = await redis.headRecord()
  if (record === null) return undefined
  const periods = await repo.config().then((c) => c.expiry, () => undefined)
  return await headStatusAt(record, redis.source, periods)
}

const usage = (message: string): UsageError => new UsageError('ERR_USAGE', message)

/** --redis URL [--redis-prefix P]. @throws {UsageError} */
function redisOption (args: Parsed): { redis?: { url: string, prefix?: string } } {
  const url = str(args, 'redis')
  const prefix = str(args, 'redis-prefix')
  if (url === undefined) {
    if (prefix !== undefined) throw usage('--redis-prefix goes with --redis URL')
    return {}
  }
  return { redis: { url, ...(prefix === undefined ? {} : { prefix }) } }
}

/** --libp2p: one multiaddr or several, comma-separated (checked when the node opens). */
export function libp2pAddrs (text: string): string[] {
  const addrs = text.split(',').map((a) => a.trim()).filter((a) => a.length > 0)
  if (addrs.length === 0 || addrs.length > 16 || addrs.some((a) => !a.startsWith('/'))) throw usage('--libp2p takes one or more multiaddrs, comma-separated, e.g. /ip4/127.0.0.1/tcp/4001')
  return addrs
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal (): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string): void => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      resolve(sig)
    }
    const onInt = (): void => { on('SIGINT') }
    const onTerm = (): void => { on('SIGTERM') }
    process.once('SIGINT', onInt)
    process.once('SIGTERM', onTerm)
  })
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a repository over HTTP: trustless gateway for its blocks and IPNS record, GET /head, GET /config, and with --allow-push PUT /head',
  usage: 'serve --dir D [--host 127.0.0.1] [--port N] [--libp2p MULTIADDR] [--max-car-blocks N] [--max-car-mib N] [--max-car-streams N] [--max-connections N] [--max-in-flight N] [--write-timeout MS] [--max-held-blocks N] [--max-held-mib N] [--block-cache-mib N] [--turn-kib N] [--allow-push [--max-push-bytes N] [--max-push-blocks N] [--push-rate N]] [--sessions [--draft-ttl 7d]] [--online-keys] [--passphrase-file F] [--expiry-warning 7d] [--redis URL [--redis-prefix P]]',
  options: {
    dir: { type: 'string', help: `repository folder (default ${DEFAULT_REPO_DIR})` },
    host: { type: 'string', help: 'interface to listen on (default 127.0.0.1)' },
    port: { type: 'string', help: 'port (default 0: any free port)' },
    libp2p: { type: 'string', help: 'also serve blocks by bitswap on libp2p at this multiaddr, e.g. /ip4/0.0.0.0/tcp/4001 (several: comma-separated); prints the addresses with the peer id' },
    'max-car-blocks': { type: 'string', help: 'most blocks in one CAR response (dag-scope=all/entity); past it the response is cut (default 100000)' },
    'max-car-mib': { type: 'string', help: 'most MiB of blocks in one CAR response; past it the response is cut (default 1024)' },
    'max-car-streams': { type: 'string', help: 'CAR responses of more than one block streamed at once; beyond, 503 ERR_BUSY (default 8)' },
    'max-connections': { type: 'string', help: 'connections at once; beyond, 503 ERR_BUSY and close (default 256)' },
    'max-in-flight': { type: 'string', help: 'requests served at once per connection; pipelined ones beyond wait (default 1)' },
    'write-timeout': { type: 'string', help: 'ms a connection may take no bytes before it is closed (default 10000)' },
    'max-held-blocks': { type: 'string', help: 'block bodies held in memory at once (default 16)' },
    'max-held-mib': { type: 'string', help: 'no new block lookup while the bodies held add up to this many MiB (default 16)' },
    'turn-kib': { type: 'string', help: 'KiB of large bodies written per turn of the event loop, all responses together; small answers go between turns (default 4096)' },
    'block-cache-mib': { type: 'string', help: 'MiB of verified blocks kept in memory to be served again without a read and a hash (default 32; 0: no cache)' },
    'allow-push': { type: 'boolean', help: 'accept new heads by PUT /head (VALID successors of the head, If-Match); off by default' },
    'max-push-bytes': { type: 'string', help: `largest push body in bytes (default ${DEFAULT_MAX_BODY_BYTES})` },
    'max-push-blocks': { type: 'string', help: `most blocks in one push (default ${DEFAULT_MAX_BLOCKS})` },
    'push-rate': { type: 'string', help: `pushes per minute per client address, also the burst; 0 for no limit (default ${DEFAULT_RATE_LIMIT.perMinute})` },
    sessions: { type: 'boolean', help: 'signing sessions: POST /drafts, GET /drafts[/ID], POST /drafts/ID/signatures, DELETE /drafts/ID (needs the snapshot and timestamp keys, refuses root and targets keys)' },
    'draft-ttl': { type: 'string', help: 'with --sessions: how long a draft takes signatures, e.g. 7d (default 7d)' },
    'online-keys': { type: 'boolean', help: 're-sign snapshot and timestamp before they expire, on a schedule from their expiry periods (refuses root and targets keys)' },
    'passphrase-file': { type: 'string', help: 'the passphrase of encrypted snapshot/timestamp key files (else DAGTUF_PASSPHRASE)' },
    'expiry-warning': { type: 'string', help: 'GET /readyz answers 503 once a role of the head expires within this, e.g. 7d, or within a quarter of its expiry period when shorter (default 7d)' },
    redis: { type: 'string', help: 'keep the head and blocks (and drafts, with --sessions) in Redis (redis://host:port[/db]), shared by every replica with the same URL and prefix; an empty Redis is seeded from the folder' },
    'redis-prefix': { type: 'string', help: 'with --redis: the key prefix (default dagtuf)' },
    ...PKCS11
  },
  async run (args, io) {
    const port = int(args, 'port', 0, 0, 65535)
    const rate = int(args, 'push-rate', DEFAULT_RATE_LIMIT.perMinute, 0, 1_000_000)
    // Online keys on a token (--pkcs11-*): open for as long as the server runs.
    const token = await pkcs11Of(args)
    let server: RepositoryServer
    try {
      server = await serveWith(args, io, port, rate, token?.signers)
    } catch (e) {
      token?.close()
      throw e
    }
    try {
      return await runServer(args, io, server)
    } finally {
      token?.close()
    }
  }
}

async function serveWith (args: Parsed, io: Io, port: number, rate: number, signers: readonly Signer[] | undefined): Promise<RepositoryServer> {
  return await serveRepository(str(args, 'dir') ?? DEFAULT_REPO_DIR, {
    host: str(args, 'host') ?? '127.0.0.1',
    port,
    allowPush: flag(args, 'allow-push'),
    maxPushBytes: int(args, 'max-push-bytes', DEFAULT_MAX_BODY_BYTES, 1, 999_999_999),
    maxPushBlocks: int(args, 'max-push-blocks', DEFAULT_MAX_BLOCKS, 1, 10_000_000),
    rateLimit: rate === 0 ? false : { burst: rate, perMinute: rate },
    maxConnections: int(args, 'max-connections', 256, 1, 100_000),
    maxInFlight: int(args, 'max-in-flight', 1, 1, 1_000),
    writeTimeoutMs: int(args, 'write-timeout', 10_000, 100, 3_600_000),
    maxHeldBlocks: int(args, 'max-held-blocks', 16, 1, 100_000),
    maxHeldBytes: int(args, 'max-held-mib', 16, 1, 1_000_000) * 1024 * 1024,
    blockCacheBytes: int(args, 'block-cache-mib', 32, 0, 1_000_000) * 1024 * 1024,
    largeBytesPerTurn: int(args, 'turn-kib', 4096, 64, 1_000_000) * 1024,
    maxCarBlocks: int(args, 'max-car-blocks', 100_000, 1, 100_000_000),
    maxCarBytes: int(args, 'max-car-mib', 1024, 1, 1_000_000) * 1024 * 1024,
    maxCarStreams: int(args, 'max-car-streams', 8, 1, 10_000),
    ...(str(args, 'libp2p') !== undefined ? { libp2p: libp2pAddrs(str(args, 'libp2p')!) } : {}),
    ...redisOption(args),
    sessions: flag(args, 'sessions'),
    onlineKeys: flag(args, 'online-keys'),
    ...(str(args, 'draft-ttl') !== undefined ? { draftTtlSeconds: parseDuration(str(args, 'draft-ttl')!, usage, '--draft-ttl') } : {}),
    ...(str(args, 'expiry-warning') !== undefined ? { expiryWarningSeconds: parseDuration(str(args, 'expiry-warning')!, usage, '--expiry-warning') } : {}),
    ...(flag(args, 'sessions') || flag(args, 'online-keys') ? { passphrase: await readPassphrase(str(args, 'passphrase-file')) } : {}),
    log: (line) => { io.err(`dagtuf serve: ${line}`) },
    ...(signers !== undefined ? { signers } : {})
  })
}

async function runServer (args: Parsed, io: Io, server: RepositoryServer): Promise<{ result: Record<string, unknown>, exitCode: number, printed: boolean }> {
  let ready: Record<string, unknown>
  try {
    const head = await server.head()
    const ipns = await server.ipnsName()
    const multiaddrs = server.multiaddrs()
    ready = { url: server.url, port: server.port, head: head?.toString() ?? null, ...(ipns === null ? {} : { ipns }), ...(multiaddrs.length > 0 ? { multiaddrs } : {}), dir: server.dir, pushes: flag(args, 'allow-push'), sessions: flag(args, 'sessions'), onlineKeys: flag(args, 'online-keys') }
  } catch (e) {
    await server.close().catch(() => {})
    throw e
  }
  // The command's one JSON object is printed now, while it runs; main prints nothing at exit.
  if (flag(args, 'json')) io.out(JSON.stringify(ready))
  else {
    io.out(server.url)
    for (const addr of (ready.multiaddrs as string[] | undefined) ?? []) io.out(addr)
    io.err(`dagtuf serve: serving ${server.dir} at ${server.url} (GET /head, /config, /ipfs/{cid}${flag(args, 'allow-push') ? ', PUT /head' : ''}${flag(args, 'sessions') ? ', /drafts' : ''}${ready.ipns === undefined ? '' : `, ${String(ready.ipns)}?format=ipns-record`}); Ctrl-C to stop`)
  }
  const sig = await untilSignal()
  let exitCode = 0
  try {
    await server.close()
    io.err(`dagtuf serve: stopped (${sig})`)
  } catch (e) {
    // stdout already carries this command's one object: report on stderr only.
    io.err(`dagtuf serve: stopped (${sig}), but closing failed: ${e instanceof Error ? e.message : String(e)}`)
    exitCode = 1
  }
  return { result: ready, exitCode, printed: true }
}
