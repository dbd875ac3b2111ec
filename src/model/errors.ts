/**
 * The one error hierarchy of dagtuf.
 *
 * Every error dagtuf throws on purpose is a `DagtufError`: it has a fixed
 * `name` (one per class) and a stable `code`. Each class has its own set of
 * codes, listed below with their meaning; no code belongs to two classes,
 * and a constructor accepts only its class's codes (the compiler enforces
 * it). ValidationError codes are the rule IDs of spec/NOTES.md
 * (src/model/rules.ts). Tests and callers match on `code`, never on message
 * text. The original failure, when there is one, is attached as `cause`.
 *
 * Classes:
 * - DecodeError      untrusted bytes that are not a well-formed dagtuf object
 * - CryptoError      wrongly shaped key material or signatures, a failing signer
 * - ValidationError  a rule of spec/NOTES.md does not hold (code = rule ID)
 * - BlockError       a block source failed: missing, too large, bad hash
 * - KeyFileError     key files: missing, malformed, wrong passphrase
 * - RepoError        publisher repository state and operations
 * - StateError       client trusted state
 * - UsageError       command-line arguments and API misuse by the caller
 * - DiskFullError    the file system is full (ENOSPC) or over quota (EDQUOT),
 *                    whatever was being written (`diskFull` builds one)
 *
 * `isVerdict(e)` says whether an error is a verdict on content-addressed
 * data (keep it: fetching the same CID again cannot change it) or a failure
 * of the fetch that may be retried.
 */
import type { RuleId } from './rules.js'

/** DecodeError codes. */
export const DECODE_CODES = {
  ERR_CID_CODEC: 'the CID is not CIDv1 dag-json (0x0129)',
  ERR_CID_HASH: 'the CID\'s multihash is not sha2-256',
  ERR_CID_MISMATCH: 'the bytes do not hash to the CID',
  ERR_TOO_LARGE: 'the block exceeds the size cap of its kind',
  ERR_TOO_DEEP: 'nesting exceeds the depth cap',
  ERR_DAG_JSON: 'the strict dag-json decoder refused the bytes',
  ERR_NON_CANONICAL: 're-encoding the value does not give the same bytes',
  ERR_SCHEMA: 'a field is missing or has the wrong type or range',
  ERR_UNKNOWN_FIELD: 'a field that the schema does not define',
  ERR_KIND: 'the object is not of the expected kind (`_type`)',
  ERR_EXPIRES: '`expires` is not an ISO-8601 UTC timestamp',
  ERR_KEYID_MISMATCH: 'a keyid is not the id computed from its key',
  ERR_DUPLICATE_KEYID: 'a keyid listed twice in one role',
  ERR_DUPLICATE_SIGNATURE: 'two signatures with the same keyid',
  ERR_UNSAFE_PATH: 'a target path that could escape or confuse a filesystem',
  ERR_UNSAFE_NAME: 'a role name outside the allowed alphabet',
  ERR_DUPLICATE_ROLE: 'a delegated role name listed twice in one delegator',
  ERR_LIMIT: 'a count limit (keys, targets, roles...) was exceeded'
} as const

/** CryptoError codes. */
export const CRYPTO_CODES = {
  ERR_KEY_BYTES: 'key material that is not an ed25519 key (wrong length, unusable point)',
  ERR_SIG_FORMAT: 'a signature that is not well formed',
  ERR_BACKEND: 'the crypto backend failed',
  ERR_SIGNER: 'a signer returned a signature that does not verify'
} as const

