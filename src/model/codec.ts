/**
 * The byte boundary: the only place where untrusted bytes become typed
 * dagtuf objects, and where typed objects become blocks.
 *
 * `decodeEnvelope(kind, bytes, cid)` guarantees, in this order:
 *  1. the CID is CIDv1, codec dag-json, multihash sha2-256     (ENC-CID)
 *  2. the block is within the size cap of its kind             (ENC-SIZE)
 *  3. the bytes hash to the CID                                (ENC-CID)
 *  4. nesting is within the depth cap, checked on the raw bytes before any
 *     recursive decoder runs                                   (BOUND-DEPTH)
 *  5. the strict dag-json decoder accepts the bytes
 *  6. re-encoding gives exactly the same bytes                 (ENC-CANONICAL)
 *  7. every field checks out, from `unknown`                   (ENC-SCHEMA...)
 * and keeps the exact bytes of `signed` for signature checks (SIG-DOMAIN).
 * Any failure is a single DecodeError with a stable code and the cause.
 *
 * `encodeSigned(signed)`, the bytes signers sign, runs the same checks in the
 * other direction (schema on the value, then steps 4-7 on its bytes), so a
 * value the decoder would refuse is refused before anything is signed.
 */
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { LIMITS, MAX_BLOCK_BYTES, type Kind } from './config.js'
import { DagtufError, DecodeError } from './errors.js'
import { CODEC_DAG_JSON, HASH_SHA2_256, equalBytes, sha256 } from './hash.js'
import { parseSignatures, parseSigned, signedToWire } from './schema.js'
import type { Envelope, Signature, Signed, SignedOf } from './types.js'

export { CODEC_DAG_JSON }

/** The CIDv1 dag-json sha2-256 of some bytes. */
export function cidOf (bytes: Uint8Array): CID {
  return CID.createV1(CODEC_DAG_JSON, Digest.create(HASH_SHA2_256, sha256(bytes)))
}

const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * Maximum bracket nesting in JSON bytes, ignoring brackets inside strings.
 * Runs in one pass without recursion, so hostile nesting cannot exhaust the
 * stack before the decoder sees it. Stops early past `limit`.
 */
export function jsonDepth (bytes: Uint8Array, limit: number): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]
    if (inString) {
      if (b === BACKSLASH) i++
      else if (b === QUOTE) inString = false
      continue
    }
    if (b === QUOTE) inString = true
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      depth++
      if (depth > max) { max = depth; if (max > limit) return max }
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) depth--
  }
  return max
}

/** Encode a wire value as dag-json. @throws {DecodeError} ERR_SCHEMA when it is not encodable */
export function encodeValue (value: unknown): Uint8Array {
  try {
    return dagJson.encode(value)
  } catch (cause) {
    throw new DecodeError('ERR_SCHEMA', 'value cannot be encoded as dag-json', { cause })
  }
}

function prefixBytes (signatures: readonly Signature[]): Uint8Array {
  const sigs = dagJson.encode(signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })))
  const head = new TextEncoder().encode('{"signatures":')
  const mid = new TextEncoder().encode(',"signed":')
  const out = new Uint8Array(head.length + sigs.length + mid.length)
  out.set(head, 0)
  out.set(sigs, head.length)
  out.set(mid, head.length + sigs.length)
  return out
}

/**
 * Steps 4-6 of decodeEnvelope on bytes of any shape: the depth cap on the raw
 * bytes, the strict dag-json decoder, and the re-encode comparison.
 */
