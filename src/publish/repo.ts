/**
 * A repository folder on disk and everything in it:
 *
 *   DIR/blocks/      DIR/datastore/   the embedded IPFS node (src/blocks/repo-node.ts)
 *   DIR/keys/        private key files, mode 0600, directory 0700
 *   DIR/config.json  expiry periods (files.ts)
 *   DIR/head.json    the current head: timestamp CID and the CIDs of its DAG
 *   DIR/staged.jsonl changes staged by add/remove/delegate/rotate (appended per command)
 *   DIR/drafts/      drafts waiting for signatures (drafts.ts)
 *   DIR/log.jsonl    every published head, oldest first
 *   DIR/audit/       the audit log: a hash chain of every security-relevant action (audit.ts)
 *   DIR/repo.lock    held by the process that is changing the repository
 *
 * Guarantees: every file read back is parsed strictly (files.ts); every file
 * written is replaced atomically (repo-io.ts); a command that changes the
 * repository holds the lock for its whole run, and the head is compared with
 * the one the command started from just before it is replaced.
 */
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { RepoNode, RepoNodeOptions } from '../blocks/repo-node.js'
import { KeyFileError, RepoError } from '../model/errors.js'
import { dagtufCommand } from '../util/shell.js'
import type { KeyId } from '../model/types.js'
import type { Signer } from '../model/keys.js'
import { acquireLock, appendLine, ensureDir, exists, notAFileOrMissing, readCapped, writeAtomic } from './repo-io.js'
import {
  MiB, defaultConfig, headText, logLine, parseConfig, parseHead, parseLog, parseStaged, stagedBatch, stagedText,
  type HeadRecord, type Op, type RepoConfig, type Staged
} from './files.js'
import { readKeyFile, signerFromKeyFile, type KeyFileInfo } from './keyfile.js'

export const DEFAULT_REPO_DIR = './dagtuf-repo'

/** Whether a staged.jsonl's header names `id` (without parsing the rest). */
function stagedIdIs (bytes: Uint8Array, id: string): boolean {
  const end = bytes.indexOf(0x0a)
  if (end < 0) return false
  try {
    const h = JSON.parse(new TextDecoder().decode(bytes.subarray(0, end))) as { id?: unknown }
    return h.id === id
  } catch {
    return false
  }
}

/** A fresh id for a staged set or a draft ("staged-HEX", "draft-HEX"). */
export function newId (kind: 'staged' | 'draft'): string {
  return `${kind}-${randomBytes(6).toString('hex')}`
}

export class Repo {
  readonly dir: string
  #node: RepoNode | undefined
  #release: (() => Promise<void>) | undefined

  private constructor (dir: string) {
    this.dir = dir
  }

  path (...parts: string[]): string { return join(this.dir, ...parts) }
  get keysDir (): string { return this.path('keys') }
  get draftsDir (): string { return this.path('drafts') }

  /**
   * Open an existing repository. With `lock`, take the repository lock
   * (commands that change anything).
   *
   * With `allowNoHead`, a folder with a config and no head.json yet opens
   * too (a mirror before its first sync).
   *
   * @throws {RepoError} ERR_REPO_NOT_FOUND | ERR_REPO_LOCKED | ERR_REPO_CORRUPT (head.json missing where config.json is)
   */
  static async open (dir: string, options: { lock?: boolean, allowNoHead?: boolean } = {}): Promise<Repo> {
    const repo = new Repo(resolve(dir))
    await notAFileOrMissing(repo.dir, 'ERR_REPO_NOT_FOUND')
    const hasConfig = await exists(repo.path('config.json'))
    if (hasConfig && options.allowNoHead === true) {
      // A folder made to receive its first head from elsewhere (a mirror before its first sync).
      if (options.lock === true) repo.#release = await acquireLock(repo.path('repo.lock'))
      return repo
    }
    if (hasConfig && !await exists(repo.path('head.json'))) {
      // A repository (its config is there) that lost its head: not "run init".
      const log = await exists(repo.path('log.jsonl')) ? `; ${repo.path('log.jsonl')} lists every head published (the last line is the latest)` : ''
      throw new RepoError('ERR_REPO_CORRUPT', `${repo.path('head.json')} is missing from the repository in ${repo.dir}: restore it from a backup${log}`, { details: { dir: repo.dir, file: 'head.json' } })
    }
    if (!hasConfig || !await exists(repo.path('head.json'))) {
      throw new RepoError('ERR_REPO_NOT_FOUND', `no dagtuf repository in ${repo.dir} (create one with: ${dagtufCommand('init', '--dir', repo.dir)})`, { details: { dir: repo.dir } })
    }
    if (options.lock === true) repo.#release = await acquireLock(repo.path('repo.lock'))
    return repo
  }

