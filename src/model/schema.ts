/**
 * Field-by-field checking of decoded dag-json values, from `unknown` to the
 * typed model (NOTES: ENC-SCHEMA, ENC-UNKNOWN-FIELD, ENC-EXPIRES,
 * ENC-PATH-SAFE, ENC-NAME-SAFE, SIG-KEYID), and the reverse mapping from the
 * typed model to the wire value that gets encoded.
 *
 * The one written rule for unknown fields (ENC-UNKNOWN-FIELD): every object
 * has a closed set of fields; anything else is refused with
 * ERR_UNKNOWN_FIELD. The only open value is a target's `custom`, which is
 * opaque application data (size- and depth-capped). New fields arrive with a
 * new `spec_version` major, never silently.
 *
 * Every failure is a DecodeError whose `details.path` names the field.
 */
import { CID } from 'multiformats/cid'
import * as dagJson from '@ipld/dag-json'
import { LIMITS, SPEC_VERSION } from './config.js'
import { DecodeError, type DecodeCode } from './errors.js'
import { CODEC_DAG_CBOR, CODEC_DAG_JSON, CODEC_DAG_PB, CODEC_RAW, HASH_SHA2_256 } from './hash.js'
import { isAcceptablePublicKey, isHex64, keyIdOf } from './keys.js'
import { MAX_SKIPS } from './ladder.js'
import type {
  DelegatedRole, Delegations, KeyId, PublicKey, RoleKeys, RootSigned, Signature, Signed, SnapshotSigned,
  SuccinctRoles, TargetInfo, TargetsSigned, TimestampSigned, TopRoleName
} from './types.js'
import { TOP_ROLES } from './types.js'

type Path = string

function fail (code: DecodeCode, path: Path, message: string, cause?: unknown): never {
  throw new DecodeError(code, `${path}: ${message}`, { cause, details: { path } })
}

/** A plain dag-json map (not an array, link or bytes). */
function isMap (v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false
  if (Array.isArray(v) || v instanceof Uint8Array || CID.asCID(v) !== null) return false
  return true
}

/** Reads a record's fields one by one; `done()` refuses what is left over. */
class Fields {
  private readonly seen = new Set<string>()
  constructor (readonly value: Record<string, unknown>, readonly path: Path) {}

  static of (v: unknown, path: Path): Fields {
    if (!isMap(v)) fail('ERR_SCHEMA', path, 'expected a map')
    return new Fields(v, path)
  }

  has (name: string): boolean { return Object.hasOwn(this.value, name) }

  req (name: string): unknown {
    if (!this.has(name)) fail('ERR_SCHEMA', `${this.path}.${name}`, 'missing field')
    this.seen.add(name)
    return this.value[name]
  }

  opt (name: string): unknown {
    if (!this.has(name)) return undefined
    this.seen.add(name)
    return this.value[name]
  }

  done (): void {
    for (const k of Object.keys(this.value)) {
      if (!this.seen.has(k)) fail('ERR_UNKNOWN_FIELD', `${this.path}.${k.slice(0, 64)}`, 'unknown field')
    }
  }

  sub (name: string): Path { return `${this.path}.${name}` }
}

function str (v: unknown, path: Path, maxLen: number = LIMITS.maxPathLength): string {
  if (typeof v !== 'string') fail('ERR_SCHEMA', path, 'expected a string')
  if (v.length > maxLen) fail('ERR_SCHEMA', path, `string longer than ${maxLen}`)
  return v
}

function safeInt (v: unknown, path: Path, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail('ERR_SCHEMA', path, 'expected a safe integer')
  if (v < min) fail('ERR_SCHEMA', path, `expected an integer >= ${min}`)
  return v
}

function bool (v: unknown, path: Path): boolean {
  if (typeof v !== 'boolean') fail('ERR_SCHEMA', path, 'expected a boolean')
  return v
}

function arr (v: unknown, path: Path, max: number): unknown[] {
  if (!Array.isArray(v)) fail('ERR_SCHEMA', path, 'expected a list')
  if (v.length > max) fail('ERR_LIMIT', path, `more than ${max} entries`)
  return v
}

/**
 * The entries of a map whose keys are data (keyids, target paths, role
 * names), in the order the block has them.
 */
