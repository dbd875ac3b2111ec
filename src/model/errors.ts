/**
 * The one error hierarchy of dagtuf.
 *
 * Every error dagtuf throws on purpose is a `DagtufError`: it has a fixed
 * `name` (one per class) and a stable `code` (a short string documented here
 * or, for validation failures, the rule ID from spec/NOTES.md). Tests and
 * callers match on `code`, never on message text. The original failure, when
 * there is one, is attached as `cause`.
 *
 * Classes:
 * - DecodeError      untrusted bytes that are not a well-formed dagtuf object
 * - CryptoError      wrongly typed key material or arguments to crypto calls
 * - ValidationError  a rule of spec/NOTES.md does not hold (code = rule ID)
 * - BlockError       a block source failed: missing, too large, bad hash
 * - KeyFileError     key files: missing, malformed, wrong passphrase
 * - RepoError        publisher repository state and operations
 * - StateError       client trusted state
 * - UsageError       command-line arguments and API misuse by the caller
 */

export interface ErrorOptions {
  cause?: unknown
  /** Machine-readable details (a field path, a CID, a rule ID...). */
  details?: Record<string, unknown>
}

export abstract class DagtufError extends Error {
  abstract override readonly name: string
  readonly code: string
  readonly details: Record<string, unknown>

  constructor (code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details ?? {}
  }

  toJSON (): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.details }
  }
}

/**
 * Codes:
 * ERR_CID_CODEC      the CID is not CIDv1 dag-json (0x0129)
 * ERR_CID_HASH       the CID's multihash is not sha2-256
 * ERR_HASH_MISMATCH  the bytes do not hash to the CID
 * ERR_TOO_LARGE      the block exceeds the size cap of its kind
 * ERR_TOO_DEEP       nesting exceeds the depth cap
 * ERR_DAG_JSON       the strict dag-json decoder refused the bytes
 * ERR_NON_CANONICAL  re-encoding the value does not give the same bytes
 * ERR_SCHEMA         a field is missing or has the wrong type or range
 * ERR_UNKNOWN_FIELD  a field that the schema does not define
 * ERR_KIND           the object is not of the expected kind (`_type`)
 * ERR_EXPIRES        `expires` is not an ISO-8601 UTC timestamp
 * ERR_KEYID_MISMATCH a keyid is not the id computed from its key
 * ERR_DUPLICATE_KEYID a keyid listed twice in one role
 * ERR_DUPLICATE_SIGNATURE two signatures with the same keyid
 * ERR_UNSAFE_PATH    a target path that could escape or confuse a filesystem
 * ERR_UNSAFE_NAME    a role name outside the allowed alphabet
 * ERR_DUPLICATE_ROLE a delegated role name listed twice in one delegator
 * ERR_LIMIT          a count limit (keys, targets, roles...) was exceeded
 */
export class DecodeError extends DagtufError {
  override readonly name = 'DecodeError'
}

/** Codes: ERR_KEY_FORMAT, ERR_SIG_FORMAT, ERR_ARGUMENT, ERR_BACKEND */
export class CryptoError extends DagtufError {
  override readonly name = 'CryptoError'
}

/**
 * A rule of spec/NOTES.md failed. `code` is the rule ID (e.g.
 * `VALID-ROOT-SELF`); `details.cid` names the offending object.
 */
export class ValidationError extends DagtufError {
  override readonly name = 'ValidationError'
  get rule (): string { return this.code }
}

/**
 * Codes: ERR_BLOCK_NOT_FOUND, ERR_BLOCK_TOO_LARGE, ERR_HASH_MISMATCH, ERR_TRANSPORT, ERR_TIMEOUT, ERR_CAR;
 * for IPNS heads (src/client/ipns.ts): ERR_IPNS_NOT_FOUND, ERR_IPNS_RECORD, ERR_IPNS_SIGNATURE,
 * ERR_IPNS_EXPIRED, ERR_IPNS_VALUE
 */
export class BlockError extends DagtufError {
  override readonly name = 'BlockError'
}

/** Codes: ERR_KEY_MISSING, ERR_KEY_FORMAT, ERR_WRONG_PASSPHRASE, ERR_KEY_NOT_AUTHORIZED, ERR_PASSPHRASE_REQUIRED */
export class KeyFileError extends DagtufError {
  override readonly name = 'KeyFileError'
}

/** Codes: see src/publish (ERR_REPO_*, ERR_DRAFT_*, ERR_TARGET_*). */
export class RepoError extends DagtufError {
  override readonly name = 'RepoError'
}

/** Codes: see src/client (ERR_STATE_*, ERR_EXPIRED, ERR_ROLLBACK, ERR_IPNS_REPLAY...). */
export class StateError extends DagtufError {
  override readonly name = 'StateError'
}

/** Codes: ERR_USAGE, ERR_ARGUMENT, ERR_IPNS_NAME */
export class UsageError extends DagtufError {
  override readonly name = 'UsageError'
}

/** True when `e` is any dagtuf error. */
export function isDagtufError (e: unknown): e is DagtufError {
  return e instanceof DagtufError
}
