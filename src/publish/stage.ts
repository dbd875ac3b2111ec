/**
 * Staging: add/remove/delegate/undelegate/rotate change the staged state;
 * `publish` turns it into signed objects.
 *
 * Guarantee: every check runs before anything is written. A refused change
 * (missing file, duplicate or unsafe path, unknown role, bad threshold...)
 * leaves head.json, staged.jsonl, drafts, keys and the node untouched. An
 * accepted one writes target content to the node first, flushes it to disk,
 * and writes the staged change last (atomically), so a kill in between only
 * leaves unreferenced blocks, and a power loss cannot keep a staged change
 * (and the head a later publish makes from it) while losing its content.
 */
import { closeSync, openSync, readSync, type Stats } from 'node:fs'
import * as fs from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 as sha256Hasher } from 'multiformats/hashes/sha2'
import type { BlockStore } from '../blocks/types.js'
import { SINGLE_LEAF_MAX, addContent } from '../blocks/unixfs.js'
import { generateKeyPair, keyIdOf, type KeyPair } from '../model/keys.js'
import { KeyFileError, RepoError } from '../model/errors.js'
import { isSafeRoleName, isSafeTargetPath } from '../model/schema.js'
import { TOP_ROLES, type PublicKey } from '../model/types.js'
import type { Op, Staged } from './files.js'
import { readKeyFile, signerFromKeyFile, writePrivateKeyFile } from './keyfile.js'
import type { Repo } from './repo.js'
import { applyOps, desiredFrom, hasTarget, loadCurrent, requirementsFor, rootSignedFor, targetsSignedFor, type DagView, type Desired, type NodeBlocks } from './state.js'
import type { SuccinctSpec } from '../model/build.js'
import { binName, binOfHash } from '../model/delegations.js'
import { pathHash } from '../validate/delegation.js'
import { emptyMap } from '../shard/index.js'

export type Progress = (done: number, total: number) => void

/** What staging works with: the repository (staged.jsonl, head.json, keys/) and its node's blocks. */
export interface StageSession {
  readonly repo: Repo
  readonly node: NodeBlocks
}

/** The desired state after the staged changes and `extra`. @throws {RepoError} */
async function check (session: StageSession, extra: readonly Op[]): Promise<{ staged: Staged, desired: Desired }> {
  const current = await loadCurrent(session.repo, session.node)
  const staged = await session.repo.staged(current.head)
  const desired = desiredFrom(current.published)
  await applyOps(desired, staged.ops)
  await applyOps(desired, extra)
  return { staged, desired }
}

async function append (session: StageSession, staged: Staged, ops: readonly Op[]): Promise<Staged> {
  const next = { id: staged.id, ops: [...staged.ops, ...ops] }
  await session.repo.appendStaged(staged, ops)
  return next
}

// A placeholder content CID for dry runs (the empty raw block).
const EMPTY = CID.createV1(raw.code, await sha256Hasher.digest(new Uint8Array(0)))

export interface AddOptions {
  role?: string
  /** One file: its target path. Several files: a directory prefix. */
  path?: string
  replace?: boolean
  /** A `custom` value for every target added (checked with parseCustom from files.ts first). */
  custom?: unknown
  progress?: Progress
}

export interface Added { path: string, cid: string, length: number, file: string, role: string }

/**
 * Stage target files.
 *
 * @throws {RepoError} ERR_TARGET_FILE (missing or not a regular file) |
 *   ERR_TARGET_DUPLICATE (two files for one path) | ERR_TARGET_PATH_UNSAFE |
 *   ERR_TARGET_EXISTS (without replace) | ERR_ROLE_UNKNOWN | ERR_TARGET_NOT_DELEGATED
 */
