/**
 * File-system primitives shared by the client (src/client/store.ts), the
 * publisher (src/publish/repo-io.ts) and the repository node
 * (src/blocks/repo-node.ts). One implementation of each, so the durability
 * recipe cannot drift between them. This module imports nothing from the
 * project: each caller turns a failure into its own typed error (StateError
 * ERR_STATE_IO, RepoError ERR_REPO_IO, ...) through the factories it passes,
 * and reads no environment variable (test hooks come in as options).
 *
 * Guarantees:
 * - `writeFileAtomic`: after a crash at any point the file holds either its
 *   old bytes or its new bytes, never a mixture. The new bytes go to a
 *   temporary file `.<name>.<random>.tmp` in the same directory, created
 *   with O_EXCL, fsynced, renamed over the target; then the directory is
 *   fsynced so the rename itself is durable (CLIENT-STATE-ATOMIC). On
 *   failure the temporary file is removed (best effort). The `sync` option
 *   lets a batch of writes fsync their directory once (or not at all, for
 *   hash-checked caches).
 * - `fsyncDir` makes a directory's entries (a rename, a new file) durable;
 *   platforms that cannot fsync a directory are tolerated (the rename is
 *   atomic anyway).
 * - `fsyncFile` makes an existing file's bytes durable; a missing file is an
 *   error (the caller expected it to be there).
 * - `readFileCapped` reads a whole regular file of at most `maxBytes`,
 *   checking the size on the open handle before reading anything.
 * - `acquireFileLock` is an exclusive lock between processes (the client's
 *   folder lock and the publisher's repository lock): one holder at a time,
 *   a dead holder's lock taken over by exactly one process. The lock file
 *   appears with its content or not at all: a failed write (a full disk)
 *   leaves no empty lock.
 */
import { randomBytes } from 'node:crypto'
import { constants as fsc } from 'node:fs'
import * as fs from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** Whether `e` is a Node system error with this `code` (ENOENT, EEXIST, ...). */
export function isCode (e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code
}

/**
 * fsync a directory, so that renames and new entries in it survive a power
 * loss. Some platforms cannot fsync a directory (EISDIR, EINVAL, EPERM,
 * EBADF): that is not an error.
 *
 * @throws the file system's error otherwise (e.g. ENOENT)
 */
export async function fsyncDir (dir: string): Promise<void> {
  let h: fs.FileHandle | undefined
  try {
    h = await fs.open(dir, fsc.O_RDONLY)
    await h.sync()
  } catch (e) {
    if (!isCode(e, 'EISDIR') && !isCode(e, 'EINVAL') && !isCode(e, 'EPERM') && !isCode(e, 'EBADF')) throw e
  } finally {
    await h?.close()
  }
}

/**
 * fsync an existing regular file (its bytes and size).
 *
 * @throws the file system's error (ENOENT when it does not exist)
 */
export async function fsyncFile (path: string): Promise<void> {
  const h = await fs.open(path, fsc.O_RDONLY)
  try {
    await h.sync()
  } finally {
    await h.close()
  }
}

export interface WriteAtomicOptions {
  /** Mode of a newly created file (default 0o644). */
  mode?: number
  /**
   * Called once the bytes are written to the temporary file and before it is
   * fsynced and renamed: a test hook (the client's crash test pauses there).
   */
  beforeSync?: () => Promise<void>
  /** Builds the error thrown when the file system refuses (default: its own error). */
  onError?: (cause: unknown) => Error
  /**
   * What is made durable (default 'all'): 'file' skips the directory's
   * fsync, for a caller that writes several files and then fsyncs their
   * directory once; 'none' skips both fsyncs (the rename is still atomic:
   * readers see the old file or the whole new one, but after a power loss
   * the new one may be empty or missing), for caches that check what they
   * read back.
   */
  sync?: 'all' | 'file' | 'none'
}

/**
 * Replace `path` with `bytes` atomically and durably (see the module comment).
 *
 * @throws what `options.onError` builds from the file system's error
 */
