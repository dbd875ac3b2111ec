/** Small builders for model tests: a valid set of four signed objects. */
import { expiresIn, makeRoot, makeSnapshot, makeTargets, makeTimestamp } from '../../src/model/build.js'
import { generateKeyPair, seedSigner, type KeyPair } from '../../src/model/keys.js'
import { signEnvelope } from '../../src/model/sign.js'
import type { TargetInfo } from '../../src/model/types.js'
import { buildRolesMap, buildTargetsMap, type ShardBlock } from '../../src/shard/index.js'

export interface Keys { root: KeyPair, targets: KeyPair, snapshot: KeyPair, timestamp: KeyPair }

export function freshKeys (): Keys {
  return { root: generateKeyPair(), targets: generateKeyPair(), snapshot: generateKeyPair(), timestamp: generateKeyPair() }
}

export const NOW = new Date('2026-11-22T00:00:00Z')

export async function fourObjects (keys: Keys = freshKeys(), targets: Array<[string, TargetInfo]> = []) {
  const one = (k: KeyPair) => ({ keys: [k.publicKey], threshold: 1 })
  const root = await signEnvelope(makeRoot({
    expires: expiresIn(NOW, 365 * 86400),
    roles: { root: one(keys.root), targets: one(keys.targets), snapshot: one(keys.snapshot), timestamp: one(keys.timestamp) }
  }), [seedSigner(keys.root.seed)])
  // The map's shard blocks are returned; the envelopes name their roots.
  const shards: ShardBlock[] = []
  const sink = (b: ShardBlock): void => { shards.push(b) }
  const tg = await signEnvelope(makeTargets({ expires: expiresIn(NOW, 90 * 86400), targets: buildTargetsMap(targets, sink).root }), [seedSigner(keys.targets.seed)])
  const empty = buildRolesMap([], sink).root
  const snapshot = await signEnvelope(makeSnapshot({ expires: expiresIn(NOW, 7 * 86400), root: root.cid, targets: tg.cid, delegatedTargets: empty, retired: empty }), [seedSigner(keys.snapshot.seed)])
  const timestamp = await signEnvelope(makeTimestamp({ expires: expiresIn(NOW, 86400), snapshot: snapshot.cid }), [seedSigner(keys.timestamp.seed)])
  return { keys, root, targets: tg, snapshot, timestamp, shards }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Run `f` and return the error it throws (fails the test if none). */
export async function caught (f: () => unknown): Promise<any> {
  try {
    await f()
  } catch (e) {
    return e
  }
  throw new Error('expected an error, none was thrown')
}
