/**
 * What the Updater does with the file system, in one module: open a
 * trusted-state folder (ClientStore), and write a downloaded target to a
 * file atomically. The browser build replaces this module with its twin
 * node-io.browser.ts (scripts/build-browser.mjs), which refuses both: there
 * the Updater takes a `storage` (IndexedDB) and returns targets as bytes.
 */
import { randomBytes } from 'node:crypto'
import { constants as fsc } from 'node:fs'
import * as fs from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { StateError, diskFull } from '../model/errors.js'
import type { ClientStorage } from './storage.js'
import { ClientStore } from './store.js'

/** The trusted-state folder `dir` as a ClientStorage. @throws {UsageError} ERR_ARGUMENT, {StateError} ERR_STATE_IO */
export async function openDirStorage (dir: string): Promise<ClientStorage> {
  return await ClientStore.open(dir)
}

/**
 * Write the chunks `produce` hands to `write` into a temporary file next to
 * `destPath`, and rename it into place only when `produce` resolved (every
 * block checked); a failure leaves no file behind.
 *
 * @returns the absolute destination path
 * @throws {StateError} ERR_STATE_IO, {DiskFullError}, and whatever `produce` throws
 */
export async function writeFileFromChunks (destPath: string, produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>): Promise<string> {
  const dest = resolve(destPath)
  const dir = dirname(dest)
  const tmp = join(dir, `.${basename(dest)}.${randomBytes(6).toString('hex')}.part`)
  let h: fs.FileHandle
  try {
    h = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644)
  } catch (e) {
    throw new StateError('ERR_STATE_IO', `could not create a file in ${dir}`, { cause: e, details: { path: dir } })
  }
  let done = false
  let renamed = false
  try {
    await produce(async (chunk) => {
      try { await h.write(chunk) } catch (e) { throw diskFull(e, dest) ?? e }
    })
    try {
      await h.sync()
      await h.close()
      done = true
      await fs.rename(tmp, dest)
      renamed = true
    } catch (e) {
      throw diskFull(e, dest) ?? new StateError('ERR_STATE_IO', `could not write ${dest}`, { cause: e, details: { path: dest } })
    }
    await fsyncDir(dir)
    return dest
  } finally {
    if (!done) await h.close().catch(() => {})
    // After the rename there is no temporary file left to remove.
    if (!renamed) await fs.rm(tmp, { force: true }).catch(() => {})
  }
}

async function fsyncDir (dir: string): Promise<void> {
  let h: fs.FileHandle | undefined
  try {
    h = await fs.open(dir, fsc.O_RDONLY)
    await h.sync()
  } catch {
    // Not every platform can fsync a directory; the rename is atomic anyway.
  } finally {
    await h?.close().catch(() => {})
  }
}
