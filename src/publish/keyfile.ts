/**
 * Key files: ed25519 seeds at rest, optionally encrypted with a passphrase.
 *
 * Formats (JSON, one object):
 *
 *   private, plain      { "format": "dagtuf-key/1", "keyid", "public", "seed": HEX64 }
 *   private, encrypted  { "format": "dagtuf-key/1", "keyid", "public", "encrypted": {
 *                           "kdf": "scrypt", "log_n", "r", "p", "salt": HEX64,
 *                           "cipher": "xchacha20poly1305", "nonce": HEX48, "ciphertext": HEX } }
 *   public only         { "format": "dagtuf-public-key/1", "keyid", "public" }
 *
 * Guarantees:
 * - Private key files are created with mode 0600 and refused when readable by
 *   group or others (ERR_KEY_PERMISSIONS), as ssh does.
 * - Encryption: scrypt (memory-hard; default N = 2^17, r = 8, p = 1, about 128
 *   MiB and a few hundred ms) derives a 32-byte key from the passphrase and a
 *   random salt; XChaCha20-Poly1305 (@noble/ciphers) encrypts the seed with a
 *   random 24-byte nonce. The header (format, keyid, public key, KDF
 *   parameters) is the AEAD's associated data, so editing any of it makes
 *   decryption fail instead of silently weakening the file. A wrong
 *   passphrase is ERR_WRONG_PASSPHRASE.
 * - After decryption the seed must give the file's public key, and the keyid
 *   must be that key's keyid (ERR_KEY_FORMAT otherwise).
 * - The seed never appears in an error message, a log line, a block or a
 *   draft; a Signer built here keeps it in a closure (model/keys.ts seedSigner).
 * - Reading accepts scrypt cost 2^10..2^20 (the file's own choice: a cheap
 *   file only weakens itself; the upper cap stops a hostile file from making
 *   us allocate gigabytes). Writing defaults to 2^17; tests pass a lower cost
 *   explicitly.
 */
import { randomBytes, scrypt as scryptCb } from 'node:crypto'
import * as fs from 'node:fs/promises'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { KeyFileError } from '../model/errors.js'
import { keyIdOf, keyPairFromSeed, publicKeyFromBytes, seedSigner, hexToBytes, type KeyPair, type Signer } from '../model/keys.js'
import { toHex } from '../model/hash.js'
import type { KeyId, PublicKey } from '../model/types.js'
import { isCode, writeNew } from './repo-io.js'
import { Fields, parseJson } from '../model/strictjson.js'

export const KEY_FORMAT = 'dagtuf-key/1'
export const PUBLIC_KEY_FORMAT = 'dagtuf-public-key/1'
export const DEFAULT_SCRYPT_LOG_N = 17
export const MIN_SCRYPT_LOG_N = 10
export const MAX_SCRYPT_LOG_N = 20
const SCRYPT_R = 8
const SCRYPT_P = 1
const MAX_KEY_FILE_BYTES = 16 * 1024

const HEX64 = /^[0-9a-f]{64}$/
const HEX48 = /^[0-9a-f]{48}$/
const HEX = /^(?:[0-9a-f]{2}){1,256}$/

export interface KdfParams {
  readonly logN: number
  readonly r: number
  readonly p: number
}

export interface EncryptedSeed extends KdfParams {
  readonly salt: string
  readonly nonce: string
  readonly ciphertext: string
}

/** What a key file says, before any secret is touched. */
export interface KeyFileInfo {
  readonly path: string
  readonly keyid: KeyId
  readonly publicKey: PublicKey
  /** 'plain' and 'encrypted' files hold a private key; 'public' files do not. */
  readonly kind: 'plain' | 'encrypted' | 'public'
  /** Present for private files only. */
  readonly secret?: { readonly seed?: string, readonly encrypted?: EncryptedSeed }
}

function formatError (path: string) {
  return (message: string, cause?: unknown) => new KeyFileError('ERR_KEY_FORMAT', `${path}: ${message}`, { cause, details: { path } })
}

function aad (keyid: string, pub: string, k: KdfParams): Uint8Array {
  return new TextEncoder().encode(`${KEY_FORMAT}\u0000${keyid}\u0000${pub}\u0000scrypt\u0000${k.logN}\u0000${k.r}\u0000${k.p}\u0000xchacha20poly1305`)
}

async function deriveKey (passphrase: string, salt: Uint8Array, k: KdfParams): Promise<Uint8Array> {
  const N = 2 ** k.logN
  return await new Promise((resolve, reject) => {
    scryptCb(Buffer.from(passphrase.normalize('NFC'), 'utf8'), salt, 32, { N, r: k.r, p: k.p, maxmem: 128 * N * k.r * k.p + 16 * 1024 * 1024 }, (err, key) => {
      if (err !== null) reject(err)
      else resolve(new Uint8Array(key))
    })
  })
}

