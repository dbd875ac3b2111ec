import { describe, expect, it } from 'vitest'
import { makeTimestamp } from '../../src/model/build.js'
import { cidOf, decodeEnvelope } from '../../src/model/codec.js'
import { generateKeyPair, seedSigner, type Signer } from '../../src/model/keys.js'
import { addSignatures, signEnvelope, withSignatures } from '../../src/model/sign.js'
import { countValidSignatures } from '../../src/model/keys.js'
import { caught, enc } from '../helpers/model.js'

const signed = makeTimestamp({ expires: '2030-01-01T00:00:00Z', snapshot: cidOf(enc('snapshot')) })

describe('signing envelopes', () => {
  it('signatures collected one at a time keep the signed bytes identical (drafts)', async () => {
    const [a, b, c] = [generateKeyPair(), generateKeyPair(), generateKeyPair()]
    const authorized = new Map([a, b, c].map((k) => [k.keyid, k.publicKey]))
    const e0 = await signEnvelope(signed, [])
    const e1 = await addSignatures(e0, [seedSigner(a.seed)])
    const e2 = await addSignatures(e1, [seedSigner(b.seed), seedSigner(a.seed)])
    expect(Buffer.from(e2.signedBytes).equals(Buffer.from(e0.signedBytes))).toBe(true)
    expect(e2.signatures.length).toBe(2)
    expect(countValidSignatures(e2.signedBytes, e2.signatures, authorized)).toBe(2)
    // Signatures made elsewhere are merged in by keyid.
    const elsewhere = await addSignatures(e0, [seedSigner(c.seed)])
    const e3 = withSignatures(e2, elsewhere.signatures)
    expect(countValidSignatures(e3.signedBytes, e3.signatures, authorized)).toBe(3)
    // Every envelope the signer makes decodes strictly.
    expect(decodeEnvelope('timestamp', e3.bytes, e3.cid).cid.equals(e3.cid)).toBe(true)
  })

  it('a signer that returns a wrong signature is caught at signing time (ERR_SIGNER)', async () => {
    const k = generateKeyPair()
    const liar: Signer = { publicKey: k.publicKey, keyid: k.keyid, sign: async () => new Uint8Array(64) }
    expect((await caught(() => signEnvelope(signed, [liar]))).code).toBe('ERR_SIGNER')
    const short: Signer = { publicKey: k.publicKey, keyid: k.keyid, sign: async () => new Uint8Array(3) }
    expect((await caught(() => signEnvelope(signed, [short]))).code).toBe('ERR_SIG_FORMAT')
  })

  it('a signed object that breaks the schema cannot be signed into a block', async () => {
    const bad = { ...signed, expires: 'tomorrow' }
    const e = await caught(() => signEnvelope(bad, [seedSigner(generateKeyPair().seed)]))
    expect(e.name).toBe('DecodeError')
    expect(e.code).toBe('ERR_EXPIRES')
  })
})
