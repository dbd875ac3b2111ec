/**
 * fast-check arbitraries for every dagtuf object kind, shared by the model,
 * validate, relations, publish and client tests.
 *
 * Signing is asynchronous, so arbitraries produce *specs* (typed `signed`
 * objects plus the key pairs that may sign them); `signWith` turns one into
 * an envelope inside an async property.
 */
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { makeRoot, makeSnapshot, makeTargets, makeTimestamp, type DelegationSpec } from '../../src/model/build.js'
import { cidOf } from '../../src/model/codec.js'
import { CODEC_DAG_PB, CODEC_RAW, sha256 } from '../../src/model/hash.js'
import { keyPairFromSeed, seedSigner, type KeyPair } from '../../src/model/keys.js'
import { signEnvelope } from '../../src/model/sign.js'
import { buildRolesMap, buildTargetsMap } from '../../src/shard/index.js'
import type { Envelope, RootSigned, Signed, SnapshotSigned, TargetInfo, TargetsSigned, TimestampSigned } from '../../src/model/types.js'

// One seed and one DAGTUF_DEEP meaning for every property test: test/helpers/seed.ts.
export { DEEP, SEED, propertyRuns as runs } from './seed.js'

export const arbKeyPair: fc.Arbitrary<KeyPair> = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((seed) => keyPairFromSeed(seed))

/** A real instant between 2000 and 2199, second precision. */
export const arbExpires: fc.Arbitrary<string> = fc.integer({ min: 946684800, max: 7258118399 })
  .map((t) => new Date(t * 1000).toISOString().slice(0, 19) + 'Z')

const segChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~ é漢🙂'.split(/(?:)/u))
export const arbSegment: fc.Arbitrary<string> = fc.array(segChar, { minLength: 1, maxLength: 12 })
  .map((cs) => cs.join(''))
  .filter((s) => s !== '.' && s !== '..')

/** A safe target path (ENC-PATH-SAFE). */
export const arbTargetPath: fc.Arbitrary<string> = fc.array(arbSegment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'))

/** A safe delegated role name (ENC-NAME-SAFE). */
export const arbRoleName: fc.Arbitrary<string> = fc.tuple(
  fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')),
  fc.array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789._-'.split('')), { maxLength: 20 })
).map(([h, t]) => h + t.join('')).filter((n) => !['root', 'targets', 'snapshot', 'timestamp'].includes(n))

export const arbContentCid: fc.Arbitrary<CID> = fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.boolean())
  .map(([bytes, pb]) => CID.createV1(pb ? CODEC_DAG_PB : CODEC_RAW, Digest.create(0x12, sha256(bytes))))

export const arbMetaCid: fc.Arbitrary<CID> = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => cidOf(b))

/** True when a map somewhere inside `v` has the key "/" (reserved for links and bytes: ENC-CANONICAL). */
export function hasReservedKey (v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasReservedKey)
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array || CID.asCID(v) !== null) return false
  return Object.hasOwn(v, '/') || Object.values(v).some(hasReservedKey)
}

/** JSON-safe custom data the builders accept (integers only, no map with the key "/"). */
export const arbCustom: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v, (_k, x) => typeof x === 'number' ? Math.trunc(x) : x)) as unknown)
  .filter((v) => v !== null && !hasReservedKey(v))

export const arbTargetInfo: fc.Arbitrary<TargetInfo> = fc.record({
  length: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  cid: arbContentCid,
  custom: fc.option(arbCustom, { nil: undefined })
}).map(({ length, cid, custom }) => custom === undefined ? { length, cid } : { length, cid, custom })

const arbPathPattern: fc.Arbitrary<string> = fc.array(fc.oneof(arbSegment, fc.constant('*'), arbSegment.map((s) => s + '*')), { minLength: 1, maxLength: 3 })
  .map((s) => s.join('/'))

export function arbDelegation (keys: readonly KeyPair[]): fc.Arbitrary<DelegationSpec> {
  return fc.record({
    name: arbRoleName,
    signers: fc.subarray([...keys], { minLength: 1 }),
    terminating: fc.boolean(),
    byHash: fc.boolean(),
    paths: fc.array(arbPathPattern, { minLength: 1, maxLength: 3 }),
    prefixes: fc.array(fc.stringMatching(/^[0-9a-f]{1,4}$/), { minLength: 1, maxLength: 3 })
  }).chain((r) => fc.integer({ min: 1, max: r.signers.length }).map((threshold) => {
    const base = { name: r.name, keys: r.signers.map((k) => k.publicKey), threshold, terminating: r.terminating }
    return r.byHash ? { ...base, pathHashPrefixes: r.prefixes } : { ...base, paths: r.paths }
  }))
}

