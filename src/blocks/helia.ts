/**
 * The embedded IPFS node (Helia) as a BlockStore, and a client-side peer
 * source that fetches blocks from one known peer by bitswap.
 *
 * - `openRepoNode(dir)` keeps blocks in an FsBlockstore at `${dir}/blocks`
 *   and node state (peer key, pins) in an FsDatastore at `${dir}/datastore`.
 *   It does no networking unless `listen` is given; then it runs libp2p (TCP,
 *   noise, yamux, identify) and bitswap so that other peers can fetch its
 *   blocks. Reads are always local: a repo node never waits for the network
 *   to answer `get`. `put` writes each block atomically but does not
 *   fsync; `flush(cids)` makes given blocks durable (the publisher calls it
 *   before it moves its head).
 * - `openPeerSource(addr)` is a throwaway light node (in memory, keeping
 *   only a bounded cache of recent blocks) that dials one peer and asks it
 *   for blocks by bitswap, each request under a time limit.
 *
 * Both check every block with checkBlock before returning it, even though
 * Helia checks hashes of what bitswap brings too: never trust a transport.
 * Both are built with createHeliaLight — the default createHelia dials
 * public bootstrap peers, a DHT and HTTP gateways.
 *
 * Helia caps bitswap messages at 4 MiB each way (its default, kept: it
 * bounds what a peer can make us buffer before our own cap applies), so a
 * block over about 4 MiB cannot travel by bitswap. UnixFS content written by
 * addContent uses 1 MiB blocks; metadata blocks over 4 MiB (snapshot and
 * targets may reach 16 and 64 MiB) must go through the gateway or a CAR.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { createUnsafe } from 'multiformats/block'
import * as raw from 'multiformats/codecs/raw'
import { multiaddr } from '@multiformats/multiaddr'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import { FsDatastore } from 'datastore-fs'
import { NotFoundError } from 'interface-store'
import { LIMITS, MAX_ANY_BLOCK_BYTES, MiB } from '../model/config.js'
import { BlockError, UsageError } from '../model/errors.js'
import { checkBlock } from '../model/hash.js'
import { fsyncDir, fsyncFile, isCode } from '../util/durable-fs.js'
import { aborted, closed, deadline, isOurs, maxBytesOf, nonNegativeInt, normalizeCid, notFound, positiveInt, readCapped, throwIfAborted, timedOut } from './util.js'
import type { BlockStore, BlockSource, Closeable, GetOptions } from './types.js'
import type { Helia } from 'helia'
import type { HeliaWithLibp2p, withLibp2pLight } from '@helia/libp2p'
import type { ServiceMap } from '@libp2p/interface'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

export interface RepoNodeOptions {
  /**
   * Multiaddrs to listen on, e.g. ['/ip4/127.0.0.1/tcp/0']. When given, the
   * node runs libp2p and bitswap and serves its blocks to peers that ask.
   */
  listen?: string[]
}

export interface PinOptions {
  signal?: AbortSignal
}

export interface RepoNode extends BlockStore, Closeable {
  /** The underlying Helia node (e.g. for @helia/unixfs or @helia/dag-json). */
  readonly helia: Helia
  readonly dir: string
  /** Listening addresses, each ending in /p2p/<peer id>; empty when offline. */
  multiaddrs: () => string[]
  /** The libp2p peer id, or null when the node does not network. */
  peerId: () => string | null
  /**
   * Pin the whole DAG below `cid` (every block must already be local), so a
   * garbage collection keeps it. Pinning twice is not an error.
   *
   * @throws {BlockError} ERR_PIN | ERR_ABORTED | ERR_CLOSED
   */
  pin: (cid: CID, options?: PinOptions) => Promise<void>
  /** Remove a pin made by `pin`; no error when there was none. @throws {BlockError} ERR_PIN | ERR_CLOSED */
  unpin: (cid: CID, options?: PinOptions) => Promise<void>
  /** Whether the block is pinned (directly or as part of a pinned DAG). */
  isPinned: (cid: CID, options?: PinOptions) => Promise<boolean>
  /**
   * Make blocks already put durable: fsync the file of each block, then the
   * directories that name them (each shard directory and the block store's
   * own), so that a pointer written afterwards (head.json) never names a
   * block a power loss could take away. `put` alone writes each block
   * atomically (temporary file and rename) but does not fsync.
   *
   * @throws {BlockError} ERR_BLOCK_NOT_FOUND when a block's file is not there,
   *   ERR_TRANSPORT when the file system refuses, ERR_ABORTED, ERR_CLOSED
   * @throws {BlockError} ERR_UNSUPPORTED_HASH, {UsageError} ERR_ARGUMENT for a bad CID
   */
  flush: (cids: Iterable<CID>, options?: { signal?: AbortSignal }) => Promise<void>
}

