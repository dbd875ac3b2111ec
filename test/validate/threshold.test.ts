/**
 * meetsThreshold (src/validate/threshold.ts): SIG-THRESHOLD-DISTINCT, and
 * its promise that each (envelope, key set) pair is verified once.
 */
import { describe, expect, it, vi } from 'vitest'
import type { KeyId, PublicKey } from '../../src/model/types.js'
import { DagBuilder } from '../helpers/dag.js'

const verified = vi.hoisted(() => ({ calls: 0 }))
vi.mock('../../src/model/keys.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/model/keys.js')>()
  return {
    ...real,
    countValidSignatures: (...args: Parameters<typeof real.countValidSignatures>) => {
      verified.calls++
      return real.countValidSignatures(...args)
    }
  }
})

const { meetsThreshold } = await import('../../src/validate/threshold.js')

async function signedByTwo () {
  const b = new DagBuilder()
  const [k1, k2, k3] = [b.key('k1'), b.key('k2'), b.key('k3')]
  const env = await b.targets('x', { signers: [k1, k2] })
  const keys = new Map<KeyId, PublicKey>([k1, k2, k3].map((k) => [k.keyid, k.publicKey]))
  return { b, k1, k2, k3, env, keys }
}

describe('meetsThreshold', () => {
  it('SIG-THRESHOLD-DISTINCT: the threshold counts valid signatures of distinct authorized keys, and is met at equality', async () => {
    const { k1, k2, k3, env, keys } = await signedByTwo()
    expect(meetsThreshold(env, keys, { keyids: [k1.keyid, k2.keyid], threshold: 2 })).toBe(true)
    expect(meetsThreshold(env, keys, { keyids: [k1.keyid, k2.keyid], threshold: 1 })).toBe(true)
    expect(meetsThreshold(env, keys, { keyids: [k1.keyid, k2.keyid, k3.keyid], threshold: 3 })).toBe(false)
    // A keyid listed twice is one key.
    expect(meetsThreshold(env, keys, { keyids: [k1.keyid, k1.keyid], threshold: 2 })).toBe(false)
    // Signatures of keys the role does not name do not count.
    expect(meetsThreshold(env, keys, { keyids: [k1.keyid, k3.keyid], threshold: 2 })).toBe(false)
    expect(meetsThreshold(env, keys, { keyids: [k3.keyid], threshold: 1 })).toBe(false)
  })

  it('SIG-THRESHOLD-DISTINCT: a keyid missing from the keys map authorizes nothing (and is no crash)', async () => {
    const { k1, k2, env } = await signedByTwo()
    const onlyK1 = new Map<KeyId, PublicKey>([[k1.keyid, k1.publicKey]])
    expect(meetsThreshold(env, onlyK1, { keyids: [k1.keyid, k2.keyid], threshold: 2 })).toBe(false)
    expect(meetsThreshold(env, onlyK1, { keyids: [k1.keyid, k2.keyid], threshold: 1 })).toBe(true)
    expect(meetsThreshold(env, new Map(), { keyids: [k1.keyid], threshold: 1 })).toBe(false)
  })

  it('SIG-THRESHOLD-DISTINCT: each (envelope, key set) pair is verified once, whatever the order of the keyids or the threshold', async () => {
    const { b, k1, k2, k3, env, keys } = await signedByTwo()
    verified.calls = 0
    expect(meetsThreshold(env, keys, { keyids: [k1.keyid, k2.keyid], threshold: 2 })).toBe(true)
    expect(meetsThreshold(env, keys, { keyids: [k2.keyid, k1.keyid], threshold: 2 })).toBe(true)
    expect(meetsThreshold(env, keys, { keyids: [k2.keyid, k1.keyid], threshold: 1 })).toBe(true)
    expect(verified.calls).toBe(1)
    // Another key set is verified once more, and then remembered too.
    expect(meetsThreshold(env, keys, { keyids: [k1.keyid, k3.keyid], threshold: 2 })).toBe(false)
    expect(meetsThreshold(env, keys, { keyids: [k3.keyid, k1.keyid], threshold: 1 })).toBe(true)
    expect(verified.calls).toBe(2)
    // The first key set is still remembered for this envelope.
    expect(meetsThreshold(env, keys, { keyids: [k1.keyid, k2.keyid], threshold: 3 })).toBe(false)
    expect(verified.calls).toBe(2)
    // Another envelope is verified on its own.
    const other = await b.targets('x', { signers: [k3] })
    expect(meetsThreshold(other, keys, { keyids: [k1.keyid, k2.keyid], threshold: 1 })).toBe(false)
    expect(verified.calls).toBe(3)
  })
})
