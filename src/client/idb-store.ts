/**
 * The IndexedDB ClientStorage (src/client/storage.ts), for the browser: one
 * database `dagtuf-client:NAME` per client, with three object stores:
 *
 *   state    one entry, the state record in state.json's own bytes
 *            (statefile.ts: the same strict reader checks it on every read)
 *   blocks   CID text -> block bytes: the content-addressed metadata cache
 *   docs     small documents by name (the IPNS sequence floors)
 *
 * Guarantees (those of the interface, and how):
 * - CLIENT-STATE-ATOMIC: `writeState` is one `put` in one readwrite
 *   transaction with `durability: 'strict'`, and resolves only on the
 *   transaction's `complete` event: IndexedDB commits a transaction whole or
 *   not at all, so a reader (another tab, the next page load) sees the old
 *   record or the new one. A failure (quota, abort) leaves the old record
 *   and is StateError ERR_STATE_IO (DiskFullError ERR_DISK_FULL for a quota).
 * - Blocks are hash-checked before they are stored (BlockError, nothing
 *   stored) and again every time they are read back: an entry that does not
 *   hash to its CID, or is over the cap asked for, is deleted and reported
 *   as a miss, so a damaged or edited database costs a re-fetch, never
 *   trust. `putMany` writes its batch (and re-writes the entries named in
 *   `alsoSync`, which must be present) in one strict transaction before the
 *   state naming them is written; `write` uses a relaxed one (a shard node
 *   a lookup fetched: a miss after a crash is a re-fetch).
 * - `lock` is the Web Locks API's exclusive lock `dagtuf-client:NAME`,
 *   asked for with `ifAvailable`: it excludes a second update across every
 *   tab and worker of the origin, and is released by the browser when the
 *   holder's page goes away, so a closed tab never leaves it held. Where
 *   the API is missing (a very old browser, or Node with an IndexedDB shim)
 *   the lock is held in this page's memory only: two tabs could then run an
 *   update at once; each still writes its state atomically, so the state is
 *   one of two fully checked records, and the later writer wins.
 * - Nothing here touches the file system or a Node built-in (the browser
 *   bundle's check enforces it).
 *
 * Errors: StateError ERR_STATE_IO (IndexedDB missing or refusing),
 * ERR_STATE_CORRUPT (a state or document entry that is not bytes, or too
 * large), ERR_STATE_LOCKED; DiskFullError ERR_DISK_FULL (QuotaExceededError).
 */
import { CID } from 'multiformats/cid'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { DiskFullError, StateError, UsageError } from '../model/errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_JSON, checkBlock } from '../model/hash.js'
import { MAX_STATE_BYTES, parseState, serializeState, type StateRecord } from './statefile.js'
import type { ClientBlockCache, ClientStorage } from './storage.js'

const DB_PREFIX = 'dagtuf-client:'
const DB_VERSION = 1
const STATE = 'state'
const BLOCKS = 'blocks'
const DOCS = 'docs'
const STATE_KEY = 'state'
/** A client name: what may follow `dagtuf-client:` in a database and lock name. */
const NAME = /^[A-Za-z0-9._-]{1,100}$/

type Durability = 'strict' | 'relaxed' | 'default'

function idbOf (factory: IDBFactory | undefined): IDBFactory {
  const f = factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB
  if (f === undefined) throw new StateError('ERR_STATE_IO', 'IndexedDB is not available here', { details: { path: 'indexeddb' } })
  return f
}

/** The error of a failed request or transaction, typed. */
function idbError (what: string, where: string, cause: unknown): StateError | DiskFullError {
  const name = (cause as { name?: unknown } | null)?.name
  if (name === 'QuotaExceededError') return new DiskFullError('ERR_DISK_FULL', `the storage quota is used up: could not ${what} ${where}`, { cause, details: { path: where } })
  return new StateError('ERR_STATE_IO', `could not ${what} ${where}${typeof name === 'string' ? ` (${name})` : ''}`, { cause, details: { path: where } })
}

function request<T> (r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => { resolve(r.result) }
    r.onerror = () => { reject(r.error) }
  })
}

function done (tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => { resolve() }
    tx.onerror = () => { reject(tx.error) }
    tx.onabort = () => { reject(tx.error ?? new DOMException('transaction aborted', 'AbortError')) }
  })
}

/** Stored values are bytes; anything else (an edited database) is treated as absent or corrupt. */
function asBytes (v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v
  if (v instanceof ArrayBuffer) return new Uint8Array(v)
  return undefined
}

class IdbBlockCache implements ClientBlockCache {
  readonly #store: IdbClientStore
  constructor (store: IdbClientStore) { this.#store = store }

  async get (cid: CID, maxBytes: number = MAX_ANY_BLOCK_BYTES): Promise<Uint8Array | undefined> {
    const key = cid.toString()
    const v = await this.#store.run([BLOCKS], 'readonly', 'default', 'read a block of', async (tx) => await request(tx.objectStore(BLOCKS).get(key)))
    if (v === undefined) return undefined
    const bytes = asBytes(v)
    try {
      if (bytes === undefined) throw new Error('not bytes')
      checkBlock(cid, bytes, maxBytes)
      return bytes
    } catch {
      // Damaged, edited or over the cap: dropped, a miss (the fs cache does the same).
      await this.#store.run([BLOCKS], 'readwrite', 'relaxed', 'delete a block of', async (tx) => { tx.objectStore(BLOCKS).delete(key) }).catch(() => {})
      return undefined
    }
  }

  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    await this.putMany([{ cid, bytes }])
  }

