/** The publisher's state files (head.json, staged.jsonl, config.json, the log) read through the strict JSON reader. */
import { describe, expect, it } from 'vitest'
import { RepoError } from '../../src/model/errors.js'
import { parseConfig, parseHead, parseLog, parseStaged } from '../../src/publish/files.js'

const code = (f: () => unknown): string | undefined => {
  try { f() } catch (e) { return (e as RepoError).code }
  return undefined
}

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

  it('reads staged ops (a header line, then one line per batch) and refuses bad ones', () => {
    const header = JSON.stringify({ format: 'dagtuf-staged/2', id: 'staged-0123456789ab' }) + '\n'
    const batch = (ops: unknown[]): string => JSON.stringify({ ops }) + '\n'
    const one = batch([{ op: 'remove', role: 'targets', path: 'a/b' }])
    expect(parseStaged(bytes(header + one)).ops).toHaveLength(1)
    expect(parseStaged(bytes(header + one + one)).ops).toHaveLength(2)
    expect(parseStaged(bytes(header)).ops).toHaveLength(0)
    // A batch cut short by a crash (no newline) is ignored: its command never succeeded.
    expect(parseStaged(bytes(header + one + '{"ops":[{"op":"rem')).ops).toHaveLength(1)
    expect(code(() => parseStaged(bytes(header + '{"ops":[{"op":"rem\n' + one)))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseStaged(bytes(header + batch([{ op: 'remove', role: 'targets', path: '../etc/passwd' }]))))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseStaged(bytes(header + batch([{ op: 'explode' }]))))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseStaged(bytes(header + batch([{ op: 'rotate', role: 'root', keys: ['00'.repeat(32)], threshold: 1 }]))))).toBe('ERR_REPO_CORRUPT')
    expect(code(() => parseStaged(bytes(JSON.stringify({ format: 'dagtuf-staged/1', id: 'staged-0123456789ab', ops: [] }) + '\n')))).toBe('ERR_REPO_CORRUPT')
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
