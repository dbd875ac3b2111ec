/**
 * DELEG-GLOB's code points and BOUND-GLOB's step count, exactly
 * (src/validate/delegation.ts). The budget's unit is documented on
 * GlobBudget: one step per pattern or hash prefix tried against a path, per
 * pattern piece placed, per code point compared, per character of a path (or
 * of a pattern not taken from decoded metadata) prepared for matching. The
 * counts below are worked out by hand from that definition.
 */
import { describe, expect, it } from 'vitest'
import { UsageError, ValidationError } from '../../src/model/errors.js'
import type { DelegatedRole } from '../../src/model/types.js'
import { GlobBudget, PathMatcher, globMatch, pathHash, roleMatchesPath } from '../../src/validate/delegation.js'

function steps (pattern: string, path: string): [boolean, number] {
  const b = new GlobBudget(Infinity)
  return [globMatch(pattern, path, b), b.used]
}

function pathsRole (paths: readonly string[]): DelegatedRole {
  return { name: 'r', keyids: [], threshold: 1, terminating: false, paths }
}

function binsRole (pathHashPrefixes: readonly string[]): DelegatedRole {
  return { name: 'r', keyids: [], threshold: 1, terminating: false, pathHashPrefixes }
}

describe('DELEG-GLOB: code points', () => {
  it('DELEG-GLOB: a surrogate pair is one code point, at every edge of the surrogate ranges', () => {
    for (const pair of ['\uD800\uDC00', '\uDBFF\uDFFF', '\uD800\uDFFF', '\uDBFF\uDC00', '🙂']) {
      expect(globMatch('?', pair)).toBe(true)
      expect(globMatch('??', pair)).toBe(false)
    }
    // Not pairs: two code points each (a lone surrogate is one code point).
    for (const two of ['\uD7FF\uDC00', '\uDC00\uDC00', '\uD800\uE000', '\uD800\uDBFF', '\uE000\uDC00', '\uD800\uD800']) {
      expect(globMatch('??', two)).toBe(true)
      expect(globMatch('?', two)).toBe(false)
    }
    expect(globMatch('?', '\uD800')).toBe(true)
    expect(globMatch('a?', 'a\uDBFF')).toBe(true)
  })

  it('DELEG-GLOB: distinct code points never compare equal (astral vs BMP)', () => {
    expect(globMatch('\uD801\uDC00', '\uFC00')).toBe(false)
    expect(globMatch('\uD800\uDC01', '\uFFFF')).toBe(false)
    expect(globMatch('🙂', '🙃')).toBe(false)
    expect(globMatch('🙂', '🙂')).toBe(true)
    expect(globMatch('x\uD83D', 'x\uD83D')).toBe(true)
    // "?" in a path is a character like any other: only "?" or a wildcard matches it.
    expect(globMatch('a', '?')).toBe(false)
    expect(globMatch('?', '?')).toBe(true)
  })
})