export interface Spec<S extends Signed> {
  readonly signed: S
  readonly signers: readonly KeyPair[]
}

export const arbRootSpec: fc.Arbitrary<Spec<RootSigned>> = fc.tuple(
  fc.array(arbKeyPair, { minLength: 1, maxLength: 4 }),
  arbKeyPair, arbKeyPair, arbKeyPair, arbExpires, fc.option(arbMetaCid, { nil: null })
).chain(([rootKeys, t, s, ts, expires, prev]) => fc.integer({ min: 1, max: rootKeys.length }).map((threshold) => ({
  signed: makeRoot({
    expires,
    previousVersion: prev,
    roles: {
      root: { keys: rootKeys.map((k) => k.publicKey), threshold },
      targets: { keys: [t.publicKey], threshold: 1 },
      snapshot: { keys: [s.publicKey], threshold: 1 },
      timestamp: { keys: [ts.publicKey], threshold: 1 }
    }
  }),
  signers: rootKeys
})))

export const arbTargetsSpec: fc.Arbitrary<Spec<TargetsSigned>> = fc.tuple(
  arbKeyPair,
  arbExpires,
  fc.option(arbMetaCid, { nil: null }),
  fc.uniqueArray(fc.tuple(arbTargetPath, arbTargetInfo), { maxLength: 6, selector: ([p]) => p }),
  fc.array(arbKeyPair, { minLength: 1, maxLength: 3 })
).chain(([signer, expires, prev, targets, delegKeys]) =>
  fc.option(fc.uniqueArray(arbDelegation(delegKeys), { maxLength: 3, selector: (d) => d.name }), { nil: undefined }).map((delegations) => ({
    // The map's blocks are not kept: these specs are for the envelope alone.
    signed: makeTargets({ expires, previousVersion: prev, targets: buildTargetsMap(targets, () => {}).root, ...(delegations === undefined ? {} : { delegations }) }),
    signers: [signer]
  })))

export const arbSnapshotSpec: fc.Arbitrary<Spec<SnapshotSigned>> = fc.record({
  signer: arbKeyPair,
  expires: arbExpires,
  prev: fc.option(arbMetaCid, { nil: null }),
  root: arbMetaCid,
  targets: arbMetaCid,
  delegated: fc.uniqueArray(fc.tuple(arbRoleName, arbMetaCid), { maxLength: 5, selector: ([n]) => n }),
  retired: fc.uniqueArray(fc.tuple(arbRoleName, arbMetaCid), { maxLength: 3, selector: ([n]) => n })
}).map((r) => ({
  signed: makeSnapshot({
    expires: r.expires,
    // A first snapshot, or one claiming a predecessor at height 1 (no skips): well formed alone.
    ...(r.prev === null ? { previous: null } : { override: { previousVersion: r.prev, height: 2, skips: [] } }),
    root: r.root,
    targets: r.targets,
    delegatedTargets: buildRolesMap(r.delegated, () => {}).root,
    retired: buildRolesMap(r.retired.filter(([n]) => !r.delegated.some(([d]) => d === n)), () => {}).root
  }),
  signers: [r.signer]
}))

export const arbTimestampSpec: fc.Arbitrary<Spec<TimestampSigned>> = fc.record({ signer: arbKeyPair, expires: arbExpires, snapshot: arbMetaCid })
  .map((r) => ({ signed: makeTimestamp({ expires: r.expires, snapshot: r.snapshot }), signers: [r.signer] }))

export const arbAnySpec: fc.Arbitrary<Spec<Signed>> = fc.oneof(
  arbRootSpec as fc.Arbitrary<Spec<Signed>>,
  arbTargetsSpec as fc.Arbitrary<Spec<Signed>>,
  arbSnapshotSpec as fc.Arbitrary<Spec<Signed>>,
  arbTimestampSpec as fc.Arbitrary<Spec<Signed>>
)

export async function signWith<S extends Signed> (spec: Spec<S>): Promise<Envelope<S>> {
  return signEnvelope(spec.signed, spec.signers.map((k) => seedSigner(k.seed)))
}

/**
 * Keys and values at the edges of the codec, for the round-trip property:
 * integer-like keys (JavaScript lists them first), keys whose UTF-16 and
 * UTF-8 orders differ (U+FF21 and U+1F642), the reserved "/" (also as a
 * link or bytes look-alike), lone surrogates, -0, floats, big integers,
 * bytes and links. Some of what it makes is refused by design.
 */
