/**
 * Strict JSON for the files dagtuf keeps on disk: the publisher's state files
 * (config.json, head.json, staged.jsonl, the log, drafts, key files) and the
 * client's state.json. They live where anything can happen to them, so they
 * are read as untrusted input, and only here (ARCHITECTURE: model/ is the
 * only place that turns untrusted bytes into typed objects). Signed metadata
 * has its own codec (codec.ts); this parser is for plain JSON files.
 *
 * Guarantees of `parseJson`:
 * - the input is at most `maxBytes` long and valid UTF-8 (checked before
 *   anything else);
 * - it is RFC 8259 JSON and nothing else: no duplicate member names, no
 *   trailing data, no lone surrogates in strings, numbers within the safe
 *   integer range when they are integers (a fraction or exponent is refused:
 *   no state file holds one);
 * - nesting is at most `maxDepth`, checked while parsing (no recursion past
 *   the cap, so hostile nesting cannot exhaust the stack);
 * - objects come back with a null prototype, so no member name can reach
 *   `Object.prototype`.
 *
 * `Fields` then reads an object field by field from `unknown`; `done()`
 * refuses members that were not read. Every failure throws the error the
 * caller chose (`onError`), so a corrupt head is ERR_REPO_CORRUPT, a corrupt
 * key file ERR_KEY_FORMAT, a corrupt draft ERR_DRAFT_FORMAT, a corrupt
 * client state.json ERR_STATE_CORRUPT. No I/O.
 */
import type { DagtufError } from './errors.js'

/** Builds the error thrown for malformed input: `where` names the file or field. */
export type ErrorFactory = (message: string, cause?: unknown) => DagtufError

export interface ParseOptions {
  maxBytes: number
  maxDepth?: number
  onError: ErrorFactory
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Parse JSON bytes or text strictly.
 *
 * @throws the error built by `options.onError`
 */
export function parseJson (input: Uint8Array | string, options: ParseOptions): unknown {
  const { maxBytes, maxDepth = 32, onError } = options
  let text: string
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) throw onError('expected bytes or text')
  if (typeof input === 'string') {
    if (input.length > maxBytes) throw onError(`larger than ${maxBytes} bytes`)
    text = input
  } else {
    if (input.byteLength > maxBytes) throw onError(`larger than ${maxBytes} bytes`)
    try {
      text = utf8.decode(input)
    } catch (cause) {
      throw onError('not valid UTF-8', cause)
    }
  }
  const p = new Parser(text, maxDepth, onError)
  p.ws()
  const v = p.value(0)
  p.ws()
  if (p.i !== text.length) throw p.fail('trailing data')
  return v
}

class Parser {
  i = 0
  constructor (readonly s: string, readonly maxDepth: number, readonly onError: ErrorFactory) {}

  fail (message: string): DagtufError {
    return this.onError(`${message} at offset ${this.i}`)
  }

  ws (): void {
    const s = this.s
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++
      else break
    }
  }

  value (depth: number): unknown {
    const c = this.s[this.i]
    switch (c) {
      case '{': return this.object(depth + 1)
      case '[': return this.array(depth + 1)
      case '"': return this.string()
      case 't': return this.literal('true', true)
      case 'f': return this.literal('false', false)
      case 'n': return this.literal('null', null)
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number()
        throw this.fail(c === undefined ? 'unexpected end' : 'unexpected character')
    }
  }

  literal<T> (word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) throw this.fail('unexpected character')
    this.i += word.length
    return v
  }

  number (): number {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 400))
    if (m === null) throw this.fail('bad number')
    if (m[2] !== undefined || m[3] !== undefined) throw this.fail('only integers are allowed')
    const n = Number(m[0])
    if (!Number.isSafeInteger(n)) throw this.fail('integer out of the safe range')
    this.i += m[0].length
    return n === 0 ? 0 : n
  }

  string (): string {
    const s = this.s
    this.i++ // opening quote
    let out = ''
    let start = this.i
    for (;;) {
      if (this.i >= s.length) throw this.fail('unterminated string')
      const c = s.charCodeAt(this.i)
      if (c === 0x22) {
        out += s.slice(start, this.i)
        this.i++
        break
      }
      if (c < 0x20) throw this.fail('control character in string')
      if (c === 0x5c) {
        out += s.slice(start, this.i)
        const e = s[this.i + 1]
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }
        if (e !== undefined && Object.hasOwn(simple, e)) {
          out += simple[e]
          this.i += 2
        } else if (e === 'u') {
          const hex = s.slice(this.i + 2, this.i + 6)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.fail('bad \\u escape')
          out += String.fromCharCode(parseInt(hex, 16))
          this.i += 6
        } else {
          throw this.fail('bad escape')
        }
        start = this.i
        continue
      }
      this.i++
    }
    if (!out.isWellFormed()) throw this.fail('lone surrogate in string')
    return out
  }

  array (depth: number): unknown[] {
    if (depth > this.maxDepth) throw this.fail('nested too deeply')
    this.i++
    const out: unknown[] = []
    this.ws()
    if (this.s[this.i] === ']') { this.i++; return out }
    for (;;) {
      this.ws()
      out.push(this.value(depth))
      this.ws()
      const c = this.s[this.i]
      if (c === ',') { this.i++; continue }
      if (c === ']') { this.i++; return out }
      throw this.fail('expected , or ]')
    }
  }

  object (depth: number): Record<string, unknown> {
    if (depth > this.maxDepth) throw this.fail('nested too deeply')
    this.i++
    const out: Record<string, unknown> = Object.create(null)
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
      if (c === ',') { this.i++; continue }
      if (c === '}') { this.i++; return out }
      throw this.fail('expected , or }')
    }
  }
}

