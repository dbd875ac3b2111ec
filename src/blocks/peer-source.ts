/**
 * A client-side block source that fetches blocks by bitswap from one known
 * peer: a throwaway light node (in memory, keeping only a bounded cache of
 * recent blocks, see lru-blockstore.ts) that dials that peer and asks it for
 * blocks, each request under a time limit.
 *
 * Every block is checked with checkBlock before it is returned, even though
 * Helia checks hashes of what bitswap brings too: never trust a transport.
 * Bitswap messages are capped at 4 MiB each way (Helia's default), so larger
 * blocks must come through a gateway or a CAR.
 */
import * as dagJson from '@ipld/dag-json'
import { multiaddr } from '@multiformats/multiaddr'
import { MiB } from '../model/config.js'
import { BlockError, UsageError } from '../model/errors.js'
import { checkBlock } from '../model/hash.js'
import { errorName, libp2pOptions, loadHelia, loadNetworking } from './helia-runtime.js'
import { LruBlockstore } from './lru-blockstore.js'
import { aborted, closed, deadline, isOurs, maxBytesOf, nonNegativeInt, normalizeCid, positiveInt, readCapped, throwIfAborted, timedOut } from './util.js'
import type { GetOptions, PeerSource, PeerSourceOptions } from './types.js'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import type { ServiceMap } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

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

export type { PeerSource, PeerSourceOptions } from './types.js'
