/**
 * What the publisher's commands share: the --dir and --passphrase-file
 * options, opening a repository session, the progress bar, and the JSON
 * shapes of a publish result.
 */
import type { OptionSpec, Parsed } from '../args.js'
import { readFile } from 'node:fs/promises'
import { flag, list, str } from '../args.js'
import type { Pkcs11Keys } from '../../publish/pkcs11.js'
import type { Signer } from '../../model/keys.js'
import type { Io } from '../command.js'
import { UsageError } from '../../model/errors.js'
import type { PublishResult, Session, SessionOptions } from '../../publish/engine.js'
import { parseDuration, EXPIRY_ROLES, type ExpiryRole, type HeadRecord } from '../../publish/files.js'
import type { NeedReport } from '../../publish/drafts.js'
import { DEFAULT_REPO_DIR, Repo } from '../../publish/repo.js'
import { RepoBlockFiles } from '../../blocks/repo-files.js'
import type { BlockSource } from '../../blocks/types.js'
import { dagtufCommand } from '../../util/shell.js'

export const DIR: Readonly<Record<string, OptionSpec>> = {
  dir: { type: 'string', help: `repository folder (default ${DEFAULT_REPO_DIR})` }
}

export const PASSPHRASE: Readonly<Record<string, OptionSpec>> = {
  'passphrase-file': { type: 'string', help: 'read the key passphrase from this file (else DAGTUF_PASSPHRASE)' }
}

export const PKCS11: Readonly<Record<string, OptionSpec>> = {
  'pkcs11-module': { type: 'string', help: 'sign with Ed25519 keys on a PKCS#11 token: the module, e.g. /usr/lib/softhsm/libsofthsm2.so' },
  'pkcs11-token': { type: 'string', help: 'the token\'s label (default: the only token)' },
  'pkcs11-pin-file': { type: 'string', help: 'read the token\'s user PIN from this file (else DAGTUF_PKCS11_PIN)' },
  'pkcs11-key': { type: 'list', help: 'the keys to use, by label (default: every Ed25519 key of the token)' }
}

/**
 * The PKCS#11 keys named by --pkcs11-*, or undefined without --pkcs11-module.
 * The caller closes them.
 *
 * @throws {UsageError} ERR_USAGE (no PIN) | {KeyFileError} ERR_PKCS11
 */
export async function pkcs11Of (args: Parsed): Promise<Pkcs11Keys | undefined> {
  const module = str(args, 'pkcs11-module')
  if (module === undefined) {
    for (const o of ['pkcs11-token', 'pkcs11-pin-file', 'pkcs11-key']) if (args.options[o] !== undefined) throw new UsageError('ERR_USAGE', `--${o} needs --pkcs11-module`)
    return undefined
  }
  const file = str(args, 'pkcs11-pin-file')
  let pin: string | undefined
  if (file !== undefined) {
    try { pin = (await readFile(file, 'utf8')).replace(/\r?\n$/, '') } catch (cause) { throw new UsageError('ERR_USAGE', `--pkcs11-pin-file: cannot read ${file}`, { cause }) }
  } else pin = process.env.DAGTUF_PKCS11_PIN
  if (pin === undefined || pin === '') throw new UsageError('ERR_USAGE', '--pkcs11-module needs the user PIN: --pkcs11-pin-file F or DAGTUF_PKCS11_PIN')
  const labels = list(args, 'pkcs11-key')
  const { openPkcs11 } = await import('../../publish/pkcs11.js')
  return await openPkcs11({ module, pin, ...(str(args, 'pkcs11-token') !== undefined ? { token: str(args, 'pkcs11-token') } : {}), ...(labels.length > 0 ? { labels } : {}) })
}

/**
 * The signers of `--key KEYFILE...` (decrypted with the passphrase) and of
 * the PKCS#11 token (--pkcs11-*): every key is read and decrypted, and the
 * token opened, before `body` signs anything; the token is closed after.
 *
 * @throws {UsageError} ERR_USAGE when neither is given
 */