function mapEntries (v: unknown, path: Path, max: number): Array<[string, unknown]> {
  if (!isMap(v)) fail('ERR_SCHEMA', path, 'expected a map')
  const keys = Object.keys(v)
  if (keys.length > max) fail('ERR_LIMIT', path, `more than ${max} entries`)
  const ordered = blockOrder(keys)
  if (!keyOrdersAgree(ordered)) fail('ERR_NON_CANONICAL', path, 'map keys whose UTF-16 and UTF-8 orders differ')
  return ordered.map((k) => [k, v[k]])
}

/**
 * The order a map's keys have in its block. `Object.keys` does not give it:
 * JavaScript lists integer-like keys ("9", "2024") first, whatever the
 * block's order. The re-encode comparison of ENC-CANONICAL has already
 * established that the block's keys are in ascending UTF-16 code-unit order
 * (the codec writes no other), so sorting by code units recovers the block's
 * order exactly; for a value about to be encoded it is the order the codec
 * will write. (Array.prototype.sort without a comparator compares UTF-16
 * code units; on the nearly sorted lists Object.keys gives it is near-linear.)
 */
export function blockOrder (keys: readonly string[]): string[] {
  return [...keys].sort()
}

/**
 * ENC-CANONICAL: the shipped codec sorts map keys by UTF-16 code units, the
 * DAG-JSON specification by UTF-8 bytes. True when the keys, given in
 * ascending UTF-16 order (`blockOrder`), are also strictly ascending in
 * UTF-8 byte order, checked for every adjacent pair. The two orders differ
 * only where the first differing code units are a surrogate (half of a
 * supplementary character, U+10000 and up) and a unit in U+E000-U+FFFF:
 * UTF-16 puts the surrogate first, UTF-8 the BMP character.
 */
export function keyOrdersAgree (keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) {
    if (!utf8Less(keys[i - 1]!, keys[i]!)) return false
  }
  return true
}

/**
 * True when `a` sorts strictly before `b` in UTF-8 byte order (code point
 * order; a lone surrogate counts as its own code point, as in WTF-8).
 */
export function utf8Less (a: string, b: string): boolean {
  let i = 0
  while (i < a.length && i < b.length) {
    const x = a.codePointAt(i)!
    const y = b.codePointAt(i)!
    if (x !== y) return x < y
    i += x > 0xffff ? 2 : 1
  }
  return a.length < b.length
}

/**
 * ENC-CID: a sha2-256 multihash with its 32-byte digest. A multihash carries
 * its own digest length, so the code alone does not say the link can name
 * anything: a short digest would only fail when the link is loaded, and
 * some links (tombstones, previous-version) never are.
 */
function isSha256 (cid: CID): boolean {
  return cid.multihash.code === HASH_SHA2_256 && cid.multihash.digest.byteLength === 32 && cid.multihash.size === 32
}

/** A link to another dagtuf metadata block: CIDv1, dag-json, sha2-256. */
function metaLink (v: unknown, path: Path): CID {
  const cid = CID.asCID(v)
  if (cid === null) fail('ERR_SCHEMA', path, 'expected a link')
  if (cid.version !== 1 || cid.code !== CODEC_DAG_JSON || !isSha256(cid)) {
    fail('ERR_SCHEMA', path, 'metadata links must be CIDv1 dag-json sha2-256 (32-byte digest)')
  }
  return cid
}

/** A link to target content: CIDv1, raw or dag-pb (UnixFS), sha2-256. */
function contentLink (v: unknown, path: Path): CID {
  const cid = CID.asCID(v)
  if (cid === null) fail('ERR_SCHEMA', path, 'expected a link')
  if (cid.version !== 1 || (cid.code !== CODEC_RAW && cid.code !== CODEC_DAG_PB) || !isSha256(cid)) {
    fail('ERR_SCHEMA', path, 'content links must be CIDv1 raw or dag-pb with sha2-256 (32-byte digest)')
  }
  return cid
}

const EXPIRES = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/

