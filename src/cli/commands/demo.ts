/**
 * `dagtuf demo` — the whole story on the embedded default, with no setup,
 * in a temporary folder that is removed afterwards:
 *
 *   1. a publisher creates a repository (keys, root, empty targets) and
 *      publishes a few files;
 *   2. `dagtuf serve` serves it on a free loopback port (trustless gateway
 *      and GET /head);
 *   3. a client trusts the first root (by CID), updates from the gateway's
 *      head, downloads a target and checks it by CID and length;
 *   4. the publisher publishes a second update; the client updates again;
 *   5. attacks: a mirror replays the first timestamp (rollback), and a
 *      gateway flips a byte of every block it serves (tampering) — both
 *      refused with the rule that stops them, the trusted state unchanged;
 *      then the honest gateway brings the client up to date.
 *
 * Nothing keeps running when it returns: the server, the proxy and the
 * repository's node are closed, and the folder is deleted.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewaySource, fetchHead } from '../../blocks/gateway-source.js'
import { Updater, type RefreshResult } from '../../client/updater.js'
import { BlockError, DagtufError } from '../../model/errors.js'
import { initRepo, openSession, publishStaged } from '../../publish/engine.js'
import { addFiles } from '../../publish/stage.js'
import { flag } from '../args.js'
import type { Command, Io } from '../command.js'
import { serveRepository } from './serve.js'
import { flippingGateway } from '../../server/flipping-gateway.js'

interface Step { step: string, ok: boolean, [k: string]: unknown }

const FILES_V1: Readonly<Record<string, string>> = {
  'app/app-1.0.0.tgz': 'app 1.0.0: the first release\n',
  'plugins/hello.js': 'export const hello = () => "hello"\n',
  'README.txt': 'dagtuf demo repository\n'
}
const FILES_V2: Readonly<Record<string, string>> = {
  'app/app-1.1.0.tgz': 'app 1.1.0: a security fix\n',
  'plugins/hello.js': 'export const hello = () => "hello, world"\n'
}

/** Stage `files` (path -> content) and publish; returns the new timestamp CID. */
async function publishFiles (repoDir: string, work: string, files: Readonly<Record<string, string>>): Promise<string> {
  const session = await openSession(repoDir, { lock: true })
  try {
    let i = 0
    for (const [path, content] of Object.entries(files)) {
      const f = join(work, `upload-${i++}`)
      await writeFile(f, content)
      await addFiles(session, [f], { path, replace: true })
    }
    const r = await publishStaged(session)
    if (r.kind !== 'published') throw new Error(`the demo repository could not publish (${r.kind})`)
    return r.head.timestamp.toString()
  } finally {
    await session.repo.close()
  }
}