describe('BOUND-GLOB: steps', () => {
  it('BOUND-GLOB: globMatch charges the characters prepared, the pattern tried, and each code point compared (one more at a mismatch)', () => {
    // 3 + 3 prepared, 1 tried, then:
    expect(steps('abc', 'abc')).toEqual([true, 10]) // 3 compared
    expect(steps('abc', 'abd')).toEqual([false, 10]) // 2 equal + the mismatch
    expect(steps('abc', 'xbc')).toEqual([false, 8]) // the mismatch only
    expect(steps('abc', 'ab')).toEqual([false, 6]) // lengths differ: nothing compared
    expect(steps('a/b', 'a/b/c')).toEqual([false, 9]) // segment counts differ
  })

  it('BOUND-GLOB: with "*", one step per piece placed and per code point compared; a segment too short for the pieces costs nothing', () => {
    expect(steps('*', 'abc')).toEqual([true, 5]) // empty first and last pieces
    expect(steps('a*', 'b')).toEqual([false, 5])
    expect(steps('ab*', 'a')).toEqual([false, 5]) // needs 2 code points, has 1
    expect(steps('*a', '')).toEqual([false, 3])
    expect(steps('a*b*c', 'ac')).toEqual([false, 8])
    expect(steps('a*b*c', 'abc')).toEqual([true, 13]) // first 1, last 1, "b" placed 1 + compared 1
    expect(steps('*x*', 'aaxa')).toEqual([true, 12]) // "x" placed 1, tried at 0, 1, 2
    // "ab" tried at 0 (1) and 1 (2), "cd" at 3 (1), 4 (1), 5 (2): 15 + 1 + 2 + 3 + 4
    expect(steps('*ab*cd*', 'xabyycdz')).toEqual([true, 25])
    // A middle piece is never tried where the pieces after it no longer fit.
    expect(steps('*ab*cd*', 'xxabcd')).toEqual([true, 22]) // 13 + 1, "ab" placed 1, tried at 0 (1), 1 (1), 2 (2); "cd" placed 1, at 4 (2)
    // A middle piece may not overlap the last one, though it would fit there.
    expect(globMatch('*ab*b', 'xab')).toBe(false)
    expect(globMatch('*ab*b', 'xabb')).toBe(true)
    expect(globMatch('a*bc*c', 'abc')).toBe(false)
    expect(steps('*ab*cd*', 'xxxxcd')).toEqual([false, 18]) // 13 + 1, "ab" placed 1, tried at 0, 1, 2 only ("cd" needs the last 2)
  })

  it('BOUND-GLOB: the budget allows exactly max steps', () => {
    const exact = new GlobBudget(10)
    expect(globMatch('abc', 'abc', exact)).toBe(true)
    expect(exact.used).toBe(10)
    const short = new GlobBudget(9)
    const e = (() => { try { globMatch('abc', 'abc', short); return undefined } catch (x) { return x } })()
    expect(e).toBeInstanceOf(ValidationError)
    expect((e as ValidationError).code).toBe('BOUND-GLOB')
    expect((e as ValidationError).details).toEqual({ max: 9 })
    const zero = new GlobBudget(0)
    zero.charge(0)
    expect(() => zero.charge(1)).toThrow(expect.objectContaining({ code: 'BOUND-GLOB' }))
  })

  it('BOUND-GLOB: PathMatcher prepares the path once, charges a pattern from metadata (frozen) nothing to prepare, any other pattern its length', () => {
    const b = new GlobBudget(Infinity)
    const m = new PathMatcher('abc', b)
    const frozen = Object.freeze(['abd', 'abc'])
    expect(m.matches(pathsRole(frozen))).toBe(true)
    // 3 (path) + [1 + 3] (abd: 2 equal + mismatch) + [1 + 3] (abc)
    expect(b.used).toBe(11)
    expect(m.matches(pathsRole(frozen))).toBe(true)
    expect(b.used).toBe(11 + 8) // the path is not prepared again
    expect(m.matches(pathsRole(['abc']))).toBe(true)
    expect(b.used).toBe(19 + 3 + 1 + 3) // a pattern not from metadata: prepared at a charge
    expect(m.matches(pathsRole([]))).toBe(false)
    expect(b.used).toBe(26)
    // An empty list matches nothing, and costs nothing (the path is not even prepared).
    const fresh = new GlobBudget(Infinity)
    expect(new PathMatcher('abc', fresh).matches(pathsRole(Object.freeze([])))).toBe(false)
    expect(fresh.used).toBe(0)
  })

  it('BOUND-GLOB / DELEG-HASH-PREFIX: one step per hash prefix tried, for PathMatcher and roleMatchesPath alike', () => {
    const h = pathHash('a.txt')
    const miss = h[0] === '0' ? '1' : '0'
    const b = new GlobBudget(Infinity)
    const m = new PathMatcher('a.txt', b)
    expect(m.matches(binsRole([miss, miss + 'f', h.slice(0, 2), miss]))).toBe(true)
    expect(b.used).toBe(3)
    expect(m.matches(binsRole([miss]))).toBe(false)
    expect(b.used).toBe(4)
    const b2 = new GlobBudget(Infinity)
    expect(roleMatchesPath(binsRole([miss, h.slice(0, 3)]), 'a.txt', undefined, b2)).toBe(true)
    expect(b2.used).toBe(2)
    // A given hash is trusted as the path's.
    expect(roleMatchesPath(binsRole(['ab']), 'a.txt', 'abcdef')).toBe(true)
    expect(roleMatchesPath(binsRole([h.slice(0, 4)]), 'a.txt')).toBe(true)
    expect(roleMatchesPath(binsRole([miss]), 'a.txt')).toBe(false)
    // Patterns: any of them.
    const b3 = new GlobBudget(Infinity)
    expect(roleMatchesPath(pathsRole(['x', 'a.*']), 'a.txt', undefined, b3)).toBe(true)
    expect(b3.used).toBeGreaterThan(0)
    expect(roleMatchesPath(pathsRole([]), 'a.txt')).toBe(false)
  })

  it('GlobBudget and the matchers refuse bad arguments with UsageError ERR_ARGUMENT; BOUND-GLOB names what ran out', () => {
    const usage = expect.objectContaining({ name: 'UsageError', code: 'ERR_ARGUMENT' })
    for (const bad of [-1, Number.NaN, '5' as never]) {
      expect(() => new GlobBudget(bad)).toThrow(UsageError)
      expect(() => new GlobBudget(bad)).toThrow(usage)
    }
    expect(new GlobBudget(0).max).toBe(0)
    expect(() => globMatch(1 as never, 'a')).toThrow(usage)
    expect(() => globMatch('a', undefined as never)).toThrow(usage)
    expect(() => new PathMatcher(3 as never, new GlobBudget(1))).toThrow(usage)
    expect(() => new GlobBudget(1, 'the search').charge(2)).toThrow(/^the search took more than 1 glob steps$/)
    expect(() => new GlobBudget(1).charge(2)).toThrow(/^matching took more than 1 glob steps$/)
  })
})
