/**
 * A block source that counts sequential round trips, an upper bound: a
 * request made after one of depth d came back has depth d + 1 (whatever it
 * waited for came back by then). Each answer waits a timer tick, as a
 * network would, so requests made together overlap.
 */
import type { CID } from 'multiformats/cid'

export interface RoundCounting {
  /** The deepest request so far. */
  rounds: number
  /** Requests made. */
  requests: number
  get: (cid: CID, o?: { signal?: AbortSignal, maxBytes?: number }) => Promise<Uint8Array>
}

export function roundCounting (store: { get: (cid: CID, o?: { signal?: AbortSignal, maxBytes?: number }) => Promise<Uint8Array> }): RoundCounting {
  let completed = 0
  const s: RoundCounting = {
    rounds: 0,
    requests: 0,
    async get (cid, o) {
      const depth = completed + 1
      s.requests++
      try {
        await new Promise((resolve) => setTimeout(resolve, 1))
        return await store.get(cid, o)
      } finally {
        completed = Math.max(completed, depth)
        s.rounds = Math.max(s.rounds, depth)
      }
    }
  }
  return s
}