/** True for `YYYY-MM-DDTHH:MM:SSZ` naming a real instant (ENC-EXPIRES). */
export function isValidExpires (s: unknown): s is string {
  if (typeof s !== 'string') return false
  const m = EXPIRES.exec(s)
  if (m === null) return false
  const d = new Date(s)
  if (Number.isNaN(d.getTime())) return false
  // Date accepts 2025-02-30; require the fields to survive a round trip.
  return d.toISOString().slice(0, 19) + 'Z' === s
}

function expires (v: unknown, path: Path): string {
  if (!isValidExpires(v)) fail('ERR_EXPIRES', path, 'expected YYYY-MM-DDTHH:MM:SSZ (UTC)')
  return v
}

function specVersion (v: unknown, path: Path): string {
  const s = str(v, path, 32)
  if (!/^2\.(?:0|[1-9]\d{0,8})\.(?:0|[1-9]\d{0,8})$/.test(s)) fail('ERR_SCHEMA', path, `unsupported spec_version (this is ${SPEC_VERSION})`)
  return s
}

const CONTROL = /[\u0000-\u001f\u007f]/
const TOP_NAMES = new Set<string>(TOP_ROLES)

/** The UTF-8 length of a string (portable: no Buffer; a lone surrogate counts 3, as its U+FFFD replacement). */
export function utf8Length (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++ } else n += 3
  }
  return n
}

/**
 * Target path safety (ENC-PATH-SAFE): non-empty, bounded, relative, no empty,
 * `.` or `..` segment, no backslash, no control character.
 */
export function isSafeTargetPath (p: unknown): p is string {
  if (typeof p !== 'string' || p.length === 0) return false
  if (utf8Length(p) > LIMITS.maxPathLength) return false
  if (p.startsWith('/') || p.includes('\\') || CONTROL.test(p)) return false
  if (!p.isWellFormed()) return false
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return false
  }
  return true
}

const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/

/** Delegated role name safety (ENC-NAME-SAFE). */
export function isSafeRoleName (n: unknown): n is string {
  return typeof n === 'string' && ROLE_NAME.test(n) && !TOP_NAMES.has(n)
}

const HASH_PREFIX = /^[0-9a-f]{1,64}$/

function keysMap (v: unknown, path: Path): Map<KeyId, PublicKey> {
  const out = new Map<KeyId, PublicKey>()
  for (const [keyid, raw] of mapEntries(v, path, LIMITS.maxKeys)) {
    const kp = `${path}.${keyid.slice(0, 64)}`
    if (!isHex64(keyid)) fail('ERR_SCHEMA', kp, 'a keyid is 64 lowercase hex characters')
    const f = Fields.of(raw, kp)
    const keytype = f.req('keytype')
    const scheme = f.req('scheme')
    const kv = Fields.of(f.req('keyval'), f.sub('keyval'))
    const pub = kv.req('public')
    kv.done()
    f.done()
    if (keytype !== 'ed25519' || scheme !== 'ed25519') fail('ERR_SCHEMA', kp, 'only ed25519 keys are supported')
    if (!isAcceptablePublicKey(pub)) fail('ERR_SCHEMA', `${kp}.keyval.public`, 'not a usable ed25519 public key (64 lowercase hex, on the curve, not small order)')
    const key: PublicKey = Object.freeze({ keytype: 'ed25519', scheme: 'ed25519', public: pub })
    if (keyIdOf(key) !== keyid) fail('ERR_KEYID_MISMATCH', kp, 'keyid is not the SHA-256 of the canonical key encoding')
    out.set(keyid, key)
  }
  return out
}

function roleKeys (f: Fields): RoleKeys {
  const list = arr(f.req('keyids'), f.sub('keyids'), LIMITS.maxKeyidsPerRole)
  const keyids: string[] = []
  const seen = new Set<string>()
  list.forEach((k, i) => {
    if (!isHex64(k)) fail('ERR_SCHEMA', `${f.sub('keyids')}[${i}]`, 'a keyid is 64 lowercase hex characters')
    if (seen.has(k)) fail('ERR_DUPLICATE_KEYID', `${f.sub('keyids')}[${i}]`, 'keyid listed twice')
    seen.add(k)
    keyids.push(k)
  })
  const threshold = safeInt(f.req('threshold'), f.sub('threshold'), 1)
  return Object.freeze({ keyids: Object.freeze(keyids), threshold })
}

