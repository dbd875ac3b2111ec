/**
 * Block and head sources of the client commands, from the command line:
 *
 *   --gateway URL       a trustless HTTP gateway (dagtuf serve, or any IPFS
 *                       gateway); its GET /head gives the newest timestamp
 *   --car FILE          a CAR file (offline installs); its first root is the head
 *   --peer MULTIADDR    a libp2p peer, by bitswap (no head: give --timestamp)
 *   --repo DIR          a repository folder on this machine (its block
 *                       files, read without starting its node); its head.json
 *                       gives the head
 *
 * and, for update and get, a head from IPNS instead of the source's own:
 *
 *   --ipns NAME         the signed IPNS record of NAME (k51...), fetched from
 *                       --gateway URL (GET /ipns/NAME?format=ipns-record) and
 *                       verified against the key in the name (src/client/ipns.ts)
 *
 * Only the gateway client is loaded up front: the CAR reader, libp2p and the
 * repository code are imported by the branch that opens them (the publisher's
 * Repo alone was about 0.1 s of a cold `client get --gateway`).
 *
 * None of them is trusted: every block is hash-checked by the source and
 * again by the client, and a head is only a candidate for the checks of
 * NOTES 7.2.
 */
import type { CID } from 'multiformats/cid'
import { GatewaySource, fetchHead } from '../../blocks/gateway-source.js'
import { canFetchIpnsRecords, type BlockSource } from '../../blocks/types.js'
import type { HeadSource, IpnsHeadOptions } from '../../client/updater.js'
import { BlockError, UsageError } from '../../model/errors.js'
import { parseIpnsName } from '../../model/ipns.js'
import { int, str, type OptionSpec, type Parsed } from '../args.js'

export const SOURCE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  gateway: { type: 'string', help: 'fetch blocks from this trustless gateway URL (its /head is the head)' },
  car: { type: 'string', help: 'read blocks from this CAR file (its first root is the head)' },
  peer: { type: 'string', help: 'fetch blocks by bitswap from this libp2p multiaddr (/ip4/.../tcp/.../p2p/...)' },
  repo: { type: 'string', help: 'read blocks from the repository folder DIR on this machine' },
  timeout: { type: 'string', help: 'time limit of each network request in ms (default 30000)' }
}

export const IPNS_OPTION: Readonly<Record<string, OptionSpec>> = {
  ipns: { type: 'string', help: 'take the head from this IPNS name\'s signed record (k51...), fetched from --gateway' }
}

/**
 * The --ipns head of update and get, checked against the other options:
 * the record comes from the --gateway, and --timestamp would bypass it.
 *
 * @throws {UsageError} ERR_USAGE | ERR_IPNS_NAME
 */
export function ipnsHeadOf (args: Parsed, opened: OpenedSource): IpnsHeadOptions | undefined {
  const name = str(args, 'ipns')
  if (name === undefined) return undefined
  if (str(args, 'timestamp') !== undefined) throw new UsageError('ERR_USAGE', 'give --ipns NAME or --timestamp CID, not both')
  if (!canFetchIpnsRecords(opened.source)) throw new UsageError('ERR_USAGE', '--ipns NAME needs --gateway URL (the record is fetched from the gateway)')
  return { name: parseIpnsName(name).name }
}

export interface OpenedSource {
  readonly source: BlockSource | undefined
  readonly head: HeadSource | undefined
  /** Which source, for messages. */
  readonly label: string
  close: () => Promise<void>
}

const NONE: OpenedSource = { source: undefined, head: undefined, label: 'the local cache', close: async () => {} }

/**
 * The source named on the command line: at most one of --gateway, --car,
 * --peer, --repo. None is allowed unless `required`.
 *
 * @throws {UsageError} ERR_USAGE
 * @throws {BlockError} when the source cannot be opened (CAR unreadable, peer unreachable...)
 */
export async function openSource (args: Parsed, required: boolean): Promise<OpenedSource> {
  const given = ['gateway', 'car', 'peer', 'repo'].filter((k) => str(args, k) !== undefined)
  if (given.length > 1) throw new UsageError('ERR_USAGE', `give one source, not ${given.map((g) => `--${g}`).join(' and ')}`)
  const timeoutMs = int(args, 'timeout', 30_000, 1, 3_600_000)
  const which = given[0]
  if (which === undefined) {
    if (required) throw new UsageError('ERR_USAGE', 'give a block source: --gateway URL, --car FILE, --peer MULTIADDR or --repo DIR')
    return NONE
  }
  const value = str(args, which)!
  switch (which) {
    case 'gateway': {
      const source = new GatewaySource(value, { timeoutMs, retries: 2 })
      const head: HeadSource = async ({ signal }) => {
        const cid = await fetchHead(value, { timeoutMs, retries: 2, ...(signal === undefined ? {} : { signal }) })
        if (cid === null) throw new BlockError('ERR_BLOCK_NOT_FOUND', `${value} announces no head`, { details: { url: value } })
        return cid
      }
      return { source, head, label: value, close: async () => {} }
    }
    case 'car': {
      const { readCar } = await import('../../blocks/car.js')
      const car = await readCar(value)
      const root = car.roots[0]
      const head: HeadSource | undefined = root === undefined ? undefined : async () => root
      return { source: car, head, label: value, close: async () => {} }
    }
    case 'peer': {
      const { openPeerSource } = await import('../../blocks/peer-source.js')
      const peer = await openPeerSource(value, { timeoutMs, dialTimeoutMs: Math.min(timeoutMs, 10_000) })
      return { source: peer, head: undefined, label: value, close: async () => { await peer.close() } }
    }
    default: {
      const { Repo } = await import('../../publish/repo.js')
      const { RepoBlockFiles } = await import('../../blocks/repo-files.js')
      const repo = await Repo.open(value)
      try {
        // The blocks straight from their files (each checked against its CID),
        // without starting the repository's node: about 1 s and 70 MB less.
        const source = new RepoBlockFiles(repo.dir)
        const head: HeadSource = async () => (await repo.head()).timestamp as CID
        return { source, head, label: repo.dir, close: async () => { await repo.close() } }
      } catch (e) {
        await repo.close().catch(() => {})
        throw e
      }
    }
  }
}
