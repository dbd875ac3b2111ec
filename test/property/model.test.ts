/**
 * Property tests of the byte boundary (issue 2): round trip, flipped bytes,
 * non-canonical encodings, and hostile values through every public entry.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { cidOf, decodeEnvelope, encodeEnvelope, encodeSigned, encodeValue, jsonDepth } from '../../src/model/codec.js'
import { DagtufError, DecodeError } from '../../src/model/errors.js'
import { checkBlock, parseCid } from '../../src/model/hash.js'
import { countValidSignatures, keyIdOf, publicKeyFromBytes, seedSigner, verifyBytes, verifySignature, type Signer } from '../../src/model/keys.js'
import { parseSigned, signedToWire } from '../../src/model/schema.js'
import type { Envelope, Signed } from '../../src/model/types.js'
import { signEnvelope } from '../../src/model/sign.js'
import { parseArgs } from '../../src/cli/args.js'
import * as dagCbor from '@ipld/dag-cbor'
import { isDeepStrictEqual } from 'node:util'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { targetInfoToWire } from '../../src/model/schema.js'
import { ShardReader, buildTargetsMap, decodeNode, shardCid, targetsCodec } from '../../src/shard/index.js'
import { arbAnySpec, arbEdgeTargetEntries, arbRootSpec, arbSnapshotSpec, arbTargetsSpec, arbTimestampSpec, hostileBlocks, hostileValues, signWith, type Spec } from '../helpers/arbitraries.js'
import { runCount, propertyRuns as runs } from '../helpers/seed.js'
import { dec, enc } from '../helpers/model.js'

const KINDS = ['root', 'targets', 'snapshot', 'timestamp'] as const

/** Run f; it may return, or throw a DagtufError — anything else fails. */
function onlyTypedErrors (f: () => unknown): void {
  try {
    f()
  } catch (e) {
    if (!(e instanceof DagtufError)) throw new Error(`untyped error escaped: ${String(e)} ${(e as Error).stack?.split("\n").slice(0, 8).join(" | ")}`, { cause: e })
    expect(typeof e.code).toBe('string')
  }
}

