/** The strict JSON reader of the files dagtuf keeps on disk (publisher state files, client state.json). */
import { describe, expect, it } from 'vitest'
import { RepoError, StateError } from '../../src/model/errors.js'
import { Fields, parseJson } from '../../src/model/strictjson.js'

const onError = (message: string, cause?: unknown): RepoError => new RepoError('ERR_REPO_CORRUPT', message, { cause })
const parse = (s: string, maxDepth = 32): unknown => parseJson(new TextEncoder().encode(s), { maxBytes: 1 << 20, maxDepth, onError })
const code = (f: () => unknown): string | undefined => {
  try { f() } catch (e) { return (e as RepoError).code }
  return undefined
}

describe('parseJson', () => {
  it('parses plain JSON into null-prototype objects', () => {
    const v = parse('{"a":[1,-2,0,"x\\u00e9\\n"],"b":{"c":true,"d":null}}') as Record<string, unknown>
    expect(v.a).toEqual([1, -2, 0, 'xé\n'])
    expect(Object.getPrototypeOf(v)).toBe(null)
  })

  it('keeps __proto__ as an ordinary member', () => {
    const v = parse('{"__proto__":{"polluted":1}}') as Record<string, unknown>
    expect(({} as Record<string, unknown>).polluted).toBe(undefined)
    expect(Object.hasOwn(v, '__proto__')).toBe(true)
  })

  it.each([
    ['duplicate member', '{"a":1,"a":2}'],
    ['trailing data', '{} {}'],
    ['trailing comma', '[1,]'],
    ['fraction', '{"a":1.5}'],
    ['exponent', '{"a":1e3}'],
    ['unsafe integer', '{"a":9007199254740993}'],
    ['leading zero', '{"a":01}'],
    ['lone surrogate', '"\\ud800"'],
    ['bad escape', '"\\x41"'],
    ['control character', '"a\u0001b"'],
    ['single quotes', "{'a':1}"],
    ['empty input', ''],
    ['unterminated', '{"a":"b'],
    ['NaN', '{"a":NaN}']
  ])('refuses %s with the caller\'s code', (_name, text) => {
    expect(code(() => parse(text))).toBe('ERR_REPO_CORRUPT')
  })

  it('refuses nesting past the cap without recursing further', () => {
    expect(code(() => parse('['.repeat(5) + ']'.repeat(5), 4))).toBe('ERR_REPO_CORRUPT')
    expect(parse('['.repeat(4) + ']'.repeat(4), 4)).toEqual([[[[]]]])
    expect(code(() => parse('['.repeat(100_000)))).toBe('ERR_REPO_CORRUPT')
  })

  it('keeps member names off the prototype (client state.json)', () => {
    const v = parse('{"__proto__":"x","constructor":null}') as Record<string, unknown>
    expect(Object.getPrototypeOf(v)).toBeNull()
    expect(v.__proto__).toBe('x')
  })

  it('accepts text as well as bytes, and refuses anything else with the caller\'s error', () => {
    expect(parseJson(' {"a":"b"}\n', { maxBytes: 100, onError })).toEqual(Object.assign(Object.create(null), { a: 'b' }))
    expect(code(() => parseJson('"0123456789"', { maxBytes: 5, onError }))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseJson(42 as unknown as string, { maxBytes: 100, onError }))).toBe('ERR_REPO_CORRUPT')
  })

  it('throws exactly what the caller\'s factory builds, with the offset in the message', () => {
    const state = (message: string, cause?: unknown): StateError => new StateError('ERR_STATE_CORRUPT', `state.json: ${message}`, { cause, details: { file: 'state.json' } })
    let caught: unknown
    try { parseJson(new TextEncoder().encode('{"a":"b",}'), { maxBytes: 100, onError: state }) } catch (e) { caught = e }
    expect(caught).toBeInstanceOf(StateError)
    expect(caught).toMatchObject({ code: 'ERR_STATE_CORRUPT', details: { file: 'state.json' } })
    expect((caught as Error).message).toMatch(/^state\.json: .* at offset 9$/)
    const cause = (() => { try { parseJson(new Uint8Array([0x22, 0xff, 0x22]), { maxBytes: 10, onError: state }) } catch (e) { return (e as StateError).cause } })()
    expect(cause).toBeInstanceOf(TypeError)
  })

  it('refuses invalid UTF-8 and oversized input', () => {
    expect(code(() => parseJson(new Uint8Array([0x22, 0xff, 0x22]), { maxBytes: 10, onError }))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseJson(new TextEncoder().encode('"0123456789"'), { maxBytes: 5, onError }))).toBe('ERR_REPO_CORRUPT')
  })
})

describe('Fields', () => {
  it('reads members by type and refuses leftovers', () => {
    const f = Fields.of(parse('{"s":"x","n":3,"b":false,"extra":1}'), 'o', onError)
    expect(f.str('s')).toBe('x')
    expect(f.int('n', 0, 5)).toBe(3)
    expect(f.bool('b')).toBe(false)
    expect(code(() => f.done())).toBe('ERR_REPO_CORRUPT')
  })

  it('refuses wrong types and ranges', () => {
    const f = Fields.of(parse('{"s":1,"n":9}'), 'o', onError)
    expect(code(() => f.str('s'))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => f.int('n', 0, 5))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => f.req('missing'))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => Fields.of([], 'o', onError))).toBe('ERR_REPO_CORRUPT')
  })
})