export async function withSigners<T> (args: Parsed, command: string, body: (signers: Signer[]) => Promise<T>): Promise<T> {
  const keyFiles = list(args, 'key')
  if (keyFiles.length === 0 && str(args, 'pkcs11-module') === undefined) throw new UsageError('ERR_USAGE', `${command} needs --key KEYFILE (or --pkcs11-module)`)
  const pass = await passphraseOf(args)
  const { readKeyFile, signerFromKeyFile } = await import('../../publish/keyfile.js')
  const signers: Signer[] = []
  for (const f of keyFiles) signers.push(await signerFromKeyFile(await readKeyFile(f), pass))
  const token = await pkcs11Of(args)
  try {
    return await body([...signers, ...token?.signers ?? []])
  } finally {
    token?.close()
  }
}

export const KDF: Readonly<Record<string, OptionSpec>> = {
  encrypt: { type: 'boolean', help: 'encrypt new key files with the passphrase (scrypt + XChaCha20-Poly1305)' },
  'kdf-log-n': { type: 'string', help: 'scrypt cost as log2(N) for new encrypted keys, 15..20 (default 17)' }
}

/** The command's Io with human output silenced under --json (the JSON object is printed by main). */
export function textIo (io: Io, args: Parsed): Io {
  if (!flag(args, 'json')) return io
  return { out: () => {}, err: io.err, tty: io.tty }
}

/**
 * `--out FILE`, or the short `-o FILE` (which the parser leaves among the
 * positionals). Any other positional is a usage error.
 *
 * @throws {UsageError} ERR_USAGE
 */
export function outOf (args: Parsed, allowedPositionals = 0): { out: string | undefined, rest: string[] } {
  let out = str(args, 'out')
  const rest: string[] = []
  for (let i = 0; i < args.positionals.length; i++) {
    const p = args.positionals[i]!
    if (p === '-o') {
      const v = args.positionals[i + 1]
      if (v === undefined || out !== undefined) throw new UsageError('ERR_USAGE', '-o takes one FILE (or use --out)')
      out = v
      i++
    } else rest.push(p)
  }
  if (rest.length > allowedPositionals) throw new UsageError('ERR_USAGE', `unexpected argument ${JSON.stringify(rest[allowedPositionals]!.slice(0, 64))}`)
  return { out, rest }
}

/** @throws {UsageError} ERR_USAGE on an empty --dir (it would mean the current folder) */
export function dirOf (args: Parsed): string {
  const dir = str(args, 'dir')
  if (dir === '') throw new UsageError('ERR_USAGE', '--dir is empty (give a folder, e.g. --dir .)')
  return dir ?? DEFAULT_REPO_DIR
}

/**
 * A follow-up command to print as a hint: `dagtuf WORDS... --dir D`, with
 * `--passphrase-file F` when this command was given one, quoted for the
 * shell, so that it runs as printed from the same folder (issue 14).
 */
export function repoHint (args: Parsed, ...words: string[]): string {
  const pass = str(args, 'passphrase-file')
  return dagtufCommand(...words, '--dir', dirOf(args), ...(pass !== undefined ? ['--passphrase-file', pass] : []))
}

export async function passphraseOf (args: Parsed): Promise<string | undefined> {
  const { readPassphrase } = await import('../../publish/keyfile.js')
  return await readPassphrase(str(args, 'passphrase-file'))
}

/** The scrypt cost for new keys (only from the command line, 15..20). @throws {UsageError} */
export function logNOf (args: Parsed): number | undefined {
  const v = str(args, 'kdf-log-n')
  if (v === undefined) return undefined
  if (!/^\d{2}$/.test(v) || Number(v) < 15 || Number(v) > 20) throw new UsageError('ERR_USAGE', '--kdf-log-n must be 15..20')
  return Number(v)
}

/** --expiry ROLE=DURATION (repeatable). @throws {UsageError} */
export function expiryOf (values: readonly string[]): Partial<Record<ExpiryRole, number>> {
  const out: Partial<Record<ExpiryRole, number>> = {}
  for (const v of values) {
    const m = /^([a-z]+)=(.+)$/.exec(v)
    if (m === null || !(EXPIRY_ROLES as readonly string[]).includes(m[1]!)) throw new UsageError('ERR_USAGE', `--expiry takes ROLE=DURATION with ROLE one of ${EXPIRY_ROLES.join(', ')}`)
    out[m[1] as ExpiryRole] = parseDuration(m[2]!, (message) => new UsageError('ERR_USAGE', message), '--expiry')
  }
  return out
}