function rootSigned (f: Fields): RootSigned {
  const keys = keysMap(f.req('keys'), f.sub('keys'))
  const rolesF = Fields.of(f.req('roles'), f.sub('roles'))
  const roles = {} as Record<TopRoleName, RoleKeys>
  for (const name of TOP_ROLES) roles[name] = roleKeys(Fields.of(rolesF.req(name), rolesF.sub(name)))
  rolesF.done()
  return {
    type: 'root',
    ...versioned(f),
    keys,
    roles: Object.freeze(roles)
  }
}

/** The fields every kind has: spec_version and expires. */
function common (f: Fields): { specVersion: string, expires: string } {
  return { specVersion: specVersion(f.req('spec_version'), f.sub('spec_version')), expires: expires(f.req('expires'), f.sub('expires')) }
}

/** The fields of the kinds that name the version they replace. */
function versioned (f: Fields): { specVersion: string, expires: string, previousVersion: CID | null } {
  return { ...common(f), previousVersion: previous(f) }
}

function previous (f: Fields): CID | null {
  const v = f.req('previous-version')
  return v === null ? null : metaLink(v, f.sub('previous-version'))
}

/**
 * ENC-CANONICAL, ENC-SIZE and BOUND-DEPTH for a target's `custom`, the one
 * open value. The same check runs on a decoded value and on a value about to
 * be encoded (encodeSigned), so the encoder refuses what the decoder would:
 * - only IPLD data model kinds as the decoder produces them: null, boolean,
 *   string, finite number other than -0, bigint outside the safe integer
 *   range, bytes (Uint8Array), link (CID), list (Array), map (a plain
 *   object); anything else would be written as something the decoder reads
 *   back as a different value, or not written at all;
 * - no map with the key "/" (the link and bytes forms own it: such a map
 *   cannot be written so that it reads back as the same map);
 * - map keys in the same order under UTF-16 and UTF-8 (`keyOrdersAgree`);
 * - nesting within LIMITS.maxDepth, canonical encoding within maxCustomBytes.
 *
 * @throws {DecodeError} ERR_SCHEMA, ERR_DAG_JSON, ERR_NON_CANONICAL, ERR_TOO_DEEP or ERR_LIMIT
 */
export function checkCustom (v: unknown, path: Path): unknown {
  customValue(v, path, 0)
  let size: number
  try {
    size = dagJson.encode(v).byteLength
  } catch (cause) {
    fail('ERR_SCHEMA', path, 'custom is not a dag-json value', cause)
  }
  if (size > LIMITS.maxCustomBytes) fail('ERR_LIMIT', path, `custom is larger than ${LIMITS.maxCustomBytes} bytes`)
  return v
}

function customValue (v: unknown, path: Path, depth: number): void {
  if (depth > LIMITS.maxDepth) fail('ERR_TOO_DEEP', path, 'custom value nested too deeply')
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(v)) fail('ERR_SCHEMA', path, 'not a dag-json value (NaN or infinite)')
      if (Object.is(v, -0)) fail('ERR_SCHEMA', path, '-0 is written as 0 and reads back as 0')
      return
    case 'bigint':
      // The decoder makes a bigint only outside the safe range; a smaller
      // one would read back as a number.
      if (v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) fail('ERR_SCHEMA', path, 'a bigint in the safe integer range reads back as a number')
      return
    case 'object':
      break
    default:
      fail('ERR_SCHEMA', path, `not a dag-json value (${typeof v})`)
  }
  if (v === null || v instanceof Uint8Array || CID.asCID(v) !== null) return
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) fail('ERR_SCHEMA', path, 'not a dag-json list')
    for (let i = 0; i < v.length; i++) customValue(v[i], `${path}[${i}]`, depth + 1)
    return
  }
  const proto = Object.getPrototypeOf(v) as unknown
  if (proto !== Object.prototype && proto !== null) fail('ERR_SCHEMA', path, 'not a dag-json map (only plain objects)')
  const map = v as Record<string, unknown>
  const keys = blockOrder(Object.keys(map))
  if (Object.hasOwn(map, '/')) fail('ERR_DAG_JSON', path, 'a map with the key "/" (reserved for links and bytes)')
  if (!keyOrdersAgree(keys)) fail('ERR_NON_CANONICAL', path, 'custom holds map keys whose UTF-16 and UTF-8 orders differ')
  for (const k of keys) customValue(map[k], `${path}.${k.slice(0, 64)}`, depth + 1)
}

