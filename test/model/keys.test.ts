import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import {
  backendAvailable, countValidSignatures, generateKeyPair, hexToBytes, keyIdOf, keyPairFromSeed, publicKeyFromBytes,
  seedSigner, signBytes, signingMessage, verifyBytes, verifySignature, SIGNATURE_DOMAIN, type Backend
} from '../../src/model/keys.js'
import { UsageError } from '../../src/model/errors.js'
import { toHex } from '../../src/model/hash.js'
import type { KeyId, PublicKey } from '../../src/model/types.js'
import { caught } from '../helpers/model.js'
import { propertyRuns as runs } from '../helpers/seed.js'

// RFC 8032 section 7.1, tests 1-3 and the SHA(abc) test.
const RFC8032 = [
  {
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
  },
  {
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00'
  },
  {
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a'
  }
]

const BACKENDS: Backend[] = ['node', 'noble']

describe('ed25519 on both crypto paths', () => {
  it('both backends are available in Node', () => {
    expect(backendAvailable('node')).toBe(true)
    expect(backendAvailable('noble')).toBe(true)
  })

  for (const backend of BACKENDS) {
    it(`RFC 8032 vectors sign and verify (${backend})`, () => {
      for (const v of RFC8032) {
        const pair = keyPairFromSeed(hexToBytes(v.secret))
        expect(pair.publicKey.public).toBe(v.public)
        const msg = hexToBytes(v.message)
        expect(toHex(signBytes(pair.seed, msg, backend))).toBe(v.sig)
        expect(verifyBytes(v.public, msg, hexToBytes(v.sig), backend)).toBe(true)
        const bad = hexToBytes(v.sig)
        bad[5] = bad[5]! ^ 1
        expect(verifyBytes(v.public, msg, bad, backend)).toBe(false)
      }
    })
  }

  it('the two paths agree on random keys, messages and tampered signatures', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 256 }), fc.nat(63), fc.nat(7), fc.boolean(),
      (seed, msg, byte, bit, tamper) => {
        const pair = keyPairFromSeed(seed)
        // The public key derived by node:crypto (the default here) is noble's.
        expect(keyPairFromSeed(seed, 'noble')).toEqual(pair)
        expect(seedSigner(seed, 'noble').publicKey).toEqual(pair.publicKey)
        const a = signBytes(seed, msg, 'node')
        const b = signBytes(seed, msg, 'noble')
        expect(toHex(a)).toBe(toHex(b))
        if (tamper) a[byte]! ^= 1 << bit
        const n = verifyBytes(pair.publicKey.public, msg, a, 'node')
        const m = verifyBytes(pair.publicKey.public, msg, a, 'noble')
        expect(n).toBe(m)
        expect(n).toBe(!tamper)
      }), runs(60))
  })

  it('SIG-MALFORMED: malformed signatures verify as false and never throw', () => {
    const pair = generateKeyPair()
    const msg = new Uint8Array([1, 2, 3])
    const good = signBytes(pair.seed, msg)
    // S >= L (non-canonical): add L to S.
    const L = (1n << 252n) + 27742317777372353535851937790883648493n
    let s = 0n
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(good[i]!)
    const big = new Uint8Array(good)
    let t = s + L
    for (let i = 32; i < 64; i++) { big[i] = Number(t & 0xffn); t >>= 8n }
    for (const backend of BACKENDS) {
      expect(verifyBytes(pair.publicKey.public, msg, new Uint8Array(0), backend)).toBe(false)
      expect(verifyBytes(pair.publicKey.public, msg, new Uint8Array(65), backend)).toBe(false)
      expect(verifyBytes(pair.publicKey.public, msg, new Uint8Array(64), backend)).toBe(false)
      expect(verifyBytes(pair.publicKey.public, msg, new Uint8Array(64).fill(0xff), backend)).toBe(false)
      expect(verifyBytes(pair.publicKey.public, msg, big, backend)).toBe(false)
      expect(verifyBytes('zz', msg, good, backend)).toBe(false)
      expect(verifyBytes('01' + '00'.repeat(31), msg, good, backend)).toBe(false)
    }
    for (const sig of ['', 'zz', 'AB'.repeat(64), '00'.repeat(63), '00'.repeat(65)]) {
      expect(verifySignature(pair.publicKey, msg, sig)).toBe(false)
    }
  })

  it('wrongly typed arguments are programming errors (ERR_ARGUMENT)', async () => {
    const e = await caught(() => verifyBytes(1 as never, new Uint8Array(), new Uint8Array()))
    expect(e).toBeInstanceOf(UsageError)
    expect(e.code).toBe('ERR_ARGUMENT')
    expect((await caught(() => signBytes(new Uint8Array(3), new Uint8Array()))).code).toBe('ERR_ARGUMENT')
    expect((await caught(() => keyPairFromSeed(new Uint8Array(31)))).code).toBe('ERR_KEY_BYTES')
    expect((await caught(() => publicKeyFromBytes(new Uint8Array(32)))).code).toBe('ERR_KEY_BYTES')
  })
})

