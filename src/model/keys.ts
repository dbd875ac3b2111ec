/**
 * Keys, keyids, signers and the signature verifier (NOTES: SIG-*).
 *
 * Guarantees:
 * - A keyid is the lowercase hex SHA-256 of the dag-json encoding of the key
 *   object `{"keytype":"ed25519","keyval":{"public":HEX},"scheme":"ed25519"}`
 *   (dag-json sorts map keys, so the encoding is unique) — SIG-KEYID.
 * - Public keys are checked when they enter the model: 32 bytes that decode to
 *   a point of the curve that is not of small order. Both crypto paths then
 *   see only keys they agree on.
 * - A signature covers `DAGTUF-SIG-V1 0x00 || signedBytes` (SIG-DOMAIN).
 * - `verify*` never throws on malformed signature *content* (wrong length,
 *   bad encoding, non-canonical S): it returns false, so a malformed
 *   signature counts as no signature (SIG-MALFORMED). Wrongly typed
 *   arguments are programming errors and throw UsageError ERR_ARGUMENT.
 * - Two paths: node:crypto (fast, Node) and @noble/ed25519 (portable), both
 *   strict RFC 8032 (S < L; noble with `zip215: false`), cross-checked in tests.
 */
import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import * as dagJson from '@ipld/dag-json'
import { CryptoError, UsageError } from './errors.js'
import { fromHex, sha256, toHex } from './hash.js'
import { nodeCrypto } from '../util/node-builtins.js'
import type { KeyId, PublicKey } from './types.js'

ed.hashes.sha512 = sha512

export const SIGNATURE_DOMAIN = new TextEncoder().encode('DAGTUF-SIG-V1\u0000')

/** The exact message a signature covers: domain prefix, then the signed bytes. */
export function signingMessage (signedBytes: Uint8Array): Uint8Array {
  if (!(signedBytes instanceof Uint8Array)) throw new UsageError('ERR_ARGUMENT', 'signedBytes must be a Uint8Array')
  const out = new Uint8Array(SIGNATURE_DOMAIN.byteLength + signedBytes.byteLength)
  out.set(SIGNATURE_DOMAIN, 0)
  out.set(signedBytes, SIGNATURE_DOMAIN.byteLength)
  return out
}

const HEX64 = /^[0-9a-f]{64}$/
const HEX128 = /^[0-9a-f]{128}$/

export function isHex64 (s: unknown): s is string { return typeof s === 'string' && HEX64.test(s) }
export function isHex128 (s: unknown): s is string { return typeof s === 'string' && HEX128.test(s) }

export function hexToBytes (hex: string): Uint8Array {
  return fromHex(hex)
}

/** The canonical dag-json encoding of a key object, the input of its keyid. */
export function canonicalKeyBytes (key: PublicKey): Uint8Array {
  return dagJson.encode({ keytype: key.keytype, keyval: { public: key.public }, scheme: key.scheme })
}

/** The keyid of a key (SIG-KEYID). */
export function keyIdOf (key: PublicKey): KeyId {
  if (key === null || typeof key !== 'object' || typeof key.public !== 'string' || typeof key.keytype !== 'string' || typeof key.scheme !== 'string') {
    throw new UsageError('ERR_ARGUMENT', 'keyIdOf(key: PublicKey)')
  }
  return toHex(sha256(canonicalKeyBytes(key)))
}

const pointCheckCache = new Map<string, boolean>()

/**
 * True when `publicHex` is 64 lowercase hex characters encoding a valid,
 * not-small-order ed25519 point. Small-order keys are refused because a
 * signature under them can verify for many messages.
 */
export function isAcceptablePublicKey (publicHex: unknown): publicHex is string {
  if (!isHex64(publicHex)) return false
  const cached = pointCheckCache.get(publicHex)
  if (cached !== undefined) return cached
  let ok: boolean
  try {
    const point = ed.Point.fromBytes(hexToBytes(publicHex), false)
    ok = !point.isSmallOrder()
  } catch {
    ok = false
  }
  if (pointCheckCache.size > 10_000) pointCheckCache.clear()
  pointCheckCache.set(publicHex, ok)
  return ok
}