  /**
   * Create the folder of a new repository and lock it. Refuses a folder that
   * already holds one.
   *
   * @throws {RepoError} ERR_REPO_EXISTS | ERR_REPO_IO
   */
  static async create (dir: string, configText: string): Promise<Repo> {
    const repo = new Repo(resolve(dir))
    await notAFileOrMissing(repo.dir, 'ERR_REPO_IO')
    if (await exists(repo.path('head.json')) || await exists(repo.path('config.json'))) {
      throw new RepoError('ERR_REPO_EXISTS', `${repo.dir} already holds a dagtuf repository`, { details: { dir: repo.dir } })
    }
    if (await exists(repo.keysDir)) {
      const left = await fs.readdir(repo.keysDir)
      if (left.length > 0) throw new RepoError('ERR_REPO_EXISTS', `${repo.keysDir} already holds files`, { details: { dir: repo.dir } })
    }
    await ensureDir(repo.dir, 0o755)
    repo.#release = await acquireLock(repo.path('repo.lock'))
    await ensureDir(repo.keysDir, 0o700)
    await fs.chmod(repo.keysDir, 0o700)
    await ensureDir(repo.draftsDir, 0o755)
    await writeAtomic(repo.path('config.json'), configText)
    return repo
  }

  /**
   * The embedded node, opened on first use; `options` (libp2p listen
   * addresses: `dagtuf serve --libp2p`) apply to that first opening only.
   * Loaded on first use: a command that only reads head.json or the log
   * does not load the node's stores (issue 14 item 7).
   *
   * @throws {BlockError} ERR_NODE_START
   * @throws {UsageError} ERR_ARGUMENT for a bad listen address
   */
  async node (options: RepoNodeOptions = {}): Promise<RepoNode> {
    if (this.#node === undefined) {
      const { openRepoNode } = await import('../blocks/repo-node.js')
      this.#node ??= await openRepoNode(this.dir, options)
    }
    return this.#node
  }

  /** Close the node and release the lock; safe to call twice. */
  async close (): Promise<void> {
    const node = this.#node
    this.#node = undefined
    try {
      await node?.close()
    } finally {
      const release = this.#release
      this.#release = undefined
      await release?.()
    }
  }

  async config (): Promise<RepoConfig> {
    const bytes = await readCapped(this.path('config.json'), 64 * 1024)
    return bytes === undefined ? defaultConfig() : parseConfig(bytes)
  }

  /** @throws {RepoError} ERR_REPO_CORRUPT (also when head.json is missing) */
  async head (): Promise<HeadRecord> {
    const bytes = await readCapped(this.path('head.json'), 64 * MiB)
    if (bytes === undefined) throw new RepoError('ERR_REPO_CORRUPT', 'head.json is missing', { details: { file: 'head.json' } })
    return parseHead(bytes)
  }

  /** The head's raw bytes, for compare-and-swap. */
  async headBytes (): Promise<Uint8Array | undefined> {
    return await readCapped(this.path('head.json'), 64 * MiB)
  }

  /**
   * Move the head: compare-and-swap against `expected` (the bytes of head.json
   * the caller started from; undefined for the first head), then replace it
   * atomically.
   *
   * @throws {RepoError} ERR_HEAD_MOVED when head.json changed meanwhile
   */
  async moveHead (next: HeadRecord, expected: Uint8Array | undefined): Promise<void> {
    const now = await this.headBytes()
    const same = now === undefined || expected === undefined ? now === expected : Buffer.compare(Buffer.from(now), Buffer.from(expected)) === 0
    if (!same) throw new RepoError('ERR_HEAD_MOVED', 'the head moved while this command ran; run it again', { details: { file: 'head.json' } })
    await writeAtomic(this.path('head.json'), headText(next))
  }

  /**
   * The staged changes. A set the head says it was published from is done
   * (a crash came between moving the head and clearing it): it reads as empty.
   */
  async staged (head?: HeadRecord): Promise<Staged> {
    const bytes = await readCapped(this.path('staged.jsonl'), 1024 * MiB)
    if (bytes === undefined) return { id: newId('staged'), ops: [] }
    const s = parseStaged(bytes)
    const h = head ?? await this.head()
    if (h.source === s.id) return { id: newId('staged'), ops: [] }
    return s
  }

  /** Replace the staged set whole (an empty set removes the file). */
  async writeStaged (s: Staged): Promise<void> {
    if (s.ops.length === 0) await fs.rm(this.path('staged.jsonl'), { force: true })
    else await writeAtomic(this.path('staged.jsonl'), stagedText(s))
  }

