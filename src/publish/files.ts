/**
 * The publisher's state files: their typed shapes, strict readers and
 * writers. Every reader treats the file as untrusted (it sits on a disk that
 * people and other programs can touch) and fails with a RepoError whose code
 * says which file is bad: ERR_REPO_CORRUPT for config, head, staged changes
 * and the log; ERR_DRAFT_FORMAT for drafts.
 *
 *   config.json   { "format": "dagtuf-config/1", "expiry": { ROLE: DURATION } }
 *                 DURATION is "<n>s|m|h|d" (e.g. "365d"); ROLE is root,
 *                 targets, snapshot, timestamp or delegated.
 *   head.json     { "format": "dagtuf-head/1", "timestamp", "snapshot", "root",
 *                   "targets", "delegated": { NAME: CID }, "retired": { NAME: CID },
 *                   "published": ISO-8601, "changes": [CHANGE] }
 *   staged.jsonl  {"format": "dagtuf-staged/2", "id": ID} then one {"ops": [OP...]} per command (see Op)
 *   log.jsonl     one LogEntry per line, oldest first
 *   drafts/ID.json  see drafts.ts (Draft)
 */
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { targetsCodec } from '../shard/index.js'
import { isSafeRoleName, isSafeTargetPath } from '../model/schema.js'
import { isValidExpires } from '../model/schema.js'
import { LIMITS } from '../model/config.js'
import { DecodeError, RepoError, type DagtufError } from '../model/errors.js'
import { isAcceptablePublicKey } from '../model/keys.js'
import { CODEC_DAG_JSON, CODEC_DAG_PB, CODEC_RAW, parseCid } from '../model/hash.js'
import { Fields, entriesOf, parseJson, strOf, type ErrorFactory } from '../model/strictjson.js'

export const MiB = 1024 * 1024

export function corrupt (file: string): ErrorFactory {
  return (message: string, cause?: unknown): DagtufError => new RepoError('ERR_REPO_CORRUPT', `${file}: ${message}`, { cause, details: { file } })
}

const CID_TEXT = /^b[a-z2-7]{10,200}$/
const HEX64 = /^[0-9a-f]{64}$/
const HEX_PREFIX = /^[0-9a-f]{1,64}$/
/** Ids of staged sets and drafts: "" or "staged-HEX" / "draft-HEX". */
export const SOURCE_ID = /^(|(staged|draft)-[0-9a-f]{8,32})$/
const DURATION = /^([1-9][0-9]{0,8})([smhd])$/

/** A metadata CID read from a state file (CIDv1 dag-json sha2-256). */
export function metaCid (v: unknown, path: string, onError: ErrorFactory): CID {
  const s = strOf(v, path, onError, CID_TEXT, 256)
  let cid: CID
  try { cid = parseCid(s) } catch (cause) { throw onError(`${path}: not a CID`, cause) }
  if (cid.version !== 1 || cid.code !== CODEC_DAG_JSON || cid.multihash.code !== 0x12 || cid.toString() !== s) throw onError(`${path}: not a dagtuf metadata CID`)
  return cid
}

/** A target content CID read from a state file (CIDv1 raw or dag-pb, sha2-256). */
export function contentCid (v: unknown, path: string, onError: ErrorFactory): CID {
  const s = strOf(v, path, onError, CID_TEXT, 256)
  let cid: CID
  try { cid = parseCid(s) } catch (cause) { throw onError(`${path}: not a CID`, cause) }
  if (cid.version !== 1 || (cid.code !== CODEC_RAW && cid.code !== CODEC_DAG_PB) || cid.multihash.code !== 0x12 || cid.toString() !== s) throw onError(`${path}: not a content CID`)
  return cid
}

function nameMap (v: unknown, path: string, onError: ErrorFactory): Map<string, CID> {
  const out = new Map<string, CID>()
  for (const [name, c] of entriesOf(v, path, onError, LIMITS.maxDelegatedRoles)) {
    if (!isSafeRoleName(name)) throw onError(`${path}: bad role name`)
    out.set(name, metaCid(c, `${path}.${name}`, onError))
  }
  return out
}

function mapJson (m: ReadonlyMap<string, CID>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of [...m].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) out[k] = v.toString()
  return out
}

// ---------------------------------------------------------------------------
// config.json

