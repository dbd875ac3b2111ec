/**
 * Ed25519 keys on a PKCS#11 token (a hardware security module, or SoftHSM2)
 * as `Signer`s: the private key never leaves the token, which signs with
 * CKM_EDDSA (PKCS#11 3.0). Used by `dagtuf serve` for the online keys and by
 * `dagtuf sign` / `remote sign` for offline-role keys (--pkcs11-* options).
 *
 * The binding is the optional dependency `pkcs11js` (a native addon, built
 * at install time), loaded only when a token is asked for; without it the
 * answer is KeyFileError ERR_PKCS11 (reason `binding`).
 *
 * Keys are the token's private keys of type CKK_EC_EDWARDS, each paired with
 * the public key object of the same CKA_ID (or, without one, the same
 * CKA_LABEL), whose CKA_EC_POINT gives the 32 public bytes (raw, or as a DER
 * OCTET STRING); a key is chosen by its CKA_LABEL. A signer whose token
 * returns a wrong signature is caught where every signer is (sign.ts
 * ERR_SIGNER), and a key is filed under the keyid of its public key only.
 */
import { KeyFileError } from '../model/errors.js'
import { keyIdOf, publicKeyFromBytes, type Signer } from '../model/keys.js'

/** PKCS#11 3.0 values pkcs11js 2.x does not name. */
const CKK_EC_EDWARDS = 0x40
const CKM_EDDSA = 0x1057

export interface Pkcs11Options {
  /** The module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly module: string
  /** The token's label (default: the only token present). */
  readonly token?: string
  /** The user PIN. */
  readonly pin: string
  /** Keys to use, by CKA_LABEL (default: every Ed25519 key of the token). */
  readonly labels?: readonly string[]
}

export interface Pkcs11Keys {
  readonly signers: Signer[]
  /** Labels by keyid. */
  readonly labels: ReadonlyMap<string, string>
  /** Log out and unload; idempotent. */
  close: () => void
}

function p11Error (reason: string, message: string, cause?: unknown): KeyFileError {
  return new KeyFileError('ERR_PKCS11', message, { cause, details: { reason } })
}

interface Attr { type: number, value?: unknown }
/** The part of pkcs11js used here. */
interface P11 {
  load: (path: string) => void
  C_Initialize: () => void
  C_Finalize: () => void
  C_GetSlotList: (tokenPresent: boolean) => Uint8Array[]
  C_GetTokenInfo: (slot: Uint8Array) => { label: string }
  C_OpenSession: (slot: Uint8Array, flags: number) => Uint8Array
  C_CloseSession: (session: Uint8Array) => void
  C_Login: (session: Uint8Array, userType: number, pin: string) => void
  C_Logout: (session: Uint8Array) => void
  C_FindObjectsInit: (session: Uint8Array, template: Attr[]) => void
  C_FindObjects: (session: Uint8Array, max: number) => Uint8Array[]
  C_FindObjectsFinal: (session: Uint8Array) => void
  C_GetAttributeValue: (session: Uint8Array, object: Uint8Array, template: Attr[]) => Array<{ type: number, value: Buffer }>
  C_SignInit: (session: Uint8Array, mechanism: { mechanism: number }, key: Uint8Array) => void
  C_Sign: (session: Uint8Array, data: Buffer, out: Buffer) => Buffer
}
interface P11Module {
  PKCS11: new () => P11
  CKF_SERIAL_SESSION: number
  CKU_USER: number
  CKA_CLASS: number
  CKA_KEY_TYPE: number
  CKA_ID: number
  CKA_LABEL: number
  CKA_EC_POINT: number
  CKO_PRIVATE_KEY: number
  CKO_PUBLIC_KEY: number
}

async function binding (): Promise<P11Module> {
  const name = 'pkcs11js'
  try {
    const m = await import(name) as { default?: P11Module } & P11Module
    return m.default ?? m
  } catch (cause) {
    throw p11Error('binding', 'PKCS#11 needs the optional package pkcs11js, which is not installed (or did not build): npm install pkcs11js', cause)
  }
}

/** The 32 public bytes of a CKA_EC_POINT: raw, or a DER OCTET STRING of 32 bytes. */
function ecPoint (v: Uint8Array): Uint8Array {
  if (v.byteLength === 32) return v
  if (v.byteLength === 34 && v[0] === 0x04 && v[1] === 0x20) return v.subarray(2)
  throw p11Error('key', `a CKA_EC_POINT of ${v.byteLength} bytes is not an Ed25519 public key`)
}

