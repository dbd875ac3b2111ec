/**
 * The client's state file, `state.json`: its typed shape, a strict reader and
 * a writer. The JSON text itself is parsed by model/strictjson.ts, the one
 * strict parser of files on disk; this module only reads the parsed value.
 *
 * The file sits on a disk where people and other programs can touch it, so
 * it is read as untrusted input. `parseState` guarantees:
 * - at most MAX_STATE_BYTES, valid UTF-8, checked before anything else;
 * - strict JSON (model/strictjson.ts): RFC 8259 string escapes, no
 *   duplicate member names, no trailing data, no lone surrogates, nesting at
 *   most MAX_DEPTH (checked while parsing, no deeper recursion), objects
 *   with a null prototype; the format uses only objects, strings and `null`,
 *   so a number, boolean or list anywhere is refused by the field checks;
 * - every member known and of the right form: CIDs are CIDv1 sha2-256 in
 *   their canonical base32 text, dag-json for objects and dag-cbor for the
 *   role map's root (a shard node, NOTES 11); times are ENC-EXPIRES-shaped;
 * - the invariant of NOTES 7.1 that the file itself can show: a trusted
 *   timestamp comes with its snapshot, targets and role map, or none of
 *   them does.
 * Every failure is one StateError ERR_STATE_CORRUPT naming the field.
 *
 * Wire form (members in this order, as `serializeState` writes them):
 *
 *   { "format": "dagtuf-client-state/2",
 *     "root": CID,
 *     "trusted": null | { "timestamp": CID, "snapshot": CID, "targets": CID,
 *                         "roles": CID, "reference_time": TIME },
 *     "written": TIME }
 *
 * `roles` is the root of S0's `delegated-targets` map: the trusted delegated
 * roles are its entries, read (hash-checked) from the block cache when
 * needed, so the file stays a few hundred bytes at any number of roles.
 * Format 1 listed every role by name (1.3 MB at 16,384 hash bins); it is not
 * read.
 *
 * `reference_time` is the fixed reference time of the update that accepted
 * the trusted timestamp (NOTES 8: a search uses it); `written` is when the
 * file was written, for people.
 */
import { CID } from 'multiformats/cid'
import { StateError } from '../model/errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_JSON } from '../model/hash.js'
import { isValidExpires } from '../model/schema.js'
import { Fields, parseJson } from '../model/strictjson.js'

export const STATE_FORMAT = 'dagtuf-client-state/2'
/** A record names a handful of CIDs (format 2 keeps the role map's root, not its entries). */
export const MAX_STATE_BYTES = 64 * 1024
const MAX_DEPTH = 3

/** What the client trusts after at least one update (NOTES 7.1: T0, S0, ...). */
export interface TrustedSnapshot {
  readonly timestamp: CID
  readonly snapshot: CID
  readonly targets: CID
  /**
   * The root of S0's `delegated-targets` map: the delegated roles trusted,
   * by name, are its entries (NOTES 7.1), read from the cache when needed.
   */
  readonly roles: CID
  /** `YYYY-MM-DDTHH:MM:SSZ`: the reference time of the update that accepted it. */
  readonly referenceTime: string
}

/** The whole trusted state: the root `R0` and, after a first update, the rest. */
export interface StateRecord {
  readonly root: CID
  readonly trusted: TrustedSnapshot | null
}

function corrupt (message: string, cause?: unknown): StateError {
  return new StateError('ERR_STATE_CORRUPT', `state.json: ${message}`, cause === undefined ? { details: { file: 'state.json' } } : { cause, details: { file: 'state.json' } })
}

// ---------------------------------------------------------------------------
// The typed record

const CID_TEXT = /^b[a-z2-7]{20,200}$/

/** A metadata CID in canonical text form. */
function metaCid (v: unknown, path: string, codec: number = CODEC_DAG_JSON, what = 'a dagtuf metadata CID'): CID {
  if (typeof v !== 'string' || !CID_TEXT.test(v)) throw corrupt(`${path}: expected a CID`)
  let cid: CID
  try {
    cid = CID.parse(v)
  } catch (cause) {
    throw corrupt(`${path}: not a CID`, cause)
  }
  if (cid.version !== 1 || cid.code !== codec || cid.multihash.code !== 0x12 || cid.multihash.digest.byteLength !== 32 || cid.toString() !== v) {
    throw corrupt(`${path}: not ${what}`)
  }
  return cid
}

/** The CID of a shard node (a role map's root: CIDv1 dag-cbor sha2-256, NOTES 11). */
function shardRootCid (v: unknown, path: string): CID {
  return metaCid(v, path, CODEC_DAG_CBOR, 'a shard node CID')
}

function time (v: unknown, path: string): string {
  if (!isValidExpires(v)) throw corrupt(`${path}: expected YYYY-MM-DDTHH:MM:SSZ`)
  return v
}

/**
 * Read a state file.
 *
 * @throws {StateError} ERR_STATE_CORRUPT
 */
export function parseState (bytes: Uint8Array): StateRecord {
  if (!(bytes instanceof Uint8Array)) throw corrupt('expected bytes')
  const top = Fields.of(parseJson(bytes, { maxBytes: MAX_STATE_BYTES, maxDepth: MAX_DEPTH, onError: corrupt }), 'state', corrupt)
  top.literal('format', STATE_FORMAT)
  const root = metaCid(top.req('root'), 'state.root')
  const trustedValue = top.req('trusted')
  time(top.req('written'), 'state.written')
  top.done()
  if (trustedValue === null) return Object.freeze({ root, trusted: null })
  const t = Fields.of(trustedValue, 'state.trusted', corrupt)
  const timestamp = metaCid(t.req('timestamp'), 'state.trusted.timestamp')
  const snapshot = metaCid(t.req('snapshot'), 'state.trusted.snapshot')
  const targets = metaCid(t.req('targets'), 'state.trusted.targets')
  const roles = shardRootCid(t.req('roles'), 'state.trusted.roles')
  const referenceTime = time(t.req('reference_time'), 'state.trusted.reference_time')
  t.done()
  return Object.freeze({
    root,
    trusted: Object.freeze({ timestamp, snapshot, targets, roles, referenceTime })
  })
}

/** The bytes of a state file; `written` is the wall time, for people. */
export function serializeState (record: StateRecord, written: Date): Uint8Array {
  const t = record.trusted
  const value = {
    format: STATE_FORMAT,
    root: record.root.toString(),
    trusted: t === null
      ? null
      : {
          timestamp: t.timestamp.toString(),
          snapshot: t.snapshot.toString(),
          targets: t.targets.toString(),
          roles: t.roles.toString(),
          reference_time: t.referenceTime
        },
    written: written.toISOString().slice(0, 19) + 'Z'
  }
  return new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n')
}

/** Whether two records name the same objects. */
export function sameRecord (a: StateRecord, b: StateRecord): boolean {
  if (!a.root.equals(b.root)) return false
  if (a.trusted === null || b.trusted === null) return a.trusted === b.trusted
  const x = a.trusted
  const y = b.trusted
  return x.timestamp.equals(y.timestamp) && x.snapshot.equals(y.snapshot) && x.targets.equals(y.targets) && x.roles.equals(y.roles)
}