export async function addFiles (session: StageSession, inputs: readonly string[], options: AddOptions = {}): Promise<Added[]> {
  const role = options.role ?? 'targets'
  if (inputs.length === 0) throw new RepoError('ERR_TARGET_FILE', 'no file given')
  const { files, paths, sizes } = await expandInputs(inputs, options.path)
  if (files.length === 0) throw new RepoError('ERR_TARGET_FILE', 'the folders given hold no file')
  const seen = new Set<string>()
  paths.forEach((p, i) => {
    if (!isSafeTargetPath(p)) throw new RepoError('ERR_TARGET_PATH_UNSAFE', `unsafe target path ${JSON.stringify(String(p).slice(0, 200))}`, { details: { path: String(p).slice(0, 200), file: files[i] } })
    if (seen.has(p)) throw new RepoError('ERR_TARGET_DUPLICATE', `two files for the target path ${p}`, { details: { path: p } })
    seen.add(p)
  })
  // Dry run: role, delegation of each path, limits, existing paths.
  const { staged, desired } = await check(session, [])
  // --role PREFIX of succinct hash bins: each path goes to its own bin.
  let bins: SuccinctSpec | undefined
  if (!desired.roles.has(role)) for (const c of desired.roles.values()) if (c.succinct?.namePrefix === role) bins = c.succinct
  const roles = paths.map((p) => bins === undefined ? role : binName(bins, binOfHash(bins.bitLength, pathHash(p))))
  if (options.replace !== true) {
    for (let i = 0; i < paths.length; i++) {
      const existing = desired.roles.get(roles[i]!)
      if (existing !== undefined && await hasTarget(desired.maps, existing, paths[i]!)) throw new RepoError('ERR_TARGET_EXISTS', `${roles[i]!} already has ${paths[i]!} (use --replace to change it)`, { details: { path: paths[i]!, role: roles[i]! } })
    }
  }
  await applyOps(desired, paths.map((p, i) => ({ op: 'add', role: roles[i]!, path: p, cid: EMPTY, length: 0 })))
  // Import with a few files in flight (the block store writes are the cost);
  // results keep the order of the command line.
  const out: Added[] = new Array(files.length)
  const ops: Op[] = new Array(files.length)
  // The node, noting every block the importer writes, to flush them below.
  const written: CID[] = []
  const store: BlockStore = {
    get: async (cid, o) => session.node.get(cid, o),
    has: async (cid, o) => session.node.has(cid, o),
    put: async (cid, bytes, o) => {
      await session.node.put(cid, bytes, o)
      written.push(cid)
    }
  }
  let next = 0
  let done = 0
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++
      const f = files[i]!
      let ref
      if (sizes[i]! <= SINGLE_LEAF_MAX) {
        // One chunk: read it whole (no streaming buffers), one raw block.
        ref = await addContent(store, await readTargetFile(f, sizes[i]!))
      } else {
        const h = await fs.open(f, 'r')
        try {
          ref = await addContent(store, streamOf(h))
        } finally {
          await h.close()
        }
      }
      if (ref.length !== sizes[i]) throw new RepoError('ERR_TARGET_FILE', `${f} changed while it was read`, { details: { file: f } })
      ops[i] = { op: 'add', role: roles[i]!, path: paths[i]!, cid: ref.cid, length: ref.length, ...(options.custom !== undefined ? { custom: options.custom } : {}) }
      out[i] = { path: paths[i]!, cid: ref.cid.toString(), length: ref.length, file: f, role: roles[i]! }
      options.progress?.(++done, files.length)
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, files.length) }, worker))
  await session.node.flush(written)
  await append(session, staged, ops)
  return out
}

async function * streamOf (h: fs.FileHandle): AsyncGenerator<Uint8Array> {
  for (;;) {
    // A fresh chunk each time: the importer may keep the ones it was given.
    const buf = Buffer.allocUnsafe(1024 * 1024)
    const { bytesRead } = await h.read(buf, 0, buf.length)
    if (bytesRead === 0) return
    yield new Uint8Array(buf.buffer, buf.byteOffset, bytesRead)
  }
}

/**
 * The bytes of the file `f`, whose size was `size` when the folder was
 * walked: a read of up to `size + 1` bytes (no fstat: the size is known),
 * so a file that grew comes back longer, one that shrank shorter, and the
 * caller's length check refuses either.
 */
/** Target files up to this size are read with one blocking call each (see readTargetFile). */
const SYNC_READ_MAX = 64 * 1024