/** A JSON object (not an array, not null). */
export function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Reads an object's members one by one, from `unknown`, with the field path
 * in every error. `done()` refuses members nobody asked for.
 */
export class Fields {
  readonly #seen = new Set<string>()
  private constructor (readonly value: Record<string, unknown>, readonly path: string, readonly onError: ErrorFactory) {}

  /** @throws the caller's error when `v` is not an object */
  static of (v: unknown, path: string, onError: ErrorFactory): Fields {
    if (!isObject(v)) throw onError(`${path}: expected an object`)
    return new Fields(v, path, onError)
  }

  fail (name: string, message: string): DagtufError {
    return this.onError(`${this.path}.${name}: ${message}`)
  }

  has (name: string): boolean { return Object.hasOwn(this.value, name) }

  /** A member that must be present (any value). */
  req (name: string): unknown {
    if (!this.has(name)) throw this.fail(name, 'missing')
    this.#seen.add(name)
    return this.value[name]
  }

  opt (name: string): unknown {
    if (!this.has(name)) return undefined
    this.#seen.add(name)
    return this.value[name]
  }

  str (name: string, pattern?: RegExp, maxLen = 4096): string {
    const v = this.req(name)
    if (typeof v !== 'string' || v.length > maxLen) throw this.fail(name, 'expected a string')
    if (pattern !== undefined && !pattern.test(v)) throw this.fail(name, 'malformed')
    return v
  }

  optStr (name: string, pattern?: RegExp, maxLen = 4096): string | undefined {
    return this.has(name) ? this.str(name, pattern, maxLen) : undefined
  }

  int (name: string, min: number, max: number): number {
    const v = this.req(name)
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw this.fail(name, `expected an integer in [${min}, ${max}]`)
    return v
  }

  bool (name: string): boolean {
    const v = this.req(name)
    if (typeof v !== 'boolean') throw this.fail(name, 'expected a boolean')
    return v
  }

  /** A literal tag such as a format name. */
  literal (name: string, expected: string): void {
    const v = this.req(name)
    if (v !== expected) throw this.fail(name, `expected ${JSON.stringify(expected)}`)
  }

  arr (name: string, max: number): unknown[] {
    const v = this.req(name)
    if (!Array.isArray(v) || v.length > max) throw this.fail(name, `expected a list of at most ${max}`)
    return v
  }

  obj (name: string): Fields {
    return Fields.of(this.req(name), `${this.path}.${name}`, this.onError)
  }

  sub (name: string): string { return `${this.path}.${name}` }

  done (): void {
    for (const k of Object.keys(this.value)) {
      if (!this.#seen.has(k)) throw this.fail(k.slice(0, 64), 'unknown member')
    }
  }
}

/** A string from a list element, checked against a pattern. */
export function strOf (v: unknown, path: string, onError: ErrorFactory, pattern?: RegExp, maxLen = 4096): string {
  if (typeof v !== 'string' || v.length > maxLen || (pattern !== undefined && !pattern.test(v))) throw onError(`${path}: expected a well-formed string`)
  return v
}

/** Members of an object whose names are data (role names, paths). */
export function entriesOf (v: unknown, path: string, onError: ErrorFactory, max: number): Array<[string, unknown]> {
  if (!isObject(v)) throw onError(`${path}: expected an object`)
  const keys = Object.keys(v)
  if (keys.length > max) throw onError(`${path}: more than ${max} members`)
  return keys.map((k) => [k, v[k]])
}