/** BlockError codes. */
export const BLOCK_CODES = {
  ERR_BLOCK_NOT_FOUND: 'the source does not have the block (definitively)',
  ERR_BLOCK_TOO_LARGE: 'the block (or a body) is larger than the cap',
  ERR_HASH_MISMATCH: 'the bytes a source returned do not hash to the CID',
  ERR_UNSUPPORTED_HASH: 'the CID is not CIDv1/CIDv0 with a sha2-256 multihash',
  ERR_BAD_CID: 'a CID string could not be parsed',
  ERR_BLOCK_TYPE: 'a source returned something that is not bytes',
  ERR_TIMEOUT: 'the source did not answer within its time limit',
  ERR_ABORTED: 'the caller\'s AbortSignal fired',
  ERR_TRANSPORT: 'network, protocol or storage failure (details.status holds the HTTP status when there is one)',
  ERR_CLOSED: 'the source or store was already closed',
  ERR_NODE_START: 'an embedded node could not be opened or started',
  ERR_PIN: 'pinning failed (a block of the DAG is missing locally)',
  ERR_LISTEN: 'the server cannot listen on its address (in use, not ours, does not resolve)',
  ERR_CAR: 'a CAR file is malformed, truncated or over its limits',
  ERR_CAR_BLOCK: 'a CAR section\'s bytes do not match its CID',
  ERR_LENGTH_MISMATCH: 'UnixFS content is not exactly the expected length',
  ERR_UNIXFS_INVALID: 'a UnixFS DAG node is malformed or inconsistent (wrong codec, wrong type, sizes that do not add up...)',
  ERR_NOT_A_FILE: 'the UnixFS root is a directory, symlink...',
  ERR_DAG_TOO_DEEP: 'a UnixFS DAG is deeper than allowed',
  ERR_DAG_TOO_LARGE: 'a UnixFS DAG has more blocks or links than allowed',
  ERR_IPNS_NOT_FOUND: 'no IPNS record for the name (src/client/ipns.ts)',
  ERR_IPNS_RECORD: 'the IPNS record is malformed or over 10 KiB',
  ERR_IPNS_SIGNATURE: 'the IPNS record is not signed by the name\'s key',
  ERR_IPNS_EXPIRED: 'the IPNS record has expired',
  ERR_IPNS_VALUE: 'the IPNS record does not name a timestamp CID'
} as const

/** KeyFileError codes. */
export const KEY_FILE_CODES = {
  ERR_KEY_MISSING: 'the key file (or passphrase file) is absent or unreadable',
  ERR_KEY_FORMAT: 'the key file is malformed, or not the kind of key file needed',
  ERR_KEY_PERMISSIONS: 'a private key file readable by group or others',
  ERR_WRONG_PASSPHRASE: 'the passphrase does not open the encrypted key',
  ERR_PASSPHRASE_REQUIRED: 'the key is encrypted and no passphrase was given',
  ERR_KEY_NOT_AUTHORIZED: 'the key is not one the role (or draft) accepts',
  ERR_KEY_NOT_ONLINE: 'a root or targets key where only the online (snapshot, timestamp) keys may be',
  ERR_PKCS11: 'a PKCS#11 token could not be used (details.reason: binding, module, token, pin or key)'
} as const

/** RepoError codes. */
export const REPO_CODES = {
  ERR_REPO_NOT_FOUND: 'no repository in the folder (or the folder is a file)',
  ERR_REPO_EXISTS: 'a repository is already there',
  ERR_REPO_IO: 'the file system refused',
  ERR_REPO_CORRUPT: 'a state file is malformed, or the head does not match its DAG',
  ERR_REPO_LOCKED: 'another process holds the repository lock',
  ERR_REPO_LIMIT: 'the change would exceed a count limit (targets, delegations)',
  ERR_HEAD_MOVED: 'the head changed while this process was working',
  ERR_FILE_EXISTS: 'an output file already exists',
  ERR_TARGET_FILE: 'a target file is missing or unreadable',
  ERR_TARGET_DUPLICATE: 'two files for one target path',
  ERR_TARGET_EXISTS: 'the target path is already present',
  ERR_TARGET_NOT_FOUND: 'no such target in the role',
  ERR_TARGET_NOT_DELEGATED: 'the path is outside the role\'s patterns',
  ERR_TARGET_PATH_UNSAFE: 'a target path or path pattern that could escape or confuse',
  ERR_ROLE_NAME_UNSAFE: 'a role name outside the allowed alphabet',
  ERR_ROLE_UNKNOWN: 'no such role',
  ERR_THRESHOLD: 'a threshold that the keys cannot meet',
  ERR_DELEGATION_PATTERNS: 'delegation path patterns that are missing or malformed',
  ERR_DELEGATION_SELF: 'a role delegating to itself',
  ERR_DRAFT_NOT_FOUND: 'no such draft',
  ERR_DRAFT_AMBIGUOUS: 'more than one draft matches',
  ERR_DRAFT_STALE: 'the draft was made over another head',
  ERR_DRAFT_MISMATCH: 'the draft does not match what it claims to be',
  ERR_DRAFT_FORMAT: 'a draft file is malformed',
  ERR_DRAFT_SIGNATURE: 'a signature offered for a draft does not verify over the exact bytes of its object',
  ERR_DRAFT_SIGNED: 'the key has already signed that object of the draft',
  ERR_DRAFT_PUBLISHED: 'the draft was already published (details.timestamp): nothing more is taken for it',
  ERR_DRAFT_EXPIRED: 'the draft is older than the service keeps drafts',
  ERR_DRAFT_EMPTY: 'the proposal changes nothing that needs a signature',
  ERR_DRAFT_LIMIT: 'the service already holds as many pending drafts as it keeps',
  ERR_PUBLISH_INVALID: 'the publisher refused its own output (details.rule is the rule of spec/NOTES.md)',
  ERR_NOT_SUCCESSOR: 'a timestamp that does not descend from the one given',
  ERR_IPNS: 'the IPNS record could not be made',
  ERR_PUSH_REFUSED: 'a head registry refused a push (details.status, details.code and details.rule are its answer)',
  ERR_REMOTE_REFUSED: 'a signing service refused a request (details.status, details.serverCode and details.rule are its answer)',
  ERR_REMOTE_ANSWER: 'a signing service answered something that is not what was asked (malformed, or an object to sign that is not one)'
} as const