/** Build a PublicKey from 32 raw bytes. @throws {CryptoError} ERR_KEY_BYTES */
export function publicKeyFromBytes (bytes: Uint8Array): PublicKey {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== 32) {
    throw new CryptoError('ERR_KEY_BYTES', 'an ed25519 public key is 32 bytes')
  }
  const hex = toHex(bytes)
  if (!isAcceptablePublicKey(hex)) throw new CryptoError('ERR_KEY_BYTES', 'not a usable ed25519 public key')
  return Object.freeze({ keytype: 'ed25519', scheme: 'ed25519', public: hex })
}

/**
 * Something that can sign: a key in memory, a hardware token, a remote
 * service. Asynchronous so that the last two fit. `sign` receives the full
 * message (domain prefix included) and returns a 64-byte ed25519 signature.
 */
export interface Signer {
  readonly publicKey: PublicKey
  readonly keyid: KeyId
  sign (message: Uint8Array): Promise<Uint8Array>
}

export type Backend = 'node' | 'noble'

// node:crypto comes through src/util/node-builtins.ts (undefined in the browser build).

/** The backend used when none is named: node:crypto when present. */
export const defaultBackend: Backend = nodeCrypto !== undefined ? 'node' : 'noble'

export function backendAvailable (backend: Backend): boolean {
  return backend === 'noble' || nodeCrypto !== undefined
}

// DER prefixes of an Ed25519 SubjectPublicKeyInfo and PKCS#8 key (hex: Buffer is used on the node path only).
const SPKI_PREFIX = '302a300506032b6570032100'
const PKCS8_PREFIX = '302e020100300506032b657004220420'
const keyObjectCache = new Map<string, import('node:crypto').KeyObject>()

/**
 * Forget the node:crypto key objects made so far. The client's start-up
 * snapshot (src/client-snapshot.ts) calls it after its warm-up: a KeyObject
 * lives outside V8's heap and cannot be written into a snapshot.
 */
export function clearKeyObjectCache (): void {
  keyObjectCache.clear()
}

function nodePublicKeyObject (publicHex: string): import('node:crypto').KeyObject {
  let obj = keyObjectCache.get(publicHex)
  if (obj === undefined) {
    obj = nodeCrypto!.createPublicKey({ key: Buffer.from(SPKI_PREFIX + publicHex, 'hex'), format: 'der', type: 'spki' })
    if (keyObjectCache.size > 10_000) keyObjectCache.clear()
    keyObjectCache.set(publicHex, obj)
  }
  return obj
}

// L, the order of the ed25519 base point; S must be below it (RFC 8032 5.1.7).
const L = (1n << 252n) + 27742317777372353535851937790883648493n

function sIsCanonical (sig: Uint8Array): boolean {
  let s = 0n
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!)
  return s < L
}

/**
 * Verify an ed25519 signature. Returns false for any malformed signature
 * or key content; throws only on wrongly typed arguments.
 *
 * @throws {UsageError} ERR_ARGUMENT, {CryptoError} ERR_BACKEND
 */
export function verifyBytes (publicHex: string, message: Uint8Array, sig: Uint8Array, backend: Backend = defaultBackend): boolean {
  if (typeof publicHex !== 'string' || !(message instanceof Uint8Array) || !(sig instanceof Uint8Array)) {
    throw new UsageError('ERR_ARGUMENT', 'verifyBytes(publicHex: string, message: Uint8Array, sig: Uint8Array)')
  }
  if (sig.byteLength !== 64 || !isAcceptablePublicKey(publicHex)) return false
  if (!sIsCanonical(sig)) return false
  if (verdicts.size > 0) {
    const v = verdicts.get(verdictKey(publicHex, message, sig))
    if (v !== undefined) {
      verdictStats.hits++
      return v
    }
    verdictStats.misses++
  }
  if (backend === 'node') {
    if (nodeCrypto === undefined) throw new CryptoError('ERR_BACKEND', 'node:crypto is not available here')
    try {
      return nodeCrypto.verify(null, message, nodePublicKeyObject(publicHex), sig)
    } catch {
      return false
    }
  }
  try {
    return ed.verify(sig, message, hexToBytes(publicHex), { zip215: false })
  } catch {
    return false
  }
}