/** Check a passphrase before it is used to encrypt anything. @throws {KeyFileError} ERR_PASSPHRASE_REQUIRED */
export function checkPassphrase (passphrase: string | undefined): string {
  if (passphrase === undefined || passphrase.length === 0) {
    throw new KeyFileError('ERR_PASSPHRASE_REQUIRED', 'a passphrase is needed (--passphrase-file FILE or the DAGTUF_PASSPHRASE environment variable)')
  }
  return passphrase
}

/** The JSON text of a private key file for `pair`, encrypted when a passphrase is given. */
export async function privateKeyFileText (pair: KeyPair, options: { passphrase?: string, logN?: number } = {}): Promise<string> {
  const head = { format: KEY_FORMAT, keyid: pair.keyid, public: pair.publicKey.public }
  if (options.passphrase === undefined) {
    return JSON.stringify({ ...head, seed: toHex(pair.seed) }, null, 2) + '\n'
  }
  const passphrase = checkPassphrase(options.passphrase)
  const logN = options.logN ?? DEFAULT_SCRYPT_LOG_N
  if (!Number.isSafeInteger(logN) || logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N) {
    throw new KeyFileError('ERR_KEY_FORMAT', `scrypt cost must be 2^${MIN_SCRYPT_LOG_N}..2^${MAX_SCRYPT_LOG_N}`)
  }
  const params: KdfParams = { logN, r: SCRYPT_R, p: SCRYPT_P }
  const salt = new Uint8Array(randomBytes(32))
  const nonce = new Uint8Array(randomBytes(24))
  const key = await deriveKey(passphrase, salt, params)
  const ciphertext = xchacha20poly1305(key, nonce, aad(pair.keyid, pair.publicKey.public, params)).encrypt(pair.seed)
  key.fill(0)
  return JSON.stringify({
    ...head,
    encrypted: { kdf: 'scrypt', log_n: logN, r: SCRYPT_R, p: SCRYPT_P, salt: toHex(salt), cipher: 'xchacha20poly1305', nonce: toHex(nonce), ciphertext: toHex(ciphertext) }
  }, null, 2) + '\n'
}

export function publicKeyFileText (publicKey: PublicKey): string {
  return JSON.stringify({ format: PUBLIC_KEY_FORMAT, keyid: keyIdOf(publicKey), public: publicKey.public }, null, 2) + '\n'
}

/**
 * Write a new private key file (mode 0600, must not exist).
 * @throws {RepoError} ERR_FILE_EXISTS | ERR_REPO_IO; {KeyFileError} ERR_PASSPHRASE_REQUIRED
 */
export async function writePrivateKeyFile (path: string, pair: KeyPair, options: { passphrase?: string, logN?: number } = {}): Promise<void> {
  await writeNew(path, await privateKeyFileText(pair, options), 0o600)
}

/** Write a public key file (mode 0644, must not exist). */
export async function writePublicKeyFile (path: string, publicKey: PublicKey): Promise<void> {
  await writeNew(path, publicKeyFileText(publicKey), 0o644)
}

/**
 * Parse key file bytes (private or public) without decrypting anything.
 * @throws {KeyFileError} ERR_KEY_FORMAT
 */
export function parseKeyFile (bytes: Uint8Array, path: string): KeyFileInfo {
  const onError = formatError(path)
  const f = Fields.of(parseJson(bytes, { maxBytes: MAX_KEY_FILE_BYTES, maxDepth: 4, onError }), 'key', onError)
  const format = f.str('format')
  const keyid = f.str('keyid', HEX64)
  const pub = f.str('public', HEX64)
  let publicKey: PublicKey
  try {
    publicKey = publicKeyFromBytes(hexToBytes(pub))
  } catch (cause) {
    throw onError('not a usable ed25519 public key', cause)
  }
  if (keyIdOf(publicKey) !== keyid) throw onError('keyid does not match the public key')
  if (format === PUBLIC_KEY_FORMAT) {
    f.done()
    return { path, keyid, publicKey, kind: 'public' }
  }
  if (format !== KEY_FORMAT) throw onError('unknown format')
  const seed = f.optStr('seed', HEX64)
  const encRaw = f.opt('encrypted')
  f.done()
  if ((seed === undefined) === (encRaw === undefined)) throw onError('exactly one of seed and encrypted')
  if (seed !== undefined) return { path, keyid, publicKey, kind: 'plain', secret: { seed } }
  const e = Fields.of(encRaw, 'key.encrypted', onError)
  e.literal('kdf', 'scrypt')
  e.literal('cipher', 'xchacha20poly1305')
  const encrypted: EncryptedSeed = {
    logN: e.int('log_n', MIN_SCRYPT_LOG_N, MAX_SCRYPT_LOG_N),
    r: e.int('r', 1, 32),
    p: e.int('p', 1, 16),
    salt: e.str('salt', HEX64),
    nonce: e.str('nonce', HEX48),
    ciphertext: e.str('ciphertext', HEX)
  }
  e.done()
  if (encrypted.ciphertext.length !== (32 + 16) * 2) throw onError('ciphertext is not an encrypted 32-byte seed')
  if (2 ** encrypted.logN * encrypted.r * encrypted.p * 128 > 2 ** 30) throw onError('scrypt parameters need more than 1 GiB')
  return { path, keyid, publicKey, kind: 'encrypted', secret: { encrypted } }
}

