/**
 * Repository commands: init, keygen, status, head, log, reset, export.
 */
import { rm } from 'node:fs/promises'
import { cidArg, flag, int, list, str } from '../args.js'
import type { Command } from '../command.js'
import { RepoError, UsageError } from '../../model/errors.js'
import { generateKeyPair } from '../../model/keys.js'
import { TOP_ROLES } from '../../model/types.js'
import { initRepo, loadCurrent, type Session } from '../../publish/engine.js'
import { exportCar } from '../../publish/export.js'
import { readRepoIpns } from '../../publish/ipns.js'
import { checkPassphrase, writePrivateKeyFile, writePublicKeyFile } from '../../publish/keyfile.js'
import { exists } from '../../publish/repo-io.js'
import { Repo } from '../../publish/repo.js'
import { draftNeeds, listDrafts, needsReport } from '../../publish/drafts.js'
import { DIR, KDF, PASSPHRASE, dirOf, expiryOf, headJsonOf, logNOf, needsJson, passphraseOf, progressBar, repoHint, textIo, withSession } from './publish-common.js'
import { opJson } from '../../publish/files.js'

export const initCommand: Command = {
  name: 'init',
  summary: 'create a repository: keys, the first root, an empty targets, snapshot and timestamp',
  usage: 'init [--dir D] [--root-keys M --root-threshold N] [--encrypt] [--json]',
  maxPositionals: 0,
  options: {
    ...DIR,
    ...PASSPHRASE,
    ...KDF,
    'root-keys': { type: 'string', help: 'number of root keys to make (default 1)' },
    'root-threshold': { type: 'string', help: 'root signatures needed (default 1)' },
    expiry: { type: 'list', help: 'ROLE=DURATION (e.g. root=730d) for config.json' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const rootKeys = int(args, 'root-keys', 1, 1, 64)
    const rootThreshold = int(args, 'root-threshold', 1, 1, 64)
    const encrypt = flag(args, 'encrypt')
    const passphrase = encrypt ? checkPassphrase(await passphraseOf(args)) : undefined
    expiryOf(list(args, 'expiry')) // checks every value
    const expiry = Object.fromEntries(list(args, 'expiry').map((v) => v.split('=', 2) as [string, string]))
    const res = await initRepo(dirOf(args), { rootKeys, rootThreshold, ...(passphrase !== undefined ? { passphrase, logN: logNOf(args) } : {}), expiry })
    await res.repo.close()
    const keys = res.keys.map((k) => ({ role: k.role, keyid: k.keyid, file: k.file }))
    io.out(`created ${res.repo.dir}`)
    io.out(`root      ${res.head.root.toString()}`)
    io.out(`timestamp ${res.head.timestamp.toString()}`)
    for (const k of keys) io.out(`key ${k.role.padEnd(9)} ${k.keyid.slice(0, 16)}  ${k.file}`)
    return { result: { dir: res.repo.dir, ...headJsonOf(res.head), keys } }
  }
}

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'make an ed25519 key file (mode 0600) and its public key file (FILE.pub), e.g. for a second signer',
  usage: 'keygen --out FILE [--encrypt] [--json]',
  maxPositionals: 0,
  options: { out: { type: 'string', help: 'the private key file to create' }, ...PASSPHRASE, ...KDF },
  async run (args, io) {
    io = textIo(io, args)
    const out = str(args, 'out')
    if (out === undefined) throw new UsageError('ERR_USAGE', 'keygen needs --out FILE')
    const passphrase = flag(args, 'encrypt') ? checkPassphrase(await passphraseOf(args)) : undefined
    const logN = logNOf(args)
    // Both files or neither: an existing FILE.pub must not leave a new private key behind.
    if (await exists(`${out}.pub`)) throw new RepoError('ERR_FILE_EXISTS', `${out}.pub already exists`, { details: { path: `${out}.pub` } })
    const pair = generateKeyPair()
    await writePrivateKeyFile(out, pair, passphrase === undefined ? {} : { passphrase, logN })
    try {
      await writePublicKeyFile(`${out}.pub`, pair.publicKey)
    } catch (e) {
      await rm(out, { force: true })
      throw e
    }
    io.out(`key ${pair.keyid}`)
    io.out(`private ${out}${passphrase !== undefined ? ' (encrypted)' : ''}`)
    io.out(`public  ${out}.pub`)
    return { result: { keyid: pair.keyid, public: pair.publicKey.public, file: out, publicFile: `${out}.pub`, encrypted: passphrase !== undefined } }
  }
}