describe('model properties', () => {
  it('encode/decode round trip for every kind preserves CID, bytes and meaning', async () => {
    for (const [kind, arb] of [['root', arbRootSpec], ['targets', arbTargetsSpec], ['snapshot', arbSnapshotSpec], ['timestamp', arbTimestampSpec]] as const) {
      await fc.assert(fc.asyncProperty(arb as fc.Arbitrary<any>, async (spec) => {
        const env = await signWith(spec)
        const back = decodeEnvelope(kind, env.bytes, env.cid)
        expect(back.cid.equals(cidOf(env.bytes))).toBe(true)
        // Re-encoding the decoded typed object gives the same block.
        const again = encodeEnvelope(back.signed, back.signatures)
        expect(again.cid.equals(env.cid)).toBe(true)
        expect(back.signatures.length).toBe(spec.signers.length)
        // The decoded object is the object that was built, field for field.
        expect(back.signed).toEqual(spec.signed)
      }), runs(25))
    }
  })

  it('ENC-CANONICAL: every targets map entry the builder accepts reads back equal; what it refuses, it refuses before writing a block, and a reader would refuse or misread it', async () => {
    let accepted = 0
    let refused = 0
    await fc.assert(fc.asyncProperty(arbEdgeTargetEntries, async (entries) => {
      const mem = new MemoryBlockStore()
      let written = 0
      let root: CID | undefined
      let err: unknown
      try { root = buildTargetsMap(entries, (b) => { written++; mem.unsafePut(b.cid, b.bytes) }).root } catch (e) { err = e }
      if (root !== undefined) {
        accepted++
        const r = new ShardReader(mem, targetsCodec)
        for (const [p, info] of entries) expect(await r.get(root, p)).toEqual(info)
        return
      }
      refused++
      expect(err).toBeInstanceOf(DecodeError)
      expect(written).toBe(0)
      // Each entry written into a node without the builder's checks: the
      // reader refuses it, or reads back a different value.
      let misread = false
      for (const [p, info] of entries) {
        let bytes: Uint8Array
        try { bytes = dagCbor.encode([new Uint8Array([0x80, 0]), [[[p, targetInfoToWire(info)]]]]) } catch { misread = true; continue }
        try {
          const node = decodeNode(bytes, shardCid(bytes), targetsCodec)
          // Strict: -0 and 0 differ, as do a CID and its string.
          if (!isDeepStrictEqual(node.elements[0]?.bucket?.[0]?.value, info)) misread = true
        } catch (e) { expect(e).toBeInstanceOf(DagtufError); misread = true }
      }
      expect(misread).toBe(true)
    }), runs(120))
    expect(accepted).toBeGreaterThanOrEqual(runCount(120) / 4)
    expect(refused).toBeGreaterThanOrEqual(runCount(120) / 40)
  })

  it('ENC-CANONICAL: every object the builders accept round-trips through the strict decoder; what they refuse, they refuse before signing, and the decoder would refuse or misread it', async () => {
    let accepted = 0
    let refused = 0
    await fc.assert(fc.asyncProperty(arbAnySpec, async (spec) => {
      let calls = 0
      const signers: Signer[] = spec.signers.map((k) => {
        const s = seedSigner(k.seed)
        return { publicKey: s.publicKey, keyid: s.keyid, sign: async (m: Uint8Array) => { calls++; return await s.sign(m) } }
      })
      let env: Envelope<Signed> | undefined
      let err: unknown
      try { env = await signEnvelope(spec.signed, signers) } catch (e) { err = e }
      const kind = spec.signed.type
      if (env !== undefined) {
        accepted++
        expect(calls).toBe(signers.length)
        const back = decodeEnvelope(kind, env.bytes, env.cid)
        expect(back.signed).toEqual(spec.signed)
        expect(dec(encodeSigned(back.signed))).toBe(dec(back.signedBytes))
        return
      }
      refused++
      expect(err).toBeInstanceOf(DecodeError)
      expect(calls).toBe(0)
      // The same value written without the encoder's checks: the decoder
      // refuses it, or reads back a different value. Either way the
      // encoder was right to refuse.
      let raw: Uint8Array
      try { raw = encodeValue({ signatures: [], signed: signedToWire(spec.signed) }) } catch (e) { expect(e).toBeInstanceOf(DecodeError); return }
      let back: Envelope<Signed>
      try { back = decodeEnvelope(kind, raw, cidOf(raw)) } catch (e) { expect(e).toBeInstanceOf(DecodeError); return }
      expect(back.signed).not.toEqual(spec.signed)
    }), runs(60))
    // The arbitraries make only well-formed objects (their maps went through
    // the map builder): the encoder must accept every one. Refusals are
    // exercised by the entry property above and by test/model/canonical.
    expect(refused).toBe(0)
    expect(accepted).toBe(runCount(60))
  })

  it('any single flipped byte is rejected under the original CID; under its own CID it is refused or decodes to a different canonical object', async () => {
    await fc.assert(fc.asyncProperty(arbAnySpec, fc.nat(), fc.integer({ min: 1, max: 255 }), async (spec, pos, x) => {
      const env = await signWith(spec)
      const bytes = new Uint8Array(env.bytes)
      const i = pos % bytes.length
      bytes[i] = bytes[i]! ^ x
      const e = (() => { try { decodeEnvelope(spec.signed.type, bytes, env.cid); return null } catch (err) { return err } })()
      expect(e).toBeInstanceOf(DecodeError)
      expect((e as DecodeError).code).toBe('ERR_CID_MISMATCH')
      try {
        const other = decodeEnvelope(spec.signed.type, bytes, cidOf(bytes))
        expect(other.cid.equals(env.cid)).toBe(false)
        expect(encodeEnvelope(other.signed, other.signatures).cid.equals(other.cid)).toBe(true)
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError)
      }
    }), runs(150))
  })

  it('non-canonical encodings of a valid object are rejected (whitespace, key order, duplicates, escapes)', async () => {
    const mutations: Array<(t: string) => string> = [
      (t) => t.replace(':', ': '),
      (t) => ' ' + t,
      (t) => t.replace('{"signatures":', '{\n"signatures":'),
      (t) => t.replace(/^\{"signatures":(\[.*?\]),"signed":(.*)\}$/s, '{"signed":$2,"signatures":$1}'),
      (t) => t.replace('"_type":', '"_type":"x","_type":'),
      (t) => t.replace('"_type"', '"\\u005ftype"'),
      (t) => t.replace('"expires"', '"expire\\u0073"'),
      (t) => t.replace(/"spec_version":"2\.0\.0"/, '"spec_version":"2.0.0","spec_version":"2.0.0"'),
      (t) => t.replace(/:(\d+)([,}])/, ':$1.0$2'),
      (t) => t.replace(/:(\d+)([,}])/, ':$1e0$2'),
      (t) => t.replace('"signatures":[]', '"signatures":[ ]')
    ]
    await fc.assert(fc.asyncProperty(arbAnySpec, fc.nat(mutations.length - 1), async (spec, m) => {
      const env = await signWith(spec)
      const text = dec(env.bytes)
      const mutated = mutations[m]!(text)
      fc.pre(mutated !== text)
      const bytes = enc(mutated)
      let err: unknown = null
      try { decodeEnvelope(spec.signed.type, bytes, cidOf(bytes)) } catch (e) { err = e }
      expect(err).toBeInstanceOf(DecodeError)
      expect(['ERR_NON_CANONICAL', 'ERR_DAG_JSON']).toContain((err as DecodeError).code)
    }), runs(120))
  })

  it('hostile values through every public entry point give a typed error and nothing else', async () => {
    const hostile = hostileValues()
    const someCid = cidOf(enc('x'))
    for (const v of hostile) {
      for (const kind of KINDS) {
        onlyTypedErrors(() => decodeEnvelope(kind, v as Uint8Array, someCid))
        onlyTypedErrors(() => decodeEnvelope(kind, enc('{}'), v as CID))
        onlyTypedErrors(() => parseSigned(kind, v))
      }
      onlyTypedErrors(() => decodeEnvelope(v as never, enc('{}'), someCid))
      onlyTypedErrors(() => encodeValue(v))
      onlyTypedErrors(() => parseCid(v))
      onlyTypedErrors(() => checkBlock(someCid, v as Uint8Array, 10))
      onlyTypedErrors(() => verifyBytes(v as string, v as Uint8Array, v as Uint8Array))
      onlyTypedErrors(() => verifySignature({ keytype: 'ed25519', scheme: 'ed25519', public: v as string }, enc('x'), v as string))
      onlyTypedErrors(() => countValidSignatures(enc('x'), [{ keyid: v as string, sig: v as string }], new Map()))
      onlyTypedErrors(() => publicKeyFromBytes(v as Uint8Array))
      onlyTypedErrors(() => keyIdOf({ keytype: 'ed25519', scheme: 'ed25519', public: v as string }))
      onlyTypedErrors(() => parseArgs([v as string], { a: { type: 'string' } }))
      onlyTypedErrors(() => jsonDepth(v instanceof Uint8Array ? v : enc(''), 4))
      // Signing a hostile `signed` must refuse typed, never write a block.
      try { await signEnvelope(v as never, []) } catch (e) { expect(e).toBeInstanceOf(DagtufError) }
    }
    for (const b of hostileBlocks()) {
      for (const kind of KINDS) onlyTypedErrors(() => decodeEnvelope(kind, b, cidOf(b)))
    }
    // Prototype pollution never happened along the way.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
  })

  it('random bytes addressed by their own CID never escape as untyped errors', () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.json().map(enc), fc.string().map(enc)), fc.constantFrom(...KINDS), (bytes, kind) => {
      onlyTypedErrors(() => decodeEnvelope(kind, bytes, cidOf(bytes)))
    }), runs(400))
  })

  it('a CID given as a look-alike object is never trusted as a link', () => {
    expect(CID.asCID({ '/': 'bafkqaaa' })).toBeNull()
  })
})