function targetInfo (v: unknown, path: Path): TargetInfo {
  const f = Fields.of(v, path)
  const length = safeInt(f.req('length'), f.sub('length'), 0)
  const cid = contentLink(f.req('cid'), f.sub('cid'))
  const c = f.opt('custom')
  f.done()
  return c === undefined ? Object.freeze({ length, cid }) : Object.freeze({ length, cid, custom: checkCustom(c, f.sub('custom')) })
}

function pathPattern (v: unknown, path: Path): string {
  const s = str(v, path)
  // Patterns follow the target-path rules; `*` and `?` are ordinary
  // characters for this check (they are legal in paths too).
  if (!isSafeTargetPath(s)) fail('ERR_UNSAFE_PATH', path, 'unsafe path pattern')
  return s
}

const NAME_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** TAP 15 succinct hash bins (DELEG-SUCCINCT). */
function succinctRoles (v: unknown, path: Path): SuccinctRoles {
  const f = Fields.of(v, path)
  const rk = roleKeys(f)
  const bitLength = safeInt(f.req('bit_length'), f.sub('bit_length'), 1)
  if (bitLength > LIMITS.maxSuccinctBits) fail('ERR_LIMIT', f.sub('bit_length'), `at most ${LIMITS.maxSuccinctBits} bits (${2 ** LIMITS.maxSuccinctBits} bins)`)
  const namePrefix = str(f.req('name_prefix'), f.sub('name_prefix'), 255)
  f.done()
  // Every bin name must be a safe role name: check the longest, the last bin.
  const last = `${namePrefix}-${'f'.repeat(Math.ceil(bitLength / 4))}`
  if (!NAME_PREFIX.test(namePrefix) || !isSafeRoleName(last) || !isSafeRoleName(`${namePrefix}-${'0'.repeat(Math.ceil(bitLength / 4))}`)) {
    fail('ERR_UNSAFE_NAME', f.sub('name_prefix'), 'the bin names PREFIX-HEX must be safe role names')
  }
  return Object.freeze({ ...rk, bitLength, namePrefix })
}

function delegations (v: unknown, path: Path): Delegations {
  const f = Fields.of(v, path)
  const keys = keysMap(f.req('keys'), f.sub('keys'))
  const succinct = f.opt('succinct_roles')
  if (succinct !== undefined) {
    if (f.opt('roles') !== undefined) fail('ERR_SCHEMA', path, 'exactly one of roles and succinct_roles')
    const s = succinctRoles(succinct, f.sub('succinct_roles'))
    f.done()
    return Object.freeze({ keys, roles: Object.freeze([]), succinct: s })
  }
  const list = arr(f.req('roles'), f.sub('roles'), LIMITS.maxDelegationsPerRole)
  const names = new Set<string>()
  const roles: DelegatedRole[] = list.map((raw, i) => {
    const rp = `${f.sub('roles')}[${i}]`
    const rf = Fields.of(raw, rp)
    const name = rf.req('name')
    if (!isSafeRoleName(name)) fail('ERR_UNSAFE_NAME', `${rp}.name`, 'unsafe role name')
    if (names.has(name)) fail('ERR_DUPLICATE_ROLE', `${rp}.name`, 'role delegated twice by one delegator')
    names.add(name)
    const rk = roleKeys(rf)
    const terminating = bool(rf.req('terminating'), rf.sub('terminating'))
    const paths = rf.opt('paths')
    const prefixes = rf.opt('path_hash_prefixes')
    rf.done()
    if ((paths === undefined) === (prefixes === undefined)) {
      fail('ERR_SCHEMA', rp, 'exactly one of paths and path_hash_prefixes')
    }
    if (paths !== undefined) {
      const ps = arr(paths, `${rp}.paths`, LIMITS.maxPathPatterns).map((p, j) => pathPattern(p, `${rp}.paths[${j}]`))
      return Object.freeze({ name, ...rk, terminating, paths: Object.freeze(ps) })
    }
    const hs = arr(prefixes, `${rp}.path_hash_prefixes`, LIMITS.maxPathPatterns).map((p, j) => {
      if (typeof p !== 'string' || !HASH_PREFIX.test(p)) fail('ERR_SCHEMA', `${rp}.path_hash_prefixes[${j}]`, 'a hash prefix is 1-64 lowercase hex characters')
      return p
    })
    return Object.freeze({ name, ...rk, terminating, pathHashPrefixes: Object.freeze(hs) })
  })
  f.done()
  return Object.freeze({ keys, roles: Object.freeze(roles) })
}

