import { describe, expect, it } from 'vitest'
import { RepoError } from '../../src/model/errors.js'
import { Fields, parseJson } from '../../src/publish/strictjson.js'
import { parseConfig, parseHead, parseLog, parseStaged } from '../../src/publish/files.js'

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

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))
const CID_TS = 'baguqeeraohlginhhh3avrj23mdk7whtdbwh2gqnbshxbpmxsu7nj4omaz2ja'
const goodHead = {
  format: 'dagtuf-head/1', timestamp: CID_TS, snapshot: CID_TS, root: CID_TS, targets: CID_TS,
  delegated: {}, retired: {}, published: '2025-01-01T00:00:00Z', changes: [{ role: 'targets', kind: 'targets-added', count: 3 }], source: ''
}

describe('state files', () => {
  it('reads a well-formed head', () => {
    expect(parseHead(bytes(goodHead)).timestamp.toString()).toBe(CID_TS)
  })

  it.each([
    ['wrong format', { ...goodHead, format: 'dagtuf-head/2' }],
    ['unknown member', { ...goodHead, extra: 1 }],
    ['not a CID', { ...goodHead, timestamp: 'hello' }],
    ['a raw CID for metadata', { ...goodHead, root: 'bafkreifjnw3isa3hvc6ajgcbkan2dmflhc55zidcrbozj4atbml5cyw6ve' }],
    ['an unsafe role name', { ...goodHead, delegated: { '../x': CID_TS } }],
    ['a bad date', { ...goodHead, published: 'yesterday' }],
    ['an unknown change', { ...goodHead, changes: [{ role: 'targets', kind: 'exploded' }] }],
    ['a bad source', { ...goodHead, source: 'anything' }]
  ])('refuses a head with %s', (_n, v) => {
    expect(code(() => parseHead(bytes(v)))).toBe('ERR_REPO_CORRUPT')
  })

  it('reads staged ops and refuses bad ones', () => {
    const ok = { format: 'dagtuf-staged/1', id: 'staged-0123456789ab', ops: [{ op: 'remove', role: 'targets', path: 'a/b' }] }
    expect(parseStaged(bytes(ok)).ops).toHaveLength(1)
    expect(code(() => parseStaged(bytes({ ...ok, ops: [{ op: 'remove', role: 'targets', path: '../etc/passwd' }] })))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseStaged(bytes({ ...ok, ops: [{ op: 'explode' }] })))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseStaged(bytes({ ...ok, ops: [{ op: 'rotate', role: 'root', keys: ['00'.repeat(32)], threshold: 1 }] })))).toBe('ERR_REPO_CORRUPT')
  })

  it('reads config durations and refuses nonsense', () => {
    expect(parseConfig(bytes({ format: 'dagtuf-config/1', expiry: { root: '730d', timestamp: '6h' } })).expiry).toMatchObject({ root: 730 * 86400, timestamp: 6 * 3600, snapshot: 7 * 86400 })
    expect(code(() => parseConfig(bytes({ format: 'dagtuf-config/1', expiry: { root: '-1d' } })))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseConfig(bytes({ format: 'dagtuf-config/1', expiry: { forever: '1d' } })))).toBe('ERR_REPO_CORRUPT')
  })

  it('ignores a log line cut short by a crash, refuses a corrupt complete one', () => {
    const line = JSON.stringify({ ...goodHead, format: undefined })
    const { format, ...entry } = goodHead
    void format
    expect(parseLog(bytes(JSON.stringify(entry) + '\n' + '{"timest'))).toHaveLength(1)
    expect(code(() => parseLog(bytes('{"timest\n')))).toBe('ERR_REPO_CORRUPT')
    void line
  })
})