function strictValue (bytes: Uint8Array, details: Record<string, unknown>): unknown {
  if (jsonDepth(bytes, LIMITS.maxDepth) > LIMITS.maxDepth) {
    throw new DecodeError('ERR_TOO_DEEP', `nesting deeper than ${LIMITS.maxDepth}`, { details })
  }
  let value: unknown
  try {
    value = dagJson.decode(bytes)
  } catch (cause) {
    throw new DecodeError('ERR_DAG_JSON', 'not strict dag-json', { cause, details })
  }
  let again: Uint8Array
  try {
    again = dagJson.encode(value)
  } catch (cause) {
    throw new DecodeError('ERR_NON_CANONICAL', 'decoded value does not re-encode', { cause, details })
  }
  if (!equalBytes(again, bytes)) {
    throw new DecodeError('ERR_NON_CANONICAL', 'not the canonical dag-json encoding of its value', { details })
  }
  return value
}

/**
 * Decode and check a metadata block of `kind` against its CID.
 *
 * @throws {DecodeError} with codes listed in errors.ts
 */
export function decodeEnvelope<K extends Kind> (kind: K, bytes: Uint8Array, cid: CID): Envelope<SignedOf<K>> {
  try {
    return decodeUnchecked(kind, bytes, cid)
  } catch (e) {
    if (e instanceof DagtufError) throw e
    // Anything else escaping the checks is still a refusal of the input,
    // never a crash: wrap it once, with the cause.
    throw new DecodeError('ERR_SCHEMA', `${kind} block could not be decoded`, { cause: e })
  }
}

function decodeUnchecked<K extends Kind> (kind: K, bytes: Uint8Array, cidIn: CID): Envelope<SignedOf<K>> {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('ERR_SCHEMA', 'block bytes must be a Uint8Array')
  const given = CID.asCID(cidIn)
  if (given === null) throw new DecodeError('ERR_CID_CODEC', 'not a CID')
  // A CID made by CID.parse keeps the text it was parsed from, and base32
  // parsing ignores case: rebuild it from its bytes, so that `env.cid` (and
  // everything written from it, such as the client's state.json) has the
  // one canonical text form.
  const cid = CID.decode(given.bytes)
  if (typeof kind !== 'string' || !Object.hasOwn(MAX_BLOCK_BYTES, kind)) throw new DecodeError('ERR_KIND', 'unknown kind')
  const details = { cid: cid.toString(), kind }
  if (cid.version !== 1 || cid.code !== CODEC_DAG_JSON) {
    throw new DecodeError('ERR_CID_CODEC', `${cid} is not a CIDv1 dag-json link`, { details })
  }
  if (cid.multihash.code !== HASH_SHA2_256) {
    throw new DecodeError('ERR_CID_HASH', `${cid} does not use sha2-256`, { details })
  }
  const max = MAX_BLOCK_BYTES[kind]
  if (bytes.byteLength > max) {
    throw new DecodeError('ERR_TOO_LARGE', `${kind} block is ${bytes.byteLength} bytes, over ${max}`, { details })
  }
  if (!equalBytes(sha256(bytes), cid.multihash.digest)) {
    throw new DecodeError('ERR_CID_MISMATCH', `bytes do not hash to ${cid}`, { details })
  }
  const value = strictValue(bytes, details)
  if (value === null || typeof value !== 'object' || Array.isArray(value) || CID.asCID(value) !== null || value instanceof Uint8Array) {
    throw new DecodeError('ERR_SCHEMA', 'an envelope is a map', { details })
  }
  const env = value as Record<string, unknown>
  for (const k of Object.keys(env)) {
    if (k !== 'signatures' && k !== 'signed') throw new DecodeError('ERR_UNKNOWN_FIELD', `envelope.${k.slice(0, 64)}: unknown field`, { details })
  }
  if (!Object.hasOwn(env, 'signed') || !Object.hasOwn(env, 'signatures')) {
    throw new DecodeError('ERR_SCHEMA', 'an envelope has signed and signatures', { details })
  }
  const signatures = withDetails(details, () => parseSignatures(env.signatures))
  const signed = withDetails(details, () => parseSigned(kind, env.signed)) as SignedOf<K>
  // The canonical encoding is `{"signatures":[...],"signed":{...}}`: the
  // signed bytes are what follows the prefix, up to the final brace.
  const prefix = prefixBytes(signatures)
  if (!equalBytes(bytes.subarray(0, prefix.length), prefix) || bytes[bytes.length - 1] !== CLOSE_BRACE) {
    throw new DecodeError('ERR_NON_CANONICAL', 'envelope layout is not canonical', { details })
  }
  const signedBytes = bytes.subarray(prefix.length, bytes.length - 1)
  return Object.freeze({ cid, bytes, signedBytes, signed, signatures: Object.freeze(signatures) })
}