/** Blocks fsynced at once by `flush`. */
const FLUSH_CONCURRENCY = 16

/** Codecs a repository node decodes (to pin DAGs): Helia's light default is dag-pb and raw only. */
const CODECS = [dagJson, dagPb, raw] as const

function errorName (e: unknown): string {
  return typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string' ? (e as { name: string }).name : ''
}

/**
 * Helia and libp2p take about a second to import; commands that never open
 * a node (help, verify, keygen, most of the client) should not pay for it.
 */
async function loadHelia (): Promise<typeof import('helia')> {
  return import('helia')
}

async function loadNetworking () {
  const [lp, bs, id, nz, tc, ym] = await Promise.all([
    import('@helia/libp2p'), import('@helia/bitswap'), import('@libp2p/identify'),
    import('@libp2p/noise'), import('@libp2p/tcp'), import('@libp2p/yamux')
  ])
  return { withLibp2pLight: lp.withLibp2pLight, withBitswap: bs.withBitswap, identify: id.identify, noise: nz.noise, tcp: tc.tcp, yamux: ym.yamux }
}

type Networking = Awaited<ReturnType<typeof loadNetworking>>

function libp2pOptions ({ tcp, noise, yamux, identify }: Networking, listen: string[]): Parameters<typeof withLibp2pLight>[1] {
  return {
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // identify tells each side which protocols the other speaks; bitswap only
    // talks to peers known to speak it.
    services: { identify: identify() },
    // No peer discovery, no DHT, no bootstrap list: peers are dialled explicitly.
    peerDiscovery: []
  }
}

class HeliaRepoNode implements RepoNode {
  readonly helia: Helia
  readonly dir: string
  readonly #blockstore: FsBlockstore
  readonly #sharding: NextToLast
  readonly #datastore: FsDatastore
  readonly #networked: boolean
  #closing: Promise<void> | undefined

  constructor (dir: string, helia: Helia, blockstore: FsBlockstore, sharding: NextToLast, datastore: FsDatastore, networked: boolean) {
    this.dir = dir
    this.helia = helia
    this.#blockstore = blockstore
    this.#sharding = sharding
    this.#datastore = datastore
    this.#networked = networked
  }

  #assertOpen (): void {
    if (this.#closing !== undefined) throw closed(`repo node ${this.dir}`)
  }

