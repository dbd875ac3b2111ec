/**
 * The head registry's store in Redis, for several `dagtuf serve` replicas
 * behind one load balancer (issue 11 item 4, `serve --redis URL`). The
 * embedded default (src/server/repo-registry.ts) keeps the head in the
 * repository folder; with Redis every replica sees one head and one set of
 * blocks:
 *
 *   PREFIX:ts        the current head's timestamp CID (text)
 *   PREFIX:head      the head record, as head.json holds it (files.ts headText)
 *   PREFIX:log       every head accepted, oldest first (files.ts logLine)
 *   PREFIX:b:CID     a block's bytes
 *
 * Guarantees:
 * - A commit is a compare-and-swap (REG-CAS) done by one Lua script, which
 *   Redis runs atomically: the head moves only if PREFIX:ts is still the
 *   expected CID, and the head record and the log line move with it. Of two
 *   replicas racing with successors of one head, exactly one wins.
 * - The blocks of a push are stored (SET NX: a block is immutable) before
 *   the script runs, so a head never names a block Redis lacks; with Redis
 *   configured `appendonly yes` and `appendfsync always` they are also on
 *   disk first. `open` reads that configuration and reports when it is
 *   weaker (the operator decides; nothing is changed).
 * - Blocks read back are hash-checked (checkBlock) like every source's; the
 *   replica's own repository node serves as a cache in front of Redis.
 * - Redis failures are RepoError ERR_REPO_IO (a push gets 500, nothing is
 *   acknowledged); every command has a time limit, and commands are not
 *   queued while the connection is down.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { CID } from 'multiformats/cid'
import { copyClosure } from '../blocks/closure.js'
import type { BlockSource, GetOptions } from '../blocks/types.js'
import { MAX_ANY_BLOCK_BYTES } from '../model/config.js'
import { BlockError, RepoError, UsageError } from '../model/errors.js'
import { checkBlock } from '../model/hash.js'
import { headRecordOf } from '../publish/accept.js'
import { headText, logLine, parseHead, type HeadRecord } from '../publish/files.js'
import type { HeadStore } from './registry-handlers.js'

/** The replica's local block store used as a cache (the repository's node). */
export interface LocalBlocks extends BlockSource {
  has: (cid: CID) => Promise<boolean>
  put: (cid: CID, bytes: Uint8Array) => Promise<void>
}

export interface RedisStoreOptions {
  /** redis://[user:pass@]host:port[/db] */
  readonly url: string
  /** Key prefix (default "dagtuf"): several repositories may share one Redis. */
  readonly prefix?: string
  /** The replica's repository node, read before Redis and filled from it. */
  readonly local?: LocalBlocks
  /** Time limit of one Redis command, in ms (default 10,000). */
  readonly commandTimeoutMs?: number
  /**
   * Told of an accepted push after its blocks are stored and before the head
   * moves (the replica's audit log, AUDIT-WRITE-AHEAD); a failure refuses the
   * push with the head unchanged.
   */
  readonly beforeMove?: (previous: HeadRecord | null, next: HeadRecord, stored: number) => Promise<void>
  /** Told when a push told to `beforeMove` then lost the compare-and-swap (best effort). */
  readonly onLost?: (next: HeadRecord) => Promise<void>
}

/** Atomically: if KEYS[1] (ts) equals ARGV[1], set ts, the head record and append the log line. */
const CAS = `
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  if cur then return {0, cur} end
  return {0, ''}
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[4])
return {1, ARGV[2]}
`
/** Atomically: set the first head only if there is none. */
const SEED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
`
/**
 * Atomically: if KEYS[2] (the head record) is still exactly ARGV[1], move the
 * head as CAS does and delete the draft KEYS[4] published (its id leaves the
 * set KEYS[5]): a publish from a signing session (redis-sessions.ts).
 */
const CAS_RECORD = `
local cur = redis.call('GET', KEYS[2])
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[4])
if ARGV[5] ~= '' then
  redis.call('DEL', KEYS[4])
  redis.call('SREM', KEYS[5], ARGV[5])
end
return 1
`
/** Release the lock KEYS[1] only if this holder (ARGV[1]) still has it. */
const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`
const PREFIX = /^[A-Za-z0-9_.-]{1,64}$/

