/**
 * Repository commands: init, keygen, reset, export (status, head and log,
 * which only read, are in read.ts).
 */
import { rm } from 'node:fs/promises'
import { cidArg, flag, int, list, str } from '../args.js'
import type { Command } from '../command.js'
import { RepoError, UsageError } from '../../model/errors.js'
import { generateKeyPair } from '../../model/keys.js'
import { initRepo, loadCurrent } from '../../publish/engine.js'
import { exportCar } from '../../publish/export.js'
import { checkPassphrase, writePrivateKeyFile, writePublicKeyFile } from '../../publish/keyfile.js'
import { exists } from '../../publish/repo-io.js'
import { Repo } from '../../publish/repo.js'
import { DIR, KDF, PASSPHRASE, dirOf, expiryOf, headJsonOf, logNOf, passphraseOf, progressBar, textIo, withReader } from './publish-common.js'

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
    // Read-only: the blocks come from their files, without starting the node.
    const res = await withReader(args, async (r) => {
      const current = await loadCurrent(r.repo, r.blocks)
      const ts = tsArg ?? current.head.timestamp
      return await exportCar(r.blocks, current.loader, ts, car, {
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
