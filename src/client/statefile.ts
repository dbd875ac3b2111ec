/**
 * The client's state file, `state.json`: its typed shape, a strict reader and
 * a writer. The only place in src/client that parses JSON text.
 *
 * The file sits on a disk where people and other programs can touch it, so
 * it is read as untrusted input. `parseState` guarantees:
 * - at most MAX_STATE_BYTES, valid UTF-8, checked before anything else;
 * - a small strict JSON subset and nothing more: objects, strings and
 *   `null` (the only kinds the format uses), RFC 8259 string escapes, no
 *   duplicate member names, no trailing data, no lone surrogates, nesting at
 *   most MAX_DEPTH (checked while parsing, no deeper recursion);
 * - every member known and of the right form: CIDs are CIDv1 dag-json
 *   sha2-256 in their canonical base32 text, role names are ENC-NAME-SAFE,
 *   times are ENC-EXPIRES-shaped;
 * - the invariant of NOTES 7.1 that the file itself can show: a trusted
 *   timestamp comes with its snapshot, targets and delegated roles, or none
 *   of them does.
 * Every failure is one StateError ERR_STATE_CORRUPT naming the field.
 *
 * Wire form (members in this order, as `serializeState` writes them):
 *
 *   { "format": "dagtuf-client-state/1",
 *     "root": CID,
 *     "trusted": null | { "timestamp": CID, "snapshot": CID, "targets": CID,
 *                         "delegated": { NAME: CID }, "reference_time": TIME },
 *     "written": TIME }
 *
 * `reference_time` is the fixed reference time of the update that accepted
 * the trusted timestamp (NOTES 8: a search uses it); `written` is when the
 * file was written, for people.
 */
import { CID } from 'multiformats/cid'
import { LIMITS } from '../model/config.js'
import { StateError } from '../model/errors.js'
import { CODEC_DAG_JSON } from '../model/hash.js'
import { isSafeRoleName, isValidExpires } from '../model/schema.js'

export const STATE_FORMAT = 'dagtuf-client-state/1'
/** Large enough for LIMITS.maxDelegatedRoles names with their CIDs. */
export const MAX_STATE_BYTES = 32 * 1024 * 1024
const MAX_DEPTH = 3

/** What the client trusts after at least one update (NOTES 7.1: T0, S0, ...). */
export interface TrustedSnapshot {
  readonly timestamp: CID
  readonly snapshot: CID
  readonly targets: CID
  readonly delegated: ReadonlyMap<string, CID>
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
// The strict JSON subset

type Value = string | null | Obj
interface Obj { readonly [k: string]: Value }

class Parser {
  i = 0
  constructor (readonly s: string) {}

  fail (message: string): StateError {
    return corrupt(`${message} at offset ${this.i}`)
  }