  async putMany (blocks: Iterable<{ readonly cid: CID, readonly bytes: Uint8Array }>, alsoSync: Iterable<CID | string> = []): Promise<number> {
    const todo = new Map<string, Uint8Array>()
    for (const b of blocks) {
      checkBlock(b.cid, b.bytes, MAX_ANY_BLOCK_BYTES)
      todo.set(b.cid.toString(), b.bytes)
    }
    const others = [...new Set([...alsoSync].map((c) => c.toString()))].filter((k) => !todo.has(k))
    if (todo.size === 0 && others.length === 0) return 0
    let written = 0
    await this.#store.run([BLOCKS], 'readwrite', 'strict', 'write blocks to', async (tx) => {
      const os = tx.objectStore(BLOCKS)
      for (const [key, bytes] of todo) {
        os.put(bytes.slice(), key)
        written++
      }
      // Entries written earlier without durability: written again in this strict transaction.
      for (const key of others) {
        const v = asBytes(await request(os.get(key)))
        if (v === undefined) throw new StateError('ERR_STATE_IO', `block ${key} is not in ${this.#store.dir}`, { details: { path: this.#store.dir, cid: key } })
        os.put(v, key)
      }
    })
    return written
  }

  async write (cid: CID, bytes: Uint8Array): Promise<void> {
    checkBlock(cid, bytes, MAX_ANY_BLOCK_BYTES)
    const key = cid.toString()
    await this.#store.run([BLOCKS], 'readwrite', 'relaxed', 'write a block to', async (tx) => { tx.objectStore(BLOCKS).put(bytes.slice(), key) })
  }

  async retain (keep: Iterable<CID | string>): Promise<number> {
    const wanted = new Set([...keep].map((c) => c.toString()))
    let removed = 0
    await this.#store.run([BLOCKS], 'readwrite', 'default', 'clean the blocks of', async (tx) => {
      const keys = await request(tx.objectStore(BLOCKS).getAllKeys())
      for (const k of keys) {
        if (typeof k !== 'string' || wanted.has(k) || !isMetaCidText(k)) continue
        tx.objectStore(BLOCKS).delete(k)
        removed++
      }
    }).catch(() => { removed = 0 })
    return removed
  }
}

function isMetaCidText (name: string): boolean {
  try {
    const c = CID.parse(name)
    return c.code === CODEC_DAG_JSON || c.code === CODEC_DAG_CBOR
  } catch {
    return false
  }
}

/** Locks held by this page when the Web Locks API is missing (see the module comment). */
const pageLocks = new Set<string>()

/** The part of the Web Locks API (`navigator.locks`) the store uses. */
export interface LockManagerLike {
  request: (name: string, options: { mode: 'exclusive', ifAvailable: true }, cb: (lock: unknown) => Promise<void>) => Promise<void>
}

export interface IdbOpenOptions {
  /** The IndexedDB factory (default: the global `indexedDB`). */
  indexedDB?: IDBFactory
  /** The Web Locks manager (default: `navigator.locks`; `null`: none, page-local locks). */
  locks?: LockManagerLike | null
}

/** The IndexedDB ClientStorage. */
export class IdbClientStore implements ClientStorage {
  readonly dir: string
  readonly name: string
  readonly blocks: ClientBlockCache
  readonly #db: IDBDatabase
  readonly #locks: LockManagerLike | null

  private constructor (name: string, db: IDBDatabase, locks: LockManagerLike | null) {
    this.name = name
    this.dir = `indexeddb:${name}`
    this.#db = db
    this.#locks = locks
    this.blocks = new IdbBlockCache(this)
  }

  /**
   * Open (creating if needed) the client database `name`.
   *
   * @throws {UsageError} ERR_ARGUMENT for a name outside [A-Za-z0-9._-]{1,100}
   * @throws {StateError} ERR_STATE_IO when IndexedDB is missing or refuses
   */
  static async open (name: string, options: IdbOpenOptions = {}): Promise<IdbClientStore> {
    if (typeof name !== 'string' || !NAME.test(name)) throw new UsageError('ERR_ARGUMENT', 'name: expected 1-100 characters of [A-Za-z0-9._-]')
    const factory = idbOf(options.indexedDB)
    const where = `indexeddb:${name}`
    let db: IDBDatabase
    try {
      const r = factory.open(DB_PREFIX + name, DB_VERSION)
      r.onupgradeneeded = () => {
        const d = r.result
        for (const s of [STATE, BLOCKS, DOCS]) if (!d.objectStoreNames.contains(s)) d.createObjectStore(s)
      }
      r.onblocked = () => {}
      db = await request(r)
    } catch (e) {
      throw idbError('open', where, e)
    }
    // Another tab upgrading the schema: let it, this handle stops working (a later call fails with ERR_STATE_IO).
    db.onversionchange = () => { db.close() }
    const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator
    const locks = options.locks === undefined ? (nav?.locks ?? null) : options.locks
    return new IdbClientStore(name, db, locks)
  }