export type ExpiryRole = 'root' | 'targets' | 'snapshot' | 'timestamp' | 'delegated'
export const EXPIRY_ROLES: readonly ExpiryRole[] = ['root', 'targets', 'snapshot', 'timestamp', 'delegated']

export interface RepoConfig {
  /** Seconds each kind of object stays fresh after it is signed. */
  readonly expiry: Readonly<Record<ExpiryRole, number>>
}

/** TUF's spirit: root a year, targets three months, snapshot a week, timestamp a day. */
export const DEFAULT_EXPIRY: Readonly<Record<ExpiryRole, string>> = Object.freeze({
  root: '365d', targets: '90d', snapshot: '7d', timestamp: '1d', delegated: '90d'
})

/** "7d" -> 604800. @throws the error from onError for anything else */
export function parseDuration (s: string, onError: ErrorFactory, what = 'duration'): number {
  const m = DURATION.exec(s)
  if (m === null) throw onError(`${what}: expected a duration like 90d, 12h, 30m or 3600s`)
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd']
  const secs = Number(m[1]) * unit
  if (secs > 100 * 365 * 86400) throw onError(`${what}: longer than 100 years`)
  return secs
}

export function defaultConfig (): RepoConfig {
  const expiry = {} as Record<ExpiryRole, number>
  for (const r of EXPIRY_ROLES) expiry[r] = parseDuration(DEFAULT_EXPIRY[r], corrupt('defaults'))
  return { expiry }
}

export function configText (expiry: Readonly<Record<ExpiryRole, string>> = DEFAULT_EXPIRY): string {
  return JSON.stringify({ format: 'dagtuf-config/1', expiry }, null, 2) + '\n'
}

/** @throws {RepoError} ERR_REPO_CORRUPT */
export function parseConfig (bytes: Uint8Array): RepoConfig {
  const onError = corrupt('config.json')
  const f = Fields.of(parseJson(bytes, { maxBytes: 64 * 1024, maxDepth: 4, onError }), 'config', onError)
  f.literal('format', 'dagtuf-config/1')
  const e = f.obj('expiry')
  const expiry = {} as Record<ExpiryRole, number>
  for (const r of EXPIRY_ROLES) {
    const s = e.optStr(r, undefined, 32)
    expiry[r] = s === undefined ? defaultConfig().expiry[r] : parseDuration(s, onError, `config.expiry.${r}`)
  }
  e.done()
  f.done()
  return { expiry }
}

// ---------------------------------------------------------------------------
// Changes (what one publish did), shared by head.json, the log and drafts.

export const CHANGE_KINDS = ['created', 'targets-added', 'targets-removed', 'targets-changed', 'delegations-changed', 'keys-rotated', 'resigned', 'retired', 'restored'] as const
export type ChangeKind = typeof CHANGE_KINDS[number]

export interface Change {
  readonly role: string
  readonly kind: ChangeKind
  readonly count?: number
}

function parseChanges (v: unknown, path: string, onError: ErrorFactory): Change[] {
  if (!Array.isArray(v) || v.length > 100_000) throw onError(`${path}: expected a list`)
  return v.map((raw, i) => {
    const f = Fields.of(raw, `${path}[${i}]`, onError)
    const role = f.str('role', undefined, 255)
    if (role !== 'root' && role !== 'targets' && role !== 'snapshot' && role !== 'timestamp' && !isSafeRoleName(role)) throw onError(`${path}[${i}].role: bad role name`)
    const kind = f.str('kind', undefined, 64)
    if (!(CHANGE_KINDS as readonly string[]).includes(kind)) throw onError(`${path}[${i}].kind: unknown change`)
    const count = f.has('count') ? f.int('count', 0, LIMITS.maxTargets) : undefined
    f.done()
    return count === undefined ? { role, kind: kind as ChangeKind } : { role, kind: kind as ChangeKind, count }
  })
}

// ---------------------------------------------------------------------------
// head.json and the log

export interface HeadRecord {
  readonly timestamp: CID
  readonly snapshot: CID
  readonly root: CID
  readonly targets: CID
  readonly delegated: ReadonlyMap<string, CID>
  readonly retired: ReadonlyMap<string, CID>
  /** When it was published (ISO-8601 UTC, seconds). */
  readonly published: string
  readonly changes: readonly Change[]
  /** The staged set or draft this head was published from ("" for none), so a crash after moving the head cannot make them apply twice. */
  readonly source: string
}