// --- Signatures verified ahead, asynchronously (WebCrypto) -------------------
//
// Signature checks are synchronous (VALID and the threshold counts are pure
// functions), but the fast verifier of a browser, WebCrypto's Ed25519, is
// asynchronous. So the verdicts are obtained ahead: when the client's loader
// decodes an envelope (an async step anyway) it hands the signatures whose key
// it knows to `preverify`, which asks the registered asynchronous verifier and
// remembers each verdict keyed by (public key, SHA-256 of the exact message,
// signature). `verifyBytes` consults that map first, after the same strict
// checks as always (64 bytes, acceptable key, canonical S), and falls back to
// the synchronous backend (noble in the browser) on a miss. A verdict can never
// answer for other bytes: the message is in its key by its SHA-256. The map is
// bounded (VERDICT_CAP, oldest first out), so it costs at most a few hundred KB.
//
// Where WebCrypto and noble could disagree: noble checks the cofactored
// equation and BoringSSL (Chromium's WebCrypto) the cofactorless one, as
// node:crypto does; they differ only on signatures made with torsion on
// purpose, which only a holder of the private key can make, so a verdict
// from either is a verdict on a signature by that key.

/** An asynchronous Ed25519 verifier of (public key hex, message, signature). */
export type AsyncVerifier = (publicHex: string, message: Uint8Array, sig: Uint8Array) => Promise<boolean>

/** At most this many verdicts are remembered. */
export const VERDICT_CAP = 4096
const verdicts = new Map<string, boolean>()
let asyncVerifier: AsyncVerifier | undefined
/** Counters of `verifyBytes`'s verdict lookups (for tests and benchmarks). */
export const verdictStats = { hits: 0, misses: 0, remembered: 0 }

function verdictKey (publicHex: string, message: Uint8Array, sig: Uint8Array): string {
  return `${publicHex}.${toHex(sha256(message))}.${toHex(sig)}`
}

/** Register (or with undefined, remove) the asynchronous verifier `preverify` uses, and forget every verdict. */
export function useAsyncVerifier (v: AsyncVerifier | undefined): void {
  if (v !== undefined && typeof v !== 'function') throw new UsageError('ERR_ARGUMENT', 'useAsyncVerifier(verifier: function | undefined)')
  asyncVerifier = v
  verdicts.clear()
}

/** Whether an asynchronous verifier is registered. */
export function hasAsyncVerifier (): boolean {
  return asyncVerifier !== undefined
}

/**
 * Verify signatures ahead with the registered asynchronous verifier and
 * remember the verdicts for `verifyBytes`. Without a verifier, nothing.
 * Never throws on content: a malformed item or a verifier failure just
 * leaves no verdict (the synchronous backend decides later).
 */
export async function preverify (items: Iterable<{ publicHex: string, message: Uint8Array, sig: Uint8Array }>): Promise<void> {
  const v = asyncVerifier
  if (v === undefined) return
  await Promise.all([...items].map(async ({ publicHex, message, sig }) => {
    if (typeof publicHex !== 'string' || !(message instanceof Uint8Array) || !(sig instanceof Uint8Array)) return
    if (sig.byteLength !== 64 || !isAcceptablePublicKey(publicHex) || !sIsCanonical(sig)) return
    const key = verdictKey(publicHex, message, sig)
    if (verdicts.has(key)) return
    let ok: boolean
    try {
      ok = await v(publicHex, message, sig)
    } catch {
      return
    }
    if (typeof ok !== 'boolean' || asyncVerifier !== v) return
    if (verdicts.size >= VERDICT_CAP) verdicts.delete(verdicts.keys().next().value!)
    verdicts.set(key, ok)
    verdictStats.remembered++
  }))
}

/**
 * Preverify an envelope's signatures (`preverify`) whose keyid is in `keys`,
 * over the dagtuf signing message of its signed bytes.
 */
