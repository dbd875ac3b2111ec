/**
 * `--log-json FILE` of the client commands: the Updater's events
 * (src/client/events.ts) appended to FILE as NDJSON, one JSON object per
 * line, as they happen.
 *
 * Guarantees:
 * - FILE is opened (created when absent, mode 0o644, never truncated)
 *   before the command does anything, so a path that cannot be written
 *   fails the command before any update (StateError ERR_STATE_IO);
 * - each event is one `write` of one whole line to a file opened with
 *   O_APPEND, then fsynced (a new file's directory is fsynced once): a line
 *   is either all there or absent, and several processes may append to the
 *   same file; a FILE that cannot be fsynced (a pipe, /dev/stderr) is
 *   written without it;
 * - `close` waits for every line; the first append that failed is thrown
 *   then (DiskFullError ERR_DISK_FULL, or StateError ERR_STATE_IO), never
 *   from inside the Updater, whose outcome a log cannot change: an update
 *   whose line could not be written still stands (its state was written
 *   first), and the command exits 1 with that code, so a missing line is
 *   never silent; when the command failed anyway, its own error is the one
 *   reported and the log's failure is a warning on stderr.
 */
import { constants as fsc } from 'node:fs'
import * as fs from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { UpdaterEvent } from '../client/events.js'
import { StateError, diskFull } from '../model/errors.js'
import { fsyncDir, isCode } from '../util/durable-fs.js'

export const LOG_JSON_OPTION = {
  'log-json': {
    type: 'string' as const,
    help: 'append the client\'s events (update accepted or refused with its rule ID, download...) to FILE as NDJSON, one JSON object per line'
  }
}

export class EventLog {
  readonly path: string
  readonly #h: fs.FileHandle
  #pending: Promise<void> = Promise.resolve()
  #failed: unknown
  #closed = false

  private constructor (path: string, h: fs.FileHandle) {
    this.path = path
    this.#h = h
  }

  /** Open (create) `file` for appending. @throws {StateError} ERR_STATE_IO */
  static async open (file: string): Promise<EventLog> {
    const path = resolve(file)
    const existed = await fs.stat(path).then(() => true, () => false)
    let h: fs.FileHandle
    try {
      h = await fs.open(path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o644)
    } catch (e) {
      throw diskFull(e, path) ?? new StateError('ERR_STATE_IO', `could not open the event log ${path} for appending: ${(e as Error).message}`, { cause: e, details: { path } })
    }
    if (!existed) await fsyncDir(dirname(path)).catch(() => {})
    return new EventLog(path, h)
  }

  /** The Updater's `onEvent`: queues the line (never throws). */
  readonly listener = (event: UpdaterEvent): void => {
    if (this.#closed) return
    const line = JSON.stringify(event) + '\n'
    this.#pending = this.#pending.then(async () => {
      if (this.#failed !== undefined) return
      try {
        await this.#h.write(line)
        await this.#h.sync().catch((e: unknown) => {
          // Not a regular file (a pipe, a terminal): nothing to make durable.
          if (!isCode(e, 'EINVAL') && !isCode(e, 'ENOTSUP') && !isCode(e, 'EROFS')) throw e
        })
      } catch (e) {
        this.#failed = e
      }
    })
  }

  /**
   * Wait for every line, close the file.
   *
   * @throws {DiskFullError} ERR_DISK_FULL | {StateError} ERR_STATE_IO for the first append that failed
   */
  async close (): Promise<void> {
    this.#closed = true
    await this.#pending
    await this.#h.close().catch(() => {})
    const e = this.#failed
    if (e !== undefined) throw diskFull(e, this.path) ?? new StateError('ERR_STATE_IO', `could not append to the event log ${this.path}: ${(e as Error).message}`, { cause: e, details: { path: this.path } })
  }
}
