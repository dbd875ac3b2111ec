/**
 * File-system primitives of the publisher: atomic replacement of a file,
 * capped reads, private directories and the repository lock.
 *
 * `writeAtomic` guarantees that after a crash at any point the file holds
 * either its old bytes or its new bytes, never a mixture: the recipe
 * (temporary file, fsync, rename, fsync of the directory) is the one in
 * src/util/durable-fs.ts that the client uses too (CLIENT-STATE-ATOMIC); this
 * module turns its failures into RepoError.
 */
import { constants as fsc } from 'node:fs'
import * as fs from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { RepoError, diskFull } from '../model/errors.js'
import { acquireFileLock, fsyncDir, isCode, readFileCapped, writeFileAtomic } from '../util/durable-fs.js'

export { isCode }

/**
 * Replace `path` with `bytes` atomically and durably.
 *
 * @throws {RepoError} ERR_REPO_IO when the file system refuses; {DiskFullError} ERR_DISK_FULL when it is full
 */
export async function writeAtomic (path: string, bytes: Uint8Array | string, mode = 0o644): Promise<void> {
  await writeFileAtomic(path, bytes, {
    mode,
    onError: (cause) => diskFull(cause, path) ?? new RepoError('ERR_REPO_IO', `could not write ${path}`, { cause, details: { path } })
  })
}

/**
 * Create a new file that must not exist yet (e.g. a key file), durably.
 *
 * @throws {RepoError} ERR_FILE_EXISTS | ERR_REPO_IO
 */
export async function writeNew (path: string, bytes: Uint8Array | string, mode = 0o600): Promise<void> {
  let h: fs.FileHandle
  try {
    h = await fs.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode)
  } catch (e) {
    if (isCode(e, 'EEXIST')) throw new RepoError('ERR_FILE_EXISTS', `${path} already exists`, { details: { path } })
    throw diskFull(e, path) ?? new RepoError('ERR_REPO_IO', `could not create ${path}`, { cause: e, details: { path } })
  }
  try {
    await h.writeFile(bytes)
    await h.chmod(mode)
    await h.sync()
  } catch (e) {
    // Not left half written: the file did not exist before this call.
    await h.close().catch(() => {})
    await fs.rm(path, { force: true }).catch(() => {})
    throw diskFull(e, path) ?? new RepoError('ERR_REPO_IO', `could not write ${path}`, { cause: e, details: { path } })
  }
  await h.close()
  await fsyncDir(dirname(path))
}

/** Append one line durably (the publish log). @throws {RepoError} ERR_REPO_IO */
export async function appendLine (path: string, line: string): Promise<void> {
  try {
    const h = await fs.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND, 0o644)
    try {
      await h.writeFile(line + '\n')
      await h.sync()
    } finally {
      await h.close()
    }
  } catch (e) {
    throw diskFull(e, path) ?? new RepoError('ERR_REPO_IO', `could not append to ${path}`, { cause: e, details: { path } })
  }
}

/**
 * Read a whole file of at most `maxBytes`; `undefined` when it does not exist.
 * The size is checked on the open handle before reading.
 *
 * @throws {RepoError} ERR_REPO_CORRUPT (too large), ERR_REPO_IO
 */
export async function readCapped (path: string, maxBytes: number): Promise<Uint8Array | undefined> {
  return readFileCapped(path, maxBytes, {
    refused: (reason) => new RepoError('ERR_REPO_CORRUPT', reason === 'not-a-file' ? `${path} is not a regular file` : `${path} is larger than ${maxBytes} bytes`, { details: { path } }),
    io: (what, cause) => new RepoError('ERR_REPO_IO', `could not ${what} ${path}`, { cause, details: { path } })
  })
}

/**
 * mkdir -p, one level at a time. Node's `mkdir({ recursive: true })` never
 * returns under a folder that refuses new entries with ENOENT (e.g. /proc),
 * and calls a path through a file ENOTDIR only by luck; this one fails.
 */
async function mkdirs (dir: string, mode: number, depth = 0): Promise<void> {
  try {
    await fs.mkdir(dir, { mode })
    return
  } catch (e) {
    if (isCode(e, 'EEXIST')) {
      if ((await fs.stat(dir)).isDirectory()) return
      throw e
    }
    const parent = dirname(dir)
    if (!isCode(e, 'ENOENT') || parent === dir || depth > 256) throw e
    await mkdirs(parent, mode, depth + 1)
  }
  try {
    await fs.mkdir(dir, { mode })
  } catch (e) {
    if (!isCode(e, 'EEXIST') || !(await fs.stat(dir)).isDirectory()) throw e
  }
}

/** mkdir -p with a mode (the mode applies to directories created here). */
export async function ensureDir (path: string, mode = 0o755): Promise<void> {
  try {
    await mkdirs(resolve(path), mode)
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code
    throw diskFull(e, path) ?? new RepoError('ERR_REPO_IO', `could not create the folder ${path}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: e, details: { path } })
  }
}

/**
 * Check that `path` is a folder, or does not exist yet.
 *
 * @throws {RepoError} `code` when it is something else (a file)
 */
export async function notAFileOrMissing (path: string, code: 'ERR_REPO_NOT_FOUND' | 'ERR_REPO_IO'): Promise<void> {
  let st
  try {
    st = await fs.stat(path)
  } catch (e) {
    if (isCode(e, 'ENOENT')) return
    if (isCode(e, 'ENOTDIR')) throw new RepoError(code, `${path} is not a folder (a file is in its path)`, { details: { path } })
    throw new RepoError('ERR_REPO_IO', `could not stat ${path}`, { cause: e, details: { path } })
  }
  if (!st.isDirectory()) throw new RepoError(code, `${path} is not a folder`, { details: { path } })
}

export async function exists (path: string): Promise<boolean> {
  try {
    await fs.lstat(path)
    return true
  } catch (e) {
    if (isCode(e, 'ENOENT')) return false
    throw new RepoError('ERR_REPO_IO', `could not stat ${path}`, { cause: e, details: { path } })
  }
}

/**
 * An exclusive lock on the repository, held by one process at a time: a file
 * created with O_EXCL holding the owner's pid and a random token
 * (`acquireFileLock` of src/util/durable-fs.ts, the client's lock too). A lock left
 * by a process that no longer exists (killed mid-publish) is taken over, so an
 * interrupted publish never blocks the next one; when several processes find
 * the same stale lock, only one of them gets it.
 *
 * @throws {RepoError} ERR_REPO_LOCKED when a live process (or this one) holds it, ERR_REPO_IO; {DiskFullError} ERR_DISK_FULL
 */
export async function acquireLock (path: string, options: { beforeTakeover?: () => Promise<void> } = {}): Promise<() => Promise<void>> {
  return await acquireFileLock(path, {
    ...options,
    locked: (pid) => pid === undefined
      ? new RepoError('ERR_REPO_LOCKED', `could not take the repository lock ${path}`, { details: { path } })
      : new RepoError('ERR_REPO_LOCKED', `the repository is in use by process ${pid}`, { details: { path, pid } }),
    io: (cause) => diskFull(cause, path) ?? new RepoError('ERR_REPO_IO', `could not create ${path}`, { cause, details: { path } })
  })
}