/**
 * Open the token and make a signer of each chosen key.
 *
 * @throws {KeyFileError} ERR_PKCS11 (details.reason: binding | module | token | pin | key)
 */
export async function openPkcs11 (options: Pkcs11Options): Promise<Pkcs11Keys> {
  const lib = await binding()
  const p = new lib.PKCS11()
  // A module is initialized once per process: another user of it in this
  // process (CKR_CRYPTOKI_ALREADY_INITIALIZED) keeps it, and finalizes it.
  let owner = true
  try {
    p.load(options.module)
    try {
      p.C_Initialize()
    } catch (e) {
      if (!String((e as Error).message).includes('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw e
      owner = false
    }
  } catch (cause) {
    throw p11Error('module', `cannot load the PKCS#11 module ${options.module}`, cause)
  }
  let session: Uint8Array | undefined
  let loggedIn = false
  let closed = false
  const close = (): void => {
    if (closed) return
    closed = true
    try { if (loggedIn && session !== undefined && owner) p.C_Logout(session) } catch {}
    try { if (session !== undefined) p.C_CloseSession(session) } catch {}
    try { if (owner) p.C_Finalize() } catch {}
  }
  try {
    const slots = p.C_GetSlotList(true).filter((s) => options.token === undefined || p.C_GetTokenInfo(s).label.trim() === options.token)
    if (slots.length !== 1) {
      throw p11Error('token', options.token === undefined ? `${slots.length} tokens are present: name one (--pkcs11-token LABEL)` : `no token labelled ${JSON.stringify(options.token)}`)
    }
    session = p.C_OpenSession(slots[0]!, lib.CKF_SERIAL_SESSION)
    try {
      p.C_Login(session, lib.CKU_USER, options.pin)
      loggedIn = true
    } catch (cause) {
      // Logged in already by another user of the module in this process: the PIN is theirs to check.
      if (!String((cause as Error).message).includes('CKR_USER_ALREADY_LOGGED_IN')) throw p11Error('pin', 'the token refused the PIN', cause)
    }
    const s = session
    const find = (template: Attr[]): Uint8Array[] => {
      p.C_FindObjectsInit(s, template)
      try { return p.C_FindObjects(s, 1000) } finally { p.C_FindObjectsFinal(s) }
    }
    const attr = (o: Uint8Array, type: number): Buffer => p.C_GetAttributeValue(s, o, [{ type }])[0]!.value
    const signers: Signer[] = []
    const labels = new Map<string, string>()
    for (const priv of find([{ type: lib.CKA_CLASS, value: lib.CKO_PRIVATE_KEY }, { type: lib.CKA_KEY_TYPE, value: CKK_EC_EDWARDS }])) {
      const label = attr(priv, lib.CKA_LABEL).toString('utf8')
      if (options.labels !== undefined && !options.labels.includes(label)) continue
      const id = attr(priv, lib.CKA_ID)
      const pubs = find([{ type: lib.CKA_CLASS, value: lib.CKO_PUBLIC_KEY }, { type: lib.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
        id.byteLength > 0 ? { type: lib.CKA_ID, value: id } : { type: lib.CKA_LABEL, value: label }])
      if (pubs.length !== 1) throw p11Error('key', `the key ${JSON.stringify(label)} has ${pubs.length} matching public key objects on the token (need exactly one)`)
      let publicKey
      try {
        publicKey = publicKeyFromBytes(ecPoint(new Uint8Array(attr(pubs[0]!, lib.CKA_EC_POINT))))
      } catch (cause) {
        throw p11Error('key', `the public key of ${JSON.stringify(label)} is not a usable Ed25519 key`, cause)
      }
      const keyid = keyIdOf(publicKey)
      signers.push({
        keyid,
        publicKey,
        sign: async (message: Uint8Array): Promise<Uint8Array> => {
          if (closed) throw p11Error('token', 'the PKCS#11 token was closed')
          p.C_SignInit(s, { mechanism: CKM_EDDSA }, priv)
          return new Uint8Array(p.C_Sign(s, Buffer.from(message), Buffer.alloc(64)))
        }
      })
      labels.set(keyid, label)
    }
    for (const l of options.labels ?? []) {
      if (![...labels.values()].includes(l)) throw p11Error('key', `no Ed25519 key labelled ${JSON.stringify(l)} on the token`)
    }
    return { signers, labels, close }
  } catch (e) {
    close()
    throw e
  }
}