function targetsSigned (f: Fields): TargetsSigned {
  const d = f.opt('delegations')
  const base = {
    type: 'targets' as const,
    ...versioned(f),
    targets: shardLink(f.req('targets'), f.sub('targets'))
  }
  return d === undefined ? base : { ...base, delegations: delegations(d, f.sub('delegations')) }
}

/** A link to the root node of a sharded map (NOTES 11): CIDv1, dag-cbor, sha2-256. */
function shardLink (v: unknown, path: Path): CID {
  const cid = CID.asCID(v)
  if (cid === null) fail('ERR_SCHEMA', path, 'expected a link')
  if (cid.version !== 1 || cid.code !== CODEC_DAG_CBOR || !isSha256(cid)) {
    fail('ERR_SCHEMA', path, 'sharded map links must be CIDv1 dag-cbor sha2-256 (32-byte digest)')
  }
  return cid
}

function snapshotSigned (f: Fields): SnapshotSigned {
  const m = Fields.of(f.req('meta'), f.sub('meta'))
  const meta = Object.freeze({
    root: metaLink(m.req('root'), m.sub('root')),
    targets: metaLink(m.req('targets'), m.sub('targets')),
    delegatedTargets: shardLink(m.req('delegated-targets'), m.sub('delegated-targets')),
    retired: shardLink(m.req('retired'), m.sub('retired'))
  })
  m.done()
  const height = safeInt(f.req('height'), f.sub('height'), 1)
  const skips = arr(f.req('skips'), f.sub('skips'), MAX_SKIPS).map((l, i) => metaLink(l, `${f.sub('skips')}[${i}]`))
  return {
    type: 'snapshot',
    ...versioned(f),
    height,
    skips: Object.freeze(skips),
    meta
  }
}

/**
 * A target's entry in a targets map (a value of the sharded map, NOTES 11).
 * @throws {DecodeError}
 */
export function parseTargetInfo (v: unknown, path: string): TargetInfo {
  return targetInfo(v, path)
}

/** The wire value of a target entry. */
export function targetInfoToWire (t: TargetInfo): Record<string, unknown> {
  return t.custom === undefined ? { length: t.length, cid: t.cid } : { length: t.length, cid: t.cid, custom: t.custom }
}

/** A role name as a map key (ENC-NAME-SAFE). @throws {DecodeError} ERR_UNSAFE_NAME */
export function checkRoleName (name: string, path: string): void {
  if (!isSafeRoleName(name)) fail('ERR_UNSAFE_NAME', path, 'unsafe role name')
}

/** A target path as a map key (ENC-PATH-SAFE). @throws {DecodeError} ERR_UNSAFE_PATH */
export function checkTargetPath (p: string, path: string): void {
  if (!isSafeTargetPath(p)) fail('ERR_UNSAFE_PATH', path, 'unsafe target path')
}

/** A link to another dagtuf metadata block (CIDv1 dag-json sha2-256). @throws {DecodeError} ERR_SCHEMA */
export function parseMetaLink (v: unknown, path: string): CID {
  return metaLink(v, path)
}

function timestampSigned (f: Fields): TimestampSigned {
  return {
    type: 'timestamp',
    ...common(f),
    snapshot: metaLink(f.req('snapshot'), f.sub('snapshot'))
  }
}

/**
 * Check a decoded `signed` value as an object of `kind`.
 * @throws {DecodeError}
 */
