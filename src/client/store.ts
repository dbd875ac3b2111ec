/**
 * The trusted-state folder of a client:
 *
 *   state.json   the trusted state (statefile.ts), replaced atomically
 *   blocks/      a content-addressed cache of the trusted DAG's metadata blocks,
 *                one file per block, named by its CID
 *   lock         held while an update or init runs
 *
 * Guarantees:
 * - `writeState` is CLIENT-STATE-ATOMIC: the bytes go to a temporary file in
 *   the same directory, which is fsynced, renamed over state.json, and the
 *   directory is fsynced (src/util/durable-fs.ts, the publisher's recipe too). A crash at any point leaves the old file or the new
 *   one, never a mixture; leftover temporary files are ignored and removed by
 *   the next writer.
 * - A cached block is stored durably before any state naming it is written,
 *   and is hash-checked again every time it is read back: a file that does
 *   not hash to its name is deleted and reported as a miss, so a damaged
 *   cache costs a re-fetch, never trust. An update stores its blocks as one
 *   batch (`putMany`): every file written to a temporary name, fsynced and
 *   renamed, a few at a time, then the folder fsynced once — not one
 *   directory fsync per block. Shard nodes a lookup fetches are written as
 *   they arrive without any fsync (`write`): a cache whose files a crash may
 *   leave empty, which the hash check turns into a re-fetch; an update
 *   fsyncs the ones it read (`putMany`'s `alsoSync`) before its state.
 * - `lock` is exclusive between processes: a file created with O_EXCL that
 *   holds the owner's pid and a random token (acquireFileLock in
 *   src/util/durable-fs.ts, the publisher's lock too). A lock whose owner no longer
 *   exists (a client killed mid-update) is taken over, by one process only;
 *   a live owner makes the call fail with ERR_STATE_LOCKED.
 *
 * Errors: StateError ERR_STATE_IO (the file system refused), ERR_STATE_CORRUPT
 * (state.json unreadable), ERR_STATE_LOCKED.
 */
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { BlockError, DiskFullError, StateError, UsageError, diskFull } from '../model/errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_JSON, checkBlock } from '../model/hash.js'
import { acquireFileLock, fsyncDir, fsyncFile, isCode, readFileCapped, writeFileAtomic as writeAtomicShared } from '../util/durable-fs.js'
import { slowPoint } from '../util/test-hooks.js'
import { MAX_STATE_BYTES, parseState, serializeState, type StateRecord } from './statefile.js'
import type { ClientBlockCache, ClientStorage } from './storage.js'

export const STATE_FILE = 'state.json'
export const LOCK_FILE = 'lock'
export const BLOCKS_DIR = 'blocks'

/** ERR_DISK_FULL for a full disk, ERR_STATE_IO for any other refusal. */
function io (what: string, path: string, cause: unknown): StateError | DiskFullError {
  return diskFull(cause, path) ?? new StateError('ERR_STATE_IO', `could not ${what} ${path}`, { cause, details: { path } })
}

/**
 * Write `bytes` to `path` atomically and durably: temporary file in the
 * same directory, fsync, rename, fsync of the directory.
 *
 * @throws {StateError} ERR_STATE_IO
 */
export async function writeFileAtomic (dir: string, name: string, bytes: Uint8Array, mode = 0o644, sync: 'all' | 'file' | 'none' = 'all'): Promise<void> {
  const path = join(dir, name)
  // The crash test's slow point sits before the fsync: a write without one has none.
  await writeAtomicShared(path, bytes, { mode, sync, ...(sync === 'none' ? {} : { beforeSync: slowPoint }), onError: (cause) => io('write', path, cause) })
}

/** Files written or fsynced at once by a batch (each holds a file descriptor). */
const BATCH_CONCURRENCY = 8

