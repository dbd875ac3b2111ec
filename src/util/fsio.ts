/**
 * File-system primitives shared by the client (src/client/store.ts), the
 * publisher (src/publish/fsio.ts) and the repository node
 * (src/blocks/helia.ts). One implementation of each, so the durability
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
 *   failure the temporary file is removed (best effort).
 * - `fsyncDir` makes a directory's entries (a rename, a new file) durable;
 *   platforms that cannot fsync a directory are tolerated (the rename is
 *   atomic anyway).
 * - `fsyncFile` makes an existing file's bytes durable; a missing file is an
 *   error (the caller expected it to be there).
 * - `readFileCapped` reads a whole regular file of at most `maxBytes`,
 *   checking the size on the open handle before reading anything.
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
}

/**
 * Replace `path` with `bytes` atomically and durably (see the module comment).
 *
 * @throws what `options.onError` builds from the file system's error
 */
export async function writeFileAtomic (path: string, bytes: Uint8Array | string, options: WriteAtomicOptions = {}): Promise<void> {
  const { mode = 0o644, beforeSync, onError } = options
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const h = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode)
    try {
      await h.writeFile(bytes)
      await beforeSync?.()
      await h.sync()
    } finally {
      await h.close()
    }
    await fs.rename(tmp, path)
    await fsyncDir(dir)
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
