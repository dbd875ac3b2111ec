/**
 * The data model, as the package publishes it: types, the strict codec,
 * keys and signatures, builders, and the errors (no I/O). Internal helpers
 * (hashing, hex, canonical key bytes, schema parts) stay in their modules.
 */
export {
  TOP_ROLES,
  type TopRoleName, type KeyId, type PublicKey, type Signature, type RoleKeys, type RootSigned, type TargetInfo,
  type PathsRole, type HashPrefixRole, type DelegatedRole, type Delegations, type TargetsSigned, type SnapshotMeta,
  type SnapshotSigned, type TimestampSigned, type Signed, type SignedOf, type Envelope,
  type RootEnvelope, type TargetsEnvelope, type SnapshotEnvelope, type TimestampEnvelope
} from './types.js'
export {
  DagtufError, DecodeError, CryptoError, ValidationError, BlockError, KeyFileError, RepoError, StateError, UsageError,
  isDagtufError, isVerdict,
  DECODE_CODES, CRYPTO_CODES, BLOCK_CODES, KEY_FILE_CODES, REPO_CODES, STATE_CODES, USAGE_CODES, BLOCK_VERDICTS,
  type DagtufCode, type DecodeCode, type CryptoCode, type BlockCode, type KeyFileCode, type RepoCode, type StateCode,
  type UsageCode, type ErrorOptions
} from './errors.js'
export { RULE_IDS, type RuleId } from './rules.js'
export { LIMITS, MAX_BLOCK_BYTES, SPEC_VERSION, type Kind, type Limits } from './config.js'
export { cidOf, decodeEnvelope, encodeEnvelope } from './codec.js'
export {
  generateKeyPair, keyPairFromSeed, seedSigner, keyIdOf, publicKeyFromBytes, verifySignature,
  type KeyPair, type Signer
} from './keys.js'
export { signEnvelope, addSignatures } from './sign.js'
export { expiresIn, makeRoot, makeTargets, makeSnapshot, makeTimestamp, type RoleSpec, type DelegationSpec } from './build.js'
export { parseIpnsName, type IpnsName } from './ipns.js'
