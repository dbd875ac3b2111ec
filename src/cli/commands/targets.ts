/**
 * Staging commands (add, remove, delegate, undelegate, rotate) and publish.
 *
 * add/remove/delegate/undelegate/rotate change the staged state only;
 * `publish` turns it into signed objects. `add --key K` and `remove --key K`
 * are the second signer's one step: check that K may sign the role, stage,
 * and publish signed with K.
 */
import { flag, int, list, str } from '../args.js'
import type { Command, Io } from '../command.js'
import type { Parsed } from '../args.js'
import { UsageError } from '../../model/errors.js'
import { publishStaged, type PublishResult, type Session } from '../../publish/engine.js'
import { publishHeadIpns } from '../../publish/ipns.js'
import { addFiles, checkKeyFor, delegate, removePaths, rotate, undelegate } from '../../publish/stage.js'
import { parseCustom, type Op } from '../../publish/files.js'
import { DIR, KDF, PASSPHRASE, expiryOf, logNOf, passphraseOf, progressBar, publishJson, publishLines, textIo, withSession } from './publish-common.js'
import { checkPassphrase } from '../../publish/keyfile.js'

const KEYS = { key: { type: 'list' as const, help: 'a private key file to sign with (repeatable)' } }

async function publishNow (s: Session, io: Io, args: Parsed, extraOps: readonly Op[] = []): Promise<{ result: Record<string, unknown>, published: PublishResult }> {
  const r = await publishStaged(s, extraOps)
  let ipns: Record<string, unknown> | undefined
  if (flag(args, 'ipns') && r.kind === 'published') {
    ipns = { ...await publishHeadIpns(s.node, r.head.timestamp, s.expiry.timestamp * 1000) }
  }
  for (const l of publishLines(r, args)) io.out(l)
  if (ipns !== undefined) io.out(`ipns ${String(ipns.name)} -> ${String(ipns.value)}`)
  return { result: { ...publishJson(r), ...(ipns !== undefined ? { ipns } : {}) }, published: r }
}

