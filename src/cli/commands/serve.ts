/**
 * `dagtuf serve --dir D [--host 127.0.0.1] [--port N]` — serve a repository
 * folder over HTTP: the trustless gateway routes for the blocks of its
 * embedded node and GET /head for the timestamp CID of its head.json (read
 * again whenever the file changes, so a publish in another process is seen
 * at once). Runs until SIGINT or SIGTERM, then closes every connection and
 * the node.
 *
 * The first line on stdout is the URL (with --json: `{"url": ...}`), so
 * scripts and tests can wait for it.
 */
import { stat } from 'node:fs/promises'
import type { CID } from 'multiformats/cid'
import { startServer } from '../../server/gateway.js'
import { Repo } from '../../publish/repo.js'
import { DEFAULT_REPO_DIR } from '../../publish/repo.js'
import { flag, int, str } from '../args.js'
import type { Command } from '../command.js'

export interface RepositoryServer {
  readonly url: string
  readonly port: number
  readonly dir: string
  close: () => Promise<void>
}

/**
 * Serve the repository in `dir` (not locked: publishing may go on meanwhile).
 *
 * @throws {RepoError} ERR_REPO_NOT_FOUND; {BlockError} ERR_NODE_START; the listen error
 */
export async function serveRepository (dir: string, options: { host?: string, port?: number } = {}): Promise<RepositoryServer> {
  const repo = await Repo.open(dir)
  try {
    const node = await repo.node()
    const headFile = repo.path('head.json')
    let cached: { key: string, cid: CID } | undefined
    const head = async (): Promise<CID | null> => {
      let key: string
      try {
        const st = await stat(headFile)
        key = `${st.mtimeMs} ${st.size} ${st.ino}`
      } catch {
        return null
      }
      if (cached?.key !== key) cached = { key, cid: (await repo.head()).timestamp }
      return cached.cid
    }
    const server = await startServer({ source: node, head, host: options.host ?? '127.0.0.1', port: options.port ?? 0 })
    let closing: Promise<void> | undefined
    return {
      url: server.url,
      port: server.port,
      dir: repo.dir,
      close: async () => {
        closing ??= (async () => {
          try { await server.close() } finally { await repo.close() }
        })()
        await closing
      }
    }
  } catch (e) {
    await repo.close().catch(() => {})
    throw e
  }
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal (): Promise<string> {
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
  summary: 'serve a repository over HTTP: trustless gateway for its blocks and GET /head',
  usage: 'serve --dir D [--host 127.0.0.1] [--port N]',
  options: {
    dir: { type: 'string', help: `repository folder (default ${DEFAULT_REPO_DIR})` },
    host: { type: 'string', help: 'interface to listen on (default 127.0.0.1)' },
    port: { type: 'string', help: 'port (default 0: any free port)' }
  },
  async run (args, io) {
    const port = int(args, 'port', 0, 0, 65535)
    const server = await serveRepository(str(args, 'dir') ?? DEFAULT_REPO_DIR, { host: str(args, 'host') ?? '127.0.0.1', port })
    if (flag(args, 'json')) io.out(JSON.stringify({ url: server.url, dir: server.dir }))
    else {
      io.out(server.url)
      io.err(`dagtuf serve: serving ${server.dir} at ${server.url} (GET /head, /ipfs/{cid}); Ctrl-C to stop`)
    }
    const sig = await untilSignal()
    await server.close()
    io.err(`dagtuf serve: stopped (${sig})`)
    return { result: { url: server.url, stopped: sig } }
  }
}
