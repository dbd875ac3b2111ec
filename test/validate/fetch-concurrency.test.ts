/**
 * Review: BOUND-BYTES / BOUND-BLOCK-SIZE hold per fetch, but the VALID walk
 * started the loads of every new child of a delegator at once. A block
 * source may buffer up to the kind's cap (64 MiB for targets) per request
 * before the hash check refuses it, so a hostile mirror facing an honest
 * repository with hashed bins (hundreds of roles under one delegator) could
 * make the client hold hundreds x 64 MiB at once: memory bounded only by
 * the repository's shape, not by any BOUND-*. The loader now bounds the
 * fetches in flight by count and by the bytes they may return (each its cap).
 */
import { describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { MAX_BLOCK_BYTES } from '../../src/model/config.js'
import { FETCH_BYTES_IN_FLIGHT, FETCH_CONCURRENCY, sourceLoader, type LoaderSource } from '../../src/validate/loader.js'
import { validateTimestamp } from '../../src/validate/valid.js'
import { RepoSim } from '../helpers/history.js'

describe('review: fetches in flight are bounded', () => {
  it('a VALID walk over 80 sibling roles keeps what its outstanding fetches may return under FETCH_BYTES_IN_FLIGHT', async () => {
    const sim = await RepoSim.create({ seed: 31 })
    for (let i = 0; i < 80; i++) sim.delegate('targets', `bin${i}`, { hashPrefixes: [i.toString(16).padStart(2, '0')] })
    const v = await sim.publish()
    let inFlight = 0
    let peak = 0
    let promised = 0
    let peakPromised = 0
    const slow: LoaderSource = {
      async get (cid: CID, options?: { signal?: AbortSignal, maxBytes?: number }): Promise<Uint8Array> {
        inFlight++
        peak = Math.max(peak, inFlight)
        // What a source may buffer for this request before the hash check.
        const cap = options?.maxBytes ?? 0
        promised += cap
        peakPromised = Math.max(peakPromised, promised)
        try {
          await new Promise((resolve) => setTimeout(resolve, 2))
          return await sim.store.get(cid, options)
        } finally {
          inFlight--
          promised -= cap
        }
      }
    }
    const r = await validateTimestamp(sourceLoader(slow), v.timestamp.cid)
    expect(r.valid).toBe(true)
    expect(peak).toBeLessThanOrEqual(FETCH_CONCURRENCY)
    expect(peakPromised).toBeLessThanOrEqual(FETCH_BYTES_IN_FLIGHT)
    // The weight binds here: 81 targets objects at 1 MiB each do not all fit.
    expect(peak).toBeLessThanOrEqual(FETCH_BYTES_IN_FLIGHT / MAX_BLOCK_BYTES.targets)
    expect(peak).toBeGreaterThan(1)
  })
})