/** Run `fn` on an open session; the repository is closed (and unlocked) afterwards. */
export async function withSession<T> (args: Parsed, options: Omit<SessionOptions, 'passphrase'>, fn: (s: Session) => Promise<T>): Promise<T> {
  // Loaded here, not at the top: the commands that only read (withReader)
  // start without the publisher's engine (issue 14 item 7).
  const { openSession } = await import('../../publish/engine.js')
  const session = await openSession(dirOf(args), { ...options, passphrase: await passphraseOf(args) })
  try {
    return await fn(session)
  } finally {
    await session.repo.close()
  }
}

/** What a read-only command gets: the repository (no lock, no keys read) and its blocks read from their files. */
export interface Reader {
  readonly repo: Repo
  readonly blocks: BlockSource
}

/**
 * Run `fn` over the repository of --dir without opening its node (Helia and
 * its stores) or reading its keys: for commands that only read (status,
 * drafts, draft show). The blocks come from their files, each checked
 * against its CID (src/blocks/repo-files.ts).
 */
export async function withReader<T> (args: Parsed, fn: (r: Reader) => Promise<T>): Promise<T> {
  const repo = await Repo.open(dirOf(args))
  try {
    return await fn({ repo, blocks: new RepoBlockFiles(repo.dir) })
  } finally {
    await repo.close()
  }
}

export interface ProgressBar {
  update: (done: number, total: number) => void
  end: () => void
}

/**
 * A progress bar on stderr, only when stderr is a terminal and --json is not
 * given; otherwise a no-op. Redrawn at most ten times a second.
 */
export function progressBar (io: Io, args: Parsed, label: string): ProgressBar {
  if (!io.tty || flag(args, 'json')) return { update: () => {}, end: () => {} }
  let last = 0
  let drawn = false
  const draw = (done: number, total: number): void => {
    const width = 30
    const filled = total === 0 ? width : Math.round(width * done / total)
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`)
    drawn = true
  }
  return {
    update (done, total) {
      const now = Date.now()
      if (done < total && now - last < 100) return
      last = now
      draw(done, total)
    },
    end () { if (drawn) process.stderr.write('\n') }
  }
}

export function headJsonOf (h: HeadRecord): Record<string, unknown> {
  const delegated: Record<string, string> = {}
  for (const [n, c] of h.delegated) delegated[n] = c.toString()
  return { timestamp: h.timestamp.toString(), snapshot: h.snapshot.toString(), root: h.root.toString(), targets: h.targets.toString(), delegated }
}

function needJson (n: NeedReport): Record<string, unknown> {
  return { role: n.role, label: n.label, threshold: n.threshold, have: n.have, signed: n.signed, missing: n.missing }
}

/** `{ timestamp, snapshot, root, targets, delegated, changes }` or `{ draft, needs }`. */
export function publishJson (r: PublishResult): Record<string, unknown> {
  if (r.kind === 'published') return { ...headJsonOf(r.head), changes: r.head.changes }
  return { draft: r.draft.id, needs: r.needs.map(needJson) }
}

/** Human lines for a publish result; `args` are the command's (its --dir goes into the sign hint). */
export function publishLines (r: PublishResult, args: Parsed): string[] {
  if (r.kind === 'published') {
    const lines = [`published timestamp ${r.head.timestamp.toString()}`, `  snapshot ${r.head.snapshot.toString()}`, `  root     ${r.head.root.toString()}`, `  targets  ${r.head.targets.toString()}`]
    for (const [n, c] of r.head.delegated) lines.push(`  ${n} ${c.toString()}`)
    return lines
  }
  const lines = [r.kind === 'draft' ? `signatures missing: kept as draft ${r.draft.id}` : `draft ${r.draft.id} still waits for signatures`]
  for (const n of r.needs) lines.push(`  ${n.role} (${n.label}): ${n.have} of ${n.threshold}; may sign: ${n.missing.map((k) => k.slice(0, 16)).join(', ')}`)
  lines.push(`sign with: ${repoHint(args, 'sign', '--draft', r.draft.id, '--key', 'KEYFILE')}`)
  return lines
}

export function needsJson (needs: readonly NeedReport[]): Array<Record<string, unknown>> {
  return needs.map(needJson)
}