export async function writeFileAtomic (path: string, bytes: Uint8Array | string, options: WriteAtomicOptions = {}): Promise<void> {
  const { mode = 0o644, beforeSync, onError, sync = 'all' } = options
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const h = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode)
    try {
      await h.writeFile(bytes)
      await beforeSync?.()
      if (sync !== 'none') await h.sync()
    } finally {
      await h.close()
    }
    await fs.rename(tmp, path)
    if (sync === 'all') await fsyncDir(dir)
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {})
    throw onError === undefined ? e : onError(e)
  }
}

export interface ReadCappedErrors {
  /** The path is there but is not a regular file, or it is larger than the cap. */
  refused: (reason: 'not-a-file' | 'too-large') => Error
  /** The file system failed while opening or reading. */
  io: (what: 'open' | 'read', cause: unknown) => Error
}

/**
 * The whole content of the regular file `path`, of at most `maxBytes`;
 * `undefined` when it does not exist. The size is checked on the open handle,
 * before anything is read. A file that shrinks while being read comes back
 * short; one that grows is read up to the size it had.
 *
 * @throws what `errors.refused` or `errors.io` builds
 */
export async function readFileCapped (path: string, maxBytes: number, errors: ReadCappedErrors): Promise<Uint8Array | undefined> {
  let h: fs.FileHandle
  try {
    h = await fs.open(path, fsc.O_RDONLY)
  } catch (e) {
    if (isCode(e, 'ENOENT')) return undefined
    throw errors.io('open', e)
  }
  try {
    let st
    try {
      st = await h.stat()
    } catch (e) {
      throw errors.io('read', e)
    }
    if (!st.isFile()) throw errors.refused('not-a-file')
    if (st.size > maxBytes) throw errors.refused('too-large')
    const buf = new Uint8Array(st.size)
    let off = 0
    try {
      while (off < st.size) {
        const { bytesRead } = await h.read(buf, off, st.size - off, off)
        if (bytesRead === 0) break
        off += bytesRead
      }
    } catch (e) {
      throw errors.io('read', e)
    }
    return off === st.size ? buf : buf.slice(0, off)
  } finally {
    await h.close()
  }
}

/** Whether a process with this pid exists (EPERM: it exists but is not ours). */
export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return isCode(e, 'EPERM')
  }
}

export interface FileLockOptions {
  /** Builds the error thrown when a live process holds the lock (`pid` when known). */
  locked: (pid: number | undefined) => Error
  /** Builds the error thrown when the file system refuses to create the lock. */
  io: (cause: unknown) => Error
  /**
   * Test hook: called once the lock has been judged stale, before it is taken
   * over (a test parks one taker there while another takes the lock).
   */
  beforeTakeover?: () => Promise<void>
}

/** Lock tokens held by this process: a second lock from the same process must wait too. */
const heldTokens = new Set<string>()

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** `pid` of a lock file's text: `PID RANDOM16` (or a bare `PID`, as older publishers wrote). */
function lockOwner (text: string): number | undefined {
  const m = /^(\d{1,10})(?: [0-9a-f]{16})?$/.exec(text)
  const pid = m === null ? NaN : Number(m[1])
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

function ownerAlive (text: string): boolean {
  const pid = lockOwner(text)
  if (pid === undefined) return false
  return pid === process.pid ? heldTokens.has(text) : isProcessAlive(pid)
}

/** File systems without hard links answer link() with one of these. */
const NO_HARD_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']

/**
 * Create `path` holding `token`, only if it does not exist; false when it
 * does. The token is written to a temporary file first and hard-linked to
 * `path` (link() fails with EEXIST like O_EXCL), so `path` appears with its
 * whole content or not at all: a full disk (or any failed write) leaves no
 * empty lock behind, only a temporary file that is removed. Where hard links
 * are not supported, `path` is created with O_EXCL and written, and removed
 * again when the write fails.
 */
async function createExclusive (path: string, token: string): Promise<boolean> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await writeNewFile(tmp, token)
    try {
      await fs.link(tmp, path)
      return true
    } catch (e) {
      if (isCode(e, 'EEXIST')) return false
      if (!NO_HARD_LINKS.some((code) => isCode(e, code))) throw e
    }
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => {})
  }
  // No hard links here: O_EXCL, and no empty file left when the write fails.
  let h: fs.FileHandle
  try {
    h = await fs.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600)
  } catch (e) {
    if (isCode(e, 'EEXIST')) return false
    throw e
  }
  try {
    await h.writeFile(token)
  } catch (e) {
    await h.close().catch(() => {})
    await fs.rm(path, { force: true }).catch(() => {})
    throw e
  }
  await h.close()
  return true
}

