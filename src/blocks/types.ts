/**
 * The interfaces of the block layer: where bytes addressed by a CID come from
 * and where they go.
 *
 * Guarantee shared by every implementation in src/blocks: the bytes `get`
 * returns hash to the CID that was asked for (checked with `checkBlock` from
 * src/model/hash.ts, whatever transport brought them) and are at most
 * `maxBytes` long, a cap enforced while reading, so no source buffers an
 * unbounded body. `put` checks the hash too, so a store never holds a block
 * under a CID it does not match (only `MemoryBlockStore.unsafePut`, meant for
 * attack tests, bypasses that).
 *
 * Errors are `BlockError`s; their codes and what each means are listed once,
 * in BLOCK_CODES of src/model/errors.ts. Callers match on `code`;
 * `isVerdict(e)` says whether a failure is a verdict on the bytes (a bad
 * hash, an oversized block: never retried) or a failure of the fetch.
 *
 * Wrong argument types (a negative maxBytes, a non-CID) are programming
 * errors and throw `UsageError` ERR_ARGUMENT.
 */
import type { CID } from 'multiformats/cid'
import type { Helia } from 'helia'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import type { ServiceMap } from '@libp2p/interface'

export interface GetOptions {
  signal?: AbortSignal
  /** Cap on the block size, enforced while reading. Defaults to MAX_ANY_BLOCK_BYTES. */
  maxBytes?: number
}

export interface BlockSource {
  /**
   * Bytes that hash to `cid` (checked here, whatever the transport), within maxBytes.
   *
   * @throws {BlockError} ERR_BLOCK_NOT_FOUND | ERR_HASH_MISMATCH | ERR_BLOCK_TOO_LARGE | ERR_UNSUPPORTED_HASH | ERR_TIMEOUT | ERR_TRANSPORT | ERR_ABORTED
   */
  get: (cid: CID, options?: GetOptions) => Promise<Uint8Array>
  /**
   * Capability: the marshalled IPNS record of `name` as the source has it
   * (unverified: the caller checks it against the name's key). Sources that
   * can answer (a trustless gateway) have it; callers ask for the capability
   * (`canFetchIpnsRecords`), never for a class.
   *
   * @throws {BlockError} ERR_IPNS_NOT_FOUND | ERR_IPNS_RECORD | ERR_TIMEOUT | ERR_TRANSPORT | ERR_ABORTED
   */
  ipnsRecord?: (name: string, options?: { signal?: AbortSignal }) => Promise<Uint8Array>
}

/** A source with the `ipnsRecord` capability. */
export type IpnsRecordSource = BlockSource & Required<Pick<BlockSource, 'ipnsRecord'>>

/** Whether `source` can fetch IPNS records. */
export function canFetchIpnsRecords (source: BlockSource | undefined): source is IpnsRecordSource {
  return typeof source?.ipnsRecord === 'function'
}

export interface BlockStore extends BlockSource {
  /**
   * Store `bytes` under `cid` after checking that they hash to it (and are at
   * most MAX_ANY_BLOCK_BYTES long).
   *
   * @throws {BlockError} ERR_HASH_MISMATCH | ERR_BLOCK_TOO_LARGE | ERR_UNSUPPORTED_HASH | ERR_TRANSPORT | ERR_ABORTED;
   *   {DiskFullError} ERR_DISK_FULL when a store on disk is full
   */
  put: (cid: CID, bytes: Uint8Array, options?: { signal?: AbortSignal }) => Promise<void>
  /** Whether the store holds `cid` (without fetching it from anywhere). */
  has: (cid: CID, options?: { signal?: AbortSignal }) => Promise<boolean>
}

/** A source that owns resources (files, sockets, a node) and must be closed. */
export interface Closeable {
  /** Release everything; idempotent, and safe to call after a failure. */
  close: () => Promise<void>
}

/* The embedded nodes (repo-node.ts, peer-source.ts). */

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
  /** The underlying Helia node (pins, libp2p). */
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
