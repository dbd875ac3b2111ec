import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import { cidOf, decodeEnvelope, encodeEnvelope, encodeSigned, jsonDepth } from '../../src/model/codec.js'
import { MAX_BLOCK_BYTES } from '../../src/model/config.js'
import { DecodeError } from '../../src/model/errors.js'
import { makeTargets, makeTimestamp } from '../../src/model/build.js'
import { CODEC_RAW, sha256 } from '../../src/model/hash.js'
import { generateKeyPair, keyIdOf } from '../../src/model/keys.js'
import { isSafeRoleName, isSafeTargetPath, isValidExpires } from '../../src/model/schema.js'
import * as dagCbor from '@ipld/dag-cbor'
import { MemoryBlockStore } from '../../src/blocks/memory.js'
import { ShardReader, buildTargetsMap, decodeNode, emptyMap, shardCid, targetsCodec } from '../../src/shard/index.js'
import { caught, dec, enc, fourObjects } from '../helpers/model.js'

/** Decode text as a block of `kind`, addressed by its own hash. */
function decodeText (kind: 'root' | 'targets' | 'snapshot' | 'timestamp', text: string) {
  const bytes = enc(text)
  return decodeEnvelope(kind, bytes, cidOf(bytes))
}

async function codeOf (f: () => unknown): Promise<string> {
  const e = await caught(f)
  expect(e).toBeInstanceOf(DecodeError)
  return e.code
}

const RAW = CID.createV1(CODEC_RAW, Digest.create(0x12, sha256(enc('content')))).toString()