function headFields (f: Fields, onError: ErrorFactory): HeadRecord {
  const rec: HeadRecord = {
    timestamp: metaCid(f.req('timestamp'), f.sub('timestamp'), onError),
    snapshot: metaCid(f.req('snapshot'), f.sub('snapshot'), onError),
    root: metaCid(f.req('root'), f.sub('root'), onError),
    targets: metaCid(f.req('targets'), f.sub('targets'), onError),
    delegated: nameMap(f.req('delegated'), f.sub('delegated'), onError),
    retired: nameMap(f.req('retired'), f.sub('retired'), onError),
    published: f.str('published', undefined, 32),
    changes: parseChanges(f.req('changes'), f.sub('changes'), onError),
    source: f.str('source', SOURCE_ID)
  }
  if (!isValidExpires(rec.published)) throw onError(`${f.sub('published')}: expected YYYY-MM-DDTHH:MM:SSZ`)
  f.done()
  return rec
}

export function headJson (h: HeadRecord): Record<string, unknown> {
  return {
    timestamp: h.timestamp.toString(),
    snapshot: h.snapshot.toString(),
    root: h.root.toString(),
    targets: h.targets.toString(),
    delegated: mapJson(h.delegated),
    retired: mapJson(h.retired),
    published: h.published,
    changes: h.changes.map((c) => ({ ...c })),
    source: h.source
  }
}

export function headText (h: HeadRecord): string {
  return JSON.stringify({ format: 'dagtuf-head/1', ...headJson(h) }, null, 2) + '\n'
}

/** @throws {RepoError} ERR_REPO_CORRUPT */
export function parseHead (bytes: Uint8Array): HeadRecord {
  const onError = corrupt('head.json')
  const f = Fields.of(parseJson(bytes, { maxBytes: 64 * MiB, maxDepth: 6, onError }), 'head', onError)
  f.literal('format', 'dagtuf-head/1')
  return headFields(f, onError)
}

export function logLine (h: HeadRecord): string {
  return JSON.stringify(headJson(h))
}

/**
 * Parse the log. A last line without its newline is a write cut short by a
 * crash: it is ignored (the head, written before the log, is the truth).
 *
 * @throws {RepoError} ERR_REPO_CORRUPT
 */
export function parseLog (bytes: Uint8Array): HeadRecord[] {
  const onError = corrupt('log.jsonl')
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  const lines = text.split('\n')
  const complete = lines.slice(0, -1) // the part after the last "\n" is either empty or cut short
  return complete.filter((l) => l.length > 0).map((l, i) => headFields(Fields.of(parseJson(l, { maxBytes: 64 * MiB, maxDepth: 6, onError }), `log[${i}]`, onError), onError))
}

// ---------------------------------------------------------------------------
// staged.jsonl

/** One staged change. Ops are declarative, so applying them twice is harmless. */
export type Op =
  | { readonly op: 'add', readonly role: string, readonly path: string, readonly cid: CID, readonly length: number, readonly custom?: unknown }
  | { readonly op: 'remove', readonly role: string, readonly path: string }
  | {
    readonly op: 'delegate'
    readonly from: string
    readonly name: string
    readonly keys: readonly string[]
    readonly threshold: number
    readonly terminating: boolean
    readonly paths?: readonly string[]
    readonly hashPrefixes?: readonly string[]
    /** TAP 15 succinct hash bins: `name` is their prefix (DELEG-SUCCINCT). */
    readonly succinctBits?: number
  }
  | { readonly op: 'undelegate', readonly name: string, readonly from?: string }
  | { readonly op: 'rotate', readonly role: string, readonly keys: readonly string[], readonly threshold: number }
  | { readonly op: 'refresh', readonly role: string }

function roleName (v: unknown, path: string, onError: ErrorFactory, allowTop: readonly string[]): string {
  const s = strOf(v, path, onError, undefined, 255)
  if (!allowTop.includes(s) && !isSafeRoleName(s)) throw onError(`${path}: bad role name`)
  return s
}

function pubKeys (v: unknown, path: string, onError: ErrorFactory): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > LIMITS.maxKeyidsPerRole) throw onError(`${path}: expected a list of public keys`)
  return v.map((k, i) => {
    const s = strOf(k, `${path}[${i}]`, onError, HEX64)
    if (!isAcceptablePublicKey(s)) throw onError(`${path}[${i}]: not a usable ed25519 public key`)
    return s
  })
}

