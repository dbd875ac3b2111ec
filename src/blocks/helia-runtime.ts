/**
 * What the embedded nodes share: Helia and the libp2p stack, loaded on first
 * use, and the libp2p options of a node that dials only the peers it is told.
 *
 * Both nodes are built with createHeliaLight — the default createHelia dials
 * public bootstrap peers, a DHT and HTTP gateways.
 */
import type { withLibp2pLight } from '@helia/libp2p'
import { installPromiseWithResolvers } from '../util/promise-with-resolvers.js'

/** The `name` of an error from a dependency ('' when it has none). */
export function errorName (e: unknown): string {
  return typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string' ? (e as { name: string }).name : ''
}

/**
 * Helia and libp2p take about a second to import; commands that never open
 * a node (help, verify, keygen, most of the client) should not pay for it.
 * Both loaders first install the Promise.withResolvers shim Helia and libp2p
 * need on Node 20 (src/util/promise-with-resolvers.ts).
 */
export async function loadHelia (): Promise<typeof import('helia')> {
  installPromiseWithResolvers()
  return import('helia')
}

export async function loadNetworking () {
  installPromiseWithResolvers()
  const [lp, bs, id, nz, tc, ym] = await Promise.all([
    import('@helia/libp2p'), import('@helia/bitswap'), import('@libp2p/identify'),
    import('@libp2p/noise'), import('@libp2p/tcp'), import('@libp2p/yamux')
  ])
  return { withLibp2pLight: lp.withLibp2pLight, withBitswap: bs.withBitswap, identify: id.identify, noise: nz.noise, tcp: tc.tcp, yamux: ym.yamux }
}

export type Networking = Awaited<ReturnType<typeof loadNetworking>>

export function libp2pOptions ({ tcp, noise, yamux, identify }: Networking, listen: string[]): Parameters<typeof withLibp2pLight>[1] {
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
