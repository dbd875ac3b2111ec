/**
 * Signing envelopes (NOTES: SIG-DOMAIN, SIG-ONE-PER-KEYID).
 *
 * A signature is made over `signingMessage(encodeSigned(signed))`, the exact
 * bytes that will sit inside the block. Signers are asynchronous so that a
 * hardware or remote signer fits. Signatures can be collected one at a time
 * (drafts): `addSignatures` keeps `signed` byte-identical and only merges.
 */
import { encodeEnvelope, encodeSigned } from './codec.js'
import { CryptoError } from './errors.js'
import { signingMessage, toHexSig, type Signer, verifySignature } from './keys.js'
import type { Envelope, Signature, Signed } from './types.js'

/**
 * Sign `signed` with every signer and return the envelope (decoded back
 * through the strict decoder). Existing signatures are kept; a signer whose
 * keyid already signed replaces nothing.
 *
 * @throws {DecodeError} if `signed` breaks a schema rule
 * @throws {CryptoError} ERR_SIGNER if a signer returns something that does not verify
 */
export async function signEnvelope<S extends Signed> (signed: S, signers: readonly Signer[], existing: readonly Signature[] = []): Promise<Envelope<S>> {
  const signedBytes = encodeSigned(signed)
  const sigs = await makeSignatures(signedBytes, signers)
  return encodeEnvelope(signed, merge(existing, sigs))
}

/** Add signatures from `signers` to an existing envelope. */
export async function addSignatures<S extends Signed> (env: Envelope<S>, signers: readonly Signer[]): Promise<Envelope<S>> {
  const sigs = await makeSignatures(env.signedBytes, signers)
  return encodeEnvelope(env.signed, merge(env.signatures, sigs))
}

/** Merge signatures imported from elsewhere (e.g. a signature file). */
export function withSignatures<S extends Signed> (env: Envelope<S>, sigs: readonly Signature[]): Envelope<S> {
  return encodeEnvelope(env.signed, merge(env.signatures, sigs))
}

async function makeSignatures (signedBytes: Uint8Array, signers: readonly Signer[]): Promise<Signature[]> {
  const message = signingMessage(signedBytes)
  const out: Signature[] = []
  for (const s of signers) {
    const raw = await s.sign(message)
    const sig = toHexSig(raw)
    // A signer that returns garbage is caught here, not by the reader.
    if (!verifySignature(s.publicKey, signedBytes, sig)) {
      throw new CryptoError('ERR_SIGNER', `signer ${s.keyid} returned a signature that does not verify`)
    }
    out.push({ keyid: s.keyid, sig })
  }
  return out
}

function merge (a: readonly Signature[], b: readonly Signature[]): Signature[] {
  const byId = new Map<string, Signature>()
  for (const s of a) byId.set(s.keyid, s)
  for (const s of b) if (!byId.has(s.keyid)) byId.set(s.keyid, s)
  return [...byId.values()]
}