function parseOp (raw: unknown, path: string, onError: ErrorFactory): Op {
  const f = Fields.of(raw, path, onError)
  const op = f.str('op', undefined, 32)
  let out: Op
  switch (op) {
    case 'add': {
      const p = f.str('path')
      if (!isSafeTargetPath(p)) throw onError(`${path}.path: unsafe target path`)
      const base = { op, role: roleName(f.req('role'), f.sub('role'), onError, ['targets']), path: p, cid: contentCid(f.req('cid'), f.sub('cid'), onError), length: f.int('length', 0, Number.MAX_SAFE_INTEGER) } as const
      // custom travels as dag-json text (it may hold links and bytes), checked like a target's custom.
      out = f.has('custom_dag_json') ? { ...base, custom: customOf(f.str('custom_dag_json', undefined, 64 * 1024), `${path}.custom_dag_json`, onError) } : base
      break
    }
    case 'remove': {
      const p = f.str('path')
      if (!isSafeTargetPath(p)) throw onError(`${path}.path: unsafe target path`)
      out = { op, role: roleName(f.req('role'), f.sub('role'), onError, ['targets']), path: p }
      break
    }
    case 'delegate': {
      const base = {
        op,
        from: roleName(f.req('from'), f.sub('from'), onError, ['targets']),
        name: roleName(f.req('name'), f.sub('name'), onError, []),
        keys: pubKeys(f.req('keys'), f.sub('keys'), onError),
        threshold: f.int('threshold', 1, LIMITS.maxKeyidsPerRole),
        terminating: f.bool('terminating')
      } as const
      const paths = f.opt('paths')
      const prefixes = f.opt('hash_prefixes')
      if (f.has('succinct_bits')) {
        if (paths !== undefined || prefixes !== undefined) throw onError(`${path}: succinct_bits excludes paths and hash_prefixes`)
        out = { ...base, succinctBits: f.int('succinct_bits', 1, LIMITS.maxSuccinctBits) }
        break
      }
      if ((paths === undefined) === (prefixes === undefined)) throw onError(`${path}: exactly one of paths and hash_prefixes`)
      const list = (paths ?? prefixes) as unknown
      if (!Array.isArray(list) || list.length > LIMITS.maxPathPatterns) throw onError(`${path}: bad pattern list`)
      if (paths !== undefined) {
        out = { ...base, paths: list.map((p, i) => { const s = strOf(p, `${path}.paths[${i}]`, onError); if (!isSafeTargetPath(s)) throw onError(`${path}.paths[${i}]: unsafe pattern`); return s }) }
      } else {
        out = { ...base, hashPrefixes: list.map((p, i) => strOf(p, `${path}.hash_prefixes[${i}]`, onError, HEX_PREFIX)) }
      }
      break
    }
    case 'undelegate': {
      const name = roleName(f.req('name'), f.sub('name'), onError, [])
      const from = f.has('from') ? roleName(f.req('from'), f.sub('from'), onError, ['targets']) : undefined
      out = from === undefined ? { op, name } : { op, name, from }
      break
    }
    case 'rotate':
      out = {
        op,
        role: roleName(f.req('role'), f.sub('role'), onError, ['root', 'targets', 'snapshot', 'timestamp']),
        keys: pubKeys(f.req('keys'), f.sub('keys'), onError),
        threshold: f.int('threshold', 1, LIMITS.maxKeyidsPerRole)
      }
      break
    case 'refresh':
      out = { op, role: roleName(f.req('role'), f.sub('role'), onError, ['root', 'targets']) }
      break
    default:
      throw onError(`${path}.op: unknown operation`)
  }
  f.done()
  return out
}

/**
 * A list of operations given as JSON (a signing session's proposal, in the
 * staged-file form of each op: see `opJson`), read as strictly as staged.jsonl.
 *
 * @throws what `onError` makes
 */
export function parseOpList (v: unknown, where: string, onError: ErrorFactory, max = 100_000): Op[] {
  if (!Array.isArray(v) || v.length > max) throw onError(`${where}: expected a list of at most ${max} operations`)
  return v.map((o, i) => parseOp(o, `${where}[${i}]`, onError))
}

