/**
 * The byte helpers that replaced Buffer for the browser bundle (no Node
 * built-in, no Buffer global there) give exactly what Buffer gives: hex both
 * ways, bytewise order (shard bucket keys, SHARD-ORDER), UTF-8 length (the
 * target path bound of ENC-PATH-SAFE), on random input.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareBytes, fromHex, toHex } from '../../src/model/hash.js'
import { utf8Length } from '../../src/model/schema.js'
import { compareKeys } from '../../src/shard/node.js'
import { propertyRuns as runs } from '../helpers/seed.js'

const sign = (n: number): number => Math.sign(n)

describe('portable byte helpers agree with Buffer', () => {
  it('toHex and fromHex are Buffer hex both ways; fromHex stops at the first pair that is not hex, as Buffer does', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const hex = Buffer.from(b).toString('hex')
      expect(toHex(b)).toBe(hex)
      expect(fromHex(hex)).toEqual(new Uint8Array(b))
      expect(fromHex(hex.toUpperCase())).toEqual(new Uint8Array(b))
    }), runs(200))
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => {
      expect(fromHex(s)).toEqual(new Uint8Array(Buffer.from(s, 'hex')))
    }), runs(200))
  })

  it('compareBytes and the shard key order (SHARD-ORDER) are Buffer.compare', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
      expect(compareBytes(a, b)).toBe(Buffer.compare(a, b))
    }), runs(200))
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 20 }), (a, b) => {
      expect(sign(compareKeys(a, b))).toBe(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
    }), runs(200))
  })

  it('utf8Length (ENC-PATH-SAFE\'s bound) is Buffer.byteLength, lone surrogates included', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
      expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'))
    }), runs(200))
    for (const s of ['', 'a', 'é', '€', '😀', '\ud800', '\udc00x', 'a\ud83d', '\ud83d\ude00\ud83d']) expect(utf8Length(s), JSON.stringify(s)).toBe(Buffer.byteLength(s, 'utf8'))
  })
})
