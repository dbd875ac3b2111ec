/**
 * Threshold checks with their results memoized per (envelope, key set):
 * SIG-THRESHOLD-DISTINCT for VALID, the relations and the search.
 */
import { countValidSignatures } from '../model/keys.js'
import type { Envelope, KeyId, PublicKey, RoleKeys } from '../model/types.js'

/** Verified counts per envelope and authorized key set (pure, so cached forever). */
const sigCounts = new WeakMap<object, Map<string, number>>()

/**
 * SIG-THRESHOLD-DISTINCT: whether `env` carries valid signatures from at
 * least `role.threshold` distinct keys among `role.keyids` resolved in
 * `keys`. Keyids missing from `keys` authorize nothing (their absence is
 * reported by VALID-ROOT-ROLES / VALID-DELEG-KEYS). Malformed signatures
 * count as none (SIG-MALFORMED).
 */
export function meetsThreshold (env: Envelope, keys: ReadonlyMap<KeyId, PublicKey>, role: RoleKeys): boolean {
  const authorized = new Map<KeyId, PublicKey>()
  for (const id of role.keyids) {
    const k = keys.get(id)
    if (k !== undefined) authorized.set(id, k)
  }
  // A decoded keys map holds each key under its own keyid (SIG-KEYID), so
  // the public keys name the set.
  const label = [...authorized.values()].map((k) => k.public).sort().join(',')
  let counts = sigCounts.get(env)
  if (counts === undefined) {
    counts = new Map()
    sigCounts.set(env, counts)
  }
  let n = counts.get(label)
  if (n === undefined) {
    n = countValidSignatures(env.signedBytes, env.signatures, authorized)
    counts.set(label, n)
  }
  return n >= role.threshold
}