export function opJson (o: Op): Record<string, unknown> {
  switch (o.op) {
    case 'add': {
      const base = { op: o.op, role: o.role, path: o.path, cid: o.cid.toString(), length: o.length }
      return o.custom === undefined ? base : { ...base, custom_dag_json: new TextDecoder().decode(dagJson.encode(o.custom)) }
    }
    case 'delegate': {
      const { hashPrefixes, paths, succinctBits, ...rest } = o
      if (succinctBits !== undefined) return { ...rest, keys: [...o.keys], succinct_bits: succinctBits }
      return paths !== undefined ? { ...rest, keys: [...o.keys], paths: [...paths] } : { ...rest, keys: [...o.keys], hash_prefixes: [...(hashPrefixes ?? [])] }
    }
    default: return { ...o }
  }
}

/**
 * A target's `custom` given as dag-json text (the `add --custom` option and
 * staged files): decoded by the strict dag-json decoder, then checked exactly
 * as a reader checks it, so nothing staged can be refused later.
 */
export function customOf (text: string, where: string, onError: ErrorFactory): unknown {
  try {
    return parseCustom(text)
  } catch (e) {
    throw onError(`${where}: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/**
 * A target's `custom` from dag-json text, checked as a reader checks it.
 *
 * @throws {DecodeError} ERR_DAG_JSON (not dag-json, or a reserved "/" map) | ERR_SCHEMA | ERR_LIMIT | ERR_NON_CANONICAL | ERR_TOO_DEEP
 */
export function parseCustom (text: string): unknown {
  let value: unknown
  try {
    value = dagJson.decode(new TextEncoder().encode(text))
  } catch (cause) {
    throw new DecodeError('ERR_DAG_JSON', 'custom: not a dag-json value', { cause })
  }
  return targetsCodec.fromWire({ cid: CUSTOM_PROBE, length: 0, custom: value }, 'custom').custom
}

/** Any content link, to check a custom value through the target schema. */
const CUSTOM_PROBE = CID.parse('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')

export interface Staged {
  /** "staged-HEX", fresh for each set of staged changes. */
  readonly id: string
  readonly ops: readonly Op[]
}

/**
 * staged.jsonl: a header line `{"format":"dagtuf-staged/2","id":ID}`, then one
 * line `{"ops":[OP...]}` per staging command, appended and flushed, so a
 * command costs what it stages, not what was staged before it.
 */
export function stagedHeader (id: string): string {
  return JSON.stringify({ format: 'dagtuf-staged/2', id }) + '\n'
}

/** One batch line of staged.jsonl. */
export function stagedBatch (ops: readonly Op[]): string {
  return JSON.stringify({ ops: ops.map(opJson) }) + '\n'
}

/** The whole file for a staged set (one batch). */
export function stagedText (s: Staged): string {
  return stagedHeader(s.id) + (s.ops.length > 0 ? stagedBatch(s.ops) : '')
}

/** Most staged ops read back (the sum over all batches). */
export const MAX_STAGED_OPS = 10_000_000

/**
 * Read staged.jsonl. A last line without its newline is a batch whose
 * append did not finish (its command failed): it is ignored, and the next
 * append cuts it off (Repo.appendStaged).
 *
 * @throws {RepoError} ERR_REPO_CORRUPT
 */
export function parseStaged (bytes: Uint8Array): Staged {
  const onError = corrupt('staged.jsonl')
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  const lines = text.split('\n').slice(0, -1)
  if (lines.length === 0) throw onError('staged: no header line')
  const h = Fields.of(parseJson(lines[0]!, { maxBytes: 1024, maxDepth: 2, onError }), 'staged', onError)
  h.literal('format', 'dagtuf-staged/2')
  const id = h.str('id', SOURCE_ID)
  if (!id.startsWith('staged-')) throw onError('staged.id: malformed')
  h.done()
  const ops: Op[] = []
  for (let i = 1; i < lines.length; i++) {
    const f = Fields.of(parseJson(lines[i]!, { maxBytes: 512 * MiB, maxDepth: 6, onError }), `staged[${i}]`, onError)
    for (const [j, o] of f.arr('ops', MAX_STAGED_OPS).entries()) {
      if (ops.length >= MAX_STAGED_OPS) throw onError(`staged: more than ${MAX_STAGED_OPS} ops`)
      ops.push(parseOp(o, `staged[${i}].ops[${j}]`, onError))
    }
    f.done()
  }
  return { id, ops }
}
