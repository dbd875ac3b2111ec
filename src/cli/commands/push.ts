/**
 * `dagtuf push --server URL [--dir D]` — send this repository's head to a
 * head registry (`dagtuf serve --allow-push`): read the server's head
 * (GET /head), export every block a client needs from it to ours
 * (`export --since <server head> --content`: the target files too, unless
 * --metadata-only), and PUT the CAR to /head with
 * `If-Match: "<server head>"`. The server accepts it only when our head is a
 * VALID successor of its head (NOTES REG-CAS, REG-ACCEPT).
 *
 * Exit 0 when the server's head is ours (pushed now or already there); 1 when
 * the server refuses: RepoError ERR_HEAD_MOVED (412: it moved meanwhile,
 * run push again), ERR_NOT_SUCCESSOR (its head is not in our history, so
 * ours cannot descend from it), ERR_PUSH_REFUSED (any other refusal;
 * details carry its status, code and rule).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fetchHead } from '../../blocks/gateway-source.js'
import { BlockError, RepoError, UsageError } from '../../model/errors.js'
import { loadCurrent } from '../../publish/engine.js'
import { exportCar } from '../../publish/export.js'
import { Repo } from '../../publish/repo.js'
import { flag, str } from '../args.js'
import type { Command } from '../command.js'
import { DIR, dirOf, textIo } from './publish-common.js'

/** Largest answer body read from the server. */
const MAX_ANSWER_BYTES = 64 * 1024

function serverUrl (text: string | undefined): string {
  if (text === undefined) throw new UsageError('ERR_USAGE', 'push needs --server URL (a dagtuf serve --allow-push)')
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError('ERR_USAGE', `--server: not a URL: ${JSON.stringify(text.slice(0, 80))}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('ERR_USAGE', '--server must be an http:// or https:// URL')
  return url.toString().replace(/\/+$/, '')
}

export const pushCommand: Command = {
  name: 'push',
  summary: 'push the head to a head registry (dagtuf serve --allow-push) as a successor of the server\'s head',
  usage: 'push --server URL [--dir D] [--metadata-only] [--json]',
  maxPositionals: 0,
  options: {
    ...DIR,
    server: { type: 'string', help: 'the registry\'s base URL, e.g. http://127.0.0.1:8080' },
    'metadata-only': { type: 'boolean', help: 'push the TUF metadata only, not the target files\' blocks' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const server = serverUrl(str(args, 'server'))
    const serverHead = await fetchHead(server)
    if (serverHead === null) throw new RepoError('ERR_PUSH_REFUSED', `${server} has no head to replace`, { details: { server, status: 404 } })
    const repo = await Repo.open(dirOf(args))
    const work = await mkdtemp(join(tmpdir(), 'dagtuf-push-'))
    try {
      const node = await repo.node()
      const current = await loadCurrent(repo, node)
      const ours = current.head.timestamp
      if (ours.toString() === serverHead.toString()) {
        io.out(`${server} is at ${ours} already`)
        return { result: { server, head: ours.toString(), previous: serverHead.toString(), pushed: false } }
      }
      if (!await node.has(serverHead)) {
        throw new RepoError('ERR_NOT_SUCCESSOR', `the server's head ${serverHead} is not in this repository's history`, { details: { server, head: serverHead.toString() } })
      }
      const car = join(work, 'push.car')
      const exported = await exportCar(node, current.loader, ours, car, { since: serverHead, content: !flag(args, 'metadata-only') })
      const body = await readFile(car)
      let answer: Response
      try {
        answer = await fetch(`${server}/head`, {
          method: 'PUT',
          headers: { 'content-type': 'application/vnd.ipld.car', 'if-match': `"${serverHead.toString()}"` },
          body,
          signal: AbortSignal.timeout(120_000)
        })
      } catch (cause) {
        throw new BlockError('ERR_TRANSPORT', `PUT ${server}/head failed`, { cause, details: { server } })
      }
      const text = (await answer.text()).slice(0, MAX_ANSWER_BYTES)
      let parsed: { error?: { code?: unknown, message?: unknown, rule?: unknown }, stored?: unknown } = {}
      try { parsed = JSON.parse(text) as typeof parsed } catch {}
      if (!answer.ok) {
        const e = parsed.error ?? {}
        const details = {
          server,
          status: answer.status,
          ...(typeof e.code === 'string' ? { serverCode: e.code } : {}),
          ...(typeof e.rule === 'string' ? { rule: e.rule } : {})
        }
        const said = typeof e.message === 'string' ? e.message : `HTTP ${answer.status}`
        if (answer.status === 412) throw new RepoError('ERR_HEAD_MOVED', `the server's head moved while pushing: run push again (${said})`, { details })
        throw new RepoError('ERR_PUSH_REFUSED', `${server} refused the push: ${said}`, { details })
      }
      io.out(`pushed ${ours} to ${server} (${exported.blocks} blocks, ${exported.bytes} bytes), replacing ${serverHead}`)
      return {
        result: {
          server,
          head: ours.toString(),
          previous: serverHead.toString(),
          pushed: true,
          blocks: exported.blocks,
          bytes: exported.bytes,
          ...(typeof parsed.stored === 'number' ? { stored: parsed.stored } : {})
        }
      }
    } finally {
      await rm(work, { recursive: true, force: true })
      await repo.close()
    }
  }
}
