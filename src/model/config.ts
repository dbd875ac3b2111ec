/**
 * Every bound dagtuf enforces on untrusted input lives here, in one place.
 *
 * The numbers are generous for honest repositories and small enough that a
 * hostile block source cannot make a client spend unbounded memory or time.
 * spec/NOTES.md (section "Bounds", rule BOUND-*) states them normatively.
 */

/** The kinds of blocks dagtuf reads. */
export type Kind = 'root' | 'targets' | 'snapshot' | 'timestamp'

export const MiB = 1024 * 1024

/** Maximum encoded size of one metadata block, per kind (BOUND-BLOCK-SIZE). */
export const MAX_BLOCK_BYTES: Readonly<Record<Kind, number>> = Object.freeze({
  root: 512 * 1024,
  timestamp: 16 * 1024,
  // Format 2: the large maps live in shard nodes (NOTES 11, MAX_NODE_BYTES
  // in src/shard), so no metadata block is over 1 MiB (bitswap- and
  // gateway-safe) at any repository size.
  snapshot: 128 * 1024,
  targets: MiB
})

/** Largest block any block source will hand out (content blocks; metadata and shard nodes are at most 1 MiB). */
export const MAX_ANY_BLOCK_BYTES = 4 * MiB

/** Maximum size of one raw/UnixFS block of target content. */
export const MAX_CONTENT_BLOCK_BYTES = 4 * MiB

export const LIMITS = Object.freeze({
  /** Nesting depth of any dag-json value (BOUND-DEPTH). */
  maxDepth: 32,
  /** Keys listed in one root or one delegations object. */
  maxKeys: 1024,
  /** keyids listed in one role. */
  maxKeyidsPerRole: 256,
  /** Signatures on one envelope. */
  maxSignatures: 256,
  /** Targets listed in one targets object. */
  maxTargets: 1_000_000,
  /** Delegated roles listed by one delegator. */
  maxDelegationsPerRole: 4096,
  /** Entries of a snapshot's delegated-targets map (and retired map). */
  maxDelegatedRoles: 100_000,
  /**
   * Bits of a succinct hash-bin delegation (DELEG-SUCCINCT): at most 2^16
   * bins (TAP 15 allows 32; every bin is a role a VALID walk visits).
   */
  maxSuccinctBits: 16,
  /** Path patterns or hash prefixes in one delegation. */
  maxPathPatterns: 1024,
  /** Length of a target path, a role name, a pattern (UTF-8 bytes). */
  maxPathLength: 4096,
  maxRoleNameLength: 255,
  /** Encoded size of a target's `custom` value. */
  // 16 KiB: a shard node holds at most 16 buckets of 3 entries, each at most
  // a 4 KiB path and this, so every node stays under 1 MiB (NOTES 11).
  maxCustomBytes: 16 * 1024,
  /** Length of a `previous-version` chain walked by `<-*` (BOUND-CHAIN). */
  maxChainLength: 100_000,
  /**
   * Root steps a client accepts in one update (BOUND-ROOT-STEPS). 32, as
   * python-tuf: a head source with no key at all can serve a chain of fake
   * self-signed roots, and each costs up to a root block (512 KiB) to refute.
   */
  maxRootSteps: 32,
  /** Delegated roles visited by one search or one VALID walk (BOUND-DELEGATIONS). */
  maxDelegationsVisited: 100_000,
  /** Depth of delegation chains (BOUND-DELEGATION-DEPTH). */
  maxDelegationDepth: 32,
  /**
   * Glob and hash-prefix matching steps of one VALID walk or one search
   * (BOUND-GLOB; a step is one comparison, one pattern tried, or one
   * character prepared). An honest repository of 10,000 targets and 300
   * patterns needs at most 28 million per VALID walk (3 million typical)
   * and 113 million to list every target; this is 100 times the former,
   * a few seconds of matching at worst.
   */
  maxGlobSteps: 3_000_000_000,
  /** Blocks one client update may fetch (BOUND-BLOCKS). */
  maxBlocksPerUpdate: 1_000_000,
  /** Bytes one client update may fetch (BOUND-BYTES). */
  maxBytesPerUpdate: 4096 * MiB
})

export type Limits = typeof LIMITS

/** The spec version this implementation writes and accepts (major must match). */
export const SPEC_VERSION = '2.0.0'