  multiaddrs (): string[] {
    if (!this.#networked || this.#closing !== undefined) return []
    return (this.helia as HeliaWithLibp2p<ServiceMap>).libp2p.getMultiaddrs().map((m) => m.toString())
  }

  peerId (): string | null {
    if (!this.#networked) return null
    return (this.helia as HeliaWithLibp2p<ServiceMap>).libp2p.peerId.toString()
  }

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const max = maxBytesOf(options)
    const key = normalizeCid(cid)
    this.#assertOpen()
    throwIfAborted(options.signal, key)
    let bytes: Uint8Array
    try {
      if (!await this.helia.blockstore.has(key, { signal: options.signal })) throw notFound(key)
      // offline: a repo node answers from its own disk only.
      bytes = await readCapped(this.helia.blockstore.get(key, { signal: options.signal, offline: true }), max, key)
    } catch (e) {
      throw storageError(e, key, options.signal)
    }
    // A block on disk can rot or be edited by hand: check it like any other.
    checkBlock(key, bytes, max)
    return bytes
  }

  async put (cid: CID, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    throwIfAborted(options.signal, key)
    checkBlock(key, bytes, MAX_ANY_BLOCK_BYTES)
    try {
      await this.helia.blockstore.put(key, bytes, { signal: options.signal })
    } catch (e) {
      throw storageError(e, key, options.signal)
    }
  }

  async has (cid: CID, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    try {
      return await this.helia.blockstore.has(key, { signal: options.signal })
    } catch (e) {
      throw storageError(e, key, options.signal)
    }
  }

  async flush (cids: Iterable<CID>, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#assertOpen()
    // Where FsBlockstore keeps each block: asked of the very sharding
    // strategy it was built with (blocks/<shard>/<name>.data), not rebuilt here.
    const root = this.#blockstore.path
    const files = new Map<string, CID>()
    const shards = new Set<string>()
    for (const cid of cids) {
      const key = normalizeCid(cid)
      const { dir, file } = this.#sharding.encode(key)
      files.set(join(root, dir, file), key)
      shards.add(join(root, dir))
    }
    const queue = [...files]
    const worker = async (): Promise<void> => {
      for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
        const [path, key] = next
        throwIfAborted(options.signal, key)
        this.#assertOpen()
        try {
          await fsyncFile(path)
        } catch (e) {
          queue.length = 0 // the other workers stop too
          if (isCode(e, 'ENOENT')) throw notFound(key, e)
          throw new BlockError('ERR_TRANSPORT', `could not make block ${key} durable`, { cause: e, details: { cid: key.toString(), path } })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, queue.length) }, worker))
    // Then the directories: each shard names its files, the store names new shards.
    for (const dir of [...shards, root]) {
      throwIfAborted(options.signal)
      try {
        await fsyncDir(dir)
      } catch (e) {
        throw new BlockError('ERR_TRANSPORT', `could not make the block directory ${dir} durable`, { cause: e, details: { path: dir } })
      }
    }
  }

  async pin (cid: CID, options: PinOptions = {}): Promise<void> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    throwIfAborted(options.signal, key)
    // Helia's pin walker records the pin even when a block is missing (the
    // error escapes as an unhandled rejection), so check the DAG is complete
    // here first.
    await this.#assertComplete(key, options.signal)
    try {
      // pins.add walks the DAG and must be iterated to do anything; offline so
      // that a missing block fails instead of waiting for a peer to send it.
      for await (const _ of this.helia.pins.add(key, { signal: options.signal, offline: true } as Parameters<Helia['pins']['add']>[1])) { /* walk */ }
    } catch (e) {
      if (errorName(e) === 'AlreadyPinnedError') return
      if (options.signal?.aborted === true) throw aborted(key, e)
      throw new BlockError('ERR_PIN', `could not pin ${key}: ${errorName(e) || 'error'}`, { cause: e, details: { cid: key.toString() } })
    }
  }

  /** Every block reachable from `root` is local (bounded walk). @throws {BlockError} ERR_PIN | ERR_ABORTED */
  async #assertComplete (root: CID, signal: AbortSignal | undefined): Promise<void> {
    const seen = new Set<string>([root.toString()])
    const queue: CID[] = [root]
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      throwIfAborted(signal, root)
      let bytes: Uint8Array
      try {
        bytes = await this.get(next, { signal })
      } catch (e) {
        if (isOurs(e) && (e as BlockError).code === 'ERR_ABORTED') throw e
        throw new BlockError('ERR_PIN', `cannot pin ${root}: block ${next} is not available locally`, { cause: e, details: { cid: root.toString(), missing: next.toString() } })
      }
      for (const link of linksOf(next, bytes, root)) {
        const child = link.version === 0 ? link.toV1() : link
        if (seen.has(child.toString())) continue
        if (seen.size >= LIMITS.maxBlocksPerUpdate) {
          throw new BlockError('ERR_PIN', `cannot pin ${root}: more than ${LIMITS.maxBlocksPerUpdate} blocks`, { details: { cid: root.toString() } })
        }
        seen.add(child.toString())
        queue.push(child)
      }
    }
  }

  async unpin (cid: CID, options: PinOptions = {}): Promise<void> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    try {
      for await (const _ of this.helia.pins.rm(key, { signal: options.signal, offline: true } as Parameters<Helia['pins']['rm']>[1])) { /* walk */ }
    } catch (e) {
      if (e instanceof NotFoundError || errorName(e) === 'NotFoundError') return
      if (options.signal?.aborted === true) throw aborted(key, e)
      throw new BlockError('ERR_PIN', `could not unpin ${key}`, { cause: e, details: { cid: key.toString() } })
    }
  }

  async isPinned (cid: CID, options: PinOptions = {}): Promise<boolean> {
    const key = normalizeCid(cid)
    this.#assertOpen()
    return this.helia.pins.isPinned(key, { signal: options.signal })
  }

  async close (): Promise<void> {
    this.#closing ??= shutdown(this.helia, this.#blockstore, this.#datastore)
    return this.#closing
  }
}

