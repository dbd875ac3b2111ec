/**
 * `dagtuf mirror`: follow a repository from one or more gateways, check each
 * new head as a client does, keep every block a client needs, and serve
 * them (src/server/mirror.ts has the guarantees).
 *
 *   dagtuf mirror --dir M --from URL [--from URL...] --root CID --once
 *   dagtuf mirror --dir M --from URL --port 8081           # follow and serve
 *
 * The first run needs --root (the root CID, from out of band, as for
 * `client init`); later runs read it from M/mirror.json. Without --once the
 * mirror syncs every --interval and, once it holds a head, serves M as
 * `dagtuf serve` does (read-only) until Ctrl-C; a sync that fails is
 * reported and the last good head stays served.
 */
import type { CID } from 'multiformats/cid'
import { GatewaySource, fetchHead } from '../../blocks/gateway-source.js'
import { SourceSet } from '../../blocks/source-set.js'
import type { BlockSource } from '../../blocks/types.js'
import type { NamedHead } from '../../client/any-head.js'
import { BlockError, UsageError } from '../../model/errors.js'
import { parseDuration } from '../../publish/files.js'
import { Mirror, DEFAULT_MIRROR_MAX_BLOCKS, type SyncResult } from '../../server/mirror.js'
import { cidArg, flag, int, list, str, type Parsed } from '../args.js'
import type { Command, Io } from '../command.js'
import { libp2pAddrs, serveRepository, untilSignal, type RepositoryServer } from './serve.js'

const usage = (message: string): UsageError => new UsageError('ERR_USAGE', message)

function sourcesOf (args: Parsed): { source: BlockSource, heads: NamedHead[] } {
  const urls = list(args, 'from')
  if (urls.length === 0) throw usage('give the repository to follow: --from URL (a gateway that serves /head; repeat for several)')
  if (urls.length > 16) throw usage('give at most 16 --from URLs')
  const timeoutMs = int(args, 'timeout', 30_000, 1, 3_600_000)
  const gateways = urls.map((u) => ({ label: u, source: new GatewaySource(u, { timeoutMs, retries: 2 }) }))
  const heads = urls.map((u): NamedHead => ({
    label: u,
    timeoutMs,
    head: async ({ signal }) => {
      const cid = await fetchHead(u, { timeoutMs, retries: 2, ...(signal === undefined ? {} : { signal }) })
      if (cid === null) throw new BlockError('ERR_BLOCK_NOT_FOUND', `${u} announces no head`, { details: { url: u } })
      return cid
    }
  }))
  const source = gateways.length === 1 ? gateways[0]!.source : new SourceSet(gateways, { timeoutMs })
  return { source, heads }
}

function syncJson (r: SyncResult): Record<string, unknown> {
  return { head: r.head, moved: r.moved, fetched: r.fetched, continuity: r.update.continuity, changed: r.update.changed, ...(r.sources === undefined ? {} : { sources: r.sources }) }
}

/** What a sync did, on stderr (stdout is the command's result). */
function report (io: Io, r: SyncResult): void {
  for (const s of r.sources ?? []) io.err(`  ${s.source}: ${s.outcome}${s.head === undefined ? '' : ` ${s.head}`}${s.code === undefined ? '' : ` (${s.code})`}`)
  io.err(r.moved
    ? `dagtuf mirror: now serving ${r.head} (${r.fetched.blocks} blocks, ${r.fetched.bytes} bytes fetched; changed: ${r.update.changed.join(', ') || 'nothing'})`
    : `dagtuf mirror: up to date at ${r.head}`)
}

