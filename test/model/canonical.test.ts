/**
 * ENC-CANONICAL at the edges of the codec (issue 18): map key order with
 * integer-like keys and with keys whose UTF-16 and UTF-8 orders differ, and
 * the reserved "/" key in `custom`. Encoder and strict decoder must agree:
 * what one refuses, the other refuses, and the builders refuse before
 * anything is signed. In format 2 target paths are shard keys (SHARD-ORDER:
 * UTF-8 byte order) and a target's entry, custom included, lives in a
 * dag-cbor shard node; custom keeps the dag-json rules so it stays portable.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { makeTargets } from '../../src/model/build.js'
import * as dagCbor from '@ipld/dag-cbor'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { cidOf, decodeEnvelope, encodeEnvelope } from '../../src/model/codec.js'
import { ShardReader, buildTargetsMap, decodeNode, emptyMap, shardCid, targetsCodec } from '../../src/shard/index.js'
import { DecodeError } from '../../src/model/errors.js'
import { CODEC_RAW, sha256 } from '../../src/model/hash.js'
import { generateKeyPair, seedSigner, type Signer } from '../../src/model/keys.js'
import { blockOrder, checkCustom, keyOrdersAgree, utf8Less } from '../../src/model/schema.js'
import { signEnvelope } from '../../src/model/sign.js'
import type { TargetInfo, TargetsSigned } from '../../src/model/types.js'
import { caught, dec, enc } from '../helpers/model.js'
import { propertyRuns } from '../helpers/seed.js'

const CONTENT = CID.createV1(CODEC_RAW, Digest.create(0x12, sha256(enc('content'))))
const EXPIRES = '2030-01-01T00:00:00Z'

function targets (entries: Array<[string, Partial<TargetInfo>]>): Array<[string, TargetInfo]> {
  return entries.map(([p, t]) => [p, { length: 1, cid: CONTENT, ...t }])
}

/** A targets object over an empty map (for the signature-order test). */
function targetsObject (): TargetsSigned {
  return makeTargets({ expires: EXPIRES, targets: emptyMap().cid })
}

/** A signer that counts how often it was asked to sign. */
function countingSigner (): Signer & { calls: () => number } {
  const s = seedSigner(generateKeyPair().seed)
  let n = 0
  return { publicKey: s.publicKey, keyid: s.keyid, sign: async (m) => { n++; return await s.sign(m) }, calls: () => n }
}

function decodeRaw (bytes: Uint8Array) {
  return decodeEnvelope('targets', bytes, cidOf(bytes))
}

/** Build a targets map into a fresh store; the store and the root. */
function built (entries: Array<[string, TargetInfo]>): { mem: MemoryBlockStore, root: CID } {
  const mem = new MemoryBlockStore()
  return { mem, root: buildTargetsMap(entries, (b) => { mem.unsafePut(b.cid, b.bytes) }).root }
}

/** One shard node holding the given bucket entries as wire values (no builder checks). */
function rawNode (entries: Array<[string, unknown]>): { bytes: Uint8Array, cid: CID } {
  // All in slot 0 of a root node: placement is not what these tests are about, the decode order is.
  const bytes = dagCbor.encode([new Uint8Array([0x80, 0]), [entries]])
  return { bytes, cid: shardCid(bytes) }
}

