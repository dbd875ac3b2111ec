/**
 * The head as an IPNS record, signed by the repository node's own IPNS key.
 *
 * The record (value `/ipfs/<timestamp CID>`) is created and stored in the
 * node's datastore with @helia/ipns in offline mode: the repository node
 * does no networking, so nothing is announced to a DHT here. Peers that
 * connect to the node (`dagtuf serve`) or a later networked publish make it
 * reachable. The IPNS key lives in the node's keychain (DIR/datastore), not
 * in DIR/keys: it signs only the pointer, never TUF metadata, and a client
 * verifies everything the pointer names anyway (an IPNS head is untrusted
 * input, like any head).
 */
import type { CID } from 'multiformats/cid'
import type { RepoNode } from '../blocks/helia.js'
import { RepoError } from '../model/errors.js'

export const IPNS_KEY_NAME = 'dagtuf-head'

export interface IpnsResult {
  /** The IPNS name, `/ipns/k51...`. */
  name: string
  value: string
  sequence: string
}

/**
 * Publish (offline) an IPNS record for `timestamp`.
 *
 * @throws {RepoError} ERR_IPNS
 */
export async function publishHeadIpns (node: RepoNode, timestamp: CID, lifetimeMs: number): Promise<IpnsResult> {
  try {
    // Loaded here: @helia/ipns costs ~0.4 s to import and only --ipns needs it.
    const { ipns } = await import('@helia/ipns')
    const name = ipns(node.helia as never)
    const r = await name.publish(IPNS_KEY_NAME, timestamp, { offline: true, lifetime: lifetimeMs })
    return { name: r.name.startsWith('/ipns/') ? r.name : `/ipns/${r.name}`, value: `/ipfs/${timestamp.toString()}`, sequence: String(r.record.sequence ?? '') }
  } catch (cause) {
    throw new RepoError('ERR_IPNS', 'the IPNS record could not be made', { cause })
  }
}
