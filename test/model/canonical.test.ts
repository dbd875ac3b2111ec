/**
 * ENC-CANONICAL at the edges of the codec (issue 18): map key order with
 * integer-like keys and with keys whose UTF-16 and UTF-8 orders differ, and
 * the reserved "/" key in `custom`. Encoder and strict decoder must agree:
 * what one refuses, the other refuses, and the encoder refuses before any
 * signer runs.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { makeTargets } from '../../src/model/build.js'
import { cidOf, decodeEnvelope, encodeEnvelope, encodeSigned, encodeValue } from '../../src/model/codec.js'
import { DecodeError } from '../../src/model/errors.js'
import { CODEC_RAW, sha256 } from '../../src/model/hash.js'
import { generateKeyPair, seedSigner, type Signer } from '../../src/model/keys.js'
import { blockOrder, checkCustom, keyOrdersAgree, signedToWire, utf8Less } from '../../src/model/schema.js'
import { signEnvelope } from '../../src/model/sign.js'
import type { TargetInfo, TargetsSigned } from '../../src/model/types.js'
import { caught, dec, enc } from '../helpers/model.js'
import { propertyRuns } from '../helpers/seed.js'

const CONTENT = CID.createV1(CODEC_RAW, Digest.create(0x12, sha256(enc('content'))))
const EXPIRES = '2030-01-01T00:00:00Z'

function targets (entries: Array<[string, Partial<TargetInfo>]>): TargetsSigned {
  return makeTargets({ expires: EXPIRES, targets: entries.map(([p, t]) => [p, { length: 1, cid: CONTENT, ...t }]) })
}

/** A signer that counts how often it was asked to sign. */
function countingSigner (): Signer & { calls: () => number } {
  const s = seedSigner(generateKeyPair().seed)
  let n = 0
  return { publicKey: s.publicKey, keyid: s.keyid, sign: async (m) => { n++; return await s.sign(m) }, calls: () => n }
}

/** The block of `t` written by the codec alone, without the encoder's checks. */
function rawBlock (t: TargetsSigned): Uint8Array {
  return encodeValue({ signatures: [], signed: signedToWire(t) })
}

function decodeRaw (bytes: Uint8Array) {
  return decodeEnvelope('targets', bytes, cidOf(bytes))
}

/**
 * Named vectors: a targets map (paths, or keys inside one target's custom),
 * the key order the canonical block has, or the code that refuses it.
 */
const KEY_ORDER_VECTORS: Array<{ name: string, where: 'paths' | 'custom', keys: string[], block?: string[], refused?: string }> = [
  // Issue 18, seed 1: an integer-like path next to a non-ASCII one. JavaScript
  // enumerates "9" first; the block (and both orders) put "-🙂a" first.
  { name: 'issue-18-seed-1: "-🙂a" and "9"', where: 'paths', keys: ['9', '-🙂a'], block: ['-🙂a', '9'] },
  { name: 'integer-like keys sort as strings: "10" before "9"', where: 'paths', keys: ['9', '10'], block: ['10', '9'] },
  { name: 'integer-like "2024" among ASCII and non-ASCII', where: 'paths', keys: ['é', 'a', '2024', '漢'], block: ['2024', 'a', 'é', '漢'] },
  { name: 'integer-like keys inside custom', where: 'custom', keys: ['9', '-🙂a', '0', 'x'], block: ['-🙂a', '0', '9', 'x'] },
  // U+FF21 is above the surrogates: UTF-16 puts U+1F642 first, UTF-8 last.
  { name: 'U+FF21 and U+1F642 disagree (paths)', where: 'paths', keys: ['\uff21', '\u{1f642}'], refused: 'ERR_NON_CANONICAL' },
  { name: 'U+FF21 and U+1F642 disagree behind a common prefix (paths)', where: 'paths', keys: ['a/\uff21', 'a/\u{1f642}', '9'], refused: 'ERR_NON_CANONICAL' },
  { name: 'U+FF21 and U+1F642 disagree (custom)', where: 'custom', keys: ['\uff21', '\u{1f642}'], refused: 'ERR_NON_CANONICAL' }
]

function vectorObject (v: typeof KEY_ORDER_VECTORS[number]): TargetsSigned {
  if (v.where === 'paths') return targets(v.keys.map((k) => [k, {}]))
  return targets([['a', { custom: Object.fromEntries(v.keys.map((k, i) => [k, i])) }]])
}

/** The block text `text` of a vector's object with the vector's keys written in `order`. */
function writtenInOrder (text: string, v: typeof KEY_ORDER_VECTORS[number], order: readonly string[]): string {
  if (v.where === 'paths') {
    const at = text.indexOf('"targets":{')
    const entries = order.map((k) => `${JSON.stringify(k)}:{"cid":{"/":"${CONTENT.toString()}"},"length":1}`)
    return `${text.slice(0, at)}"targets":{${entries.join(',')}}}}`
  }
  const at = text.indexOf('"custom":{')
  const end = text.indexOf('}', at)
  const entries = order.map((k) => `${JSON.stringify(k)}:${v.keys.indexOf(k)}`)
  return `${text.slice(0, at)}"custom":{${entries.join(',')}${text.slice(end)}`
}