export async function preverifyEnvelope (env: { readonly signedBytes: Uint8Array, readonly signatures: ReadonlyArray<{ readonly keyid: string, readonly sig: string }> }, keys: ReadonlyMap<string, string>): Promise<void> {
  if (asyncVerifier === undefined) return
  const items: Array<{ publicHex: string, message: Uint8Array, sig: Uint8Array }> = []
  let message: Uint8Array | undefined
  for (const s of env.signatures) {
    const publicHex = keys.get(s.keyid)
    if (publicHex === undefined || !isHex128(s.sig)) continue
    message ??= signingMessage(env.signedBytes)
    items.push({ publicHex, message, sig: hexToBytes(s.sig) })
  }
  await preverify(items)
}

/**
 * WebCrypto's Ed25519 as an AsyncVerifier, or undefined where the platform
 * has no `crypto.subtle` or no Ed25519 in it (probed by verifying one known
 * signature and refusing its altered copy).
 */
export async function webCryptoVerifier (): Promise<AsyncVerifier | undefined> {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle
  if (subtle === undefined) return undefined
  const imported = new Map<string, Promise<CryptoKey>>()
  const verify: AsyncVerifier = async (publicHex, message, sig) => {
    let key = imported.get(publicHex)
    if (key === undefined) {
      key = subtle.importKey('raw', hexToBytes(publicHex) as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, false, ['verify'])
      if (imported.size >= VERDICT_CAP) imported.clear()
      imported.set(publicHex, key)
    }
    return await subtle.verify({ name: 'Ed25519' }, await key, sig as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>)
  }
  try {
    // A known-good triple made with noble, and its altered copy.
    const seed = new Uint8Array(32).fill(7)
    const pub = toHex(ed.getPublicKey(seed))
    const msg = new TextEncoder().encode('dagtuf webcrypto probe')
    const sig = ed.sign(msg, seed)
    const bad = msg.slice()
    bad[0] = bad[0]! ^ 1
    if (await verify(pub, msg, sig) && !(await verify(pub, bad, sig))) return verify
  } catch {}
  return undefined
}

/**
 * Verify a hex signature over `signedBytes` with the dagtuf domain prefix.
 * Malformed hex gives false (SIG-MALFORMED).
 */
export function verifySignature (key: PublicKey, signedBytes: Uint8Array, sigHex: string, backend: Backend = defaultBackend): boolean {
  if (key === null || typeof key !== 'object' || !(signedBytes instanceof Uint8Array)) {
    throw new UsageError('ERR_ARGUMENT', 'verifySignature(key: PublicKey, signedBytes: Uint8Array, sigHex: string)')
  }
  if (!isHex128(sigHex)) return false
  if (key.keytype !== 'ed25519' || key.scheme !== 'ed25519') return false
  return verifyBytes(key.public, signingMessage(signedBytes), hexToBytes(sigHex), backend)
}

/** A 32-byte ed25519 secret seed and its public key. */
export interface KeyPair {
  readonly seed: Uint8Array
  readonly publicKey: PublicKey
  readonly keyid: KeyId
}

/** Generate a fresh key pair from the platform's CSPRNG. */
export function generateKeyPair (): KeyPair {
  const seed = ed.utils.randomSecretKey()
  return keyPairFromSeed(seed)
}

/** @throws {CryptoError} ERR_KEY_BYTES */
export function keyPairFromSeed (seed: Uint8Array, backend: Backend = defaultBackend): KeyPair {
  return derive(seed, backend).pair
}

/** The key pair of `seed`, and with node:crypto the private key object it was derived with. @throws {CryptoError} ERR_KEY_BYTES */
function derive (seed: Uint8Array, backend: Backend): { pair: KeyPair, keyObject: import('node:crypto').KeyObject | undefined } {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== 32) throw new CryptoError('ERR_KEY_BYTES', 'an ed25519 seed is 32 bytes')
  // node:crypto derives the public key natively; noble's first use builds its
  // base-point tables (about 30 ms of a publisher's start, measured).
  const keyObject = backend === 'node' ? nodePrivateKeyObject(seed) : undefined
  const publicBytes = keyObject !== undefined
    ? new Uint8Array(nodeCrypto!.createPublicKey(keyObject).export({ format: 'der', type: 'spki' })).subarray(SPKI_PREFIX.length / 2)
    : ed.getPublicKey(seed)
  const publicKey = publicKeyFromBytes(publicBytes)
  return { pair: { seed: new Uint8Array(seed), publicKey, keyid: keyIdOf(publicKey) }, keyObject }
}

