/**
 * Exporting what a client needs to verify a timestamp, as one CAR file.
 *
 * The CAR's root is the timestamp. Its blocks are, in this order:
 * - the whole root chain, from the root of the timestamp's snapshot back to
 *   the first root (CLIENT-ROOT-CHAIN walks it from whatever root the client
 *   trusts; with the first root the archive is self-contained);
 * - the DAG of the timestamp (NOTES section 1): timestamp, snapshot, root,
 *   targets, every delegated targets object;
 * - with `since` (a timestamp the client trusts): that timestamp, and every
 *   snapshot on the `previous-version` chain from the new snapshot back to the
 *   trusted one, each with its DAG, so `<-*` (SUCC-TS-SNAPSHOT) and every
 *   intermediate VALID can be decided from the archive alone;
 * - with `content`, the blocks of every target's content (UnixFS) in the
 *   exported DAG.
 *
 * Every walk is bounded (BOUND-ROOT-STEPS for the root chain, BOUND-CHAIN for
 * the snapshot chain).
 */
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import { writeCar } from '../blocks/car.js'
import type { BlockSource } from '../blocks/types.js'
import { LIMITS } from '../model/config.js'
import { RepoError } from '../model/errors.js'
import { CODEC_DAG_PB } from '../model/hash.js'
import { ShardReader, roleLinkCodec, targetsCodec } from '../shard/index.js'
import type { Loader } from '../validate/loader.js'

export interface ExportOptions {
  since?: CID
  content?: boolean
  progress?: (done: number, total: number) => void
}

export interface ExportResult {
  timestamp: string
  blocks: number
  bytes: number
  roots: number
  snapshots: number
}

/**
 * The blocks of a snapshot's DAG (envelopes and every shard node of its
 * maps) go to `out`; the content CIDs of its targets are returned.
 */
async function dagOf (source: BlockSource, loader: Loader, snapshotCid: CID, out: CID[], seen: Set<string>): Promise<CID[]> {
  const s = await loader.load('snapshot', snapshotCid)
  const roles = await loader.roleMap(s.signed.meta.delegatedTargets)
  out.push(s.cid, s.signed.meta.root, s.signed.meta.targets, ...roles.values())
  // Shard subtrees already exported (from another snapshot) are skipped whole.
  const skip = (c: CID): boolean => {
    const k = c.toString()
    if (seen.has(k)) return true
    seen.add(k)
    return false
  }
  const roleReader = new ShardReader(source, roleLinkCodec)
  for (const root of [s.signed.meta.delegatedTargets, s.signed.meta.retired]) {
    for await (const c of roleReader.nodes(root, skip)) out.push(c)
  }
  const targetReader = new ShardReader(source, targetsCodec)
  const contents: CID[] = []
  for (const c of [s.signed.meta.targets, ...roles.values()]) {
    const t = await loader.load('targets', c)
    const fresh = !seen.has(t.signed.targets.toString())
    for await (const n of targetReader.nodes(t.signed.targets, skip)) out.push(n)
    if (fresh) for await (const e of targetReader.entries(t.signed.targets)) contents.push(e.value.cid)
  }
  return contents
}

/** Every block of a UnixFS file DAG (raw leaves, dag-pb nodes). */
async function contentBlocks (source: BlockSource, root: CID, out: CID[], seen: Set<string>): Promise<void> {
  const stack = [root]
  while (stack.length > 0) {
    const c = stack.pop()!
    const key = c.toString()
    if (seen.has(key)) continue
    seen.add(key)
    out.push(c)
    if (c.code !== CODEC_DAG_PB) continue
    const node = dagPb.decode(await source.get(c))
    for (let i = node.Links.length - 1; i >= 0; i--) stack.push(node.Links[i]!.Hash)
  }
}

/**
 * List the blocks to export for timestamp `ts`, then write them as a CAR.
 *
 * @throws {RepoError} ERR_NOT_SUCCESSOR when `since`'s snapshot is not on the chain
 * @throws {BlockError} when a block is missing from the node
 */
export async function exportCar (source: BlockSource, loader: Loader, ts: CID, file: string, options: ExportOptions = {}): Promise<ExportResult> {
  const cids: CID[] = []
  const timestamp = await loader.load('timestamp', ts)
  const snapshot = await loader.load('snapshot', timestamp.signed.snapshot)

  // The root chain, oldest first.
  const roots: CID[] = []
  let r: CID | null = snapshot.signed.meta.root
  while (r !== null) {
    if (roots.length > LIMITS.maxRootSteps) throw new RepoError('ERR_REPO_CORRUPT', 'the root chain is longer than BOUND-ROOT-STEPS')
    roots.push(r)
    r = (await loader.load('root', r)).signed.previousVersion
  }
  cids.push(...roots.reverse())

  cids.push(ts)
  const seenShards = new Set<string>()
  const contents = await dagOf(source, loader, snapshot.cid, cids, seenShards)
  let snapshots = 1
  if (options.since !== undefined) {
    const trusted = await loader.load('timestamp', options.since)
    cids.push(options.since)
    let cur: CID | null = snapshot.cid
    let found = false
    for (let steps = 0; cur !== null && steps <= LIMITS.maxChainLength; steps++) {
      if (cur.equals(trusted.signed.snapshot)) { found = true; break }
      const s: Awaited<ReturnType<typeof loader.load<'snapshot'>>> = await loader.load('snapshot', cur)
      cur = s.signed.previousVersion
      if (cur !== null) { await dagOf(source, loader, cur, cids, seenShards); snapshots++ }
    }
    if (!found) throw new RepoError('ERR_NOT_SUCCESSOR', `timestamp ${ts} does not descend from ${options.since}`, { details: { since: options.since.toString() } })
  }
  if (options.content === true) {
    const seen = new Set<string>()
    for (const c of contents) await contentBlocks(source, c, cids, seen)
  }
  const unique = new Map(cids.map((c) => [c.toString(), c]))
  const total = unique.size
  let done = 0
  async function * counted (): AsyncGenerator<CID> {
    for (const c of unique.values()) {
      yield c
      options.progress?.(++done, total)
    }
  }
  const res = await writeCar(source, [ts], counted(), file)
  return { timestamp: ts.toString(), blocks: res.blocks, bytes: res.bytes, roots: roots.length, snapshots }
}