  ws (): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++
      else break
    }
  }

  value (depth: number): Value {
    const c = this.s[this.i]
    if (c === '{') return this.object(depth + 1)
    if (c === '"') return this.string()
    if (this.s.startsWith('null', this.i)) { this.i += 4; return null }
    throw this.fail(c === undefined ? 'unexpected end' : 'unexpected character')
  }

  string (): string {
    const s = this.s
    this.i++
    let out = ''
    let start = this.i
    for (;;) {
      if (this.i >= s.length) throw this.fail('unterminated string')
      const c = s.charCodeAt(this.i)
      if (c === 0x22) { out += s.slice(start, this.i); this.i++; break }
      if (c < 0x20) throw this.fail('control character in a string')
      if (c === 0x5c) {
        out += s.slice(start, this.i)
        const e = s[this.i + 1]
        const simple: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }
        if (e !== undefined && Object.hasOwn(simple, e)) {
          out += simple[e]
          this.i += 2
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(this.i + 2, this.i + 6))) {
          out += String.fromCharCode(parseInt(s.slice(this.i + 2, this.i + 6), 16))
          this.i += 6
        } else {
          throw this.fail('bad escape')
        }
        start = this.i
        continue
      }
      this.i++
    }
    if (!out.isWellFormed()) throw this.fail('lone surrogate in a string')
    return out
  }

  object (depth: number): Obj {
    if (depth > MAX_DEPTH) throw this.fail('nested too deeply')
    this.i++
    const out: Record<string, Value> = Object.create(null)
    this.ws()
    if (this.s[this.i] === '}') { this.i++; return out }
    for (;;) {
      this.ws()
      if (this.s[this.i] !== '"') throw this.fail('expected a member name')
      const key = this.string()
      if (Object.hasOwn(out, key)) throw this.fail('duplicate member name')
      this.ws()
      if (this.s[this.i] !== ':') throw this.fail('expected :')
      this.i++
      this.ws()
      out[key] = this.value(depth)
      this.ws()
      const c = this.s[this.i]
      this.i++
      if (c === ',') continue
      if (c === '}') return out
      this.i--
      throw this.fail('expected , or }')
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parse the strict JSON subset of state files: objects, strings, null.
 *
 * @throws {StateError} ERR_STATE_CORRUPT
 */
export function parseStrictJson (bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw corrupt('expected bytes')
  if (bytes.byteLength > MAX_STATE_BYTES) throw corrupt(`larger than ${MAX_STATE_BYTES} bytes`)
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch (cause) {
    throw corrupt('not valid UTF-8', cause)
  }
  const p = new Parser(text)
  p.ws()
  const v = p.value(0)
  p.ws()
  if (p.i !== text.length) throw p.fail('trailing data')
  return v
}

// ---------------------------------------------------------------------------
// The typed record

const CID_TEXT = /^b[a-z2-7]{20,200}$/

function isObj (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null
}

function members (v: unknown, path: string, allowed: readonly string[]): Obj {
  if (!isObj(v)) throw corrupt(`${path}: expected an object`)
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw corrupt(`${path}.${k.slice(0, 64)}: unknown member`)
  }
  for (const k of allowed) {
    if (!Object.hasOwn(v, k)) throw corrupt(`${path}.${k}: missing`)
  }
  return v
}

/** A metadata CID in canonical text form. */
function metaCid (v: unknown, path: string): CID {
  if (typeof v !== 'string' || !CID_TEXT.test(v)) throw corrupt(`${path}: expected a CID`)
  let cid: CID
  try {
    cid = CID.parse(v)
  } catch (cause) {
    throw corrupt(`${path}: not a CID`, cause)
  }
  if (cid.version !== 1 || cid.code !== CODEC_DAG_JSON || cid.multihash.code !== 0x12 || cid.multihash.digest.byteLength !== 32 || cid.toString() !== v) {
    throw corrupt(`${path}: not a dagtuf metadata CID`)
  }
  return cid
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
  const top = members(parseStrictJson(bytes), 'state', ['format', 'root', 'trusted', 'written'])
  if (top.format !== STATE_FORMAT) throw corrupt(`state.format: expected ${JSON.stringify(STATE_FORMAT)}`)
  time(top.written, 'state.written')
  const root = metaCid(top.root, 'state.root')
  if (top.trusted === null) return Object.freeze({ root, trusted: null })
  const t = members(top.trusted, 'state.trusted', ['timestamp', 'snapshot', 'targets', 'delegated', 'reference_time'])
  const d = t.delegated
  if (!isObj(d)) throw corrupt('state.trusted.delegated: expected an object')
  const names = Object.keys(d)
  if (names.length > LIMITS.maxDelegatedRoles) throw corrupt('state.trusted.delegated: too many roles')
  const delegated = new Map<string, CID>()
  for (const name of names.sort()) {
    if (!isSafeRoleName(name)) throw corrupt('state.trusted.delegated: a role name that is not ENC-NAME-SAFE')
    delegated.set(name, metaCid(d[name], `state.trusted.delegated.${name}`))
  }
  return Object.freeze({
    root,
    trusted: Object.freeze({
      timestamp: metaCid(t.timestamp, 'state.trusted.timestamp'),
      snapshot: metaCid(t.snapshot, 'state.trusted.snapshot'),
      targets: metaCid(t.targets, 'state.trusted.targets'),
      delegated,
      referenceTime: time(t.reference_time, 'state.trusted.reference_time')
    })
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
          delegated: Object.fromEntries([...t.delegated].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([n, c]) => [n, c.toString()])),
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
  if (!x.timestamp.equals(y.timestamp) || !x.snapshot.equals(y.snapshot) || !x.targets.equals(y.targets)) return false
  if (x.delegated.size !== y.delegated.size) return false
  for (const [n, c] of x.delegated) if (y.delegated.get(n)?.equals(c) !== true) return false
  return true
}