/** StateError codes. */
export const STATE_CODES = {
  ERR_STATE_MISSING: 'the folder has no trusted state',
  ERR_STATE_EXISTS: 'the folder already has a trusted state',
  ERR_STATE_CORRUPT: 'the trusted state file is malformed',
  ERR_STATE_IO: 'the file system refused',
  ERR_STATE_LOCKED: 'another process holds the client lock',
  ERR_STATE_NO_UPDATE: 'there is no update to apply',
  ERR_TARGET_NOT_LISTED: 'no role entitled to the path lists it in the trusted state',
  ERR_IPNS_REPLAY: 'an IPNS record with a sequence number below the last one accepted',
  ERR_TARGET_CHANGED: 'the trusted state no longer gives the entry a download was asked for (update, then look it up again)'
} as const

/** UsageError codes. */
export const USAGE_CODES = {
  ERR_USAGE: 'command-line usage: unknown option, missing value, stray argument...',
  ERR_ARGUMENT: 'an API argument of the wrong type or range (a programming error)',
  ERR_CALL_ORDER: 'TrustedState steps called out of order',
  ERR_IPNS_NAME: 'not an IPNS name dagtuf can use (an Ed25519 key)'
} as const

/** DiskFullError codes. */
export const DISK_CODES = {
  ERR_DISK_FULL: 'the file system is full (ENOSPC) or the quota is used up (EDQUOT) where dagtuf was writing (details.path)'
} as const

export type DecodeCode = keyof typeof DECODE_CODES
export type CryptoCode = keyof typeof CRYPTO_CODES
export type BlockCode = keyof typeof BLOCK_CODES
export type KeyFileCode = keyof typeof KEY_FILE_CODES
export type RepoCode = keyof typeof REPO_CODES
export type StateCode = keyof typeof STATE_CODES
export type UsageCode = keyof typeof USAGE_CODES
export type DiskCode = keyof typeof DISK_CODES
export type DagtufCode = DecodeCode | CryptoCode | RuleId | BlockCode | KeyFileCode | RepoCode | StateCode | UsageCode | DiskCode

/**
 * BlockError codes that are verdicts on content-addressed bytes: the bytes
 * named by a CID failed a check, so asking for the same CID again cannot
 * help (another source may still serve the right bytes). Each maps to the
 * rule of spec/NOTES.md it breaks.
 */
export const BLOCK_VERDICTS: Readonly<Partial<Record<BlockCode, RuleId>>> = Object.freeze({
  ERR_HASH_MISMATCH: 'ENC-CID',
  ERR_CAR_BLOCK: 'ENC-CID',
  ERR_UNSUPPORTED_HASH: 'ENC-CID',
  ERR_BAD_CID: 'ENC-CID',
  ERR_BLOCK_TOO_LARGE: 'BOUND-BLOCK-SIZE',
  ERR_LENGTH_MISMATCH: 'CLIENT-TARGET-CONTENT',
  ERR_UNIXFS_INVALID: 'CLIENT-TARGET-CONTENT',
  ERR_NOT_A_FILE: 'CLIENT-TARGET-CONTENT',
  ERR_DAG_TOO_DEEP: 'CLIENT-TARGET-CONTENT',
  ERR_DAG_TOO_LARGE: 'CLIENT-TARGET-CONTENT'
})