  /**
   * Add `ops` to the staged set `s` (as read by `staged()`): one line
   * appended and flushed. A new set (no file, or a file for another id)
   * is written whole, atomically. A batch line left unfinished by a crash
   * is cut off first, so it never runs into the next one.
   *
   * @throws {RepoError} ERR_REPO_IO
   */
  async appendStaged (s: Staged, ops: readonly Op[]): Promise<Staged> {
    const next = { id: s.id, ops: [...s.ops, ...ops] }
    const file = this.path('staged.jsonl')
    const onDisk = await readCapped(file, 1024 * MiB)
    if (onDisk === undefined || s.ops.length === 0 || !stagedIdIs(onDisk, s.id)) {
      await this.writeStaged(next)
      return next
    }
    try {
      // Cut an unfinished last line (after the last newline).
      const complete = onDisk.lastIndexOf(0x0a) + 1
      if (complete < onDisk.byteLength) await fs.truncate(file, complete)
    } catch (e) {
      throw new RepoError('ERR_REPO_IO', `could not repair ${file}`, { cause: e, details: { path: file } })
    }
    await appendLine(file, stagedBatch(ops).slice(0, -1))
    return next
  }

  /** Every published head, oldest first. The head itself is last even if its log line was lost in a crash. */
  async log (): Promise<HeadRecord[]> {
    const bytes = await readCapped(this.path('log.jsonl'), 1024 * MiB)
    const entries = bytes === undefined ? [] : parseLog(bytes)
    const head = await this.head()
    const last = entries[entries.length - 1]
    if (last === undefined || !last.timestamp.equals(head.timestamp)) entries.push(head)
    return entries
  }

  /**
   * Log `h`, the head that replaced `previous`. A crash between moving a head
   * and logging it loses that line; it is repaired here first, so the log
   * keeps every head.
   */
  async appendLog (h: HeadRecord, previous?: HeadRecord): Promise<void> {
    if (previous !== undefined) {
      const bytes = await readCapped(this.path('log.jsonl'), 1024 * MiB)
      const text = bytes === undefined ? '' : Buffer.from(bytes).toString('utf8')
      const lines = text.split('\n').slice(0, -1).filter((l) => l.length > 0)
      const last = lines.length === 0 ? undefined : parseLog(new TextEncoder().encode(lines[lines.length - 1]! + '\n'))[0]
      if (last === undefined || !last.timestamp.equals(previous.timestamp)) await appendLine(this.path('log.jsonl'), logLine(previous))
    }
    await appendLine(this.path('log.jsonl'), logLine(h))
  }

  /** Keys held in DIR/keys, by keyid (public parts only; nothing decrypted). */
  async keyFiles (): Promise<Map<KeyId, KeyFileInfo>> {
    const out = new Map<KeyId, KeyFileInfo>()
    let names: string[]
    try {
      names = await fs.readdir(this.keysDir)
    } catch {
      return out
    }
    for (const n of names.sort()) {
      if (!n.endsWith('.json') || n.startsWith('.')) continue
      const info = await readKeyFile(join(this.keysDir, n))
      if (info.kind !== 'public' && !out.has(info.keyid)) out.set(info.keyid, info)
    }
    return out
  }
}

/**
 * The keys a command may sign with: the repository's key files plus any
 * given with --key. Private keys are decrypted only when a signature by
 * that key is actually needed, and once.
 */
export class KeyRing {
  readonly #files = new Map<KeyId, KeyFileInfo>()
  readonly #explicit = new Set<KeyId>()
  readonly #signers = new Map<KeyId, Signer>()
  readonly #passphrase: string | undefined

  constructor (passphrase: string | undefined) {
    this.#passphrase = passphrase
  }

  /** Add repository key files (lower priority than explicit ones). */
  addIndex (files: ReadonlyMap<KeyId, KeyFileInfo>): void {
    for (const [id, info] of files) if (!this.#files.has(id)) this.#files.set(id, info)
  }

  /** Add a key file given on the command line. @throws {KeyFileError} */
  async addFile (path: string): Promise<KeyFileInfo> {
    const info = await readKeyFile(path)
    if (info.kind === 'public') throw new KeyFileError('ERR_KEY_FORMAT', `${path} is a public key file: signing needs the private key file`, { details: { path } })
    this.#files.set(info.keyid, info)
    this.#explicit.add(info.keyid)
    return info
  }

  /** Add a signer held elsewhere (a PKCS#11 token), used like a key file of the folder. */
  addSigner (signer: Signer): void {
    if (!this.#signers.has(signer.keyid)) this.#signers.set(signer.keyid, signer)
  }

  has (keyid: KeyId): boolean { return this.#files.has(keyid) || this.#signers.has(keyid) }

  /** keyids given explicitly with --key. */
  explicit (): KeyId[] { return [...this.#explicit] }

  /** @throws {KeyFileError} ERR_WRONG_PASSPHRASE | ERR_PASSPHRASE_REQUIRED | ERR_KEY_FORMAT */
  async signer (keyid: KeyId): Promise<Signer | undefined> {
    const cached = this.#signers.get(keyid)
    if (cached !== undefined) return cached
    const info = this.#files.get(keyid)
    if (info === undefined) return undefined
    const s = await signerFromKeyFile(info, this.#passphrase)
    this.#signers.set(keyid, s)
    return s
  }
}