describe('ENC-CANONICAL key order', () => {
  for (const v of KEY_ORDER_VECTORS) {
    it(`ENC-CANONICAL vector ${v.name}`, async () => {
      const t = vectorObject(v)
      if (v.block !== undefined) {
        const signer = countingSigner()
        const env = await signEnvelope(t, [signer])
        const text = dec(env.bytes)
        // The keys appear in the block in the vector's order...
        const positions = v.block.map((k) => text.indexOf(JSON.stringify(k) + ':'))
        expect(positions.every((p) => p > 0)).toBe(true)
        expect([...positions].sort((a, b) => a - b)).toEqual(positions)
        // ...which is ascending in UTF-16 and in UTF-8 alike.
        expect([...v.block].sort()).toEqual(v.block)
        expect([...v.block].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).toEqual(v.block)
        // The decoder accepts it and hands the keys back in block order.
        const back = decodeEnvelope('targets', env.bytes, env.cid)
        if (v.where === 'paths') expect([...back.signed.targets.keys()]).toEqual(v.block)
        expect(back.signed).toEqual(t)
        // Written in another order (for the first vector, JavaScript's order), it is not canonical.
        const reversed = [...v.block].reverse()
        expect((await caught(() => decodeRaw(enc(writtenInOrder(text, v, reversed))))).code).toBe('ERR_NON_CANONICAL')
        return
      }
      // Refused by the encoder before any signer runs...
      const signer = countingSigner()
      const e = await caught(() => signEnvelope(t, [signer]))
      expect(e).toBeInstanceOf(DecodeError)
      expect(e.code).toBe(v.refused)
      expect(signer.calls()).toBe(0)
      expect((await caught(() => encodeSigned(t))).code).toBe(v.refused)
      // ...and by the decoder, whichever of the two orders the block uses.
      const utf16 = rawBlock(t)
      expect((await caught(() => decodeRaw(utf16))).code).toBe(v.refused)
      const byUtf8 = [...v.keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      expect(byUtf8).not.toEqual([...v.keys].sort())
      const code = (await caught(() => decodeRaw(enc(writtenInOrder(dec(utf16), v, byUtf8))))).code
      expect(code).toBe('ERR_NON_CANONICAL')
    })
  }

  it('ENC-CANONICAL: keyOrdersAgree checks every adjacent pair in block order, ASCII pairs too', () => {
    expect(keyOrdersAgree(blockOrder(['9', '-🙂a']))).toBe(true)
    expect(keyOrdersAgree(['9', '-🙂a'])).toBe(false) // not the block order: '9' > '-' in both
    expect(keyOrdersAgree(['b', 'a'])).toBe(false)
    expect(keyOrdersAgree(['a', 'a'])).toBe(false)
    expect(keyOrdersAgree(blockOrder(['\uff21', '\u{1f642}']))).toBe(false)
    expect(keyOrdersAgree(blockOrder(['x\uff21', 'x\u{1f642}', 'y']))).toBe(false)
    expect(keyOrdersAgree(blockOrder(['\ue000', '\u{10000}', 'a', '9', '10']))).toBe(false)
    expect(keyOrdersAgree(blockOrder(['\ud7ff', '\u{10000}', 'a', '9', '10']))).toBe(true)
  })

  it('ENC-CANONICAL: utf8Less is UTF-8 byte order, and keyOrdersAgree(blockOrder(k)) holds exactly when both sorts agree', () => {
    const arbKey = fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), fc.constantFrom('\uff21', '\u{1f642}', '9', '10', '-🙂a', '\ue000', '\u{10000}'))
    fc.assert(fc.property(arbKey, arbKey, (a, b) => {
      fc.pre(a.isWellFormed() && b.isWellFormed())
      expect(utf8Less(a, b)).toBe(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) < 0)
    }), propertyRuns(500))
    fc.assert(fc.property(fc.uniqueArray(arbKey, { maxLength: 6 }), (keys) => {
      fc.pre(keys.every((k) => k.isWellFormed()))
      const utf16 = [...keys].sort()
      const utf8 = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
      expect(keyOrdersAgree(blockOrder(keys))).toBe(utf16.every((k, i) => k === utf8[i]))
    }), propertyRuns(300))
  })
})