function redisError (what: string, e: unknown): RepoError {
  return new RepoError('ERR_REPO_IO', `Redis: ${what} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e, details: { backend: 'redis' } })
}

export class RedisHeadStore implements HeadStore {
  readonly source: BlockSource & { has: (cid: CID) => Promise<boolean> }
  readonly prefix: string
  readonly #redis: Redis
  readonly #local: LocalBlocks | undefined

  readonly #hooks: Pick<RedisStoreOptions, 'beforeMove' | 'onLost'>

  private constructor (redis: Redis, prefix: string, local: LocalBlocks | undefined, hooks: Pick<RedisStoreOptions, 'beforeMove' | 'onLost'> = {}) {
    this.#hooks = hooks
    this.#redis = redis
    this.prefix = prefix
    this.#local = local
    this.source = {
      get: async (cid: CID, options?: GetOptions) => await this.#get(cid, options),
      has: async (cid: CID) => await this.#has(cid)
    }
  }

  /**
   * Connect (and PING). `durability` says how Redis keeps writes: null when
   * CONFIG GET is not allowed (managed services), else its settings and
   * whether they make a block durable before the head that names it.
   *
   * @throws {UsageError} ERR_ARGUMENT for a URL or prefix that cannot be used
   * @throws {RepoError} ERR_REPO_IO when Redis cannot be reached
   */
  static async open (options: RedisStoreOptions): Promise<{ store: RedisHeadStore, durability: { appendonly: string, appendfsync: string, durable: boolean } | null }> {
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      throw new UsageError('ERR_ARGUMENT', 'redis: expected a URL like redis://127.0.0.1:6379')
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError('ERR_ARGUMENT', 'redis: expected a redis:// or rediss:// URL')
    const prefix = options.prefix ?? 'dagtuf'
    if (!PREFIX.test(prefix)) throw new UsageError('ERR_ARGUMENT', 'redis prefix: 1 to 64 letters, digits, _ . -')
    const timeout = options.commandTimeoutMs ?? 10_000
    const redis = new Redis(options.url, {
      lazyConnect: true,
      connectTimeout: timeout,
      commandTimeout: timeout,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      // Reconnect with a capped backoff; commands meanwhile fail at once.
      retryStrategy: (times) => Math.min(times * 200, 5_000)
    })
    // Errors also reach the commands that failed; without a listener they would be printed.
    redis.on('error', () => {})
    try {
      await redis.connect()
      await redis.ping()
    } catch (e) {
      redis.disconnect()
      throw redisError(`connecting to ${url.host}`, e)
    }
    let durability: { appendonly: string, appendfsync: string, durable: boolean } | null = null
    try {
      const a = await redis.config('GET', 'appendonly') as string[]
      const f = await redis.config('GET', 'appendfsync') as string[]
      const appendonly = String(a[1] ?? '')
      const appendfsync = String(f[1] ?? '')
      durability = { appendonly, appendfsync, durable: appendonly === 'yes' && appendfsync === 'always' }
    } catch {
      durability = null
    }
    return { store: new RedisHeadStore(redis, prefix, options.local, { ...(options.beforeMove !== undefined ? { beforeMove: options.beforeMove } : {}), ...(options.onLost !== undefined ? { onLost: options.onLost } : {}) }), durability }
  }

  #key (...parts: string[]): string { return [this.prefix, ...parts].join(':') }

  async head (): Promise<CID | null> {
    let text: string | null
    try {
      text = await this.#redis.get(this.#key('ts'))
    } catch (e) {
      throw redisError('reading the head', e)
    }
    if (text === null) return null
    try {
      return CID.parse(text)
    } catch (cause) {
      throw new RepoError('ERR_REPO_CORRUPT', `Redis: ${this.#key('ts')} is not a CID`, { cause, details: { backend: 'redis' } })
    }
  }

  /** The head record (head.json's content), or null. @throws {RepoError} */
  async headRecord (): Promise<HeadRecord | null> {
    let bytes: Buffer | null
    try {
      bytes = await this.#redis.getBuffer(this.#key('head'))
    } catch (e) {
      throw redisError('reading the head record', e)
    }
    return bytes === null ? null : parseHead(bytes)
  }

  /** The log's lines, oldest first. @throws {RepoError} */
  async log (): Promise<string[]> {
    try {
      return await this.#redis.lrange(this.#key('log'), 0, -1)
    } catch (e) {
      throw redisError('reading the log', e)
    }
  }

  /** Every block CID stored in Redis under this prefix (SCAN: never blocks the server). @throws {RepoError} */
  async blockCids (): Promise<string[]> {
    const out: string[] = []
    const start = this.#key('b', '')
    let cursor = '0'
    try {
      do {
        const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${start}*`, 'COUNT', 1000)
        cursor = next
        for (const k of keys) out.push(k.slice(start.length))
      } while (cursor !== '0')
    } catch (e) {
      throw redisError('listing blocks', e)
    }
    return out
  }

  async commit (input: { expected: CID, timestamp: CID, blocks: ReadonlyArray<{ cid: CID, bytes: Uint8Array }> }): Promise<{ kind: 'accepted', stored: number } | { kind: 'moved', current: CID }> {
    const current = await this.head()
    if (current === null || !current.equals(input.expected)) return { kind: 'moved', current: current ?? input.expected }
    const record = await headRecordOf(this.source, { timestamp: input.timestamp, blocks: input.blocks })
    const stored = await this.#putBlocks(input.blocks)
    if (this.#hooks.beforeMove !== undefined) await this.#hooks.beforeMove(await this.headRecord(), record, stored)
    let answer: [number, string]
    try {
      answer = await this.#redis.eval(CAS, 3, this.#key('ts'), this.#key('head'), this.#key('log'),
        input.expected.toString(), input.timestamp.toString(), headText(record), logLine(record)) as [number, string]
    } catch (e) {
      throw redisError('moving the head', e)
    }
    if (answer[0] !== 1) {
      await this.#hooks.onLost?.(record).catch(() => {})
      return { kind: 'moved', current: answer[1] === '' ? input.expected : CID.parse(answer[1]) }
    }
    return { kind: 'accepted', stored }
  }

  /**
   * Give an empty Redis its first head: every block below `head` (from
   * `from`, children first), then the head, atomically and only if Redis has
   * none. 'present' when it already had one (this replica's folder is then
   * only a cache).
   *
   * @throws {RepoError} ERR_REPO_IO | ERR_REPO_LIMIT; {BlockError} a block of the local DAG is missing
   */
  async seed (head: HeadRecord, from: BlockSource): Promise<'seeded' | 'present'> {
    if (await this.head() !== null) return 'present'
    await copyClosure(head.timestamp, from, {
      has: async (cid) => await this.#inRedis(cid),
      put: async (cid, bytes) => { await this.#putBlocks([{ cid, bytes }]) }
    }, { content: true, maxBlocks: 100_000_000, maxBytes: Number.MAX_SAFE_INTEGER })
    let set: number
    try {
      set = await this.#redis.eval(SEED, 3, this.#key('ts'), this.#key('head'), this.#key('log'), head.timestamp.toString(), headText(head), logLine(head)) as number
    } catch (e) {
      throw redisError('seeding the head', e)
    }
    return set === 1 ? 'seeded' : 'present'
  }

  /** The head record's exact bytes (PREFIX:head), for a compare-and-swap on them. @throws {RepoError} */
  async headBytes (): Promise<Uint8Array | undefined> {
    let bytes: Buffer | null
    try {
      bytes = await this.#redis.getBuffer(this.#key('head'))
    } catch (e) {
      throw redisError('reading the head record', e)
    }
    return bytes === null ? undefined : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /**
   * Move the head to `next` (its text `headText(next)`, its log line
   * `logLine(next)`) only if the head record is still exactly `expected`;
   * when `next.source` names a draft kept here, that draft is deleted in the
   * same step (SESS-ONCE). False when the head moved.
   *
   * @throws {RepoError} ERR_REPO_IO
   */
  async casRecord (next: { timestamp: string, text: string, line: string, draft: string }, expected: Uint8Array): Promise<boolean> {
    try {
      const r = await this.#redis.eval(CAS_RECORD, 5, this.#key('ts'), this.#key('head'), this.#key('log'),
        this.#key('draft', next.draft === '' ? '-' : next.draft), this.#key('drafts'),
        Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength), next.timestamp, next.text, next.line, next.draft) as number
      return r === 1
    } catch (e) {
      throw redisError('moving the head', e)
    }
  }

  /** Store blocks (SET NX) before a head names them. How many were new. @throws {RepoError} */
  async putBlocks (blocks: ReadonlyArray<{ cid: CID, bytes: Uint8Array }>): Promise<number> {
    return await this.#putBlocks(blocks)
  }

  /** A draft's bytes (PREFIX:draft:ID), or undefined. @throws {RepoError} */
  async draftBytes (id: string): Promise<Uint8Array | undefined> {
    let bytes: Buffer | null
    try {
      bytes = await this.#redis.getBuffer(this.#key('draft', id))
    } catch (e) {
      throw redisError('reading a draft', e)
    }
    return bytes === null ? undefined : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** The ids of the drafts kept (the set PREFIX:drafts). @throws {RepoError} */
  async draftIds (): Promise<string[]> {
    try {
      return (await this.#redis.smembers(this.#key('drafts'))).sort()
    } catch (e) {
      throw redisError('listing drafts', e)
    }
  }

  /** Keep a draft (its bytes and its id, in one MULTI). @throws {RepoError} */
  async putDraft (id: string, text: string): Promise<void> {
    try {
      const r = await this.#redis.multi().set(this.#key('draft', id), text).sadd(this.#key('drafts'), id).exec()
      for (const [err] of r ?? []) if (err !== null) throw err
    } catch (e) {
      throw redisError('storing a draft', e)
    }
  }

  /** Forget a draft. @throws {RepoError} */
  async deleteDraft (id: string): Promise<void> {
    try {
      const r = await this.#redis.multi().del(this.#key('draft', id)).srem(this.#key('drafts'), id).exec()
      for (const [err] of r ?? []) if (err !== null) throw err
    } catch (e) {
      throw redisError('removing a draft', e)
    }
  }

  /**
   * Take the lock PREFIX:lock (SET NX PX): the replicas' signing sessions
   * take it for each change, as one process takes the repository lock.
   * Tried for about `waitMs`; it expires after `ttlMs` should its holder
   * die. The head's compare-and-swap, not the lock, is what keeps a head
   * from being lost. Returns the release, or undefined when it stayed taken.
   *
   * @throws {RepoError} ERR_REPO_IO
   */
  async lock (ttlMs: number, waitMs: number): Promise<(() => Promise<void>) | undefined> {
    const token = randomBytes(16).toString('hex')
    const key = this.#key('lock')
    const until = Date.now() + waitMs
    for (;;) {
      let got: string | null
      try {
        got = await this.#redis.set(key, token, 'PX', ttlMs, 'NX')
      } catch (e) {
        throw redisError('taking the lock', e)
      }
      if (got === 'OK') {
        return async () => { await this.#redis.eval(UNLOCK, 1, key, token).catch(() => {}) }
      }
      if (Date.now() >= until) return undefined
      await new Promise((resolve) => setTimeout(resolve, 25 + Math.floor(Math.random() * 50)))
    }
  }

  async close (): Promise<void> {
    await this.#redis.quit().catch(() => { this.#redis.disconnect() })
  }

  /** How many were new. */
  async #putBlocks (blocks: ReadonlyArray<{ cid: CID, bytes: Uint8Array }>): Promise<number> {
    if (blocks.length === 0) return 0
    let stored = 0
    // In batches: one round trip per 256 blocks, not one per block.
    for (let i = 0; i < blocks.length; i += 256) {
      const batch = this.#redis.pipeline()
      for (const b of blocks.slice(i, i + 256)) batch.set(this.#key('b', b.cid.toString()), Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength), 'NX')
      let results: Array<[Error | null, unknown]> | null
      try {
        results = await batch.exec()
      } catch (e) {
        throw redisError('storing blocks', e)
      }
      for (const [err, r] of results ?? []) {
        if (err !== null) throw redisError('storing a block', err)
        if (r === 'OK') stored++
      }
    }
    return stored
  }

  async #inRedis (cid: CID): Promise<boolean> {
    try {
      return await this.#redis.exists(this.#key('b', cid.toString())) === 1
    } catch (e) {
      throw redisError('looking up a block', e)
    }
  }

  async #has (cid: CID): Promise<boolean> {
    if (this.#local !== undefined && await this.#local.has(cid).catch(() => false)) return true
    return await this.#inRedis(cid)
  }

  async #get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const maxBytes = options.maxBytes ?? MAX_ANY_BLOCK_BYTES
    if (this.#local !== undefined && await this.#local.has(cid).catch(() => false)) return await this.#local.get(cid, options)
    if (options.signal?.aborted === true) throw new BlockError('ERR_ABORTED', `fetching ${cid} was aborted`)
    let bytes: Buffer | null
    try {
      bytes = await this.#redis.getBuffer(this.#key('b', cid.toString()))
    } catch (e) {
      throw new BlockError('ERR_TRANSPORT', `Redis: reading ${cid} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e, details: { cid: cid.toString() } })
    }
    if (bytes === null) throw new BlockError('ERR_BLOCK_NOT_FOUND', `no block ${cid}`, { details: { cid: cid.toString() } })
    const out = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    checkBlock(cid, out, maxBytes)
    // The replica's cache: best effort (put checks the hash again).
    if (this.#local !== undefined) await this.#local.put(cid, out).catch(() => {})
    return out
  }
}
