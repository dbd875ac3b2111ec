/**
 * MemoryBlockStore: a BlockStore in a Map, for unit, property and attack
 * tests, and as a small cache.
 *
 * It keeps the guarantees of every store (put and get check the hash and the
 * size cap) and copies bytes in and out, so a caller mutating an array it got
 * cannot change what is stored. For attack tests — a repository that serves
 * bytes other than the ones it published, in the manner of tuf-conformance's
 * repository simulator — `unsafePut` and `tamper` write bytes WITHOUT any
 * check; `get` still checks, so a tampered block surfaces as
 * ERR_HASH_MISMATCH, just as it would from a hostile network source.
 */
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { BlockError } from '../model/errors.js'
import { checkBlock } from '../model/hash.js'
import { maxBytesOf, normalizeCid, notFound, throwIfAborted } from './util.js'
import type { BlockStore, GetOptions } from './types.js'
import type { CID } from 'multiformats/cid'

export class MemoryBlockStore implements BlockStore {
  readonly #blocks = new Map<string, { cid: CID, bytes: Uint8Array }>()
  /** Counters, for tests that bound how many blocks a walk fetched. */
  readonly stats = { gets: 0, puts: 0 }

  /** @throws {BlockError} ERR_BLOCK_NOT_FOUND | ERR_HASH_MISMATCH | ERR_BLOCK_TOO_LARGE | ERR_UNSUPPORTED_HASH | ERR_ABORTED */
  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const max = maxBytesOf(options)
    const key = normalizeCid(cid)
    throwIfAborted(options.signal, key)
    this.stats.gets++
    const entry = this.#blocks.get(key.toString())
    if (entry === undefined) throw notFound(key)
    checkBlock(key, entry.bytes, max)
    return entry.bytes.slice()
  }

  /** @throws {BlockError} ERR_HASH_MISMATCH | ERR_BLOCK_TOO_LARGE | ERR_UNSUPPORTED_HASH | ERR_ABORTED */
  async put (cid: CID, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = normalizeCid(cid)
    throwIfAborted(options.signal, key)
    checkBlock(key, bytes, MAX_ANY_BLOCK_BYTES)
    this.stats.puts++
    this.#blocks.set(key.toString(), { cid: key, bytes: bytes.slice() })
  }

  async has (cid: CID, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const key = normalizeCid(cid)
    throwIfAborted(options.signal, key)
    return this.#blocks.has(key.toString())
  }

  /** Remove a block; true when it was there. */
  delete (cid: CID): boolean {
    return this.#blocks.delete(normalizeCid(cid).toString())
  }

  /** Every stored CID, in insertion order. */
  cids (): CID[] {
    return [...this.#blocks.values()].map((e) => e.cid)
  }

  get size (): number {
    return this.#blocks.size
  }

  /**
   * ATTACK TESTS ONLY: store `bytes` under `cid` without checking the hash or
   * the size. `get` will then fail with ERR_HASH_MISMATCH (or
   * ERR_BLOCK_TOO_LARGE), as it must.
   */
  unsafePut (cid: CID, bytes: Uint8Array): void {
    const key = normalizeCid(cid)
    this.#blocks.set(key.toString(), { cid: key, bytes: bytes.slice() })
  }

  /**
   * ATTACK TESTS ONLY: replace the stored bytes of `cid` by `change(bytes)`
   * without any check.
   *
   * @throws {BlockError} ERR_BLOCK_NOT_FOUND when nothing is stored under `cid`
   */
  tamper (cid: CID, change: (bytes: Uint8Array) => Uint8Array): void {
    const key = normalizeCid(cid)
    const entry = this.#blocks.get(key.toString())
    if (entry === undefined) throw new BlockError('ERR_BLOCK_NOT_FOUND', `block ${key} not found`, { details: { cid: key.toString() } })
    this.#blocks.set(key.toString(), { cid: key, bytes: change(entry.bytes.slice()) })
  }
}
