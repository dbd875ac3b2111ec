/**
 * IPNS records as a head source of the client (issue 5, NOTES 7.2: "a
 * candidate timestamp CID from an untrusted head source").
 *
 * A record is untrusted input, checked in this order:
 * 1. size (at most 10 KiB) and a strict unmarshal: a protobuf IPNS entry
 *    that re-encodes to the same bytes (no unknown fields, no odd framing),
 *    with a 64-byte V2 signature and its signed DAG-CBOR `data` (strict
 *    DAG-CBOR: no duplicate keys, no indefinite lengths) holding Value,
 *    Validity, ValidityType 0 (EOL), Sequence and TTL of the right types;
 *    the legacy V1 fields all present (V1+V2 record) or all absent (V2
 *    only); an embedded public key, if any, must be the name's own;
 * 2. the signature, by `ipnsValidator` of @helia/ipns (which verifies the
 *    V2 signature with the key embedded in the name, checks the validity
 *    type and EOL against the clock, and that the legacy V1 fields match
 *    the signed data), given a key loader that only knows the name's key;
 * 3. a V1 signature, when present, must verify too (nothing else checks
 *    it; so every byte of an accepted record is covered by a check);
 *    then the EOL again against the update's reference time;
 * 4. the value: exactly `/ipfs/<canonical CIDv1 dag-json sha2-256>`.
 * The value, sequence and validity are read from the signed `data`, never
 * from the unsigned protobuf copies (which must match it when present).
 *
 * Then the sequence number against the highest one this client accepted for
 * the name (ERR_IPNS_REPLAY), kept in DIR/ipns.json and raised only after
 * an update through the name succeeded.
 *
 * @helia/ipns and @ipld/dag-cbor load on first use: only --ipns needs them.
 *
 * Errors: BlockError ERR_IPNS_RECORD (malformed, too large, unsupported),
 * ERR_IPNS_SIGNATURE (not signed by the name's key: another name's record,
 * or tampered), ERR_IPNS_EXPIRED, ERR_IPNS_VALUE (not a dagtuf timestamp
 * CID); StateError ERR_IPNS_REPLAY, ERR_STATE_CORRUPT (ipns.json), ERR_STATE_IO.
 */
import { CID } from 'multiformats/cid'
import { BlockError, StateError } from '../model/errors.js'
import { CODEC_DAG_JSON, HASH_SHA2_256, equalBytes, toHex } from '../model/hash.js'
import { MAX_IPNS_RECORD_BYTES, type IpnsName } from '../model/ipns.js'
import { verifyBytes } from '../model/keys.js'
import { Fields, entriesOf, parseJson } from '../model/strictjson.js'
import type { ClientStorage } from './storage.js'

export interface VerifiedIpnsRecord {
  /** The name, `k51...`. */
  readonly name: string
  /** `/ipfs/<timestamp CID>`. */
  readonly value: string
  /** The candidate head. */
  readonly timestamp: CID
  readonly sequence: bigint
  /** The end of validity (RFC 3339, as signed). */
  readonly validity: string
}