const edgeKeys = ['/', '9', '10', '2024', '0', '-🙂a', '\uff21', '\u{1f642}', 'a\uff21', 'a\u{1f642}', 'é', 'bytes', '__proto__', '\ud800']
const arbEdgeKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...edgeKeys) },
  { weight: 2, arbitrary: fc.string({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.nat({ max: 3000 }).map(String) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) }
)
const arbEdgeLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null), fc.boolean(), fc.integer(), fc.maxSafeInteger(), fc.constant(-0),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('\ud800', 'x\udc00', 'bafkqaaa', ''),
  fc.uint8Array({ maxLength: 6 }), arbContentCid,
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 80n }), fc.bigInt({ min: -(2n ** 80n), max: -(2n ** 53n) })
)
export const arbEdgeCustom: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown, list: unknown[], map: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, arbEdgeLeaf, tie('list'), tie('map')),
  list: fc.array(tie('value'), { maxLength: 3 }),
  map: fc.dictionary(arbEdgeKey, tie('value'), { maxKeys: 3 })
})).value

/** Target paths at the edges: integer-like, non-ASCII, U+FF21 next to U+1F642. */
export const arbEdgePath: fc.Arbitrary<string> = fc.oneof(
  arbTargetPath,
  fc.constantFrom('9', '10', '2024', '-🙂a', '\uff21', '\u{1f642}', 'a/\uff21', 'a/\u{1f642}', 'é', '漢'),
  fc.nat({ max: 100_000 }).map(String)
)

/** Targets map entries with edge paths and custom values (some refused by design). */
export const arbEdgeTargetEntries: fc.Arbitrary<Array<readonly [string, TargetInfo]>> = fc.uniqueArray(
  fc.tuple(arbEdgePath, fc.record({ length: fc.nat({ max: 1000 }), cid: arbContentCid, custom: fc.option(arbEdgeCustom, { nil: undefined }) })),
  { maxLength: 4, selector: ([p]) => p }
).map((targets) => targets.map(([p, { length, cid, custom }]) => [p, custom === undefined ? { length, cid } : { length, cid, custom }] as const))

/**
 * Hostile values for every public entry point: wrong types, NaN, huge
 * integers, deep nesting, enormous strings, prototype-pollution keys.
 */
export function hostileValues (): unknown[] {
  let deep: unknown = 1
  for (let i = 0; i < 10_000; i++) deep = [deep]
  let deepObj: unknown = {}
  for (let i = 0; i < 10_000; i++) deepObj = { a: deepObj }
  const proto = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}') as unknown
  return [
    undefined, null, true, false, 0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 10n ** 40n,
    '', 'x', 'x'.repeat(1_000_000), '\u0000', '../../etc/passwd', '/abs', 'a//b', 'a\\b',
    [], [1, 2, 3], {}, { _type: 'root' }, { signed: {}, signatures: [] }, { signed: null, signatures: null },
    deep, deepObj, proto, new Uint8Array(0), new Uint8Array(70_000_000).subarray(0, 16),
    Symbol('s'), () => 1, new Date(), new Map(), Object.create(null),
    CID.parse('bafkqaaa'), { '/': 'bafkqaaa' }, { '/': { bytes: 'AAAA' } }
  ]
}

/** Bytes that are hostile as a block: garbage, huge, deep, tricky JSON. */
export function hostileBlocks (): Uint8Array[] {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
  return [
    new Uint8Array(0),
    enc('null'), enc('[]'), enc('{}'), enc('"x"'), enc('1e400'), enc('NaN'), enc('{"a":1,}'),
    enc('['.repeat(100_000) + ']'.repeat(100_000)),
    enc('{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)),
    enc('{"signatures":[],"signed":{"_type":"root","__proto__":{"x":1}}}'),
    enc('{"signatures":[],"signed":' + '"' + 'x'.repeat(2_000_000) + '"}'),
    enc('{"signatures":[],"signed":{"/":"bafkqaaa"}}'),
    enc('{"signatures":[],"signed":{"_type":"timestamp","expires":"2030-01-01T00:00:00Z","snapshot":{"/":"bafkqaaa"},"spec_version":"2.0.0"}}'),
    enc('{"signatures":[],"signed":{"_type":"timestamp","expires":"2030-01-01T00:00:00Z","snapshot":{"/":{"bytes":"AAAA"}},"spec_version":"2.0.0"}}'),
    enc('{"signatures":[],"signed":{"_type":"timestamp","expires":99999999999999999999999,"snapshot":1,"spec_version":"2.0.0"}}'),
    new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]),
    enc('{"\\ud800":1}')
  ]
}
