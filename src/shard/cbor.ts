/**
 * A direct encoder of canonical dag-cbor for the values shard nodes hold
 * (NOTES 11): the same bytes as `@ipld/dag-cbor`'s `encode`, written straight
 * into one buffer.
 *
 * Why: a bulk build of a million-entry map spent about 40 % of its time in
 * the generic encoder (values turned into tokens, tokens into a buffer list,
 * a fresh array for every CID), and a reader re-encodes every shard node it
 * decodes (SHARD-ENC). This writes the bytes in one pass.
 *
 * What it covers: null, booleans, integers that are safe JS integers (not
 * -0), strings, byte arrays, arrays, plain (or null-prototype) objects, and
 * CIDs. For anything else (floats, -0, bigints, undefined, other objects)
 * `encodeCanonical` returns undefined and the caller uses `@ipld/dag-cbor`,
 * which encodes it or throws as it always did. Canonical form, as dag-cbor
 * writes it: the shortest head for every length and integer, map keys
 * ordered by their UTF-8 length then bytewise, a CID as tag 42 over the
 * byte string 0x00 + its bytes. test/shard/cbor.test.ts checks that the two
 * encoders agree on generated values and shard nodes.
 */
import { CID } from 'multiformats/cid'

const utf8 = new TextEncoder()

/** A growable output buffer (one per call, so that a value is never shared). */
class Out {
  buf: Uint8Array
  pos = 0
  constructor (size: number) { this.buf = new Uint8Array(size) }

  need (n: number): void {
    if (this.pos + n <= this.buf.byteLength) return
    let size = this.buf.byteLength * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  /** A head: major type (0..7) and an argument, in its shortest form. */
  head (major: number, n: number): void {
    const m = major << 5
    this.need(9)
    const b = this.buf
    if (n < 24) {
      b[this.pos++] = m | n
    } else if (n < 0x100) {
      b[this.pos++] = m | 24
      b[this.pos++] = n
    } else if (n < 0x10000) {
      b[this.pos++] = m | 25
      b[this.pos++] = n >>> 8
      b[this.pos++] = n & 0xff
    } else if (n < 0x100000000) {
      b[this.pos++] = m | 26
      b[this.pos++] = n >>> 24
      b[this.pos++] = (n >>> 16) & 0xff
      b[this.pos++] = (n >>> 8) & 0xff
      b[this.pos++] = n & 0xff
    } else {
      // Up to 2^53 - 1: high and low 32-bit halves.
      const hi = Math.floor(n / 0x100000000)
      const lo = n >>> 0
      b[this.pos++] = m | 27
      b[this.pos++] = hi >>> 24
      b[this.pos++] = (hi >>> 16) & 0xff
      b[this.pos++] = (hi >>> 8) & 0xff
      b[this.pos++] = hi & 0xff
      b[this.pos++] = lo >>> 24
      b[this.pos++] = (lo >>> 16) & 0xff
      b[this.pos++] = (lo >>> 8) & 0xff
      b[this.pos++] = lo & 0xff
    }
  }

  bytes (b: Uint8Array): void {
    this.head(2, b.byteLength)
    this.raw(b)
  }

  /** Bytes as they are (a loop for short ones: TypedArray#set costs more than it copies there). */
  raw (b: Uint8Array): void {
    const n = b.byteLength
    this.need(n)
    if (n <= 64) {
      const buf = this.buf
      for (let i = 0; i < n; i++) buf[this.pos + i] = b[i]!
    } else {
      this.buf.set(b, this.pos)
    }
    this.pos += n
  }

  string (s: string): void {
    // ASCII (the common key and path) is written directly; anything else through TextEncoder.
    if (isAscii(s)) {
      this.head(3, s.length)
      this.need(s.length)
      const b = this.buf
      for (let i = 0; i < s.length; i++) b[this.pos++] = s.charCodeAt(i)
      return
    }
    const e = utf8.encode(s)
    this.head(3, e.byteLength)
    this.need(e.byteLength)
    this.buf.set(e, this.pos)
    this.pos += e.byteLength
  }
}

/** Thrown inside the encoder when a value is outside what it covers. */
const UNSUPPORTED = Symbol('unsupported')

/** Whether every code unit of `s` is ASCII (its UTF-8 bytes are its code units). */
function isAscii (s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** Map keys in dag-cbor's order: UTF-8 length first, then bytewise. */
function sortedKeys (o: object): string[] {
  const keys = Object.keys(o)
  if (keys.length < 2) return keys
  if (keys.length === 2) {
    // The common target entry, { cid, length }: one comparison.
    const [x, y] = keys as [string, string]
    if (isAscii(x) && isAscii(y)) return (x.length !== y.length ? x.length < y.length : x < y) ? keys : [y, x]
  }
  if (keys.every(isAscii)) {
    return keys.sort((x, y) => x.length !== y.length ? x.length - y.length : x < y ? -1 : x > y ? 1 : 0)
  }
  const enc = keys.map((k) => ({ k, b: utf8.encode(k) }))
  enc.sort((x, y) => {
    if (x.b.byteLength !== y.b.byteLength) return x.b.byteLength - y.b.byteLength
    for (let i = 0; i < x.b.byteLength; i++) if (x.b[i] !== y.b[i]) return x.b[i]! - y.b[i]!
    return 0
  })
  return enc.map((e) => e.k)
}

function write (out: Out, v: unknown, depth: number): void {
  if (depth > 64) throw UNSUPPORTED
  if (v === null) { out.need(1); out.buf[out.pos++] = 0xf6; return }
  switch (typeof v) {
    case 'boolean':
      out.need(1)
      out.buf[out.pos++] = v ? 0xf5 : 0xf4
      return
    case 'string':
      out.string(v)
      return
    case 'number':
      if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw UNSUPPORTED
      if (v >= 0) out.head(0, v)
      else out.head(1, -1 - v)
      return
    case 'object':
      break
    default:
      throw UNSUPPORTED
  }
  if (v instanceof Uint8Array) { out.bytes(v); return }
  if (Array.isArray(v)) {
    out.head(4, v.length)
    for (let i = 0; i < v.length; i++) write(out, v[i], depth + 1)
    return
  }
  const proto: unknown = Object.getPrototypeOf(v)
  if (proto === Object.prototype || proto === null) {
    const keys = sortedKeys(v as object)
    out.head(5, keys.length)
    for (const k of keys) {
      out.string(k)
      write(out, (v as Record<string, unknown>)[k], depth + 1)
    }
    return
  }
  const cid = CID.asCID(v)
  if (cid !== null) {
    const b = cid.bytes
    out.need(2)
    out.buf[out.pos++] = 0xd8
    out.buf[out.pos++] = 42
    out.head(2, b.byteLength + 1)
    out.need(1)
    out.buf[out.pos++] = 0
    out.raw(b)
    return
  }
  throw UNSUPPORTED
}

/**
 * The canonical dag-cbor bytes of `value`, or undefined when it holds
 * something this encoder does not cover (the caller then uses @ipld/dag-cbor).
 */
export function encodeCanonical (value: unknown, sizeHint = 256): Uint8Array | undefined {
  const out = new Out(sizeHint)
  try {
    write(out, value, 0)
  } catch (e) {
    if (e === UNSUPPORTED) return undefined
    throw e
  }
  return out.buf.slice(0, out.pos)
}