/** `{"signatures":[],"signed":` and `}`: the least an envelope adds to its signed bytes. */
const ENVELOPE_OVERHEAD = '{"signatures":[],"signed":}'.length

/**
 * The exact dag-json bytes of a typed `signed` object: what signers sign.
 *
 * Encoding refuses what decoding would refuse, before anything is signed:
 * the wire value goes through the same schema checks the decoder runs
 * (parseSigned, including the `custom` check that refuses "/" keys and key
 * orders that differ under UTF-8), and the bytes are then read back through
 * the strict decoder (depth, strict dag-json, re-encode comparison, schema).
 *
 * @throws {DecodeError} with the code the decoder would give the block
 */
export function encodeSigned (signed: Signed): Uint8Array {
  const value = wire(signed)
  const kind = signed.type
  const details = { kind, encoding: true }
  withDetails(details, () => parseSigned(kind, value))
  const bytes = encodeValue(value)
  const max = Object.hasOwn(MAX_BLOCK_BYTES, kind) ? MAX_BLOCK_BYTES[kind] : 0
  if (bytes.byteLength + ENVELOPE_OVERHEAD > max) {
    throw new DecodeError('ERR_TOO_LARGE', `${kind} object is ${bytes.byteLength} bytes before signatures, a block of its kind is at most ${max}`, { details })
  }
  const back = strictValue(bytes, details)
  withDetails(details, () => parseSigned(kind, back))
  return bytes
}

/** Run `f`, adding `details` to a DecodeError it throws. */
function withDetails<T> (details: Record<string, unknown>, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof DecodeError) throw new DecodeError(e.code, e.message, { cause: e.cause, details: { ...e.details, ...details } })
    throw e
  }
}

/** The wire value of a typed object; a malformed typed object is refused typed. */
function wire (signed: Signed): Record<string, unknown> {
  try {
    return signedToWire(signed)
  } catch (cause) {
    throw new DecodeError('ERR_SCHEMA', 'not a well-formed typed signed object', { cause })
  }
}

/**
 * Build the block for `signed` with `signatures`, then decode it back through
 * the strict decoder, so that nothing dagtuf writes could be refused by a
 * reader.
 *
 * @throws {DecodeError} when the typed object breaks a schema rule
 */
export function encodeEnvelope<S extends Signed> (signed: S, signatures: readonly Signature[]): Envelope<S> {
  if (signed === null || typeof signed !== 'object' || !Array.isArray(signatures)) {
    throw new DecodeError('ERR_SCHEMA', 'encodeEnvelope(signed: Signed, signatures: Signature[])')
  }
  const sorted = [...signatures].sort((a, b) => a.keyid < b.keyid ? -1 : a.keyid > b.keyid ? 1 : 0)
  const bytes = encodeValue({ signatures: sorted.map((s) => ({ keyid: s.keyid, sig: s.sig })), signed: wire(signed) })
  return decodeEnvelope(signed.type, bytes, cidOf(bytes)) as unknown as Envelope<S>
}

/**
 * A dag-json block as a plain JSON value (links stay `{"/": CID}`), for
 * display. Only for blocks that already passed decodeEnvelope.
 */
export function blockAsJson (bytes: Uint8Array): unknown {
  return JSON.parse(new TextDecoder().decode(bytes)) as unknown
}

/** A dag-json block indented for people to read. */
export function prettyBlock (bytes: Uint8Array): string {
  return JSON.stringify(blockAsJson(bytes), null, 2)
}