function short (cid: string): string {
  return cid.length > 20 ? `${cid.slice(0, 12)}…${cid.slice(-6)}` : cid
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the whole story in a temporary folder: publish, serve, verify, update, and two attacks refused',
  usage: 'demo [--keep] [--json]',
  maxPositionals: 0,
  options: { keep: { type: 'boolean', help: 'keep the temporary folder (its path is printed)' } },
  async run (args, io) {
    const json = flag(args, 'json')
    const out: Io['out'] = json ? () => {} : (line) => { io.out(line) }
    const steps: Step[] = []
    const started = Date.now()
    const work = await mkdtemp(join(tmpdir(), 'dagtuf-demo-'))
    const repoDir = join(work, 'repository')
    const clientDir = join(work, 'client')
    let server: Awaited<ReturnType<typeof serveRepository>> | undefined
    let proxy: Awaited<ReturnType<typeof flippingGateway>> | undefined
    const say = (n: number, title: string): void => { out(''); out(`${n}. ${title}`) }
    const showRefresh = (r: RefreshResult): void => {
      out(`   timestamp ${r.timestamp}`)
      out(`   checked   CLIENT-ROOT-CHAIN, CLIENT-VALID-TOP (timestamp, snapshot, root, targets signatures; role maps), CLIENT-EXPIRES, ${r.continuity === 'first' ? 'first update (nothing to descend from)' : 'CLIENT-TS-DESCENDS'}`)
      out(`   changed   ${r.changed.length === 0 ? 'nothing' : r.changed.join(', ')}; fetched ${r.fetched.blocks} blocks (${r.fetched.bytes} bytes), ${r.fetched.cacheHits} from the local cache`)
    }
    /** An attack that must be refused: prints the rule and checks that state.json did not change. */
    const refused = async (what: string, run: () => Promise<unknown>): Promise<DagtufError> => {
      const before = await readFile(join(clientDir, 'state.json'), 'utf8')
      try {
        await run()
      } catch (e) {
        if (!(e instanceof DagtufError)) throw e
        const unchanged = before === await readFile(join(clientDir, 'state.json'), 'utf8')
        const cid = typeof e.details.cid === 'string' ? e.details.cid : undefined
        out(`   REFUSED   ${e.code}${cid === undefined ? '' : ` at ${cid}`}`)
        out(`   because   ${e.message.length > 160 ? e.message.slice(0, 157) + '…' : e.message}`)
        out(`   state     ${unchanged ? 'unchanged (still the last trusted timestamp)' : 'CHANGED — this must never happen'}`)
        steps.push({ step: what, ok: unchanged, refused: e.code, cid, message: e.message })
        if (!unchanged) throw new Error('the trusted state changed during a refused update')
        return e
      }
      throw new Error(`${what}: the attack was not refused`)
    }

    try {
      out('dagtuf demo: TUF over IPFS/IPLD, end to end, on this machine only')
      out(`(working in ${work})`)

      say(1, 'The publisher creates a repository and publishes three files')
      const init = await initRepo(repoDir, { rootKeys: 1, rootThreshold: 1 })
      const root = init.head.root.toString()
      await init.repo.close()
      const ts1 = await publishFiles(repoDir, work, FILES_V1)
      out(`   root      ${root}  (the client will trust this CID, out of band)`)
      out(`   timestamp ${ts1}`)
      for (const p of Object.keys(FILES_V1)) out(`   target    ${p}`)
      steps.push({ step: 'publish v1', ok: true, root, timestamp: ts1 })

      say(2, 'dagtuf serve: a trustless gateway for the repository on loopback')
      server = await serveRepository(repoDir, { host: '127.0.0.1', port: 0 })
      out(`   listening ${server.url}   (GET /head, GET /ipfs/{cid}?format=raw|car)`)
      out(`   /head  -> ${(await fetchHead(server.url))?.toString() ?? '(none)'}`)
      const gateway = new GatewaySource(server.url, { timeoutMs: 10_000, retries: 1 })
      const honestHead = async (): Promise<NonNullable<Awaited<ReturnType<typeof fetchHead>>>> => {
        const h = await fetchHead(server!.url)
        if (h === null) throw new BlockError('ERR_BLOCK_NOT_FOUND', 'no head')
        return h
      }
      steps.push({ step: 'serve', ok: true, url: server.url })

      say(3, 'A client trusts the root, updates from the head, and downloads a target')
      const client = await Updater.create({ dir: clientDir, source: gateway, head: honestHead })
      await client.init(root)
      out(`   trusted   root ${root} (VALID-ROOT-ROLES, VALID-ROOT-SELF)`)
      const r1 = await client.refresh()
      showRefresh(r1)
      const info = await client.getTargetInfo('app/app-1.0.0.tgz')
      if (info === null) throw new Error('app/app-1.0.0.tgz is missing')
      const dest = join(work, 'app-1.0.0.tgz')
      const got = await client.downloadTarget(info, dest)
      const content = await readFile(dest, 'utf8')
      const same = content === FILES_V1['app/app-1.0.0.tgz']
      out(`   download  app/app-1.0.0.tgz: ${got.length} bytes, ${info.cid.toString()} (signed by ${info.role})`)
      out(`   verified  every block hashed to its CID and exactly ${info.length} bytes (CLIENT-TARGET-CONTENT): ${same ? 'identical to what was published' : 'DIFFERENT'}`)
      steps.push({ step: 'update and download v1', ok: same, timestamp: r1.timestamp, changed: r1.changed, target: info.path, cid: info.cid.toString() })

      say(4, 'The publisher publishes a second update; the client updates again')
      const ts2 = await publishFiles(repoDir, work, FILES_V2)
      out(`   published ${ts2}  (app/app-1.1.0.tgz added, plugins/hello.js changed)`)
      const r2 = await client.refresh()
      showRefresh(r2)
      const list = await client.listTargets()
      out(`   targets   ${list.map((t) => t.path).join(', ')}`)
      steps.push({ step: 'update to v2', ok: r2.timestamp === ts2, timestamp: r2.timestamp, changed: r2.changed })

      say(5, 'Attack: a mirror replays the first timestamp (rollback)')
      out(`   offered   ${short(ts1)} — genuine, correctly signed, not yet expired, but older than what the client trusts`)
      await refused('rollback to v1', async () => await client.refresh(ts1))

      say(6, 'Attack: a gateway that flips one byte in every block it serves')
      proxy = await flippingGateway(server.url)
      const ts3 = await publishFiles(repoDir, work, { 'app/app-1.2.0.tgz': 'app 1.2.0\n' })
      out(`   published ${ts3}; the client asks the tampering gateway ${proxy.url}`)
      const evil = await Updater.create({ dir: clientDir, source: new GatewaySource(proxy.url, { timeoutMs: 10_000, retries: 0 }) })
      await refused('tampered metadata', async () => await evil.refresh(ts3))
      out('   and a target fetched through it:')
      const fix = (await client.getTargetInfo('app/app-1.1.0.tgz'))!
      const evilDest = join(work, 'app-1.1.0.tgz')
      await refused('tampered target', async () => await evil.downloadTarget(fix, evilDest))
      const leftover = await readFile(evilDest).then(() => true, () => false)
      out(`   file      ${leftover ? 'WRITTEN — this must never happen' : 'nothing was written to ' + evilDest}`)
      if (leftover) throw new Error('a refused download left a file behind')

      say(7, 'The honest gateway brings the client up to date')
      const r3 = await client.refresh()
      showRefresh(r3)
      steps.push({ step: 'update to v3 through the honest gateway', ok: r3.timestamp === ts3, timestamp: r3.timestamp })

      const seconds = ((Date.now() - started) / 1000).toFixed(1)
      out('')
      out(`Done in ${seconds} s: ${steps.filter((s) => s.ok).length}/${steps.length} steps as expected; the server is stopped and ${flag(args, 'keep') ? `${work} is kept` : 'the temporary folder removed'}.`)
      return { result: { ok: steps.every((s) => s.ok), seconds: Number(seconds), steps, ...(flag(args, 'keep') ? { folder: work } : {}) } }
    } finally {
      await proxy?.close().catch(() => {})
      await server?.close().catch(() => {})
      if (!flag(args, 'keep')) await rm(work, { recursive: true, force: true }).catch(() => {})
    }
  }
}