async function statusOf (s: Session): Promise<Record<string, unknown>> {
  const current = await loadCurrent(s.repo, s.node)
  const p = current.published
  const staged = await s.repo.staged(current.head)
  const drafts = await listDrafts(s.repo)
  const files = await s.repo.keyFiles()
  const roles: Record<string, unknown> = {}
  for (const r of TOP_ROLES) {
    const rk = p.root.signed.roles[r]
    roles[r] = { threshold: rk.threshold, keyids: rk.keyids, available: rk.keyids.filter((id) => files.has(id)).length }
  }
  const expires: Record<string, string> = {
    root: p.root.signed.expires, targets: p.targets.signed.expires, snapshot: p.snapshot.signed.expires, timestamp: p.timestamp.signed.expires
  }
  for (const [n, e] of p.delegated) expires[n] = e.signed.expires
  // Counting reads every shard node of every map: fine for status, which is
  // run by hand; the counts are of the published maps.
  const targets: Record<string, number> = {}
  for (const [n, e] of [['targets', p.targets] as const, ...p.delegated]) {
    let count = 0
    for await (const _ of p.maps.targetEntries(e.signed.targets)) count++
    targets[n] = count
  }
  return {
    dir: s.repo.dir,
    head: headJsonOf(current.head),
    published: current.head.published,
    expires,
    targets,
    roles,
    staged: staged.ops.map(opJson),
    drafts: drafts.map((d) => ({ id: d.id, created: d.created, roles: [...d.objects.keys()], needs: needsJson(needsReport(d.objects, draftNeeds(p, d.objects)).filter((n) => n.have < n.threshold)) }))
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'the head, expiry of each role, keys at hand, staged changes and pending drafts',
  usage: 'status [--dir D] [--json]',
  maxPositionals: 0,
  options: { ...DIR },
  async run (args, io) {
    io = textIo(io, args)
    const result = await withSession(args, {}, statusOf)
    const head = result.head as Record<string, string>
    io.out(`head ${head.timestamp} (published ${String(result.published)})`)
    for (const [r, e] of Object.entries(result.expires as Record<string, string>)) io.out(`  ${r.padEnd(12)} expires ${e}`)
    for (const [r, v] of Object.entries(result.roles as Record<string, { threshold: number, keyids: string[], available: number }>)) {
      io.out(`  key ${r.padEnd(10)} ${v.threshold} of ${v.keyids.length}, ${v.available} here`)
    }
    const staged = result.staged as unknown[]
    io.out(staged.length === 0 ? 'nothing staged' : `${staged.length} staged change(s) (publish with: ${repoHint(args, 'publish')})`)
    for (const d of result.drafts as Array<{ id: string, roles: string[] }>) io.out(`draft ${d.id}: ${d.roles.join(', ')} (list with: ${repoHint(args, 'drafts')})`)
    return { result }
  }
}

export const headCommand: Command = {
  name: 'head',
  summary: 'print the current head: the timestamp CID and the CIDs of its DAG, and its IPNS name after publish --ipns',
  usage: 'head [--dir D] [--json]',
  options: { ...DIR },
  async run (args, io) {
    io = textIo(io, args)
    const repo = await Repo.open(dirOf(args))
    try {
      const h = await repo.head()
      const ipns = await readRepoIpns(repo.dir)
      io.out(h.timestamp.toString())
      let ipnsJson: Record<string, unknown> | undefined
      if (ipns !== null) {
        // The record may point to an older head: publish without --ipns leaves it.
        const current = ipns.value === `/ipfs/${h.timestamp.toString()}`
        ipnsJson = { name: ipns.name, value: ipns.value, sequence: ipns.sequence, validity: ipns.validity, current }
        io.out(`ipns ${ipns.name}${current ? '' : ` (still points to ${ipns.value}: move it with: ${repoHint(args, 'publish', '--ipns')})`}`)
      }
      return { result: { ...headJsonOf(h), published: h.published, ...(ipnsJson === undefined ? {} : { ipns: ipnsJson }) } }
    } finally {
      await repo.close()
    }
  }
}

export const logCommand: Command = {
  name: 'log',
  summary: 'every published timestamp, newest first, with what changed',
  usage: 'log [--dir D] [--json]',
  maxPositionals: 0,
  options: { ...DIR },
  async run (args, io) {
    io = textIo(io, args)
    const repo = await Repo.open(dirOf(args))
    try {
      const entries = (await repo.log()).reverse()
      for (const e of entries) {
        io.out(`${e.published} ${e.timestamp.toString()}`)
        for (const c of e.changes) io.out(`    ${c.role}: ${c.kind}${c.count !== undefined ? ` ${c.count}` : ''}`)
      }
      return { result: { entries: entries.map((e) => ({ ...headJsonOf(e), published: e.published, changes: e.changes })) } }
    } finally {
      await repo.close()
    }
  }
}

export const resetCommand: Command = {
  name: 'reset',
  summary: 'drop every staged change (published objects and drafts are kept)',
  usage: 'reset [--dir D] [--json]',
  maxPositionals: 0,
  options: { ...DIR },
  async run (args, io) {
    io = textIo(io, args)
    const repo = await Repo.open(dirOf(args), { lock: true })
    try {
      const s = await repo.staged()
      await repo.writeStaged({ id: s.id, ops: [] })
      io.out(`dropped ${s.ops.length} staged change(s)`)
      return { result: { dropped: s.ops.length } }
    } finally {
      await repo.close()
    }
  }
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a CAR with every block a client needs to verify a timestamp from the first root',
  usage: 'export [--dir D] --car FILE [--timestamp CID] [--since CID] [--content] [--json]',
  maxPositionals: 0,
  options: {
    ...DIR,
    car: { type: 'string', help: 'the CAR file to write' },
    timestamp: { type: 'string', help: 'the timestamp to export (default: the head)' },
    since: { type: 'string', help: 'a timestamp the client trusts: add the snapshot chain back to it' },
    content: { type: 'boolean', help: 'also include the target files\' blocks' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const car = str(args, 'car')
    if (car === undefined) throw new UsageError('ERR_USAGE', 'export needs --car FILE')
    const tsArg = cidArg(args, 'timestamp')
    const sinceArg = cidArg(args, 'since')
    const bar = progressBar(io, args, 'export')
    const res = await withSession(args, {}, async (s) => {
      const current = await loadCurrent(s.repo, s.node)
      const ts = tsArg ?? current.head.timestamp
      return await exportCar(s.node, current.loader, ts, car, {
        ...(sinceArg !== undefined ? { since: sinceArg } : {}),
        content: flag(args, 'content'),
        progress: bar.update
      })
    })
    bar.end()
    io.out(`wrote ${car}: ${res.blocks} blocks, ${res.bytes} bytes, root ${res.timestamp}`)
    return { result: { car, ...res } }
  }
}