/** Stop the node (libp2p with it) and close both stores, whatever fails. */
async function shutdown (helia: Helia | undefined, blockstore: FsBlockstore, datastore: FsDatastore): Promise<void> {
  const failures: unknown[] = []
  if (helia !== undefined) {
    try { await helia.stop() } catch (e) { failures.push(e) }
  }
  try { await datastore.close() } catch (e) { failures.push(e) }
  try { await blockstore.close() } catch (e) { failures.push(e) }
  if (failures.length > 0) {
    throw new BlockError('ERR_TRANSPORT', 'the node did not close cleanly', { cause: failures[0], details: { failures: failures.length } })
  }
}

/** The CIDs a block links to, for the codecs a repository holds. @throws {BlockError} ERR_PIN */
function linksOf (cid: CID, bytes: Uint8Array, root: CID): CID[] {
  const codec = CODECS.find((c) => c.code === cid.code)
  if (codec === undefined) {
    throw new BlockError('ERR_PIN', `cannot pin ${root}: block ${cid} has codec 0x${cid.code.toString(16)}, which this node does not walk`, { details: { cid: root.toString(), block: cid.toString() } })
  }
  try {
    return [...createUnsafe({ cid, bytes, codec }).links()].map(([, link]) => link)
  } catch (cause) {
    throw new BlockError('ERR_PIN', `cannot pin ${root}: block ${cid} does not decode`, { cause, details: { cid: root.toString(), block: cid.toString() } })
  }
}

function storageError (e: unknown, cid: CID, signal: AbortSignal | undefined): unknown {
  if (isOurs(e)) return e
  if (signal?.aborted === true || errorName(e) === 'AbortError') return aborted(cid, e)
  if (e instanceof NotFoundError || errorName(e) === 'NotFoundError') return notFound(cid, e)
  return new BlockError('ERR_TRANSPORT', `block store failed on ${cid}`, { cause: e, details: { cid: cid.toString() } })
}

function checkListen (listen: unknown): string[] | undefined {
  if (listen === undefined) return undefined
  if (!Array.isArray(listen) || listen.length === 0 || !listen.every((a) => typeof a === 'string')) {
    throw new UsageError('ERR_ARGUMENT', 'listen: expected a non-empty array of multiaddr strings')
  }
  for (const a of listen as string[]) {
    try { multiaddr(a) } catch (cause) { throw new UsageError('ERR_ARGUMENT', `listen: not a multiaddr: ${JSON.stringify(a)}`, { cause }) }
  }
  return listen as string[]
}

/**
 * Open (creating if needed) the repository node kept in `dir`.
 *
 * @throws {UsageError} ERR_ARGUMENT for a bad listen address
 * @throws {BlockError} ERR_NODE_START when the stores or the node cannot start
 */
export async function openRepoNode (dir: string, options: RepoNodeOptions = {}): Promise<RepoNode> {
  if (typeof dir !== 'string' || dir.length === 0) throw new UsageError('ERR_ARGUMENT', 'dir: expected a directory path')
  const listen = checkListen(options.listen)
  // The default strategy of FsBlockstore, given explicitly so that flush()
  // can ask it where a block's file is.
  const sharding = new NextToLast()
  const blockstore = new FsBlockstore(join(dir, 'blocks'), { shardingStrategy: sharding })
  const datastore = new FsDatastore(join(dir, 'datastore'))
  let helia: Helia | undefined
  try {
    await blockstore.open()
    await datastore.open()
    // FsBlockstore.open accepts a plain file where its directory should be.
    for (const sub of ['blocks', 'datastore']) {
      if (!(await stat(join(dir, sub))).isDirectory()) throw new Error(`${join(dir, sub)} is not a directory`)
    }
    const { createHeliaLight } = await loadHelia()
    let node: Helia = createHeliaLight({ blockstore, datastore, codecs: [dagJson] })
    if (listen !== undefined) {
      const net = await loadNetworking()
      node = net.withBitswap(net.withLibp2pLight(node, libp2pOptions(net, listen)))
    }
    helia = node
    await node.start()
    return new HeliaRepoNode(dir, node, blockstore, sharding, datastore, listen !== undefined)
  } catch (e) {
    await shutdown(helia, blockstore, datastore).catch(() => {})
    throw new BlockError('ERR_NODE_START', `could not open the node in ${dir}: ${errorName(e) || 'error'}`, { cause: e, details: { dir } })
  }
}

