/**
 * Where a client keeps what it trusts: the storage interface of the Updater.
 *
 * Two implementations:
 * - the file system (src/client/store.ts, `ClientStore`): a folder with
 *   state.json, blocks/ and a lock file, what `Updater.create({ dir })` opens;
 * - IndexedDB (src/client/idb-store.ts, `IdbClientStore`), for the browser:
 *   `Updater.create({ storage: await IdbClientStore.open('name') })`.
 *
 * What every implementation must guarantee (the Updater relies on it):
 * - `writeState` replaces the whole state atomically (CLIENT-STATE-ATOMIC):
 *   a reader sees the old record or the new one, never a mixture, and a
 *   failed write leaves the old one;
 * - a block is stored before any state naming it is written (`putMany`
 *   resolves only once its blocks are durable), and every block read back is
 *   hash-checked against its CID (a damaged entry is dropped and reported as
 *   a miss): the cache is never trusted, only the state is;
 * - `lock` excludes a second update on the same storage, across processes
 *   or tabs where the platform allows it (each implementation says what it
 *   covers);
 * - small documents (`readDoc`/`writeDoc`/`removeDoc`, e.g. the IPNS
 *   sequence floors) are each replaced atomically.
 */
import type { CID } from 'multiformats/cid'
import type { StateRecord } from './statefile.js'

/** A content-addressed cache of metadata blocks (envelopes and shard nodes); every read is hash-checked. */
export interface ClientBlockCache {
  /**
   * The bytes of `cid`, or undefined when absent, over `maxBytes`, or
   * damaged (a damaged entry is removed).
   */
  get: (cid: CID, maxBytes?: number) => Promise<Uint8Array | undefined>
  /** Store one block durably; its bytes must hash to `cid` (BlockError otherwise, nothing stored). */
  put: (cid: CID, bytes: Uint8Array) => Promise<void>
  /**
   * Store blocks durably as one batch; after it returns every block given
   * and every cached block named in `alsoSync` survives a crash.
   *
   * @returns how many entries were written
   */
  putMany: (blocks: Iterable<{ readonly cid: CID, readonly bytes: Uint8Array }>, alsoSync?: Iterable<CID | string>) => Promise<number>
  /** Cache a block without durability (a shard node a lookup fetched). */
  write: (cid: CID, bytes: Uint8Array) => Promise<void>
  /** Remove every cached block not in `keep`; best effort. @returns how many were removed */
  retain: (keep: Iterable<CID | string>) => Promise<number>
}

/** The trusted state of one client, its block cache and its lock. */
export interface ClientStorage {
  /** Where the state lives, for messages: a folder, or `indexeddb:NAME`. */
  readonly dir: string
  readonly blocks: ClientBlockCache
  /** The trusted state, or null before init. @throws {StateError} ERR_STATE_CORRUPT | ERR_STATE_IO */
  readState: () => Promise<StateRecord | null>
  /** Replace the trusted state atomically (CLIENT-STATE-ATOMIC). @throws {StateError} ERR_STATE_IO */
  writeState: (record: StateRecord) => Promise<void>
  /** Take the exclusive lock; the returned function releases it. @throws {StateError} ERR_STATE_LOCKED | ERR_STATE_IO */
  lock: () => Promise<() => Promise<void>>
  /**
   * A small document by name, or undefined when absent.
   *
   * @throws {StateError} ERR_STATE_CORRUPT when it is over `maxBytes`; ERR_STATE_IO
   */
  readDoc: (name: string, maxBytes: number) => Promise<Uint8Array | undefined>
  /** Replace a small document atomically. @throws {StateError} ERR_STATE_IO | {DiskFullError} */
  writeDoc: (name: string, bytes: Uint8Array) => Promise<void>
  /** Remove a small document (absent is fine). @throws {StateError} ERR_STATE_IO */
  removeDoc: (name: string) => Promise<void>
  /** Where a document lives, for messages. */
  docPath: (name: string) => string
}

/** True for an object that has the ClientStorage methods (a structural check of an option). */
export function isClientStorage (x: unknown): x is ClientStorage {
  if (x === null || typeof x !== 'object') return false
  const s = x as Record<string, unknown>
  const b = s.blocks as Record<string, unknown> | null | undefined
  return typeof s.dir === 'string' && b !== null && typeof b === 'object' &&
    ['get', 'put', 'putMany', 'write', 'retain'].every((m) => typeof b[m] === 'function') &&
    ['readState', 'writeState', 'lock', 'readDoc', 'writeDoc', 'removeDoc', 'docPath'].every((m) => typeof s[m] === 'function')
}