async function readTargetFile (f: string, size: number): Promise<Uint8Array> {
  // A small file is read synchronously: open, read and close were three of
  // the about eleven round trips to Node's thread pool that each file of an
  // `add` of many small files cost (strace), each dearer than the read
  // itself; blocking the event loop for one small local read is cheaper.
  if (size <= SYNC_READ_MAX) return readSmallFile(f, size)
  try {
    const h = await fs.open(f, 'r')
    try {
      const buf = new Uint8Array(size + 1)
      let n = 0
      // A local regular file answers one read in full up to its end (so one
      // read, usually); a short read below `size` (a network file system) reads on.
      do {
        const { bytesRead } = await h.read(buf, n, buf.byteLength - n, null)
        if (bytesRead === 0) break
        n += bytesRead
      } while (n < size)
      return buf.subarray(0, n)
    } finally {
      await h.close()
    }
  } catch (cause) {
    throw new RepoError('ERR_TARGET_FILE', `cannot read ${f}`, { cause, details: { file: f } })
  }
}

/** readTargetFile for a file of at most SYNC_READ_MAX bytes: the same reads, blocking. */
function readSmallFile (f: string, size: number): Uint8Array {
  try {
    const fd = openSync(f, 'r')
    try {
      const buf = new Uint8Array(size + 1)
      let n = 0
      do {
        const bytesRead = readSync(fd, buf, n, buf.byteLength - n, null)
        if (bytesRead === 0) break
        n += bytesRead
      } while (n < size)
      return buf.subarray(0, n)
    } finally {
      closeSync(fd)
    }
  } catch (cause) {
    throw new RepoError('ERR_TARGET_FILE', `cannot read ${f}`, { cause, details: { file: f } })
  }
}

/** Files one `add` takes at most (folders included), and how deep it walks a folder. */
export const MAX_ADD_FILES = 10_000_000
export const MAX_ADD_DEPTH = 64

/**
 * The files to add and their target paths. A FILE is added under its base
 * name, or under `prefix` when it is the only input, or under
 * `prefix/basename` among several. A FOLDER is walked recursively (in name
 * order); each regular file in it is added under the folder's base name (or
 * `prefix`) followed by its path inside the folder, with `/` separators.
 * Symbolic links and other special files are refused, never followed.
 *
 * @throws {RepoError} ERR_TARGET_FILE
 */
async function expandInputs (inputs: readonly string[], prefix: string | undefined): Promise<{ files: string[], paths: string[], sizes: number[] }> {
  const files: string[] = []
  const paths: string[] = []
  const sizes: number[] = []
  const base = prefix?.replace(/\/+$/, '')
  const push = (file: string, path: string, size: number): void => {
    if (files.length >= MAX_ADD_FILES) throw new RepoError('ERR_TARGET_FILE', `more than ${MAX_ADD_FILES} files in one add`)
    files.push(file)
    paths.push(path)
    sizes.push(size)
  }
  const walk = async (dir: string, under: string, depth: number): Promise<void> => {
    if (depth > MAX_ADD_DEPTH) throw new RepoError('ERR_TARGET_FILE', `${dir} is nested more than ${MAX_ADD_DEPTH} folders deep`, { details: { file: dir } })
    let entries
    try { entries = await fs.readdir(dir, { withFileTypes: true }) } catch (cause) { throw new RepoError('ERR_TARGET_FILE', `cannot read the folder ${dir}`, { cause, details: { file: dir } }) }
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    for (const e of entries) {
      const p = join(dir, e.name)
      const target = under === '' ? e.name : `${under}/${e.name}`
      if (e.isDirectory()) await walk(p, target, depth + 1)
      else if (e.isFile()) push(p, target, (await statFile(p)).size)
      else throw new RepoError('ERR_TARGET_FILE', `${p} is not a regular file or a folder (symbolic links are not followed)`, { details: { file: p } })
    }
  }
  for (const input of inputs) {
    let st
    try { st = await fs.lstat(input) } catch (cause) { throw new RepoError('ERR_TARGET_FILE', `cannot read ${input}`, { cause, details: { file: input } }) }
    if (st.isDirectory()) {
      const name = basename(resolve(input))
      await walk(input, base ?? name, 0)
    } else if (st.isFile() || (st.isSymbolicLink() && (await statFile(input)).isFile())) {
      // A symbolic link named on the command line is the user's choice: it is followed.
      const size = st.isFile() ? st.size : (await statFile(input)).size
      push(input, base === undefined ? basename(input) : inputs.length === 1 ? base : `${base}/${basename(input)}`, size)
    } else {
      throw new RepoError('ERR_TARGET_FILE', `${input} is not a regular file or a folder`, { details: { file: input } })
    }
  }
  return { files, paths, sizes }
}