/**
 * The peer source's local store: the most recently fetched blocks, up to a
 * byte budget, evicting the least recently used. Not a trust anchor (get()
 * re-checks what it returns); it exists because a serving bitswap peer does
 * not send the same block to the same peer twice within a few seconds
 * (Helia's doNotResendBlockWindow), so a block fetched again soon (the same
 * leaf linked twice, the same metadata asked for twice) must be found
 * locally. Bounded, so a long-running client does not accumulate every
 * block it ever fetched.
 */
class LruBlockstore implements Blockstore {
  readonly #max: number
  readonly #blocks = new Map<string, { cid: CID, bytes: Uint8Array }>()
  #bytes = 0

  constructor (maxBytes: number) {
    this.#max = maxBytes
  }

  #key (cid: CID): string {
    // By multihash, like FsBlockstore: the same bytes under any codec.
    return Buffer.from(cid.multihash.bytes).toString('base64')
  }

  async put (key: CID, val: InputPair['bytes']): Promise<CID> {
    let bytes: Uint8Array
    if (val instanceof Uint8Array) {
      bytes = val
    } else {
      const parts: Uint8Array[] = []
      for await (const part of val) parts.push(part)
      bytes = new Uint8Array(Buffer.concat(parts))
    }
    const k = this.#key(key)
    const old = this.#blocks.get(k)
    if (old !== undefined) {
      this.#blocks.delete(k)
      this.#bytes -= old.bytes.byteLength
    }
    if (bytes.byteLength > this.#max) return key
    this.#blocks.set(k, { cid: key, bytes })
    this.#bytes += bytes.byteLength
    for (const [oldest, entry] of this.#blocks) {
      if (this.#bytes <= this.#max) break
      this.#blocks.delete(oldest)
      this.#bytes -= entry.bytes.byteLength
    }
    return key
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) yield await this.put(cid, bytes)
  }

  async * get (key: CID): AsyncGenerator<Uint8Array> {
    const k = this.#key(key)
    const entry = this.#blocks.get(k)
    if (entry === undefined) throw new NotFoundError(`${key} is not cached`)
    // Most recently used goes last.
    this.#blocks.delete(k)
    this.#blocks.set(k, entry)
    yield entry.bytes
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid) }
  }

  async delete (key: CID): Promise<void> {
    const k = this.#key(key)
    const entry = this.#blocks.get(k)
    if (entry === undefined) return
    this.#blocks.delete(k)
    this.#bytes -= entry.bytes.byteLength
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid)
      yield cid
    }
  }

  async has (key: CID): Promise<boolean> {
    return this.#blocks.has(this.#key(key))
  }

  async * getAll (): AsyncGenerator<Pair> {
    for (const { cid } of [...this.#blocks.values()]) yield { cid, bytes: this.get(cid) }
  }
}

export interface PeerSourceOptions {
  /** Time limit of each get(), in ms (default 30 000). */
  timeoutMs?: number
  /** Time limit to establish the connection, in ms (default 10 000). */
  dialTimeoutMs?: number
  /** Bytes of recently fetched blocks kept in memory (default 32 MiB). */
  cacheBytes?: number
  signal?: AbortSignal
}

export interface PeerSource extends BlockSource, Closeable {
  readonly helia: HeliaWithLibp2p<ServiceMap>
  /** The peer this source asks. */
  readonly remote: string
}

class BitswapPeerSource implements PeerSource {
  readonly helia: HeliaWithLibp2p<ServiceMap>
  readonly remote: string
  readonly #timeoutMs: number
  readonly #dialTimeoutMs: number
  #peer: string | undefined
  #closing: Promise<void> | undefined

  constructor (helia: HeliaWithLibp2p<ServiceMap>, remote: string, timeoutMs: number, dialTimeoutMs: number) {
    this.helia = helia
    this.remote = remote
    this.#timeoutMs = timeoutMs
    this.#dialTimeoutMs = dialTimeoutMs
  }

  /** Dial the peer (again) when no connection is open. */
  async connect (signal?: AbortSignal): Promise<void> {
    const addr = multiaddr(this.remote)
    // The peer id: from the address (/p2p/...) or learnt on the first dial.
    this.#peer ??= addr.getComponents().find((c) => c.name === 'p2p')?.value
    const peer = this.#peer
    if (peer !== undefined && this.helia.libp2p.getConnections().some((c) => c.remotePeer.toString() === peer && c.status === 'open')) return
    const d = deadline(this.#dialTimeoutMs, signal)
    try {
      const connection = await this.helia.libp2p.dial(addr, { signal: d.signal })
      this.#peer ??= connection.remotePeer.toString()
    } catch (e) {
      if (d.timedOut()) throw timedOut(undefined, this.#dialTimeoutMs, e)
      if (signal?.aborted === true) throw aborted(undefined, e)
      throw new BlockError('ERR_TRANSPORT', `could not dial ${this.remote}: ${errorName(e) || 'error'}`, { cause: e, details: { remote: this.remote } })
    } finally {
      d.clear()
    }
  }

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const max = maxBytesOf(options)
    const key = normalizeCid(cid)
    if (this.#closing !== undefined) throw closed('peer source')
    throwIfAborted(options.signal, key)
    const d = deadline(this.#timeoutMs, options.signal)
    let bytes: Uint8Array
    try {
      await this.connect(d.signal)
      // The bitswap message cap (4 MiB) bounds what is buffered before this
      // cap applies.
      bytes = await readCapped(this.helia.blockstore.get(key, { signal: d.signal }), max, key)
    } catch (e) {
      if (d.timedOut()) throw timedOut(key, this.#timeoutMs, e)
      if (options.signal?.aborted === true) throw aborted(key, e)
      if (isOurs(e)) throw e
      if (this.#closing !== undefined) throw closed('peer source')
      throw new BlockError('ERR_TRANSPORT', `bitswap failed for ${key}: ${errorName(e) || 'error'}`, { cause: e, details: { cid: key.toString() } })
    } finally {
      d.clear()
    }
    checkBlock(key, bytes, max)
    return bytes
  }

  async close (): Promise<void> {
    this.#closing ??= this.helia.stop().then(() => {})
    return this.#closing
  }
}

/**
 * A BlockSource that fetches blocks by bitswap from the peer at `addr` (a
 * multiaddr such as /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...), dialled now and
 * again whenever the connection dropped. A block the peer does not have is
 * reported as ERR_TIMEOUT after `timeoutMs` (bitswap has no definitive "no").
 *
 * @throws {UsageError} ERR_ARGUMENT for a bad address or option
 * @throws {BlockError} ERR_TRANSPORT | ERR_TIMEOUT | ERR_ABORTED when the first dial fails, ERR_NODE_START
 */
export async function openPeerSource (addr: string, options: PeerSourceOptions = {}): Promise<PeerSource> {
  if (typeof addr !== 'string') throw new UsageError('ERR_ARGUMENT', 'addr: expected a multiaddr string')
  try { multiaddr(addr) } catch (cause) { throw new UsageError('ERR_ARGUMENT', `addr: not a multiaddr: ${JSON.stringify(addr.slice(0, 200))}`, { cause }) }
  const timeoutMs = positiveInt(options.timeoutMs, 30_000, 'timeoutMs')
  const dialTimeoutMs = positiveInt(options.dialTimeoutMs, 10_000, 'dialTimeoutMs')
  const cacheBytes = nonNegativeInt(options.cacheBytes, 32 * MiB, 'cacheBytes')
  let helia: HeliaWithLibp2p<ServiceMap> | undefined
  try {
    const [{ createHeliaLight }, net] = await Promise.all([loadHelia(), loadNetworking()])
    helia = net.withBitswap(net.withLibp2pLight(createHeliaLight({ blockstore: new LruBlockstore(cacheBytes), codecs: [dagJson] }), libp2pOptions(net, [])))
    await helia.start()
  } catch (e) {
    await helia?.stop().catch(() => {})
    throw new BlockError('ERR_NODE_START', `could not start the client node: ${errorName(e) || 'error'}`, { cause: e })
  }
  const source = new BitswapPeerSource(helia, addr, timeoutMs, dialTimeoutMs)
  try {
    await source.connect(options.signal)
  } catch (e) {
    await source.close().catch(() => {})
    throw e
  }
  return source
}