export const mirrorCommand: Command = {
  name: 'mirror',
  summary: 'follow a repository from gateways: check each new head as a client does, keep every block clients need, and serve them',
  usage: 'mirror --dir M --from URL [--from URL...] [--root CID] [--content] [--once | --interval 60s [--host H] [--port N] [--libp2p MULTIADDR]] [--max-blocks N] [--max-mib N] [--timeout MS] [--json]',
  maxPositionals: 0,
  options: {
    dir: { type: 'string', help: 'the mirror folder (created by the first run, which needs --root)' },
    from: { type: 'repeat', help: 'a gateway serving the repository (its GET /head is a candidate head); repeat for several, none trusted' },
    root: { type: 'string', help: 'the first run: the CID of the root to trust (obtained out of band)' },
    content: { type: 'boolean', help: 'the first run: also mirror every target\'s content (default: metadata only)' },
    once: { type: 'boolean', help: 'sync once and exit' },
    interval: { type: 'string', help: 'time between syncs when following, e.g. 60s, 5m (default 60s)' },
    host: { type: 'string', help: 'interface to serve on (default 127.0.0.1)' },
    port: { type: 'string', help: 'port to serve on (default 0: any free port)' },
    libp2p: { type: 'string', help: 'also serve the blocks by bitswap on libp2p at this multiaddr (several: comma-separated)' },
    'max-blocks': { type: 'string', help: `most blocks one sync fetches (default ${DEFAULT_MIRROR_MAX_BLOCKS})` },
    'max-mib': { type: 'string', help: 'most MiB one sync fetches (default 16384)' },
    timeout: { type: 'string', help: 'time limit of each request to one gateway in ms (default 30000)' }
  },
  async run (args, io) {
    const dir = str(args, 'dir')
    if (dir === undefined) throw usage('give the mirror folder: --dir M')
    const once = flag(args, 'once')
    if (once && ['interval', 'port', 'host', 'libp2p'].some((o) => str(args, o) !== undefined)) throw usage('--once syncs and exits: --interval, --host, --port and --libp2p are for following')
    const intervalMs = parseDuration(str(args, 'interval') ?? '60s', usage, '--interval') * 1000
    if (intervalMs < 1000) throw usage('--interval must be at least 1s')
    const port = int(args, 'port', 0, 0, 65535)
    const maxBlocks = int(args, 'max-blocks', DEFAULT_MIRROR_MAX_BLOCKS, 1, 100_000_000)
    const maxBytes = int(args, 'max-mib', 16_384, 1, 100_000_000) * 1024 * 1024
    const { source, heads } = sourcesOf(args)
    const root: CID | undefined = cidArg(args, 'root')
    let mirror: Mirror
    if (await Mirror.isMirror(dir)) {
      mirror = await Mirror.open(dir)
      if (root !== undefined && root.toString() !== mirror.info.root) throw usage(`${dir} mirrors the repository of root ${mirror.info.root}, not ${root}`)
      if (flag(args, 'content') && !mirror.info.content) throw usage(`${dir} was created without --content`)
    } else {
      if (root === undefined) throw usage(`${dir} is not a mirror yet: give --root CID (the root to trust, obtained out of band)`)
      mirror = await Mirror.create(dir, root, source, { content: flag(args, 'content') })
      io.err(`dagtuf mirror: created ${mirror.dir}, trusting root ${root}`)
    }
    const sync = async (): Promise<SyncResult> => await mirror.sync({ source, heads, maxBlocks, maxBytes })
    const first = await sync()
    report(io, first)
    if (once) return { result: { dir: mirror.dir, ...syncJson(first) } }

    const libp2p = str(args, 'libp2p')
    const server: RepositoryServer = await serveRepository(mirror.dir, { host: str(args, 'host') ?? '127.0.0.1', port, ...(libp2p === undefined ? {} : { libp2p: libp2pAddrs(libp2p) }), log: (line) => { io.err(`dagtuf mirror: ${line}`) } })
    const multiaddrs = server.multiaddrs()
    const ready = { url: server.url, port: server.port, dir: mirror.dir, ...(multiaddrs.length > 0 ? { multiaddrs } : {}), ...syncJson(first) }
    if (flag(args, 'json')) io.out(JSON.stringify(ready))
    else {
      io.out(server.url)
      for (const a of multiaddrs) io.out(a)
      io.err(`dagtuf mirror: serving ${mirror.dir} at ${server.url}, syncing every ${intervalMs / 1000}s; Ctrl-C to stop`)
    }
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    let running: Promise<void> = Promise.resolve()
    const loop = (): void => {
      timer = setTimeout(() => {
        running = sync().then((r) => { report(io, r) }, (e: unknown) => {
          const code = (e as { code?: unknown })?.code
          io.err(`dagtuf mirror: sync failed${typeof code === 'string' ? ` (${code})` : ''}: ${(e as Error)?.message ?? String(e)}; still serving the last good head`)
        }).finally(() => { if (!stopped) loop() })
      }, intervalMs)
    }
    loop()
    const sig = await untilSignal()
    stopped = true
    if (timer !== undefined) clearTimeout(timer)
    await running
    await server.close()
    io.err(`dagtuf mirror: stopped (${sig})`)
    return { result: ready, printed: true }
  }
}