export function parseSigned<K extends Signed['type']> (kind: K, v: unknown): Extract<Signed, { type: K }> {
  const f = Fields.of(v, 'signed')
  const type = f.req('_type')
  if (type !== kind) fail('ERR_KIND', 'signed._type', `expected ${kind}, got ${typeof type === 'string' ? type.slice(0, 32) : typeof type}`)
  let out: Signed
  switch (kind) {
    case 'root': out = rootSigned(f); break
    case 'targets': out = targetsSigned(f); break
    case 'snapshot': out = snapshotSigned(f); break
    case 'timestamp': out = timestampSigned(f); break
    default: fail('ERR_KIND', 'signed._type', 'unknown kind')
  }
  f.done()
  return Object.freeze(out) as Extract<Signed, { type: K }>
}

/**
 * Check the `signatures` list: at most one per keyid (SIG-ONE-PER-KEYID), in
 * ascending keyid order (ENC-CANONICAL: the order every encoder writes, so
 * that an envelope is a function of its signed object and its set of
 * signatures). The content of `sig` is judged only when verifying
 * (SIG-MALFORMED).
 * @throws {DecodeError}
 */
export function parseSignatures (v: unknown): Signature[] {
  const list = arr(v, 'signatures', LIMITS.maxSignatures)
  const seen = new Set<string>()
  let last = ''
  return list.map((raw, i) => {
    const p = `signatures[${i}]`
    const f = Fields.of(raw, p)
    const keyid = f.req('keyid')
    const sig = str(f.req('sig'), f.sub('sig'), 1024)
    f.done()
    if (!isHex64(keyid)) fail('ERR_SCHEMA', `${p}.keyid`, 'a keyid is 64 lowercase hex characters')
    if (seen.has(keyid)) fail('ERR_DUPLICATE_SIGNATURE', `${p}.keyid`, 'two signatures with one keyid')
    if (keyid < last) fail('ERR_NON_CANONICAL', `${p}.keyid`, 'signatures are not in ascending keyid order')
    seen.add(keyid)
    last = keyid
    return Object.freeze({ keyid, sig })
  })
}

// ---------------------------------------------------------------------------
// Typed model -> wire value (the input of dag-json encoding).

function keysWire (keys: ReadonlyMap<KeyId, PublicKey>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null)
  for (const [id, k] of keys) out[id] = { keytype: k.keytype, keyval: { public: k.public }, scheme: k.scheme }
  return out
}

function roleWire (r: RoleKeys): Record<string, unknown> {
  return { keyids: [...r.keyids], threshold: r.threshold }
}

/** The wire value of a typed `signed` object. */
export function signedToWire (s: Signed): Record<string, unknown> {
  const common = { _type: s.type, spec_version: s.specVersion, expires: s.expires }
  switch (s.type) {
    case 'root': {
      const roles: Record<string, unknown> = {}
      for (const n of TOP_ROLES) roles[n] = roleWire(s.roles[n])
      return { ...common, 'previous-version': s.previousVersion, keys: keysWire(s.keys), roles }
    }
    case 'targets': {
      const out: Record<string, unknown> = { ...common, 'previous-version': s.previousVersion, targets: s.targets }
      if (s.delegations?.succinct !== undefined) {
        const sr = s.delegations.succinct
        out.delegations = {
          keys: keysWire(s.delegations.keys),
          succinct_roles: { bit_length: sr.bitLength, keyids: [...sr.keyids], name_prefix: sr.namePrefix, threshold: sr.threshold }
        }
      } else if (s.delegations !== undefined) {
        out.delegations = {
          keys: keysWire(s.delegations.keys),
          roles: s.delegations.roles.map((r) => {
            const base = { name: r.name, ...roleWire(r), terminating: r.terminating }
            return r.paths !== undefined ? { ...base, paths: [...r.paths] } : { ...base, path_hash_prefixes: [...r.pathHashPrefixes] }
          })
        }
      }
      return out
    }
    case 'snapshot':
      return {
        ...common,
        'previous-version': s.previousVersion,
        height: s.height,
        skips: [...s.skips],
        meta: {
          root: s.meta.root,
          targets: s.meta.targets,
          'delegated-targets': s.meta.delegatedTargets,
          retired: s.meta.retired
        }
      }
    case 'timestamp':
      return { ...common, snapshot: s.snapshot }
  }
}
