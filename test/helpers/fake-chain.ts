/**
 * Stand-in CIDs for the snapshots of a fake chain, one per height, for the
 * prefetcher's tests (test/relations/prefetch*.test.ts): `cid(h)` is the same
 * CID for the same height, and `heightOf` maps it back.
 */
import type { CID } from 'multiformats/cid'
import { cidOf } from '../../src/model/codec.js'

export function chainCids (label: string): { cid: (h: number) => CID, heightOf: Map<string, number> } {
  const enc = new TextEncoder()
  const cids = new Map<number, CID>()
  const heightOf = new Map<string, number>()
  const cid = (h: number): CID => {
    let c = cids.get(h)
    if (c === undefined) {
      c = cidOf(enc.encode(`${label} ${h}`))
      cids.set(h, c)
      heightOf.set(c.toString(), h)
    }
    return c
  }
  return { cid, heightOf }
}
