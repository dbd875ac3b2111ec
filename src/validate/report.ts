/**
 * Violations, and how VALID and the relations collect them.
 *
 * A violation names the rule of spec/NOTES.md that failed, the CID of the
 * object at fault, and a message for people. Callers match on `rule`, never
 * on the message.
 *
 * Loading an object can fail in two ways. A failure that says something
 * about the data (the bytes do not hash to the CID, the block is not a
 * canonical dag-json object of the expected kind, a bound was exceeded) is a
 * violation of the rule it breaks (NOTES section 4, "Walks and reporting";
 * the mapping is the NOTES appendix). A failure that says nothing about the
 * data (block not found, timeout, transport, abort) is not a verdict: it
 * propagates as the error it is, and the caller may retry.
 */
import { BLOCK_VERDICTS, BlockError, DecodeError, ValidationError, isVerdict, type DecodeCode } from '../model/errors.js'
import type { RuleId } from '../model/rules.js'

export interface Violation {
  /** Rule ID from spec/NOTES.md, e.g. `VALID-DELEG-SIG`. */
  readonly rule: RuleId
  /** CID (string) of the object at fault. */
  readonly cid: string
  readonly message: string
}

/** DecodeError code -> rule (NOTES appendix; test/model/errors.test.ts checks they agree). */
export const DECODE_RULES: Readonly<Record<DecodeCode, RuleId>> = Object.freeze({
  ERR_CID_CODEC: 'ENC-CID',
  ERR_CID_HASH: 'ENC-CID',
  ERR_CID_MISMATCH: 'ENC-CID',
  ERR_TOO_LARGE: 'BOUND-BLOCK-SIZE',
  ERR_TOO_DEEP: 'BOUND-DEPTH',
  ERR_DAG_JSON: 'ENC-CANONICAL',
  ERR_NON_CANONICAL: 'ENC-CANONICAL',
  ERR_SCHEMA: 'ENC-SCHEMA',
  ERR_DUPLICATE_KEYID: 'ENC-SCHEMA',
  ERR_DUPLICATE_ROLE: 'ENC-SCHEMA',
  ERR_UNKNOWN_FIELD: 'ENC-UNKNOWN-FIELD',
  ERR_KIND: 'VALID-KIND',
  ERR_EXPIRES: 'ENC-EXPIRES',
  ERR_KEYID_MISMATCH: 'SIG-KEYID',
  ERR_DUPLICATE_SIGNATURE: 'SIG-ONE-PER-KEYID',
  ERR_UNSAFE_PATH: 'ENC-PATH-SAFE',
  ERR_UNSAFE_NAME: 'ENC-NAME-SAFE',
  ERR_LIMIT: 'ENC-SIZE'
})

/**
 * The rule a load failure violates, or undefined when the failure is not a
 * verdict on the data (isVerdict) and must propagate.
 */
export function ruleOfLoadError (e: unknown): RuleId | undefined {
  if (!isVerdict(e)) return undefined
  if (e instanceof ValidationError) return e.code
  if (e instanceof DecodeError) return DECODE_RULES[e.code]
  return BLOCK_VERDICTS[(e as BlockError).code]
}

/** Thrown inside a fail-fast walk at the first violation; never escapes this package. */
export class Stop {
  constructor (readonly violation: Violation, readonly cause?: unknown) {}
}

/** Collects violations; in fail-fast mode, stops the walk at the first. */
export class Collector {
  readonly violations: Violation[] = []
  constructor (readonly failFast: boolean = false) {}

  /**
   * Record a violation (and stop the walk in fail-fast mode). `cause` is the
   * error behind it, when there is one (a decode failure).
   *
   * @throws {Stop} in fail-fast mode
   */
  add (rule: RuleId, cid: { toString: () => string } | string, message: string, cause?: unknown): void {
    const v: Violation = Object.freeze({ rule, cid: cid.toString(), message })
    this.violations.push(v)
    if (this.failFast) throw new Stop(v, cause)
  }

  addAll (vs: readonly Violation[]): void {
    for (const v of vs) this.add(v.rule, v.cid, v.message)
  }

  get ok (): boolean { return this.violations.length === 0 }
}

/** The ValidationError a fail-fast caller throws for a violation. */
export function violationError (v: Violation, cause?: unknown): ValidationError {
  return new ValidationError(v.rule, v.message, { cause, details: { cid: v.cid, rule: v.rule } })
}
