/**
 * Signatures verified ahead by an asynchronous verifier (WebCrypto's Ed25519
 * in the browser; model/keys.ts `preverify`): the synchronous verifyBytes
 * consults the verdicts first and falls back to its backend; a verdict never
 * answers for other bytes, another key or another signature; the map is
 * bounded. Node 20 has Ed25519 in WebCrypto too, so the real verifier runs
 * here; test/browser/chromium.test.ts runs it in Chromium.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  VERDICT_CAP, hasAsyncVerifier, keyPairFromSeed, preverify, preverifyEnvelope, seedSigner, signingMessage, useAsyncVerifier,
  verdictStats, verifyBytes, webCryptoVerifier, type AsyncVerifier
} from '../../src/model/keys.js'
import { fromHex } from '../../src/model/hash.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

async function signed (seedByte: number, text: string): Promise<{ publicHex: string, message: Uint8Array, sig: Uint8Array }> {
  const kp = keyPairFromSeed(new Uint8Array(32).fill(seedByte))
  const message = signingMessage(enc(text))
  const sig = await seedSigner(kp.seed).sign(message)
  return { publicHex: kp.publicKey.public, message, sig }
}

afterEach(() => { useAsyncVerifier(undefined) })

describe('signatures verified ahead (preverify)', () => {
  it('WebCrypto Ed25519 is found here and agrees with both synchronous backends on good and altered signatures', async () => {
    const v = await webCryptoVerifier()
    expect(v).toBeTypeOf('function')
    const s = await signed(1, 'hello')
    expect(await v!(s.publicHex, s.message, s.sig)).toBe(true)
    const other = signingMessage(enc('hellp'))
    expect(await v!(s.publicHex, other, s.sig)).toBe(false)
    for (const backend of ['node', 'noble'] as const) {
      expect(verifyBytes(s.publicHex, s.message, s.sig, backend)).toBe(true)
      expect(verifyBytes(s.publicHex, other, s.sig, backend)).toBe(false)
    }
  })

  it('SIG-AHEAD: verifyBytes uses a remembered verdict for exactly (key, message, signature), and never for other bytes, key or signature', async () => {
    const s = await signed(2, 'the signed bytes')
    // A verifier that lies, to show which calls the verdict answers: it says false for a good signature.
    const liar: AsyncVerifier = async () => false
    useAsyncVerifier(liar)
    expect(hasAsyncVerifier()).toBe(true)
    await preverify([s])
    const hits = verdictStats.hits
    expect(verifyBytes(s.publicHex, s.message, s.sig, 'noble')).toBe(false) // the verdict answered
    expect(verdictStats.hits).toBe(hits + 1)
    // Other bytes: the cache has no verdict, the backend decides (the signature does not cover them).
    const other = signingMessage(enc('the signed bytez'))
    expect(verifyBytes(s.publicHex, other, s.sig, 'noble')).toBe(false)
    // A good signature over other bytes by the same key: its own verdict, from the backend (true).
    const t = await signed(2, 'the signed bytez')
    expect(verifyBytes(t.publicHex, t.message, t.sig, 'noble')).toBe(true)
    // Another key, same message and signature: false, by the backend.
    const k3 = keyPairFromSeed(new Uint8Array(32).fill(3)).publicKey.public
    expect(verifyBytes(k3, s.message, s.sig, 'noble')).toBe(false)
    expect(verdictStats.hits).toBe(hits + 1)
    // And a lying "true" for a bad signature is never reused for a different signature.
    useAsyncVerifier(async () => true)
    const bad = s.sig.slice()
    bad[0] = bad[0]! ^ 1
    await preverify([{ ...s, sig: bad }])
    const bad2 = s.sig.slice()
    bad2[1] = bad2[1]! ^ 1
    expect(verifyBytes(s.publicHex, s.message, bad2, 'noble')).toBe(false)
  })

  it('SIG-AHEAD: without a verifier, or when it fails, or for malformed items (SIG-MALFORMED first), nothing is remembered and the backend decides; registering forgets every verdict', async () => {
    const s = await signed(4, 'x')
    const before = verdictStats.remembered
    await preverify([s])
    expect(verdictStats.remembered).toBe(before)
    useAsyncVerifier(async () => { throw new Error('no') })
    await preverify([s, { ...s, sig: s.sig.slice(1) }, { ...s, publicHex: 'zz' }])
    expect(verdictStats.remembered).toBe(before)
    useAsyncVerifier(async () => false)
    await preverify([s])
    expect(verifyBytes(s.publicHex, s.message, s.sig, 'noble')).toBe(false)
    useAsyncVerifier(async () => false) // re-registering clears the verdicts
    expect(verifyBytes(s.publicHex, s.message, s.sig, 'noble')).toBe(true)
    expect(() => { useAsyncVerifier('x' as unknown as AsyncVerifier) }).toThrow(/useAsyncVerifier/)
  })

  it('an envelope\'s signatures are preverified over the dagtuf signing message for the keys given; the map is bounded', async () => {
    const kp = keyPairFromSeed(new Uint8Array(32).fill(5))
    const signedBytes = enc('{"signed":1}')
    const sig = await seedSigner(kp.seed).sign(signingMessage(signedBytes))
    const seen: Uint8Array[] = []
    useAsyncVerifier(async (_k, m) => { seen.push(m); return true })
    const hex = [...sig].map((b) => b.toString(16).padStart(2, '0')).join('')
    await preverifyEnvelope({ signedBytes, signatures: [{ keyid: 'k', sig: hex }, { keyid: 'unknown', sig: hex }] }, new Map([['k', kp.publicKey.public]]))
    expect(seen).toEqual([signingMessage(signedBytes)])
    expect(fromHex(hex)).toEqual(sig)
    // Bounded: VERDICT_CAP + 10 distinct verdicts leave the oldest out (its check goes to the backend again).
    useAsyncVerifier(async () => false)
    const first = await signed(6, 'm0')
    await preverify([first])
    const items = []
    for (let i = 1; i <= VERDICT_CAP + 10; i++) items.push({ ...first, message: enc(`m${i}`) })
    await preverify(items)
    expect(verifyBytes(first.publicHex, first.message, first.sig, 'noble')).toBe(true)
  })
})