describe('decodeEnvelope', () => {
  it('round-trips the four kinds and keeps the exact signed bytes (SIG-DOMAIN)', async () => {
    const o = await fourObjects()
    for (const kind of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
      const env = o[kind]
      const back = decodeEnvelope(kind, env.bytes, env.cid)
      expect(back.cid.equals(env.cid)).toBe(true)
      expect(back.signed.type).toBe(kind)
      expect(dec(back.signedBytes)).toBe(dec(encodeSigned(back.signed)))
      // The signed bytes are a slice of the block, not a re-encoding.
      expect(back.signedBytes.buffer).toBe(back.bytes.buffer)
    }
  })

  it('ENC-CID: refuses a CID that is not dag-json, not sha2-256, or not the hash of the bytes', async () => {
    const { timestamp } = await fourObjects()
    const raw = CID.createV1(CODEC_RAW, timestamp.cid.multihash)
    expect(await codeOf(() => decodeEnvelope('timestamp', timestamp.bytes, raw))).toBe('ERR_CID_CODEC')
    const ident = CID.createV1(0x0129, identity.digest(timestamp.bytes))
    expect(await codeOf(() => decodeEnvelope('timestamp', timestamp.bytes, ident))).toBe('ERR_CID_HASH')
    const other = CID.createV1(0x0129, Digest.create(0x12, sha256(enc('other'))))
    expect(await codeOf(() => decodeEnvelope('timestamp', timestamp.bytes, other))).toBe('ERR_CID_MISMATCH')
    expect(await codeOf(() => decodeEnvelope('timestamp', timestamp.bytes, timestamp.cid.toV0 as never))).toBe('ERR_CID_CODEC')
  })

  it('ENC-SIZE (BOUND-BLOCK-SIZE): refuses a block over the cap of its kind before hashing', async () => {
    const big = new Uint8Array(MAX_BLOCK_BYTES.timestamp + 1).fill(0x20)
    expect(await codeOf(() => decodeEnvelope('timestamp', big, cidOf(big)))).toBe('ERR_TOO_LARGE')
  })

  it('BOUND-DEPTH: refuses deep nesting without recursing (no stack overflow)', async () => {
    const deep = '{"signatures":[],"signed":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}'
    expect(await codeOf(() => decodeText('targets', deep))).toBe('ERR_TOO_DEEP')
    expect(jsonDepth(enc('["[[[[", {"a": [1]}]'), 10)).toBe(3)
  })

  it('ENC-CANONICAL: refuses whitespace, reordered keys, duplicate keys and escaped variants', async () => {
    const { timestamp } = await fourObjects()
    const text = dec(timestamp.bytes)
    const variants = [
      text.replace('{"signatures"', '{ "signatures"'),
      text + '\n',
      text.replace(/"signed":\{"_type":"timestamp","expires":("[^"]+")/, '"signed":{"expires":$1,"_type":"timestamp"'),
      text.replace('"_type":"timestamp"', '"_type":"timestamp","_type":"timestamp"'),
      text.replace('"_type":"timestamp"', '"_type":"timest\\u0061mp"'),
      text.replace('"spec_version":"2.0.0"', '"spec_version":"2.0\\u002e0"')
    ]
    for (const v of variants) {
      expect(v).not.toBe(text)
      const code = await codeOf(() => decodeText('timestamp', v))
      expect(['ERR_NON_CANONICAL', 'ERR_DAG_JSON']).toContain(code)
    }
  })

  it('ENC-SCHEMA: refuses missing fields, wrong types, floats, big integers and wrong kinds', async () => {
    const good = '{"signatures":[],"signed":{"_type":"timestamp","expires":"2030-01-01T00:00:00Z","snapshot":{"/":"SNAP"},"spec_version":"2.0.0"}}'
    const snap = cidOf(enc('x')).toString()
    expect(decodeText('timestamp', good.replace('SNAP', snap)).signed.type).toBe('timestamp')
    expect(await codeOf(() => decodeText('timestamp', good.replace('SNAP', snap).replace('"spec_version":"2.0.0"', '"spec_version":1')))).toBe('ERR_SCHEMA')
    expect(await codeOf(() => decodeText('timestamp', good.replace('{"/":"SNAP"}', '"x"')))).toBe('ERR_SCHEMA')
    expect(await codeOf(() => decodeText('timestamp', good.replace('SNAP', 'bafkqaaa')))).toBe('ERR_SCHEMA')
    expect(await codeOf(() => decodeText('snapshot', good.replace('SNAP', snap)))).toBe('ERR_KIND')
    const empty = emptyMap().cid.toString()
    const t = makeTargets({ expires: '2030-01-01T00:00:00Z', targets: emptyMap().cid })
    const base = dec(encodeEnvelope(t, []).bytes)
    expect(await codeOf(() => decodeText('targets', base.replace('"previous-version":null,', '')))).toBe('ERR_SCHEMA')
    // Format 2: `targets` is a link to a dag-cbor shard root, never an inline map or another codec.
    expect(await codeOf(() => decodeText('targets', base.replace(`"targets":{"/":"${empty}"}`, '"targets":{}')))).toBe('ERR_SCHEMA')
    expect(await codeOf(() => decodeText('targets', base.replace(empty, snap)))).toBe('ERR_SCHEMA')
    // A target entry (a value of the sharded map) is checked by the same schema.
    const entry = (w: unknown): unknown => targetsCodec.fromWire(w, 'targets["a"]')
    const cid = CID.parse(RAW)
    expect(await codeOf(() => entry({ cid, length: 1.5 }))).toBe('ERR_SCHEMA')
    expect(await codeOf(() => entry({ cid, length: 2 ** 60 }))).toBe('ERR_SCHEMA')
    expect(await codeOf(() => entry({ cid, length: -1 }))).toBe('ERR_SCHEMA')
    // a content link that is an identity hash is refused
    expect(await codeOf(() => entry({ cid: CID.parse('bafkqaaa'), length: 0 }))).toBe('ERR_SCHEMA')
  })

  it('ENC-SIZE: count and length limits inside an object are decode errors (ERR_LIMIT)', async () => {
    const { targets } = await fourObjects()
    const text = dec(targets.bytes)
    const sig = targets.signatures[0]!
    const many = Array.from({ length: 257 }, (_, i) => `{"keyid":"${i.toString(16).padStart(64, '0')}","sig":"${sig.sig}"}`).join(',')
    expect(await codeOf(() => decodeText('targets', text.replace(/"signatures":\[.*?\]/, `"signatures":[${many}]`)))).toBe('ERR_LIMIT')
    // The builder of a targets map refuses what a reader would refuse.
    expect(await codeOf(() => buildTargetsMap([['a', { length: 1, cid: CID.parse(RAW), custom: 'x'.repeat(17_000) }]], () => {}))).toBe('ERR_LIMIT')
    // dag-cbor writes each float in 9 bytes: the cap holds in both encodings.
    expect(await codeOf(() => buildTargetsMap([['a', { length: 1, cid: CID.parse(RAW), custom: Array.from({ length: 3000 }, () => 0.5) }]], () => {}))).toBe('ERR_LIMIT')
    const mem = new MemoryBlockStore()
    const ok = buildTargetsMap([['a', { length: 1, cid: CID.parse(RAW), custom: { note: 'x'.repeat(1000) } }]], (b) => { mem.unsafePut(b.cid, b.bytes) })
    expect((await new ShardReader(mem, targetsCodec).get(ok.root, 'a'))?.custom).toEqual({ note: 'x'.repeat(1000) })
  })

  it('ENC-SCHEMA: spec_version must have major 2 (format 2, sharded maps) and no leading zeros', async () => {
    const t = dec(encodeEnvelope(makeTimestamp({ expires: '2030-01-01T00:00:00Z', snapshot: cidOf(enc('x')) }), []).bytes)
    for (const v of ['1.0.0', '3.0.0', '2.01.0', '2.0', 'v2.0.0', '2.0.0-rc1']) {
      expect(await codeOf(() => decodeText('timestamp', t.replace('"2.0.0"', `"${v}"`)))).toBe('ERR_SCHEMA')
    }
    expect(decodeText('timestamp', t.replace('"2.0.0"', '"2.12.3"')).signed.specVersion).toBe('2.12.3')
    expect(decodeText('timestamp', t.replace('"2.0.0"', '"2.10000.0"')).signed.specVersion).toBe('2.10000.0')
  })

  it('ENC-UNKNOWN-FIELD: refuses fields outside the closed schema, including __proto__', async () => {
    const good = '{"signatures":[],"signed":{"_type":"timestamp","expires":"2030-01-01T00:00:00Z","snapshot":{"/":"SNAP"},"spec_version":"2.0.0"}}'.replace('SNAP', cidOf(enc('x')).toString())
    expect(await codeOf(() => decodeText('timestamp', good.replace('"_type"', '"__proto__":{"x":1},"_type"')))).toBe('ERR_UNKNOWN_FIELD')
    expect(await codeOf(() => decodeText('timestamp', good.replace('"spec_version":"2.0.0"', '"spec_version":"2.0.0","version":2')))).toBe('ERR_UNKNOWN_FIELD')
    expect(await codeOf(() => decodeText('timestamp', good.replace('{"signatures"', '{"extra":1,"signatures"')))).toBe('ERR_UNKNOWN_FIELD')
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('ENC-EXPIRES: only YYYY-MM-DDTHH:MM:SSZ naming a real instant', async () => {
    for (const ok of ['2030-01-01T00:00:00Z', '2028-02-29T23:59:59Z']) expect(isValidExpires(ok)).toBe(true)
    for (const bad of ['2030-01-01T00:00:00', '2030-01-01T00:00:00.000Z', '2030-01-01 00:00:00Z', '2030-02-30T00:00:00Z', '2027-02-29T00:00:00Z', '2030-01-01T24:00:00Z', '2030-01-01T00:00:00+00:00', 20300101, '']) {
      expect(isValidExpires(bad)).toBe(false)
    }
    const t = dec(encodeEnvelope(makeTimestamp({ expires: '2030-01-01T00:00:00Z', snapshot: cidOf(enc('x')) }), []).bytes)
    expect(await codeOf(() => decodeText('timestamp', t.replace('2030-01-01T00:00:00Z', '2030-13-01T00:00:00Z')))).toBe('ERR_EXPIRES')
  })

  it('ENC-PATH-SAFE: target paths are relative, with no empty, . or .. segment, backslash or control character', async () => {
    for (const ok of ['a', 'a/b', 'dir/file.tar.gz', 'é/漢/🙂', '..a/b..', '*']) expect(isSafeTargetPath(ok)).toBe(true)
    for (const bad of ['', '/a', 'a/', 'a//b', '..', 'a/../b', './a', 'a/.', 'a\\b', 'a\u0000b', 'a\nb', 'a\u007fb', '\ud800', 'x'.repeat(4097)]) {
      expect(isSafeTargetPath(bad)).toBe(false)
    }
    // Keys of a targets map: refused by the builder, and by the reader of a shard node.
    const info = { length: 1, cid: CID.parse(RAW) }
    expect(await codeOf(() => buildTargetsMap([['../a', info]], () => {}))).toBe('ERR_UNSAFE_PATH')
    const node = dagCbor.encode([new Uint8Array([0x80, 0]), [[['../a', info]]]])
    expect(await codeOf(() => decodeNode(node, shardCid(node), targetsCodec))).toBe('ERR_UNSAFE_PATH')
  })

  it('ENC-NAME-SAFE: delegated role names use a small alphabet and never a top-level role name', () => {
    for (const ok of ['a', 'project-1', 'A.b_c', '0']) expect(isSafeRoleName(ok)).toBe(true)
    for (const bad of ['', '-a', '.a', '_a', '__proto__', 'a/b', 'a b', 'targets', 'root', 'x'.repeat(256), 'é']) {
      expect(isSafeRoleName(bad)).toBe(false)
    }
  })

  it('SIG-KEYID: a keyid that is not the hash of its key is refused; duplicate keyids in a role too', async () => {
    const o = await fourObjects()
    const text = dec(o.root.bytes)
    const real = o.keys.targets.keyid
    const fake = keyIdOf(generateKeyPair().publicKey)
    // Rename the key entry only: its keyid no longer matches.
    const renamed = text.replace(`"${real}":{"keytype"`, `"${fake}":{"keytype"`)
    expect(renamed).not.toBe(text)
    const code = await codeOf(() => decodeText('root', renamed))
    expect(['ERR_KEYID_MISMATCH', 'ERR_NON_CANONICAL']).toContain(code)
    const dup = text.replace(`"keyids":["${real}"]`, `"keyids":["${real}","${real}"]`)
    expect(await codeOf(() => decodeText('root', dup))).toBe('ERR_DUPLICATE_KEYID')
  })

  it('SIG-ONE-PER-KEYID: two signatures with one keyid are refused', async () => {
    const o = await fourObjects()
    const text = dec(o.timestamp.bytes)
    const sig = o.timestamp.signatures[0]!
    const one = `{"keyid":"${sig.keyid}","sig":"${sig.sig}"}`
    expect(await codeOf(() => decodeText('timestamp', text.replace(one, `${one},${one}`)))).toBe('ERR_DUPLICATE_SIGNATURE')
  })

  it('keys that are not usable ed25519 points are refused', async () => {
    const o = await fourObjects()
    const text = dec(o.root.bytes)
    const pub = o.keys.targets.publicKey.public
    // A small-order point (the identity) as the public key.
    const ident = '01' + '00'.repeat(31)
    expect(await codeOf(() => decodeText('root', text.replace(pub, ident)))).toBe('ERR_SCHEMA')
  })
})

describe('parseCid', () => {
  it('returns a CID whose string form is canonical whatever the spelling given', async () => {
    const { parseCid } = await import('../../src/model/hash.js')
    const c = cidOf(enc('x'))
    const upper = 'b' + c.toString().slice(1).toUpperCase()
    expect(parseCid(upper).toString()).toBe(c.toString())
    expect(parseCid(upper).equals(c)).toBe(true)
    expect((await caught(() => parseCid('not a cid'))).code).toBe('ERR_BAD_CID')
  })
})

describe('key order', () => {
  it('ENC-CANONICAL: dag-json maps whose UTF-16 and UTF-8 key orders differ are refused; shard keys are ordered by UTF-8', async () => {
    const { keyOrdersAgree } = await import('../../src/model/schema.js')
    // U+FF21 (BMP, above the surrogates) sorts after U+1F642 in UTF-8, before it in UTF-16.
    const bmp = '\uff21'
    const astral = '\u{1f642}'
    expect(keyOrdersAgree(['a', 'b', 'é'])).toBe(true)
    const [first, second] = [astral, bmp].sort()
    expect(keyOrdersAgree([first!, second!])).toBe(false)
    const cid = CID.parse(RAW)
    // Format 2: target paths are shard keys, ordered by their UTF-8 bytes
    // (SHARD-ORDER), so paths whose UTF-16 and UTF-8 orders differ are fine.
    expect(buildTargetsMap([[bmp, { length: 1, cid }], [astral, { length: 1, cid }], ['é', { length: 1, cid }]], () => {}).blocks).toBe(1)
  })
})
