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
 *   --routing URL       a Delegated Routing V1 endpoint: the HTTP gateways it
 *                       names as providers of each block (no head: give
 *                       --timestamp CID, or --ipns NAME, whose record comes
 *                       from the endpoint's /routing/v1/ipns/NAME)
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
 * --gateway and --peer may be repeated, and sources mixed: several sources
 * are asked in the order given (or hedged, --hedge MS, or raced, --race),
 * and an update tries the head of every one (src/client/any-head.ts).
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
import { flag, int, list, str, type OptionSpec, type Parsed } from '../args.js'
import { MAX_SOURCES, SourceSet } from '../../blocks/source-set.js'
import type { NamedHead } from '../../client/any-head.js'

export const SOURCE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  gateway: { type: 'repeat', help: 'fetch blocks from this trustless gateway or mirror URL (its /head is a head); repeat for several' },
  car: { type: 'string', help: 'read blocks from this CAR file (its first root is the head)' },
  peer: { type: 'repeat', help: 'fetch blocks by bitswap from this libp2p multiaddr (/ip4/.../tcp/.../p2p/...); repeatable' },
  repo: { type: 'string', help: 'read blocks from the repository folder DIR on this machine' },
  routing: { type: 'string', help: 'find HTTP gateways that provide the blocks through this Delegated Routing V1 endpoint (and, with --ipns, the head record)' },
  timeout: { type: 'string', help: 'time limit of each request to one source in ms (default 30000)' },
  hedge: { type: 'string', help: 'with several sources: also ask the next source when one has not answered a block within MS (default: only after a failure)' },
  race: { type: 'boolean', help: 'with several sources: ask them all for every block at once, the first good answer wins' }
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
  if (!canFetchIpnsRecords(opened.source)) throw new UsageError('ERR_USAGE', '--ipns NAME needs --gateway URL or --routing URL (the record is fetched from there)')
  return { name: parseIpnsName(name).name }
}

export interface OpenedSource {
  readonly source: BlockSource | undefined
  readonly head: HeadSource | undefined
  /** With several sources: each one's head (sources without one, a peer, are left out). */
  readonly heads?: readonly NamedHead[]
  /** With several sources: the set, for its per-source report. */
  readonly set?: SourceSet
  /** Which source, for messages. */
  readonly label: string
  close: () => Promise<void>
}

const NONE: OpenedSource = { source: undefined, head: undefined, label: 'the local cache', close: async () => {} }

/**
 * The sources named on the command line: --gateway and --peer may repeat,
 * and may be mixed with one --car and one --repo. Several sources make one
 * SourceSet (src/blocks/source-set.ts: tried in the order given, or hedged
 * or raced, each with its own time limit; none trusted) and a head per
 * source that has one. None is allowed unless `required`.
 *
 * @throws {UsageError} ERR_USAGE
 * @throws {BlockError} when a source cannot be opened (CAR unreadable, peer unreachable...)
 */
export async function openSource (args: Parsed, required: boolean): Promise<OpenedSource> {
  const timeoutMs = int(args, 'timeout', 30_000, 1, 3_600_000)
  const wanted: Array<[string, string]> = [
    ...list(args, 'gateway').map((v): [string, string] => ['gateway', v]),
    ...list(args, 'peer').map((v): [string, string] => ['peer', v]),
    ...(['car', 'repo', 'routing'] as const).flatMap((k): Array<[string, string]> => { const v = str(args, k); return v === undefined ? [] : [[k, v]] })
  ]
  if (wanted.length === 0) {
    if (required) throw new UsageError('ERR_USAGE', 'give a block source: --gateway URL, --car FILE, --peer MULTIADDR, --repo DIR or --routing URL')
    return NONE
  }
  if (wanted.length > MAX_SOURCES) throw new UsageError('ERR_USAGE', `give at most ${MAX_SOURCES} sources`)
  const hedge = str(args, 'hedge') === undefined ? undefined : int(args, 'hedge', 0, 0, 3_600_000)
  if (wanted.length === 1) {
    if (hedge !== undefined || flag(args, 'race')) throw new UsageError('ERR_USAGE', '--hedge and --race choose between several sources: give more than one')
    return await openOne(wanted[0]![0], wanted[0]![1], timeoutMs)
  }
  if (hedge !== undefined && flag(args, 'race')) throw new UsageError('ERR_USAGE', 'give --hedge MS or --race, not both')
  const opened: OpenedSource[] = []
  try {
    for (const [kind, value] of wanted) opened.push(await openOne(kind, value, timeoutMs))
  } catch (e) {
    for (const o of opened) await o.close().catch(() => {})
    throw e
  }
  const set = new SourceSet(opened.map((o) => ({ label: o.label, source: o.source! })), {
    timeoutMs,
    ...(flag(args, 'race') ? { hedgeMs: 0 } : hedge === undefined ? {} : { hedgeMs: hedge })
  })
  const heads = opened.flatMap((o): NamedHead[] => o.head === undefined ? [] : [{ label: o.label, head: o.head, timeoutMs }])
  return {
    source: set,
    head: heads.length === 1 ? heads[0]!.head : undefined,
    heads,
    set,
    label: `${opened.length} sources`,
    close: async () => { for (const o of opened) await o.close().catch(() => {}) }
  }
}

async function openOne (which: string, value: string, timeoutMs: number): Promise<OpenedSource> {
  switch (which) {    case 'gateway': {
      const source = new GatewaySource(value, { timeoutMs, retries: 2 })
      const head: HeadSource = async ({ signal }) => {
        const cid = await fetchHead(value, { timeoutMs, retries: 2, ...(signal === undefined ? {} : { signal }) })
        if (cid === null) throw new BlockError('ERR_BLOCK_NOT_FOUND', `${value} announces no head`, { details: { url: value } })
        return cid
      }
      return { source, head, label: value, close: async () => {} }
    }
    case 'routing': {
      const { RoutingSource } = await import('../../blocks/routing-source.js')
      const source = new RoutingSource(value, { timeoutMs, retries: 2 })
      return { source, head: undefined, label: `${value} (routing)`, close: async () => {} }
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