/**
 * Raw ed25519 signing of a full message with a seed. Exposed for tests and
 * for signer implementations; everything else goes through a Signer.
 */
export function signBytes (seed: Uint8Array, message: Uint8Array, backend: Backend = defaultBackend): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== 32 || !(message instanceof Uint8Array)) {
    throw new UsageError('ERR_ARGUMENT', 'signBytes(seed: 32-byte Uint8Array, message: Uint8Array)')
  }
  if (backend === 'node') return new Uint8Array(nodeCrypto!.sign(null, message, nodePrivateKeyObject(seed)))
  return ed.sign(message, seed)
}

function nodePrivateKeyObject (seed: Uint8Array): import('node:crypto').KeyObject {
  if (nodeCrypto === undefined) throw new CryptoError('ERR_BACKEND', 'node:crypto is not available here')
  return nodeCrypto.createPrivateKey({ key: Buffer.concat([Buffer.from(PKCS8_PREFIX, 'hex'), Buffer.from(seed)]), format: 'der', type: 'pkcs8' })
}

/** A Signer over a seed held in memory. The seed never leaves this object. */
export function seedSigner (seed: Uint8Array, backend: Backend = defaultBackend): Signer {
  // node:crypto: the private key object is built once (the one the public
  // key was derived with), not per signature.
  const { pair, keyObject } = derive(seed, backend)
  const secret = pair.seed
  return Object.freeze({
    publicKey: pair.publicKey,
    keyid: pair.keyid,
    async sign (message: Uint8Array): Promise<Uint8Array> {
      if (!(message instanceof Uint8Array)) throw new UsageError('ERR_ARGUMENT', 'sign(message: Uint8Array)')
      if (keyObject !== undefined) return new Uint8Array(nodeCrypto!.sign(null, message, keyObject))
      return signBytes(secret, message, backend)
    },
    toJSON () { return { keyid: pair.keyid } }
  })
}

/**
 * Count the distinct keys among `authorized` whose signature over
 * `signedBytes` verifies (SIG-THRESHOLD-DISTINCT). Keys are deduplicated on
 * their public key material, not their keyid string; signatures by keys not
 * in `authorized`, or that do not verify, count for nothing.
 */
export function countValidSignatures (
  signedBytes: Uint8Array,
  signatures: ReadonlyArray<{ keyid: string, sig: string }>,
  authorized: ReadonlyMap<KeyId, PublicKey>,
  backend: Backend = defaultBackend
): number {
  if (!(signedBytes instanceof Uint8Array) || !Array.isArray(signatures) || !(authorized instanceof Map)) {
    throw new UsageError('ERR_ARGUMENT', 'countValidSignatures(signedBytes, signatures[], authorized: Map)')
  }
  const counted = new Set<string>()
  let message: Uint8Array | undefined
  for (const s of signatures) {
    if (s === null || typeof s !== 'object') continue
    const key = authorized.get(s.keyid)
    if (key === undefined || counted.has(key.public)) continue
    if (!isHex128(s.sig)) continue
    message ??= signingMessage(signedBytes)
    if (verifyBytes(key.public, message, hexToBytes(s.sig), backend)) counted.add(key.public)
  }
  return counted.size
}

/** Hex-encode a raw 64-byte signature. @throws {CryptoError} ERR_SIG_FORMAT */
export function toHexSig (raw: Uint8Array): string {
  if (!(raw instanceof Uint8Array) || raw.byteLength !== 64) throw new CryptoError('ERR_SIG_FORMAT', 'an ed25519 signature is 64 bytes')
  return toHex(raw)
}