describe('signatures in dagtuf', () => {
  it('SIG-DOMAIN: a signature covers the domain prefix and the signed bytes, nothing else', async () => {
    const pair = generateKeyPair()
    const signed = new TextEncoder().encode('{"_type":"timestamp"}')
    const signer = seedSigner(pair.seed)
    const sig = toHex(await signer.sign(signingMessage(signed)))
    expect(verifySignature(pair.publicKey, signed, sig)).toBe(true)
    // The same key signing the bare bytes (a signature made for something
    // else) is not a dagtuf signature, and vice versa.
    const bare = toHex(signBytes(pair.seed, signed))
    expect(verifySignature(pair.publicKey, signed, bare)).toBe(false)
    expect(verifyBytes(pair.publicKey.public, signed, hexToBytes(sig))).toBe(false)
    expect(new TextDecoder().decode(SIGNATURE_DOMAIN)).toBe('DAGTUF-SIG-V1\u0000')
  })

  it('SIG-KEYID: the keyid is the SHA-256 of the canonical dag-json key object', () => {
    const pub = RFC8032[0]!.public
    const key: PublicKey = { keytype: 'ed25519', scheme: 'ed25519', public: pub }
    // Pinned vector: if this changes, every keyid in every repository changes.
    const canonical = `{"keytype":"ed25519","keyval":{"public":"${pub}"},"scheme":"ed25519"}`
    const expected = createHash('sha256').update(canonical).digest('hex')
    expect(keyIdOf(key)).toBe(expected)
    // The vector spec/NOTES.md publishes for SIG-KEYID.
    expect(keyIdOf(key)).toBe('74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916')
  })

  it('SIG-THRESHOLD-DISTINCT: a key counts once, however many keyids or signatures name it', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const signed = new TextEncoder().encode('{"x":1}')
    const sa = toHex(await seedSigner(a.seed).sign(signingMessage(signed)))
    const sb = toHex(await seedSigner(b.seed).sign(signingMessage(signed)))
    const alias = 'f'.repeat(64)
    // The same key material authorised under two keyids.
    const authorized = new Map<KeyId, PublicKey>([[a.keyid, a.publicKey], [alias, a.publicKey], [b.keyid, b.publicKey]])
    for (const backend of BACKENDS) {
      expect(countValidSignatures(signed, [{ keyid: a.keyid, sig: sa }, { keyid: alias, sig: sa }], authorized, backend)).toBe(1)
      expect(countValidSignatures(signed, [{ keyid: a.keyid, sig: sa }, { keyid: a.keyid, sig: sa }], authorized, backend)).toBe(1)
      expect(countValidSignatures(signed, [{ keyid: a.keyid, sig: sa }, { keyid: b.keyid, sig: sb }], authorized, backend)).toBe(2)
      // A signature under a keyid that is not authorised counts for nothing.
      expect(countValidSignatures(signed, [{ keyid: a.keyid, sig: sa }], new Map([[b.keyid, b.publicKey]]), backend)).toBe(0)
      // Malformed signatures count as none and do not stop the count.
      expect(countValidSignatures(signed, [{ keyid: a.keyid, sig: 'zz' }, { keyid: b.keyid, sig: sb }], authorized, backend)).toBe(1)
      expect(countValidSignatures(signed, [{ keyid: a.keyid, sig: sb }, { keyid: b.keyid, sig: sb }], authorized, backend)).toBe(1)
    }
  })
})
