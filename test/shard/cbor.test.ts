/**
 * src/shard/cbor.ts writes canonical dag-cbor itself (for speed); these
 * properties hold it to @ipld/dag-cbor's bytes, and compareKeys to the UTF-8
 * byte order it shortcuts.
 */
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { describe, expect, it } from 'vitest'
import { encodeCanonical } from '../../src/shard/cbor.js'
import { buildMap, decodeNode, targetsCodec, type ShardBlock } from '../../src/shard/index.js'
import { compareKeys, hashKey } from '../../src/shard/node.js'
import { createHash } from 'node:crypto'
import { compareBytes } from '../../src/model/hash.js'
import { propertyRuns } from '../helpers/seed.js'

const utf8 = new TextEncoder()

const cidArb = fc.tuple(fc.constantFrom(0x55, 0x70, 0x71, 0x0129), fc.uint8Array({ minLength: 32, maxLength: 32 }))
  .map(([code, d]) => CID.createV1(code, Digest.create(0x12, d)))

/** Integers around every head-size boundary, both signs. */
const intArb = fc.oneof(
  fc.integer({ min: -30, max: 30 }),
  fc.constantFrom(23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -24, -25, -256, -257, -65536, -65537, -(2 ** 32), -(2 ** 32) - 1, Number.MIN_SAFE_INTEGER),
  fc.maxSafeInteger(),
  fc.maxSafeNat()
)

/** Values inside what the direct encoder covers. */
const { value: covered } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null), fc.boolean(), intArb, fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 300 }), cidArb,
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 4 })), tie('value'), { maxKeys: 6 })
  )
}))

describe('shard: the direct dag-cbor encoder (SHARD-ENC re-encodes with it)', () => {
  it('writes the bytes @ipld/dag-cbor writes, for every value it covers', () => {
    fc.assert(fc.property(covered, (v) => {
      const ours = encodeCanonical(v)
      expect(ours).toBeDefined()
      expect(Buffer.from(ours!).equals(Buffer.from(dagCbor.encode(v)))).toBe(true)
    }), propertyRuns(400))
  })

  it('long strings and byte arrays (2-, 4-byte heads), and a buffer that must grow', () => {
    for (const n of [23, 24, 255, 256, 65535, 65536, 70000]) {
      const s = 'x'.repeat(n)
      const b = new Uint8Array(n).fill(7)
      for (const v of [s, b, [s, b], { [s.slice(0, 100)]: b }]) {
        expect(Buffer.from(encodeCanonical(v, 8)!).equals(Buffer.from(dagCbor.encode(v)))).toBe(true)
      }
    }
  })

  it('declines what it does not cover, and dag-cbor decides: floats, -0, bigints, undefined, other objects', () => {
    for (const v of [1.5, -0, 2 ** 53, 10n, undefined, [undefined], new Map(), new Date(0), { a: 0.5 }, [1, [2, [3.25]]]]) {
      expect(encodeCanonical(v)).toBeUndefined()
    }
  })

  it('a decoded node re-encodes to its own bytes; a node from a build is what dag-cbor writes', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).map((k) => `p/${k}`), { minLength: 1, maxLength: 80 }), fc.nat(1000), (keys, len) => {
      const blocks: ShardBlock[] = []
      const cid = CID.createV1(0x55, Digest.create(0x12, new Uint8Array(32).fill(3)))
      let entries: Array<[string, { length: number, cid: CID }]>
      try {
        entries = keys.map((k, i) => [k, { length: len + i, cid }])
        buildMap(entries, targetsCodec, (b) => { blocks.push(b) })
      } catch {
        return // a key the target-path rules refuse: not this property's business
      }
      for (const b of blocks) {
        const again = dagCbor.encode(dagCbor.decode(b.bytes))
        expect(Buffer.from(b.bytes).equals(Buffer.from(again))).toBe(true)
        expect(() => decodeNode(b.bytes, b.cid, targetsCodec)).not.toThrow()
      }
    }), propertyRuns(60))
  })

  it('hashKey is the SHA-256 of the key\'s UTF-8 bytes as TextEncoder writes them (lone surrogates as U+FFFD)', () => {
    const key = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('\uD800', 'a\uDFFFb', '\uD83D\uDE00'))
    fc.assert(fc.property(key, (k) => {
      expect(Buffer.from(hashKey(k)).toString('hex')).toBe(createHash('sha256').update(utf8.encode(k)).digest('hex'))
    }), propertyRuns(500))
  })

  it('compareKeys orders keys as their UTF-8 bytes, surrogates and lone surrogates included', () => {
    const key = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('\uD800', '\uDFFF', '\uE000', '\uFFFF', 'a\uD83D\uDE00', 'a\uFFFD'))
    fc.assert(fc.property(key, key, (a, b) => {
      expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(compareBytes(utf8.encode(a), utf8.encode(b))))
    }), propertyRuns(1000))
  })
})