export interface ErrorOptions {
  cause?: unknown
  /** Machine-readable details (a field path, a CID, a rule ID...). */
  details?: Record<string, unknown>
}

export abstract class DagtufError<C extends DagtufCode = DagtufCode> extends Error {
  abstract override readonly name: string
  readonly code: C
  readonly details: Record<string, unknown>

  constructor (code: C, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details ?? {}
  }

  toJSON (): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.details }
  }
}

/** Untrusted bytes that are not a well-formed dagtuf object. Codes: DECODE_CODES. */
export class DecodeError extends DagtufError<DecodeCode> {
  override readonly name = 'DecodeError'
}

/** Key material, signatures, signers. Codes: CRYPTO_CODES. */
export class CryptoError extends DagtufError<CryptoCode> {
  override readonly name = 'CryptoError'
}

/**
 * A rule of spec/NOTES.md failed. `code` is the rule ID (e.g.
 * `VALID-ROOT-SELF`); `details.cid` names the offending object.
 */
export class ValidationError extends DagtufError<RuleId> {
  override readonly name = 'ValidationError'
  get rule (): RuleId { return this.code }
}

/** A block source failed. Codes: BLOCK_CODES (the IPNS ones for heads read by src/client/ipns.ts). */
export class BlockError extends DagtufError<BlockCode> {
  override readonly name = 'BlockError'
}

/** Key files. Codes: KEY_FILE_CODES. */
export class KeyFileError extends DagtufError<KeyFileCode> {
  override readonly name = 'KeyFileError'
}

/** Publisher repository state and operations. Codes: REPO_CODES. */
export class RepoError extends DagtufError<RepoCode> {
  override readonly name = 'RepoError'
}

/** Client trusted state. Codes: STATE_CODES. */
export class StateError extends DagtufError<StateCode> {
  override readonly name = 'StateError'
}

/** Command-line arguments and API misuse by the caller. Codes: USAGE_CODES. */
export class UsageError extends DagtufError<UsageCode> {
  override readonly name = 'UsageError'
}

/**
 * A full disk, wherever it happened (a block, a state file, a lock, an
 * output file). Code ERR_DISK_FULL; `details.path` is the file being written.
 */
export class DiskFullError extends DagtufError<DiskCode> {
  override readonly name = 'DiskFullError'
}

/** The errno codes of a full disk. */
const DISK_FULL_ERRNOS = new Set(['ENOSPC', 'EDQUOT'])

/**
 * A DiskFullError for `e` when `e`, or an error in its `cause` chain, is a
 * file system error ENOSPC or EDQUOT; undefined otherwise. `path` names the
 * file being written (default: the first details.path of a dagtuf error on
 * the way down the chain, else the system error's own path).
 */
export function diskFull (e: unknown, path?: string): DiskFullError | undefined {
  let at: unknown = e
  // The outermost path named on the way down (a wrapper's details.path).
  let named = path
  for (let depth = 0; depth < 8 && typeof at === 'object' && at !== null; depth++) {
    if (at instanceof DiskFullError) return at
    if (named === undefined && at instanceof DagtufError && typeof at.details.path === 'string') named = at.details.path
    const errno = (at as { code?: unknown }).code
    if (typeof errno === 'string' && DISK_FULL_ERRNOS.has(errno)) {
      const own = (at as { path?: unknown }).path
      const where = named ?? (typeof own === 'string' ? own : undefined)
      const message = `no space left on the device${where === undefined ? '' : ` writing ${where}`} (${errno}): free some space and run the command again`
      return new DiskFullError('ERR_DISK_FULL', message, { cause: e, details: where === undefined ? { errno } : { path: where, errno } })
    }
    at = (at as { cause?: unknown }).cause
  }
  return undefined
}

/** True when `e` is any dagtuf error. */
export function isDagtufError (e: unknown): e is DagtufError {
  return e instanceof DagtufError
}

/**
 * True when `e` is a verdict on content-addressed data — a DecodeError, a
 * ValidationError, or a BlockError whose code is in BLOCK_VERDICTS — and
 * false for failures that say nothing about the data (not found, timeout,
 * transport, abort, a closed source...), which may be retried.
 */
export function isVerdict (e: unknown): e is DecodeError | ValidationError | BlockError {
  if (e instanceof DecodeError || e instanceof ValidationError) return true
  return e instanceof BlockError && Object.hasOwn(BLOCK_VERDICTS, e.code)
}