describe('ENC-CANONICAL key order', () => {
  it('ENC-CANONICAL vector issue-18-seed-1: "-🙂a" and "9" (and U+FF21 next to U+1F642) are shard keys in UTF-8 order, found by lookups', async () => {
    const paths = ['9', '-🙂a', '10', '\uff21', '\u{1f642}', 'a/\uff21', 'a/\u{1f642}', '2024', 'é', '漢']
    const { mem, root } = built(targets(paths.map((p) => [p, {}])))
    const r = new ShardReader(mem, targetsCodec)
    for (const p of paths) expect((await r.get(root, p))?.cid.equals(CONTENT)).toBe(true)
    const inBuckets: string[][] = []
    for await (const cid of r.nodes(root)) {
      const [, data] = dagCbor.decode(await mem.get(cid)) as [Uint8Array, unknown[]]
      for (const el of data) if (Array.isArray(el)) inBuckets.push((el as Array<[string, unknown]>).map(([k]) => k))
    }
    for (const bucket of inBuckets) {
      expect([...bucket].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))).toEqual(bucket)
    }
    expect(inBuckets.flat().sort()).toEqual([...paths].sort())
  })

  for (const v of [
    { name: 'integer-like keys inside custom', keys: ['9', '-🙂a', '0', 'x'] },
    { name: 'U+FF21 and U+1F642 disagree (custom)', keys: ['\uff21', '\u{1f642}'], refused: 'ERR_NON_CANONICAL' }
  ]) {
    it(`ENC-CANONICAL vector ${v.name}`, async () => {
      const custom = Object.fromEntries(v.keys.map((k, i) => [k, i]))
      if (v.refused === undefined) {
        const { mem, root } = built(targets([['a', { custom }]]))
        expect((await new ShardReader(mem, targetsCodec).get(root, 'a'))?.custom).toEqual(custom)
        return
      }
      // Refused by the builder (so before anything is signed), and by the reader of a node that holds it.
      expect((await caught(() => built(targets([['a', { custom }]])))).code).toBe(v.refused)
      const node = rawNode([['a', { cid: CONTENT, length: 1, custom }]])
      expect((await caught(() => decodeNode(node.bytes, node.cid, targetsCodec))).code).toBe(v.refused)
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
  // (which dag-json would write as a link or bytes: a different value).
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
    it(`ENC-CANONICAL vector ${name}: refused by the builder before anything is signed, and by the reader of a shard node`, async () => {
      const e = await caught(() => built(targets([['a', { custom }]])))
      expect(e).toBeInstanceOf(DecodeError)
      expect(e.code).toBe('ERR_DAG_JSON')
      expect(e.details.path).toMatch(/^targets\["a"\]\.custom/)
      expect((await caught(() => checkCustom(custom, 'custom'))).code).toBe('ERR_DAG_JSON')
      // dag-cbor carries such a map as a plain map: the reader refuses it all the same.
      const node = rawNode([['a', { cid: CONTENT, length: 1, custom }]])
      expect((await caught(() => decodeNode(node.bytes, node.cid, targetsCodec))).code).toBe('ERR_DAG_JSON')
    })
  }

  it('ENC-CANONICAL: real links and bytes in custom are kept and round-trip', async () => {
    const custom = { link: CONTENT, bytes: new Uint8Array([1, 2, 3]), list: [CONTENT, new Uint8Array(0)], big: 2n ** 60n, float: 1.5 }
    const { mem, root } = built(targets([['a', { custom }]]))
    expect((await new ShardReader(mem, targetsCodec).get(root, 'a'))?.custom).toEqual(custom)
    // dag-cbor carries integers within 64 bits: a larger one is refused before anything is built.
    expect((await caught(() => built(targets([['a', { custom: { big: 2n ** 70n } }]])))).code).toBe('ERR_SCHEMA')
  })

  it('ENC-CANONICAL: values the codec would write as something else are refused with ERR_SCHEMA before anything is built', async () => {
    class Thing { a = 1 }
    for (const custom of [new Map([['a', 1]]), new Date(0), new Thing(), -0, { a: -0 }, 5n, NaN, [1, undefined], () => 1]) {
      const e = await caught(() => built(targets([['a', { custom }]])))
      expect(e).toBeInstanceOf(DecodeError)
      expect(e.code).toBe('ERR_SCHEMA')
    }
  })
})

describe('ENC-CANONICAL signature order', () => {
  it('ENC-CANONICAL: an envelope whose signatures are not in ascending keyid order is refused (found by the flipped-byte property, seed 1008950529)', async () => {
    const signers = [countingSigner(), countingSigner(), countingSigner()]
    const env = await signEnvelope(targetsObject(), signers)
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