  /** Delete the client database `name` (all its state and cache). @throws {StateError} ERR_STATE_IO */
  static async destroy (name: string, options: { indexedDB?: IDBFactory } = {}): Promise<void> {
    if (typeof name !== 'string' || !NAME.test(name)) throw new UsageError('ERR_ARGUMENT', 'name: expected 1-100 characters of [A-Za-z0-9._-]')
    try {
      await request(idbOf(options.indexedDB).deleteDatabase(DB_PREFIX + name))
    } catch (e) {
      throw idbError('delete', `indexeddb:${name}`, e)
    }
  }

  /** Close the database handle. */
  close (): void {
    this.#db.close()
  }

  /**
   * Run `body` in one transaction and wait for it to commit. A throw in
   * `body` aborts the transaction (nothing of it is written).
   *
   * @internal
   */
  async run<T> (stores: string[], mode: IDBTransactionMode, durability: Durability, what: string, body: (tx: IDBTransaction) => Promise<T>): Promise<T> {
    let tx: IDBTransaction
    try {
      tx = this.#db.transaction(stores, mode, { durability })
    } catch (e) {
      throw idbError(what, this.dir, e)
    }
    const committed = done(tx)
    committed.catch(() => {})
    let out: T
    try {
      out = await body(tx)
    } catch (e) {
      try { tx.abort() } catch {}
      if (e instanceof StateError || e instanceof DiskFullError) throw e
      throw idbError(what, this.dir, e)
    }
    try {
      await committed
    } catch (e) {
      throw idbError(what, this.dir, e)
    }
    return out
  }

  async readState (): Promise<StateRecord | null> {
    const v = await this.run([STATE], 'readonly', 'default', 'read the state of', async (tx) => await request(tx.objectStore(STATE).get(STATE_KEY)))
    if (v === undefined) return null
    const bytes = asBytes(v)
    if (bytes === undefined || bytes.byteLength > MAX_STATE_BYTES) {
      throw new StateError('ERR_STATE_CORRUPT', `the state in ${this.dir} is not bytes of at most ${MAX_STATE_BYTES}`, { details: { file: STATE } })
    }
    return parseState(bytes)
  }

  async writeState (record: StateRecord, now: Date = new Date()): Promise<void> {
    const bytes = serializeState(record, now)
    await this.run([STATE], 'readwrite', 'strict', 'write the state of', async (tx) => { tx.objectStore(STATE).put(bytes, STATE_KEY) })
  }

  docPath (name: string): string {
    return `${this.dir}/${name}`
  }

  async readDoc (name: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const v = await this.run([DOCS], 'readonly', 'default', 'read a document of', async (tx) => await request(tx.objectStore(DOCS).get(name)))
    if (v === undefined) return undefined
    const bytes = asBytes(v)
    if (bytes === undefined || bytes.byteLength > maxBytes) {
      throw new StateError('ERR_STATE_CORRUPT', `${this.docPath(name)} is malformed: not bytes of at most ${maxBytes}`, { details: { path: this.docPath(name) } })
    }
    return bytes
  }

  async writeDoc (name: string, bytes: Uint8Array): Promise<void> {
    await this.run([DOCS], 'readwrite', 'strict', `write ${name} to`, async (tx) => { tx.objectStore(DOCS).put(bytes.slice(), name) })
  }

  async removeDoc (name: string): Promise<void> {
    await this.run([DOCS], 'readwrite', 'strict', `remove ${name} from`, async (tx) => { tx.objectStore(DOCS).delete(name) })
  }

  async lock (): Promise<() => Promise<void>> {
    const key = DB_PREFIX + this.name
    const locked = (): StateError => new StateError('ERR_STATE_LOCKED', `the client ${this.dir} is being updated by another tab or call`, { details: { path: this.dir } })
    if (this.#locks === null) {
      if (pageLocks.has(key)) throw locked()
      pageLocks.add(key)
      let released = false
      return async () => {
        if (released) return
        released = true
        pageLocks.delete(key)
      }
    }
    // Held while the callback's promise is pending: resolved by the release
    // function, which then waits until the manager has let the lock go.
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    let requested!: Promise<void>
    const granted = await new Promise<boolean>((resolve, reject) => {
      requested = this.#locks!.request(key, { mode: 'exclusive', ifAvailable: true }, async (lock) => {
        resolve(lock !== null)
        if (lock !== null) await held
      })
      requested.catch(reject)
    }).catch((e: unknown) => { throw idbError('lock', this.dir, e) })
    if (!granted) throw locked()
    return async () => {
      release()
      await requested.catch(() => {})
    }
  }
}