/**
 * Read and parse a key file (public part only; nothing is decrypted).
 * @throws {KeyFileError} ERR_KEY_MISSING | ERR_KEY_FORMAT
 */
export async function readKeyFile (path: string): Promise<KeyFileInfo> {
  let h: fs.FileHandle
  try {
    h = await fs.open(path, 'r')
  } catch (e) {
    if (isCode(e, 'ENOENT') || isCode(e, 'ENOTDIR')) throw new KeyFileError('ERR_KEY_MISSING', `no key file at ${path}`, { details: { path } })
    throw new KeyFileError('ERR_KEY_MISSING', `cannot open ${path}`, { cause: e, details: { path } })
  }
  let bytes: Uint8Array
  let mode: number
  try {
    const st = await h.stat()
    if (!st.isFile()) throw new KeyFileError('ERR_KEY_FORMAT', `${path} is not a regular file`, { details: { path } })
    if (st.size > MAX_KEY_FILE_BYTES) throw new KeyFileError('ERR_KEY_FORMAT', `${path} is too large for a key file`, { details: { path } })
    mode = st.mode
    bytes = new Uint8Array(await h.readFile())
  } finally {
    await h.close()
  }
  const info = parseKeyFile(bytes, path)
  if (info.kind !== 'public' && process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new KeyFileError('ERR_KEY_PERMISSIONS', `${path} holds a private key and is readable by others (chmod 600 it)`, { details: { path } })
  }
  return info
}

/**
 * Turn a private key file into a Signer, decrypting it when needed.
 *
 * @throws {KeyFileError} ERR_KEY_FORMAT (a public key file, or a seed that does
 *   not give the file's public key) | ERR_PASSPHRASE_REQUIRED | ERR_WRONG_PASSPHRASE
 */
export async function signerFromKeyFile (info: KeyFileInfo, passphrase?: string): Promise<Signer> {
  if (info.secret === undefined) {
    throw new KeyFileError('ERR_KEY_FORMAT', `${info.path} is a public key file: signing needs the private key file`, { details: { path: info.path, keyid: info.keyid } })
  }
  let seed: Uint8Array
  if (info.secret.seed !== undefined) {
    seed = hexToBytes(info.secret.seed)
  } else {
    const enc = info.secret.encrypted!
    const pass = checkPassphrase(passphrase)
    const key = await deriveKey(pass, hexToBytes(enc.salt), enc)
    try {
      seed = xchacha20poly1305(key, hexToBytes(enc.nonce), aad(info.keyid, info.publicKey.public, enc)).decrypt(hexToBytes(enc.ciphertext))
    } catch {
      throw new KeyFileError('ERR_WRONG_PASSPHRASE', `wrong passphrase for ${info.path} (or the file was altered)`, { details: { path: info.path, keyid: info.keyid } })
    } finally {
      key.fill(0)
    }
  }
  // One derivation: the signer's own key pair is the one checked against the file.
  let signer: Signer
  try {
    signer = seedSigner(seed)
  } catch {
    throw new KeyFileError('ERR_KEY_FORMAT', `${info.path}: the seed is not an ed25519 seed`, { details: { path: info.path } })
  } finally {
    seed.fill(0)
  }
  if (signer.keyid !== info.keyid) {
    throw new KeyFileError('ERR_KEY_FORMAT', `${info.path}: the private key does not belong to the public key in the file`, { details: { path: info.path, keyid: info.keyid } })
  }
  return signer
}

/**
 * The passphrase from `--passphrase-file` (first line, without its line
 * ending) or else DAGTUF_PASSPHRASE; undefined when neither is given.
 *
 * @throws {KeyFileError} ERR_KEY_MISSING when the passphrase file cannot be read
 */
export async function readPassphrase (file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (file !== undefined) {
    let text: string
    try {
      const st = await fs.stat(file)
      if (st.size > 64 * 1024) throw new Error('too large')
      text = await fs.readFile(file, 'utf8')
    } catch (cause) {
      throw new KeyFileError('ERR_KEY_MISSING', `cannot read the passphrase file ${file}`, { cause, details: { path: file } })
    }
    return text.split(/\r?\n/)[0]
  }
  const v = env.DAGTUF_PASSPHRASE
  return v === undefined || v === '' ? undefined : v
}