describe('ENC-CANONICAL reserved "/" key in custom', () => {
  // Issue 18, seeds 77 and 123456, then look-alikes of a link and of bytes
  // (which the codec would write as a link or bytes: a different value).
  const RESERVED: Array<[string, unknown]> = [
    ['issue-18-seed-77', { '/': '' }],
    ['issue-18-seed-123456', { '': { '/': '' } }],
    ['link look-alike', { '/': CONTENT.toString() }],
    ['bytes look-alike', { '/': { bytes: 'AAAA' } }],
    ['"/" with a number', { '/': 5 }],
    ['"/" after another key', { '!': 1, '/': 'x' }],
    ['"/" inside a list', [1, { '/': 'x', a: 1 }]]
  ]

  for (const [name, custom] of RESERVED) {
    it(`ENC-CANONICAL vector ${name}: refused by the encoder before signing, and by the decoder or read back as another value`, async () => {
      const t = targets([['a', { custom }]])
      const signer = countingSigner()
      const e = await caught(() => signEnvelope(t, [signer]))
      expect(e).toBeInstanceOf(DecodeError)
      expect(e.code).toBe('ERR_DAG_JSON')
      expect(e.details.path).toMatch(/^signed\.targets\["a"\]\.custom/)
      expect(signer.calls()).toBe(0)
      expect((await caught(() => checkCustom(custom, 'custom'))).code).toBe('ERR_DAG_JSON')
      // What the codec alone writes for it:
      const raw = rawBlock(t)
      let back: ReturnType<typeof decodeRaw> | undefined
      try { back = decodeRaw(raw) } catch (err) { expect(err).toBeInstanceOf(DecodeError) }
      if (back !== undefined) expect(back.signed.targets.get('a')?.custom).not.toEqual(custom)
    })
  }

  it('ENC-CANONICAL: the decoder refuses a custom map with the key "/" that the codec reads as a plain map', async () => {
    const base = dec(rawBlock(targets([['a', { custom: { k: 5 } }]])))
    for (const form of ['{"/":5}', '{"!":1,"/":"x"}', '{"/":{"bytes":5}}', '{"x":{"/":[1]}}']) {
      const text = base.replace('{"k":5}', form)
      expect(text).not.toBe(base)
      expect((await caught(() => decodeRaw(enc(text)))).code).toBe('ERR_DAG_JSON')
    }
  })

  it('ENC-CANONICAL: real links and bytes in custom are kept and round-trip', async () => {
    const custom = { link: CONTENT, bytes: new Uint8Array([1, 2, 3]), list: [CONTENT, new Uint8Array(0)], big: 2n ** 70n, float: 1.5 }
    const t = targets([['a', { custom }]])
    const env = await signEnvelope(t, [countingSigner()])
    expect(dec(env.bytes)).toContain(`"link":{"/":"${CONTENT.toString()}"}`)
    expect(dec(env.bytes)).toContain('"bytes":{"/":{"bytes":"AQID"}}')
    expect(decodeEnvelope('targets', env.bytes, env.cid).signed).toEqual(t)
  })

  it('ENC-CANONICAL: values the codec would write as something else are refused with ERR_SCHEMA before signing', async () => {
    class Thing { a = 1 }
    for (const custom of [new Map([['a', 1]]), new Date(0), new Thing(), -0, { a: -0 }, 5n, NaN, [1, undefined], () => 1]) {
      const signer = countingSigner()
      const e = await caught(() => signEnvelope(targets([['a', { custom }]]), [signer]))
      expect(e).toBeInstanceOf(DecodeError)
      expect(e.code).toBe('ERR_SCHEMA')
      expect(signer.calls()).toBe(0)
    }
  })
})

describe('ENC-CANONICAL signature order', () => {
  it('ENC-CANONICAL: an envelope whose signatures are not in ascending keyid order is refused (found by the flipped-byte property, seed 1008950529)', async () => {
    const signers = [countingSigner(), countingSigner(), countingSigner()]
    const env = await signEnvelope(targets([['a', {}]]), signers)
    const ids = env.signatures.map((x) => x.keyid)
    expect([...ids].sort()).toEqual(ids)
    const text = dec(env.bytes)
    const sigs = /^\{"signatures":(\[.*?\]),"signed":/.exec(text)![1]!
    const list = JSON.parse(sigs) as unknown[]
    const reordered = text.replace(sigs, JSON.stringify([list[1], list[0], list[2]]))
    expect(reordered).not.toBe(text)
    expect((await caught(() => decodeRaw(enc(reordered)))).code).toBe('ERR_NON_CANONICAL')
    // Same for a keyid changed so that it sorts out of place.
    const renamed = text.replace(ids[0]!, 'f'.repeat(64))
    expect((await caught(() => decodeRaw(enc(renamed)))).code).toBe('ERR_NON_CANONICAL')
    // A duplicate keeps its own code (SIG-ONE-PER-KEYID).
    const dup = text.replace(sigs, JSON.stringify([list[0], list[0]]))
    expect((await caught(() => decodeRaw(enc(dup)))).code).toBe('ERR_DUPLICATE_SIGNATURE')
    // Decoding, then encoding, gives the block back.
    const back = decodeEnvelope('targets', env.bytes, env.cid)
    expect(encodeEnvelope(back.signed, back.signatures).cid.equals(env.cid)).toBe(true)
  })
})
