/**
 * src/validate/report.ts: which load failures are verdicts (a violation of
 * the rule they break) and which propagate (NOTES section 4, "Walks and
 * reporting"), and the Collector's fail-fast stop.
 */
import { describe, expect, it } from 'vitest'
import { BlockError, DecodeError, ValidationError } from '../../src/model/errors.js'
import { Collector, Stop, ruleOfLoadError, violationError } from '../../src/validate/report.js'

describe('ruleOfLoadError', () => {
  it('ENC-CID, ENC-SCHEMA, BOUND-CHAIN: a failure about the data is a violation of the rule it breaks', () => {
    expect(ruleOfLoadError(new BlockError('ERR_HASH_MISMATCH', 'x'))).toBe('ENC-CID')
    expect(ruleOfLoadError(new DecodeError('ERR_SCHEMA', 'x'))).toBe('ENC-SCHEMA')
    expect(ruleOfLoadError(new ValidationError('BOUND-CHAIN', 'x'))).toBe('BOUND-CHAIN')
  })

  it('a failure that says nothing about the data is no verdict, whatever its code', () => {
    expect(ruleOfLoadError(new BlockError('ERR_BLOCK_NOT_FOUND', 'x'))).toBeUndefined()
    expect(ruleOfLoadError(new BlockError('ERR_TIMEOUT', 'x'))).toBeUndefined()
    // Not a BlockError, though its code names a verdict of one (a transport
    // library's error, say): it propagates.
    expect(ruleOfLoadError(Object.assign(new Error('x'), { code: 'ERR_HASH_MISMATCH' }))).toBeUndefined()
    expect(ruleOfLoadError(new TypeError('x'))).toBeUndefined()
    expect(ruleOfLoadError(undefined)).toBeUndefined()
    expect(ruleOfLoadError(null)).toBeUndefined()
  })
})

describe('Collector', () => {
  it('collects every violation, frozen, with the CID as a string', () => {
    const c = new Collector()
    expect(c.ok).toBe(true)
    c.add('VALID-TS-SIG', { toString: () => 'bafyone' }, 'm1')
    c.addAll([{ rule: 'VALID-SNAP-SIG', cid: 'bafytwo', message: 'm2' }])
    expect(c.ok).toBe(false)
    expect(c.violations).toEqual([
      { rule: 'VALID-TS-SIG', cid: 'bafyone', message: 'm1' },
      { rule: 'VALID-SNAP-SIG', cid: 'bafytwo', message: 'm2' }
    ])
    expect(Object.isFrozen(c.violations[0])).toBe(true)
  })

  it('in fail-fast mode, stops at the first violation with a Stop carrying it and its cause', () => {
    const c = new Collector(true)
    const cause = new DecodeError('ERR_SCHEMA', 'bad')
    let stop: unknown
    try { c.add('ENC-SCHEMA', 'bafyone', 'm1', cause) } catch (e) { stop = e }
    expect(stop).toBeInstanceOf(Stop)
    expect((stop as Stop).violation).toEqual({ rule: 'ENC-SCHEMA', cid: 'bafyone', message: 'm1' })
    expect((stop as Stop).cause).toBe(cause)
    expect(c.violations).toHaveLength(1)
    expect(() => c.addAll([{ rule: 'VALID-TS-SIG', cid: 'a', message: 'x' }, { rule: 'VALID-SNAP-SIG', cid: 'b', message: 'y' }])).toThrow(Stop)
    expect(c.violations.map((v) => v.rule)).toEqual(['ENC-SCHEMA', 'VALID-TS-SIG'])
  })

  it('violationError: a ValidationError whose code is the rule, with the CID and rule in its details', () => {
    const cause = new Error('under')
    const e = violationError({ rule: 'VALID-DELEG-SIG', cid: 'bafyone', message: 'below threshold' }, cause)
    expect(e).toBeInstanceOf(ValidationError)
    expect(e.code).toBe('VALID-DELEG-SIG')
    expect(e.message).toBe('below threshold')
    expect(e.details).toEqual({ cid: 'bafyone', rule: 'VALID-DELEG-SIG' })
    expect(e.cause).toBe(cause)
  })
})
