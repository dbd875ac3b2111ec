/**
 * SHA-256 and block hash checks, shared by every layer.
 *
 * This is a leaf module (it imports only errors and config), so src/blocks
 * may use it without depending on the rest of src/model. Two paths: node:crypto
 * where it exists (about 1.6 GB/s here), @noble/hashes as the portable one
 * (about 140 MB/s); both give the same digests (tested).
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import { BlockError } from './errors.js'
import { nodeCrypto } from '../util/node-builtins.js'

/** Multicodec codes dagtuf deals with. */
export const CODEC_DAG_JSON = 0x0129
/** Shard nodes of sharded maps (NOTES 11). */
export const CODEC_DAG_CBOR = 0x71
export const CODEC_RAW = 0x55
export const CODEC_DAG_PB = 0x70
export const HASH_SHA2_256 = 0x12

type Sha256 = (bytes: Uint8Array) => Uint8Array

// node:crypto comes through src/util/node-builtins.ts (undefined in the browser build).
const nodeHash = nodeCrypto?.createHash
const nodeSha256: Sha256 | undefined = nodeHash === undefined
  ? undefined
  : (bytes) => new Uint8Array(nodeHash('sha256').update(bytes).digest())

export const sha256Noble: Sha256 = (bytes) => nobleSha256(bytes)
export const sha256Node: Sha256 | undefined = nodeSha256

/** SHA-256 with the fastest available implementation. */
export const sha256: Sha256 = nodeSha256 ?? sha256Noble

const HEX_DIGITS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lowercase hex of `bytes` (portable: no Buffer, for the browser build). */
export function toHex (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.byteLength; i++) out += HEX_DIGITS[bytes[i]!]!
  return out
}

/**
 * The bytes of a hex string. Like Buffer.from(hex, 'hex'), it stops at the
 * first pair that is not hex (callers check the format first).
 */
export function fromHex (hex: string): Uint8Array {
  const n = hex.length >> 1
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const hi = hexValue(hex.charCodeAt(2 * i))
    const lo = hexValue(hex.charCodeAt(2 * i + 1))
    if (hi < 0 || lo < 0) return out.slice(0, i)
    out[i] = (hi << 4) | lo
  }
  return out
}

function hexValue (c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/** Bytewise order of two byte arrays (as Buffer.compare). */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
  }
  return a.byteLength === b.byteLength ? 0 : a.byteLength < b.byteLength ? -1 : 1
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Check that `bytes` is what `cid` addresses: CIDv1, sha2-256 multihash, and
 * a matching digest, within `maxBytes`. Returns nothing; throws BlockError
 * with code ERR_BLOCK_TOO_LARGE, ERR_UNSUPPORTED_HASH or ERR_HASH_MISMATCH.
 *
 * @throws {BlockError}
 */
export function checkBlock (cidIn: CID, bytes: Uint8Array, maxBytes: number): void {
  const cid = checkBlockShape(cidIn, bytes, maxBytes)
  if (!equalBytes(sha256(bytes), cid.multihash.digest)) throw hashMismatch(cid)
}

/** From this size up, checkBlockAsync hashes off the calling thread on Node too. */
export const OFF_THREAD_HASH_BYTES = 256 * 1024

/**
 * `checkBlock`, asynchronous: the digest is computed by
 * `crypto.subtle.digest` where that runs off the calling thread and is worth
 * it: in the browser bundle (no node:crypto; Chromium hashes off the page's
 * thread, so a 4 MiB content block does not freeze the page), and on Node
 * for blocks of OFF_THREAD_HASH_BYTES and more (Node runs it on its thread
 * pool: `dagtuf serve` checking 1 MiB blocks at hundreds a second no longer
 * hashes them on its one event-loop thread). Smaller blocks on Node:
 * exactly `checkBlock`. Same errors.
 *
 * @throws {BlockError}
 */
export async function checkBlockAsync (cidIn: CID, bytes: Uint8Array, maxBytes: number): Promise<void> {
  const webSubtle = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle
  const subtle = sha256Node === undefined || (bytes instanceof Uint8Array && bytes.byteLength >= OFF_THREAD_HASH_BYTES) ? webSubtle : undefined
  if (subtle === undefined) return checkBlock(cidIn, bytes, maxBytes)
  const cid = checkBlockShape(cidIn, bytes, maxBytes)
  let digest: Uint8Array
  try {
    digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
  } catch {
    digest = sha256Noble(bytes)
  }
  if (!equalBytes(digest, cid.multihash.digest)) throw hashMismatch(cid)
}

function hashMismatch (cid: CID): BlockError {
  return new BlockError('ERR_HASH_MISMATCH', `bytes do not hash to ${cid}`, { details: { cid: cid.toString() } })
}

/** The checks of checkBlock but the digest; the CID, normalised. */
function checkBlockShape (cidIn: CID, bytes: Uint8Array, maxBytes: number): CID {
  const cid = CID.asCID(cidIn)
  if (cid === null) throw new BlockError('ERR_BAD_CID', 'not a CID')
  if (!(bytes instanceof Uint8Array)) throw new BlockError('ERR_BLOCK_TYPE', `block ${cid} is not a byte array`)
  if (bytes.byteLength > maxBytes) {
    throw new BlockError('ERR_BLOCK_TOO_LARGE', `block ${cid} is ${bytes.byteLength} bytes, over the cap of ${maxBytes}`, { details: { cid: cid.toString(), size: bytes.byteLength, max: maxBytes } })
  }
  if (cid.version !== 1 || cid.multihash.code !== HASH_SHA2_256) {
    throw new BlockError('ERR_UNSUPPORTED_HASH', `block ${cid} is not a CIDv1 with a sha2-256 multihash`, { details: { cid: cid.toString() } })
  }
  return cid
}

/** Parse a CID string from untrusted input. @throws {BlockError} ERR_BAD_CID */
export function parseCid (text: unknown): CID {
  if (typeof text !== 'string' || text.length === 0 || text.length > 256) {
    throw new BlockError('ERR_BAD_CID', 'not a CID string')
  }
  try {
    // CID.parse remembers the string it was given, and base32 parsing
    // ignores case: rebuild from the bytes so toString() is canonical.
    return CID.decode(CID.parse(text).bytes)
  } catch (cause) {
    throw new BlockError('ERR_BAD_CID', `not a CID: ${JSON.stringify(text.slice(0, 80))}`, { cause })
  }
}
