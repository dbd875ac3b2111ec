/**
 * Blocks found through a Delegated Routing V1 endpoint (`--routing URL`,
 * issue 12 item 3): the endpoint names providers of a CID; those that offer
 * an HTTP trustless gateway (a `/http` multiaddr, transport-ipfs-gateway-http)
 * become block sources, used together as a SourceSet. The endpoint's IPNS
 * route gives the repository's signed head record.
 *
 * Nothing the endpoint says is trusted: providers only tell where to ask,
 * every block they serve is hash-checked, and IPNS records are verified by
 * the client (src/client/ipns.ts). Bounded: at most `maxGateways` gateways
 * are kept, and the endpoint is asked about a CID only when no known
 * gateway could serve it (so once per missing block at most). Providers
 * reachable only by bitswap are not used here (they need a libp2p node:
 * `--peer`).
 */
import type { CID } from 'multiformats/cid'
import { BlockError, UsageError } from '../model/errors.js'
import { GatewaySource, fetchProviders, fetchRoutingIpnsRecord, gatewayUrlOf, normalizeBaseUrl, type GatewayOptions } from './gateway-source.js'
import { SourceSet, type SourceStats } from './source-set.js'
import type { BlockSource, GetOptions } from './types.js'

export interface RoutingSourceOptions extends GatewayOptions {
  /** Gateways kept at most (default 8). */
  readonly maxGateways?: number
}

export class RoutingSource implements BlockSource {
  readonly routingUrl: string
  readonly #options: GatewayOptions
  readonly #maxGateways: number
  readonly #gateways: string[] = []
  #set: SourceSet | undefined

  /** @throws {UsageError} ERR_ARGUMENT for a URL that is not http(s) */
  constructor (routingUrl: string | URL, options: RoutingSourceOptions = {}) {
    this.routingUrl = normalizeBaseUrl(routingUrl)
    const max = options.maxGateways ?? 8
    if (!Number.isInteger(max) || max < 1 || max > 32) throw new UsageError('ERR_ARGUMENT', 'maxGateways: expected an integer from 1 to 32')
    this.#maxGateways = max
    const { maxGateways: _, ...gatewayOptions } = options
    this.#options = gatewayOptions
  }

  /** The gateways found so far. */
  get gateways (): string[] { return [...this.#gateways] }

  /** What each gateway found so far served (SourceSet stats; empty before the first). */
  stats (): SourceStats[] { return this.#set?.stats() ?? [] }

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    let first: unknown
    if (this.#set !== undefined) {
      try {
        return await this.#set.get(cid, options)
      } catch (e) {
        if (options.signal?.aborted === true || !(e instanceof BlockError) || e.code === 'ERR_UNSUPPORTED_HASH' || e.code === 'ERR_BAD_CID') throw e
        first = e
      }
    }
    const added = await this.#discover(cid, options.signal)
    if (added === 0) {
      throw first ?? new BlockError('ERR_BLOCK_NOT_FOUND', `${this.routingUrl} names no provider with an HTTP gateway for ${cid}`, { details: { cid: cid.toString(), routing: this.routingUrl } })
    }
    return await this.#set!.get(cid, options)
  }

  async ipnsRecord (name: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return await fetchRoutingIpnsRecord(this.routingUrl, name, { ...this.#options, ...(options.signal === undefined ? {} : { signal: options.signal }) })
  }

  /** Ask the endpoint who provides `cid`; keep the new gateways (up to the cap). How many were added. */
  async #discover (cid: CID, signal: AbortSignal | undefined): Promise<number> {
    const providers = await fetchProviders(this.routingUrl, cid, { ...this.#options, ...(signal === undefined ? {} : { signal }) })
    let added = 0
    for (const p of providers) {
      for (const addr of p.addrs) {
        const url = gatewayUrlOf(addr)
        if (url === null || this.#gateways.includes(url)) continue
        if (this.#gateways.length >= this.#maxGateways) break
        const entry = { label: url, source: new GatewaySource(url, this.#options) }
        if (this.#set === undefined) this.#set = new SourceSet([entry], this.#options.timeoutMs === undefined ? {} : { timeoutMs: this.#options.timeoutMs })
        else this.#set.add(entry)
        this.#gateways.push(url)
        added++
      }
    }
    return added
  }
}