function recordError (name: IpnsName, why: string, reason: string, cause?: unknown): BlockError {
  return new BlockError('ERR_IPNS_RECORD', `the IPNS record for /ipns/${name.name} is refused: ${why}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { name: name.name, reason }
  })
}

function isUint (v: unknown): v is number | bigint {
  return (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n && v < (1n << 64n))
}

/** RFC 3339 in UTC as IPNS writes it, with up to nanoseconds: the instant in ms, or NaN. */
function eolMs (validity: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(validity)
  if (m === null) return Number.NaN
  const base = Date.parse(`${m[1]!}Z`)
  const frac = m[2] === undefined ? 0 : Number(`0.${m[2]}`) * 1000
  return base + frac
}

interface SignedData { value: Uint8Array, validity: Uint8Array, sequence: bigint }

/** The signed DAG-CBOR data, strictly typed. */
function signedData (name: IpnsName, decoded: unknown): SignedData {
  if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded) || decoded instanceof Uint8Array || CID.asCID(decoded) !== null) {
    throw recordError(name, 'its data is not a map', 'data')
  }
  const d = decoded as Record<string, unknown>
  if (!(d.Value instanceof Uint8Array) || !(d.Validity instanceof Uint8Array)) throw recordError(name, 'Value and Validity must be bytes', 'data')
  if (d.ValidityType !== 0) throw recordError(name, 'only the EOL validity type is supported', 'validity-type')
  if (!isUint(d.Sequence) || !isUint(d.TTL)) throw recordError(name, 'Sequence and TTL must be unsigned integers', 'data')
  return { value: d.Value, validity: d.Validity, sequence: BigInt(d.Sequence) }
}

function utf8 (bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return null
  }
}

/** `/ipfs/<canonical CIDv1 dag-json sha2-256>` → the CID. @throws {BlockError} ERR_IPNS_VALUE */
function timestampOf (name: IpnsName, value: string | null): CID {
  const refuse = (): BlockError => new BlockError('ERR_IPNS_VALUE', `the IPNS record for /ipns/${name.name} does not point to a dagtuf timestamp (/ipfs/<CIDv1 dag-json sha2-256>)`, {
    details: { name: name.name, value: value?.slice(0, 120) ?? null }
  })
  const m = value === null ? null : /^\/ipfs\/([a-z2-7]{1,200})$/.exec(value)
  if (m === null) throw refuse()
  let cid: CID
  try {
    cid = CID.decode(CID.parse(m[1]!).bytes)
  } catch {
    throw refuse()
  }
  if (cid.version !== 1 || cid.code !== CODEC_DAG_JSON || cid.multihash.code !== HASH_SHA2_256 || cid.toString() !== m[1]) throw refuse()
  return cid
}

/**
 * Check an untrusted marshalled IPNS record for `name` (see the module
 * comment) and return the timestamp CID it names. `now` is the reference
 * time of the update.
 *
 * @throws {BlockError} ERR_IPNS_RECORD | ERR_IPNS_SIGNATURE | ERR_IPNS_EXPIRED | ERR_IPNS_VALUE
 */
export async function verifyIpnsRecord (name: IpnsName, bytes: Uint8Array, now: Date): Promise<VerifiedIpnsRecord> {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) throw recordError(name, 'it is empty', 'empty')
  if (bytes.byteLength > MAX_IPNS_RECORD_BYTES) throw recordError(name, `it is larger than ${MAX_IPNS_RECORD_BYTES} bytes`, 'too-large')
  const [{ IPNSEntry, ipnsValidator }, cbor] = await Promise.all([import('@helia/ipns'), import('@ipld/dag-cbor')])

  // 1. Strict unmarshal.
  let entry: ReturnType<typeof IPNSEntry.decode>
  try {
    entry = IPNSEntry.decode(bytes)
  } catch (cause) {
    throw recordError(name, 'it is not a protobuf IPNS entry', 'protobuf', cause)
  }
  if (!equalBytes(IPNSEntry.encode(entry), bytes)) throw recordError(name, 'it is not canonically encoded (unknown fields or framing)', 'not-canonical')
  if (entry.signatureV2?.byteLength !== 64) throw recordError(name, 'it has no 64-byte V2 signature', 'signature-v2')
  const legacy = [entry.value, entry.signatureV1, entry.validityType, entry.validity, entry.sequence, entry.ttl]
  const v1 = legacy.every((x) => x !== undefined)
  if (!v1 && legacy.some((x) => x !== undefined)) throw recordError(name, 'it has some of the legacy V1 fields but not all', 'v1-fields')
  if (entry.data === undefined || entry.data.byteLength === 0) throw recordError(name, 'it has no signed data', 'data')
  let decoded: unknown
  try {
    decoded = cbor.decode(entry.data)
  } catch (cause) {
    throw recordError(name, 'its data is not strict DAG-CBOR', 'data', cause)
  }
  const data = signedData(name, decoded)
  if (entry.publicKey !== undefined && !equalBytes(entry.publicKey, name.keyProtobuf)) {
    throw new BlockError('ERR_IPNS_SIGNATURE', `the IPNS record carries another key than /ipns/${name.name}`, { details: { name: name.name, reason: 'public-key' } })
  }
  // The unsigned protobuf copy of the value, when present, must be the signed one
  // (the validator compares the copies only for records with a V1 signature).
  if (entry.value !== undefined && !equalBytes(entry.value, data.value)) {
    throw new BlockError('ERR_IPNS_SIGNATURE', `the IPNS record for /ipns/${name.name} has an unsigned value that differs from the signed one`, { details: { name: name.name, reason: 'value-copy' } })
  }

  // 2. The signature (and the EOL against the clock) by @helia/ipns.
  // The only key it can load is the one embedded in the name.
  const publicHex = toHex(name.publicKey)
  const keyLoader = {
    loadPublicKeyFromProtobuf: async (buf: Uint8Array) => {
      if (!equalBytes(buf, name.keyProtobuf)) throw new Error('not the key of this name')
      return { verify: async (message: Uint8Array, sig: Uint8Array): Promise<boolean> => verifyBytes(publicHex, message, sig) }
    }
  }
  try {
    await ipnsValidator(name.routingKey, bytes, keyLoader as unknown as Parameters<typeof ipnsValidator>[2])
  } catch (cause) {
    const n = (cause as { name?: unknown }).name
    if (n === 'SignatureVerificationError' || n === 'InvalidEmbeddedPublicKeyError') {
      throw new BlockError('ERR_IPNS_SIGNATURE', `the IPNS record is not signed by the key of /ipns/${name.name}`, { cause, details: { name: name.name, reason: 'signature' } })
    }
    if (n === 'RecordExpiredError') {
      throw new BlockError('ERR_IPNS_EXPIRED', `the IPNS record for /ipns/${name.name} has expired`, { cause, details: { name: name.name, validity: utf8(data.validity) } })
    }
    throw recordError(name, `the IPNS validator refused it (${typeof n === 'string' ? n : 'error'})`, 'validator', cause)
  }

  // 3. The V1 signature (legacy: over value, validity and "EOL"), then the
  // EOL against the update's reference time.
  if (v1) {
    const validityType = new TextEncoder().encode('EOL')
    const signed = new Uint8Array(entry.value!.byteLength + entry.validity!.byteLength + validityType.byteLength)
    signed.set(entry.value!, 0)
    signed.set(entry.validity!, entry.value!.byteLength)
    signed.set(validityType, entry.value!.byteLength + entry.validity!.byteLength)
    if (!verifyBytes(publicHex, signed, entry.signatureV1!)) {
      throw new BlockError('ERR_IPNS_SIGNATURE', `the V1 signature of the IPNS record for /ipns/${name.name} does not verify`, { details: { name: name.name, reason: 'signature-v1' } })
    }
  }
  const validity = utf8(data.validity)
  const eol = validity === null ? Number.NaN : eolMs(validity)
  if (!Number.isFinite(eol)) throw recordError(name, 'its validity is not an RFC 3339 UTC time', 'validity')
  if (eol <= now.getTime()) {
    throw new BlockError('ERR_IPNS_EXPIRED', `the IPNS record for /ipns/${name.name} expired at ${validity!}`, { details: { name: name.name, validity } })
  }

  // 4. The value.
  const value = utf8(data.value)
  const timestamp = timestampOf(name, value)
  return Object.freeze({ name: name.name, value: value!, timestamp, sequence: data.sequence, validity: validity! })
}

// --- The highest sequence accepted per name: DIR/ipns.json -------------------
// (a document of the client's storage: src/client/storage.ts)

/** The part of a ClientStorage the floors live in. */
export type IpnsFloorStore = Pick<ClientStorage, 'readDoc' | 'writeDoc' | 'removeDoc' | 'docPath'>

export const IPNS_STATE_FILE = 'ipns.json'
const IPNS_STATE_FORMAT = 'dagtuf-client-ipns/1'
const MAX_IPNS_STATE_BYTES = 1024 * 1024
const MAX_NAMES = 1000

export interface IpnsFloor {
  /** The highest sequence number accepted for the name. */
  readonly sequence: bigint
  /** The timestamp CID that record named. */
  readonly timestamp: string
}

/**
 * The floors of DIR/ipns.json (empty when the file does not exist).
 *
 * @throws {StateError} ERR_STATE_CORRUPT | ERR_STATE_IO
 */
export async function readIpnsFloors (store: IpnsFloorStore): Promise<Map<string, IpnsFloor>> {
  const path = store.docPath(IPNS_STATE_FILE)
  const onError = (message: string, cause?: unknown): StateError =>
    new StateError('ERR_STATE_CORRUPT', `${path} is malformed: ${message}`, { ...(cause === undefined ? {} : { cause }), details: { path } })
  const bytes = await store.readDoc(IPNS_STATE_FILE, MAX_IPNS_STATE_BYTES)
  const out = new Map<string, IpnsFloor>()
  if (bytes === undefined) return out
  const f = Fields.of(parseJson(bytes, { maxBytes: MAX_IPNS_STATE_BYTES, maxDepth: 4, onError }), 'ipns', onError)
  f.literal('format', IPNS_STATE_FORMAT)
  for (const [name, v] of entriesOf(f.req('names'), f.sub('names'), onError, MAX_NAMES)) {
    const e = Fields.of(v, `${f.sub('names')}.${name.slice(0, 80)}`, onError)
    const sequence = e.str('sequence', /^(0|[1-9]\d{0,19})$/)
    const timestamp = e.str('timestamp', /^[a-z2-7]{1,200}$/)
    e.done()
    out.set(name, { sequence: BigInt(sequence), timestamp })
  }
  f.done()
  return out
}

/**
 * Refuse a record older than what this client accepted for its name: a lower
 * sequence number, or the same number naming another timestamp (the key
 * signed two records with one number).
 *
 * This is not what keeps the client safe: TUF's own rules already refuse a
 * rolled-back timestamp (CLIENT-TS-DESCENDS, and CLIENT-FLOOR after a key
 * rotation), whatever the head source says. The sequence check only makes
 * the refusal earlier (before any block is fetched) and clearer (the
 * replayed IPNS record is named, not a timestamp that fails to descend).
 *
 * @throws {StateError} ERR_IPNS_REPLAY
 */
export function checkIpnsReplay (floor: IpnsFloor | undefined, rec: VerifiedIpnsRecord): void {
  if (floor === undefined) return
  const same = rec.sequence === floor.sequence
  if (rec.sequence < floor.sequence || (same && rec.timestamp.toString() !== floor.timestamp)) {
    throw new StateError('ERR_IPNS_REPLAY', `the IPNS record for /ipns/${rec.name} has sequence ${rec.sequence}, but this client already accepted sequence ${floor.sequence}${same ? ' for another timestamp' : ''}`, {
      details: { name: rec.name, sequence: rec.sequence.toString(), accepted: floor.sequence.toString(), cid: rec.timestamp.toString() }
    })
  }
}

/**
 * Raise the floor of `rec.name` to `rec` (never lower it) and write
 * DIR/ipns.json atomically. Called under the client's lock, after the
 * update through the record was accepted and its state written.
 *
 * @throws {StateError} ERR_STATE_IO
 */
export async function raiseIpnsFloor (store: IpnsFloorStore, floors: ReadonlyMap<string, IpnsFloor>, rec: VerifiedIpnsRecord): Promise<void> {
  const current = floors.get(rec.name)
  if (current !== undefined && current.sequence >= rec.sequence) return
  const next = new Map(floors)
  next.delete(rec.name)
  next.set(rec.name, { sequence: rec.sequence, timestamp: rec.timestamp.toString() })
  // Bounded: the oldest names go first (a client follows one name or a few).
  while (next.size > MAX_NAMES) next.delete(next.keys().next().value!)
  const names: Record<string, { sequence: string, timestamp: string }> = {}
  for (const [n, f] of next) names[n] = { sequence: f.sequence.toString(), timestamp: f.timestamp }
  await store.writeDoc(IPNS_STATE_FILE, new TextEncoder().encode(JSON.stringify({ format: IPNS_STATE_FORMAT, names }, null, 2) + '\n'))
}

/** Forget every floor (a forced init onto another root). @throws {StateError} ERR_STATE_IO */
export async function dropIpnsFloors (store: IpnsFloorStore): Promise<void> {
  await store.removeDoc(IPNS_STATE_FILE)
}