/** Run `f` over `items`, at most `limit` at a time; the first failure is thrown once all started ones ended. */
async function eachLimited<T> (items: readonly T[], limit: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let failure: { e: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T
      try {
        await f(item)
      } catch (e) {
        failure ??= { e }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  if (failure !== undefined) throw failure.e
}

/** Read at most `max` bytes of a regular file; undefined when it does not exist. */
async function readCapped (path: string, max: number, tooLarge: () => Error): Promise<Uint8Array | undefined> {
  return readFileCapped(path, max, { refused: tooLarge, io: (what, cause) => io(what, path, cause) })
}

/** A content-addressed folder of metadata blocks; every read is hash-checked. */
export class BlockCache implements ClientBlockCache {
  constructor (readonly dir: string) {}

  #path (cid: CID): string {
    return join(this.dir, cid.toString())
  }

  /**
   * The bytes of `cid`, or undefined when absent or damaged (a damaged file
   * is removed).
   *
   * @throws {StateError} ERR_STATE_IO
   */
  async get (cid: CID, maxBytes: number = MAX_ANY_BLOCK_BYTES): Promise<Uint8Array | undefined> {
    const path = this.#path(cid)
    let bytes: Uint8Array | undefined
    try {
      bytes = await readCapped(path, maxBytes, () => new BlockError('ERR_BLOCK_TOO_LARGE', `cached block ${cid} is too large`))
    } catch (e) {
      if (!(e instanceof BlockError)) throw e
      await fs.rm(path, { force: true }).catch(() => {})
      return undefined
    }
    if (bytes === undefined) return undefined
    try {
      checkBlock(cid, bytes, maxBytes)
    } catch {
      await fs.rm(path, { force: true }).catch(() => {})
      return undefined
    }
    return bytes
  }

  async has (cid: CID): Promise<boolean> {
    try {
      await fs.access(this.#path(cid))
      return true
    } catch {
      return false
    }
  }

  /**
   * Store a block durably. The bytes must hash to `cid`.
   *
   * @throws {BlockError} ERR_HASH_MISMATCH | ERR_UNSUPPORTED_HASH
   * @throws {StateError} ERR_STATE_IO
   */
  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    checkBlock(cid, bytes, MAX_ANY_BLOCK_BYTES)
    // Present and intact: nothing to do (a damaged file is removed by get).
    if ((await this.get(cid)) !== undefined) return
    await fs.mkdir(this.dir, { recursive: true }).catch((e: unknown) => { throw io('create', this.dir, e) })
    await writeFileAtomic(this.dir, cid.toString(), bytes)
  }

  /**
   * Store blocks durably, as one batch (see the module comment): after it
   * returns, every block of `blocks` and every already cached file named in
   * `alsoSync` survives a power loss. Blocks already present and intact are
   * not rewritten, only fsynced.
   *
   * @throws {BlockError} ERR_HASH_MISMATCH | ERR_UNSUPPORTED_HASH, before anything is written
   * @throws {StateError} ERR_STATE_IO (also when a file of `alsoSync` is missing)
   * @returns how many files were written
   */
  async putMany (blocks: Iterable<{ readonly cid: CID, readonly bytes: Uint8Array }>, alsoSync: Iterable<CID | string> = []): Promise<number> {
    const todo = new Map<string, { readonly cid: CID, readonly bytes: Uint8Array }>()
    for (const b of blocks) {
      checkBlock(b.cid, b.bytes, MAX_ANY_BLOCK_BYTES)
      todo.set(b.cid.toString(), b)
    }
    const others = new Set<string>()
    for (const c of alsoSync) if (!todo.has(c.toString())) others.add(c.toString())
    if (todo.size === 0 && others.size === 0) return 0
    await fs.mkdir(this.dir, { recursive: true }).catch((e: unknown) => { throw io('create', this.dir, e) })
    let written = 0
    const syncOne = async (name: string): Promise<void> => {
      const path = join(this.dir, name)
      await fsyncFile(path).catch((e: unknown) => { throw io('sync', path, e) })
    }
    await eachLimited([...todo.values()], BATCH_CONCURRENCY, async (b) => {
      if ((await this.get(b.cid)) !== undefined) return await syncOne(b.cid.toString())
      await writeFileAtomic(this.dir, b.cid.toString(), b.bytes, 0o644, 'file')
      written++
    })
    await eachLimited([...others], BATCH_CONCURRENCY, syncOne)
    await fsyncDir(this.dir).catch((e: unknown) => { throw io('sync', this.dir, e) })
    return written
  }

  /**
   * Cache a block without any fsync (see the module comment): for shard
   * nodes a lookup fetched. The bytes must hash to `cid`.
   *
   * @throws {BlockError} ERR_HASH_MISMATCH | ERR_UNSUPPORTED_HASH
   * @throws {StateError} ERR_STATE_IO
   */
  async write (cid: CID, bytes: Uint8Array): Promise<void> {
    checkBlock(cid, bytes, MAX_ANY_BLOCK_BYTES)
    await fs.mkdir(this.dir, { recursive: true }).catch((e: unknown) => { throw io('create', this.dir, e) })
    await writeFileAtomic(this.dir, cid.toString(), bytes, 0o644, 'none')
  }

  /** Remove every cached metadata block not in `keep`; best effort. */
  async retain (keep: Iterable<CID | string>): Promise<number> {
    const wanted = new Set([...keep].map((c) => c.toString()))
    let names: string[]
    try {
      names = await fs.readdir(this.dir)
    } catch {
      return 0
    }
    let removed = 0
    for (const name of names) {
      if (wanted.has(name)) continue
      // Only files this cache wrote (CIDs) and its temporary files.
      if (!name.startsWith('.') && !isMetaCidText(name)) continue
      await fs.rm(join(this.dir, name), { force: true }).then(() => { removed++ }, () => {})
    }
    return removed
  }
}

function isMetaCidText (name: string): boolean {
  try {
    const c = CID.parse(name)
    // Envelopes (dag-json) and shard nodes (dag-cbor, NOTES 11).
    return c.code === CODEC_DAG_JSON || c.code === CODEC_DAG_CBOR
  } catch {
    return false
  }
}

/** The trusted-state folder: the file-system ClientStorage (src/client/storage.ts). */
export class ClientStore implements ClientStorage {
  readonly dir: string
  readonly blocks: BlockCache

  private constructor (dir: string) {
    this.dir = dir
    this.blocks = new BlockCache(join(dir, BLOCKS_DIR))
  }

  /**
   * Open (creating if needed) the folder `dir`.
   *
   * @throws {UsageError} ERR_ARGUMENT
   * @throws {StateError} ERR_STATE_IO
   */
  static async open (dir: string): Promise<ClientStore> {
    if (typeof dir !== 'string' || dir.length === 0) throw new UsageError('ERR_ARGUMENT', 'dir: expected a directory path')
    try {
      await fs.mkdir(join(dir, BLOCKS_DIR), { recursive: true, mode: 0o755 })
      const st = await fs.stat(dir)
      if (!st.isDirectory()) throw new Error('not a directory')
    } catch (e) {
      throw io('create', dir, e)
    }
    return new ClientStore(dir)
  }

  /**
   * The trusted state, or null before `init`.
   *
   * @throws {StateError} ERR_STATE_CORRUPT | ERR_STATE_IO
   */
  async readState (): Promise<StateRecord | null> {
    const bytes = await readCapped(join(this.dir, STATE_FILE), MAX_STATE_BYTES, () => new StateError('ERR_STATE_CORRUPT', `${STATE_FILE} is not a regular file of at most ${MAX_STATE_BYTES} bytes`, { details: { file: STATE_FILE } }))
    return bytes === undefined ? null : parseState(bytes)
  }

  /**
   * Replace the trusted state atomically and durably (CLIENT-STATE-ATOMIC).
   * Temporary files left by a crashed writer are removed first.
   *
   * @throws {StateError} ERR_STATE_IO
   */
  async writeState (record: StateRecord, now: Date = new Date()): Promise<void> {
    await this.#removeTemporaries()
    await writeFileAtomic(this.dir, STATE_FILE, serializeState(record, now))
  }

  async #removeTemporaries (): Promise<void> {
    let names: string[]
    try {
      names = await fs.readdir(this.dir)
    } catch {
      return
    }
    for (const n of names) {
      if (n.startsWith(`.${STATE_FILE}.`) && n.endsWith('.tmp')) await fs.rm(join(this.dir, n), { force: true }).catch(() => {})
    }
  }

  docPath (name: string): string {
    return join(this.dir, name)
  }

  /**
   * The small file `name` of the folder (e.g. ipns.json), or undefined when absent.
   *
   * @throws {StateError} ERR_STATE_CORRUPT when it is not a regular file of at most `maxBytes`; ERR_STATE_IO
   */
  async readDoc (name: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const path = this.docPath(name)
    return await readCapped(path, maxBytes, () => new StateError('ERR_STATE_CORRUPT', `${path} is malformed: not a regular file of at most ${maxBytes} bytes`, { details: { path } }))
  }

  /** Replace the small file `name` atomically and durably. @throws {StateError} ERR_STATE_IO | {DiskFullError} */
  async writeDoc (name: string, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(this.dir, name, bytes)
  }

  /** Remove the small file `name` (absent is fine). @throws {StateError} ERR_STATE_IO */
  async removeDoc (name: string): Promise<void> {
    try {
      await fs.rm(this.docPath(name), { force: true })
    } catch (e) {
      throw new StateError('ERR_STATE_IO', `could not remove ${this.docPath(name)}`, { cause: e, details: { path: this.dir } })
    }
  }

  /**
   * Take the folder's lock; the returned function releases it.
   *
   * @throws {StateError} ERR_STATE_LOCKED when a live process holds it, ERR_STATE_IO
   */
  async lock (): Promise<() => Promise<void>> {
    const path = join(this.dir, LOCK_FILE)
    // src/util/durable-fs.ts, shared with the publisher: a stale lock is taken over by one process only.
    return await acquireFileLock(path, {
      locked: (pid) => pid === undefined
        ? new StateError('ERR_STATE_LOCKED', `could not take the lock ${path}`, { details: { path } })
        : new StateError('ERR_STATE_LOCKED', `the client folder ${this.dir} is in use by process ${pid}`, { details: { path, pid } }),
      io: (cause) => io('create', path, cause)
    })
  }
}
