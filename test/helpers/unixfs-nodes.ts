/**
 * Hand-built UnixFS dag-pb nodes for tests of the content reader: the
 * UnixFS Data protobuf is written field by field, because ipfs-unixfs's
 * `marshal` always writes the true `filesize` and so cannot make a node
 * that lies about its size.
 */
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { CODEC_DAG_PB, HASH_SHA2_256, sha256 } from '../../src/model/hash.js'

/** A protobuf varint. */
function varint (n: bigint): number[] {
  const out: number[] = []
  do {
    let b = Number(n & 0x7fn)
    n >>= 7n
    if (n > 0n) b |= 0x80
    out.push(b)
  } while (n > 0n)
  return out
}

/**
 * UnixFS Data: type FILE (2) or RAW (0), `data`, every `filesizes` entry as
 * one field 3 in order, then each of `sizes` as a blocksizes field 4 — the
 * field order ipfs-unixfs writes, so honest values give its exact bytes.
 */
export function unixfsData (init: { type?: 'file' | 'raw', data?: Uint8Array, filesizes?: readonly bigint[], sizes?: readonly bigint[] }): Uint8Array {
  const out: number[] = [0x08, init.type === 'raw' ? 0 : 2]
  if (init.data !== undefined && init.data.byteLength > 0) out.push(0x12, ...varint(BigInt(init.data.byteLength)), ...init.data)
  for (const f of init.filesizes ?? []) out.push(0x18, ...varint(f))
  for (const s of init.sizes ?? []) out.push(0x20, ...varint(s))
  return new Uint8Array(out)
}

/** A dag-pb node holding `data` as its UnixFS Data and linking `links` in order: its CIDv1 and bytes. */
export function pbNodeOf (data: Uint8Array, links: readonly CID[] = []): { cid: CID, bytes: Uint8Array } {
  const bytes = dagPb.encode(dagPb.prepare({ Data: data, Links: links.map((Hash) => ({ Hash })) }))
  return { cid: CID.createV1(CODEC_DAG_PB, createDigest(HASH_SHA2_256, sha256(bytes))), bytes }
}