/** Write a new file (O_EXCL, mode 0600); on failure nothing is left of it. */
async function writeNewFile (path: string, text: string): Promise<void> {
  const h = await fs.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600)
  try {
    await h.writeFile(text)
  } catch (e) {
    await h.close().catch(() => {})
    await fs.rm(path, { force: true }).catch(() => {})
    throw e
  }
  await h.close()
}

/** Remove `path` only if it still holds `text` (best effort). */
async function removeIfStill (path: string, text: string): Promise<void> {
  const now = await fs.readFile(path, 'utf8').catch(() => undefined)
  if (now === text) await fs.rm(path, { force: true }).catch(() => {})
}

/**
 * Remove the stale lock `path`, judged stale while it held `stale`. Takers-over
 * go one at a time through a guard file `path.takeover` (O_EXCL), and each one
 * re-reads the lock under the guard: a lock that changed since it was judged
 * stale (another taker removed it and someone locked again) is left alone. So
 * two processes cannot both take over the same stale lock, the second one
 * deleting the first one's fresh lock. A guard left by a dead process is
 * removed, if it did not change meanwhile.
 */
async function takeOverStale (path: string, stale: string): Promise<void> {
  const guard = `${path}.takeover`
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`
  if (!await createExclusive(guard, token)) {
    const other = await fs.readFile(guard, 'utf8').catch(() => undefined)
    if (other !== undefined && !ownerAlive(other)) {
      // An unreadable guard may be one being written right now: give it time.
      if (lockOwner(other) === undefined) await sleep(50)
      await removeIfStill(guard, other)
    } else {
      await sleep(10 + Math.floor(Math.random() * 20))
    }
    return
  }
  heldTokens.add(token)
  try {
    await removeIfStill(path, stale)
  } finally {
    heldTokens.delete(token)
    await removeIfStill(guard, token)
  }
}

/**
 * An exclusive lock between processes: the file `path`, created only if
 * absent and whole (createExclusive: a hard link of a written temporary file,
 * so never empty), holding `PID RANDOM` (a token unique to this lock). A lock whose owner no
 * longer exists (killed mid-operation) is taken over, safely against other
 * processes doing the same at the same time (see takeOverStale); a live owner,
 * or a lock this process holds already, makes the call fail. The returned
 * function releases the lock, and removes the file only if it still holds
 * this lock's token.
 *
 * @throws what `options.locked` or `options.io` builds
 */
export async function acquireFileLock (path: string, options: FileLockOptions): Promise<() => Promise<void>> {
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`
  for (let attempt = 0; attempt < 12; attempt++) {
    let created: boolean
    try {
      created = await createExclusive(path, token)
    } catch (e) {
      throw options.io(e)
    }
    if (created) {
      heldTokens.add(token)
      let released = false
      return async () => {
        if (released) return
        released = true
        heldTokens.delete(token)
        await removeIfStill(path, token)
      }
    }
    const text = await fs.readFile(path, 'utf8').catch(() => undefined)
    if (text === undefined) continue // released meanwhile: try again
    if (ownerAlive(text)) throw options.locked(lockOwner(text))
    if (lockOwner(text) === undefined && attempt < 3) {
      // Its owner may be between creating the file and writing its token.
      await sleep(50)
      continue
    }
    await options.beforeTakeover?.()
    await takeOverStale(path, text)
  }
  throw options.locked(undefined)
}