export const addCommand: Command = {
  name: 'add',
  summary: 'stage target files and folders (stored in the node as UnixFS); with --key, also publish signed with that key',
  usage: 'add [--dir D] FILE|FOLDER... [--path P] [--role R] [--replace] [--custom DAGJSON] [--key KEYFILE] [--json]',
  options: {
    ...DIR,
    ...PASSPHRASE,
    ...KEYS,
    path: { type: 'string', help: 'target path for one FILE, or the prefix for several FILEs and for the files of a FOLDER (default: the folder\'s own name)' },
    role: { type: 'string', help: 'the role that lists the targets (default targets), or the name prefix of succinct hash bins: each path goes to its bin' },
    replace: { type: 'boolean', help: 'replace targets that already exist' },
    custom: { type: 'string', help: 'a dag-json value recorded as the targets\' custom metadata (at most 16 KiB)' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const files = args.positionals
    if (files.length === 0) throw new UsageError('ERR_USAGE', `add needs at least one FILE or FOLDER${list(args, 'key').length > 0 ? ' (the words after --key are all key files: give FILE before --key)' : ''}`)
    const keyFiles = list(args, 'key')
    const role = str(args, 'role') ?? 'targets'
    const pass = await passphraseOf(args)
    // Checked before anything is read, imported or staged.
    const customText = str(args, 'custom')
    const custom = customText === undefined ? undefined : parseCustom(customText)
    return await withSession(args, { lock: true, keyFiles }, async (s) => {
      for (const k of keyFiles) await checkKeyFor(s, role, k, pass)
      const bar = progressBar(io, args, 'add')
      const added = await addFiles(s, files, { role, path: str(args, 'path'), replace: flag(args, 'replace'), progress: bar.update, ...(custom !== undefined ? { custom } : {}) })
      bar.end()
      for (const a of added) io.out(`staged ${a.path} ${a.cid} (${a.length} bytes)`)
      const result: Record<string, unknown> = { role, added: added.map(({ path, cid, length, role }) => ({ path, cid, length, role })) }
      if (keyFiles.length === 0) return { result }
      const p = await publishNow(s, io, args)
      return { result: { ...result, ...p.result } }
    })
  }
}

export const removeCommand: Command = {
  name: 'remove',
  summary: 'stage the removal of targets; with --key, also publish signed with that key',
  usage: 'remove [--dir D] PATH... [--role R] [--key KEYFILE] [--json]',
  options: { ...DIR, ...PASSPHRASE, ...KEYS, role: { type: 'string', help: 'the role that lists them (default targets)' } },
  async run (args, io) {
    io = textIo(io, args)
    if (args.positionals.length === 0) throw new UsageError('ERR_USAGE', 'remove needs at least one PATH')
    const keyFiles = list(args, 'key')
    const role = str(args, 'role') ?? 'targets'
    const pass = await passphraseOf(args)
    return await withSession(args, { lock: true, keyFiles }, async (s) => {
      for (const k of keyFiles) await checkKeyFor(s, role, k, pass)
      await removePaths(s, args.positionals, role)
      for (const p of args.positionals) io.out(`staged removal of ${p}`)
      const result: Record<string, unknown> = { role, removed: args.positionals }
      if (keyFiles.length === 0) return { result }
      const p = await publishNow(s, io, args)
      return { result: { ...result, ...p.result } }
    })
  }
}

export const delegateCommand: Command = {
  name: 'delegate',
  summary: 'stage a delegation of paths (or hash prefixes, or 2^BITS succinct hash bins named ROLE-HEX) to ROLE, signed by the given public keys',
  usage: 'delegate [--dir D] ROLE --key PUBKEYFILE... --threshold N (--paths GLOB... | --hash-prefixes HEX... | --succinct BITS) [--terminating] [--from DELEGATOR]',
  options: {
    ...DIR,
    key: { type: 'list', help: 'public (or private) key files of the role\'s signers' },
    threshold: { type: 'string', help: 'signatures needed (default 1)' },
    paths: { type: 'list', help: 'path patterns: * and ? match within one path segment' },
    'hash-prefixes': { type: 'list', help: 'hex prefixes of SHA-256(path)' },
    succinct: { type: 'string', help: 'TAP 15 hash bins: 2^BITS roles ROLE-000... each for the paths whose SHA-256 starts with its bits (all bins exist, none terminating)' },
    terminating: { type: 'boolean', help: 'paths matched here are not searched elsewhere' },
    from: { type: 'string', help: 'the delegating role (default targets)' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const [name, ...extra] = args.positionals
    if (name === undefined || extra.length > 0) throw new UsageError('ERR_USAGE', 'delegate takes exactly one ROLE')
    const paths = args.options.paths === undefined ? undefined : list(args, 'paths')
    const prefixes = args.options['hash-prefixes'] === undefined ? undefined : list(args, 'hash-prefixes')
    const succinct = args.options.succinct === undefined ? undefined : int(args, 'succinct', 0, 1, 16)
    return await withSession(args, { lock: true }, async (s) => {
      const op = await delegate(s, name, {
        from: str(args, 'from'),
        keyFiles: list(args, 'key'),
        threshold: int(args, 'threshold', 1, 1, 256),
        ...(paths !== undefined ? { paths } : {}),
        ...(prefixes !== undefined ? { hashPrefixes: prefixes } : {}),
        ...(succinct !== undefined ? { succinctBits: succinct } : {}),
        terminating: flag(args, 'terminating')
      })
      io.out(`staged delegation ${op.op === 'delegate' ? op.from : ''} -> ${name}`)
      return { result: { role: name, from: op.op === 'delegate' ? op.from : 'targets', staged: true } }
    })
  }
}

export const undelegateCommand: Command = {
  name: 'undelegate',
  summary: 'stage the removal of a delegation (the role is retired with a tombstone on publish)',
  usage: 'undelegate [--dir D] ROLE [--from DELEGATOR]',
  options: { ...DIR, from: { type: 'string', help: 'only this delegator\'s edge' } },
  async run (args, io) {
    io = textIo(io, args)
    const [name, ...extra] = args.positionals
    if (name === undefined || extra.length > 0) throw new UsageError('ERR_USAGE', 'undelegate takes exactly one ROLE')
    return await withSession(args, { lock: true }, async (s) => {
      await undelegate(s, name, str(args, 'from'))
      io.out(`staged removal of the delegation to ${name}`)
      return { result: { role: name, staged: true } }
    })
  }
}

export const rotateCommand: Command = {
  name: 'rotate',
  summary: 'stage new keys for a role: made here (--keys M) or held elsewhere (--key PUBKEYFILE...)',
  usage: 'rotate [--dir D] ROLE [--keys M | --key PUBKEYFILE...] [--threshold N] [--encrypt]',
  options: {
    ...DIR,
    ...PASSPHRASE,
    ...KDF,
    keys: { type: 'string', help: 'make this many new keys in DIR/keys' },
    key: { type: 'list', help: 'public key files of keys held elsewhere' },
    threshold: { type: 'string', help: 'signatures needed (default: the current threshold, at most the number of keys)' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const [role, ...extra] = args.positionals
    if (role === undefined || extra.length > 0) throw new UsageError('ERR_USAGE', 'rotate takes exactly one ROLE')
    const passphrase = flag(args, 'encrypt') ? checkPassphrase(await passphraseOf(args)) : undefined
    const gen = str(args, 'keys')
    return await withSession(args, { lock: true }, async (s) => {
      const r = await rotate(s, role, {
        ...(gen !== undefined ? { generate: int(args, 'keys', 1, 1, 64) } : {}),
        ...(list(args, 'key').length > 0 ? { keyFiles: list(args, 'key') } : {}),
        ...(str(args, 'threshold') !== undefined ? { threshold: int(args, 'threshold', 1, 1, 256) } : {}),
        ...(passphrase !== undefined ? { passphrase, logN: logNOf(args) } : {})
      })
      io.out(`staged rotation of ${role}: ${r.threshold} of ${r.keys.length}`)
      for (const k of r.keys) io.out(`  ${k.keyid.slice(0, 16)}${k.file !== undefined ? `  ${k.file}` : ''}`)
      return { result: { role, threshold: r.threshold, keys: r.keys } }
    })
  }
}

export const publishCommand: Command = {
  name: 'publish',
  summary: 'sign the staged changes and move the head (or keep a draft when signatures are missing)',
  usage: 'publish [--dir D] [--key KEYFILE...] [--refresh ROLE...] [--expiry ROLE=DURATION...] [--ipns] [--json]',
  maxPositionals: 0,
  options: {
    ...DIR,
    ...PASSPHRASE,
    ...KEYS,
    refresh: { type: 'list', help: 're-sign these roles (root, targets, delegated) with a fresh expiry' },
    expiry: { type: 'list', help: 'ROLE=DURATION for the objects this publish makes (e.g. timestamp=6h)' },
    ipns: { type: 'boolean', help: 'also sign an IPNS record for the new head (stored by the node, offline)' }
  },
  async run (args, io) {
    io = textIo(io, args)
    const expiry = expiryOf(list(args, 'expiry'))
    return await withSession(args, { lock: true, keyFiles: list(args, 'key'), expiry }, async (s) => {
      const ops: Op[] = list(args, 'refresh').map((role) => ({ op: 'refresh', role }))
      return { result: (await publishNow(s, io, args, ops)).result }
    })
  }
}