async function statFile (f: string): Promise<Stats> {
  try { return await fs.stat(f) } catch (cause) { throw new RepoError('ERR_TARGET_FILE', `cannot read ${f}`, { cause, details: { file: f } }) }
}

/** Stage removals. @throws {RepoError} ERR_TARGET_NOT_FOUND | ERR_ROLE_UNKNOWN | ERR_TARGET_PATH_UNSAFE | ERR_TARGET_DUPLICATE */
export async function removePaths (session: StageSession, paths: readonly string[], role = 'targets'): Promise<void> {
  if (paths.length === 0) throw new RepoError('ERR_TARGET_NOT_FOUND', 'no path given')
  const seen = new Set<string>()
  for (const p of paths) {
    if (!isSafeTargetPath(p)) throw new RepoError('ERR_TARGET_PATH_UNSAFE', 'unsafe target path', { details: { path: String(p).slice(0, 200) } })
    if (seen.has(p)) throw new RepoError('ERR_TARGET_DUPLICATE', `${p} given twice`, { details: { path: p } })
    seen.add(p)
  }
  const ops: Op[] = paths.map((p) => ({ op: 'remove', role, path: p }))
  const { staged } = await check(session, ops)
  await append(session, staged, ops)
}

/** Public keys from key files (public or private; nothing is decrypted). @throws {KeyFileError} */
export async function publicKeysFrom (files: readonly string[]): Promise<PublicKey[]> {
  const out: PublicKey[] = []
  for (const f of files) out.push((await readKeyFile(f)).publicKey)
  return out
}

export interface DelegateOptions {
  from?: string
  keyFiles: readonly string[]
  threshold: number
  paths?: readonly string[]
  hashPrefixes?: readonly string[]
  /** TAP 15 succinct hash bins: 2^bits roles named NAME-HEX (DELEG-SUCCINCT). */
  succinctBits?: number
  terminating?: boolean
}

/** Stage a new or changed delegation. @throws {RepoError}, {KeyFileError} */
export async function delegate (session: StageSession, name: string, o: DelegateOptions): Promise<Op> {
  if (!isSafeRoleName(name)) throw new RepoError('ERR_ROLE_NAME_UNSAFE', 'unsafe role name (letters, digits, . _ -; not a top role)', { details: { role: String(name).slice(0, 64) } })
  if ([o.paths, o.hashPrefixes, o.succinctBits].filter((x) => x !== undefined).length !== 1) throw new RepoError('ERR_DELEGATION_PATTERNS', 'give exactly one of --paths, --hash-prefixes and --succinct')
  if (o.succinctBits !== undefined && o.terminating === true) throw new RepoError('ERR_DELEGATION_PATTERNS', 'succinct hash bins are never terminating (TAP 15)')
  for (const h of o.hashPrefixes ?? []) if (!/^[0-9a-f]{1,64}$/.test(h)) throw new RepoError('ERR_DELEGATION_PATTERNS', 'a hash prefix is 1-64 lowercase hex characters', { details: { prefix: h.slice(0, 80) } })
  if (o.keyFiles.length === 0) throw new RepoError('ERR_THRESHOLD', 'a delegation needs at least one --key')
  const keys = await publicKeysFrom(o.keyFiles)
  const base = { op: 'delegate' as const, from: o.from ?? 'targets', name, keys: keys.map((k) => k.public), threshold: o.threshold, terminating: o.terminating === true }
  const op: Op = o.succinctBits !== undefined
    ? { ...base, succinctBits: o.succinctBits }
    : o.paths !== undefined ? { ...base, paths: [...o.paths] } : { ...base, hashPrefixes: [...o.hashPrefixes!] }
  const { staged } = await check(session, [op])
  await append(session, staged, [op])
  return op
}

/** Stage the removal of a delegation. @throws {RepoError} ERR_ROLE_UNKNOWN */
export async function undelegate (session: StageSession, name: string, from?: string): Promise<void> {
  const op: Op = from === undefined ? { op: 'undelegate', name } : { op: 'undelegate', name, from }
  const { staged } = await check(session, [op])
  await append(session, staged, [op])
}

export interface RotateOptions {
  /** New keys made here (into DIR/keys). */
  generate?: number
  /** Or: public keys of keys held elsewhere. */
  keyFiles?: readonly string[]
  threshold?: number
  passphrase?: string
  logN?: number
}

/**
 * Stage a rotation of `role`'s keys: new keys made here (written to keys/
 * after every check passed) or public keys given as files.
 *
 * @throws {RepoError} ERR_ROLE_UNKNOWN | ERR_THRESHOLD; {KeyFileError}
 */
export async function rotate (session: StageSession, role: string, o: RotateOptions): Promise<{ keys: Array<{ keyid: string, file?: string }>, threshold: number }> {
  if ((o.generate === undefined) === (o.keyFiles === undefined || o.keyFiles.length === 0)) {
    throw new RepoError('ERR_THRESHOLD', 'give either --keys N (make new keys here) or --key PUBKEYFILE... (keys held elsewhere)')
  }
  const pairs: KeyPair[] = []
  let keys: PublicKey[]
  if (o.generate !== undefined) {
    if (!Number.isSafeInteger(o.generate) || o.generate < 1 || o.generate > 64) throw new RepoError('ERR_THRESHOLD', '--keys must be 1..64')
    for (let i = 0; i < o.generate; i++) pairs.push(generateKeyPair())
    keys = pairs.map((p) => p.publicKey)
  } else {
    keys = await publicKeysFrom(o.keyFiles!)
  }
  const current = await check(session, [])
  const isTop = (TOP_ROLES as readonly string[]).includes(role)
  const currentThreshold = isTop
    ? current.desired.rootRoles[role as typeof TOP_ROLES[number]].threshold
    : Math.min(...[...current.desired.roles.values()].flatMap((c) => (c.delegations ?? []).filter((e) => e.name === role).map((e) => e.threshold)), Number.MAX_SAFE_INTEGER)
  const threshold = o.threshold ?? Math.min(currentThreshold, new Set(keys.map((k) => k.public)).size)
  const op: Op = { op: 'rotate', role, keys: keys.map((k) => k.public), threshold }
  const { staged } = await check(session, [op])
  const made: Array<{ keyid: string, file?: string }> = []
  for (const [i, p] of pairs.entries()) {
    const file = join(session.repo.keysDir, `${role}-${i + 1}-${p.keyid.slice(0, 8)}.json`)
    await writePrivateKeyFile(file, p, o.passphrase === undefined ? {} : { passphrase: o.passphrase, logN: o.logN })
    made.push({ keyid: p.keyid, file })
  }
  if (pairs.length === 0) for (const k of keys) made.push({ keyid: keyIdOf(k) })
  await append(session, staged, [op])
  return { keys: made, threshold }
}

/** Stage a re-signing of `role` with a fresh expiry. @throws {RepoError} ERR_ROLE_UNKNOWN */
export async function refresh (session: StageSession, role: string): Promise<void> {
  const op: Op = { op: 'refresh', role }
  const { staged } = await check(session, [op])
  await append(session, staged, [op])
}

/**
 * Check that a key file can sign for `role` in the repository as staged:
 * it exists, decrypts, and is one of the role's keys.
 *
 * @throws {KeyFileError} ERR_KEY_MISSING | ERR_KEY_FORMAT | ERR_WRONG_PASSPHRASE | ERR_KEY_NOT_AUTHORIZED
 */
export async function checkKeyFor (session: StageSession, role: string, file: string, passphrase: string | undefined): Promise<void> {
  const info = await readKeyFile(file)
  await signerFromKeyFile(info, passphrase)
  const { desired } = await check(session, [])
  const fixed = '2000-01-01T00:00:00Z'
  const view: DagView = {
    root: rootSignedFor(desired, fixed, null),
    // Requirements depend on the delegations only: any map root will do.
    roles: new Map([...desired.roles].map(([n, c]) => [n, targetsSignedFor(c, emptyMap().cid, fixed, null)]))
  }
  // The name prefix of succinct hash bins stands for its bins, which share their keys: ask of bin 0.
  let asked = role
  if (!desired.roles.has(role)) {
    for (const c of desired.roles.values()) if (c.succinct?.namePrefix === role) asked = binName(c.succinct, 0)
  }
  const reqs = requirementsFor(view, asked)
  if (!reqs.some((r) => r.keys.has(info.keyid))) {
    throw new KeyFileError('ERR_KEY_NOT_AUTHORIZED', `key ${info.keyid} is not authorized to sign ${role}`, { details: { keyid: info.keyid, role } })
  }
}
