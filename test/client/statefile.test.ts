/** state.json: the strict reader refuses everything but the documented shape. */
import { describe, expect, it } from 'vitest'
import { parseState, sameRecord, serializeState, type StateRecord } from '../../src/client/statefile.js'
import { cidOf } from '../../src/model/codec.js'
import { emptyMap } from '../../src/shard/index.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const cid = (s: string) => cidOf(enc(s))
const R = cid('root').toString()
const T = cid('ts').toString()
const S = cid('snap').toString()
const G = cid('targets').toString()
const D = emptyMap().cid.toString()

function file (trusted: unknown = null, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ format: 'dagtuf-client-state/2', root: R, trusted, written: '2026-01-01T00:00:00Z', ...extra })
}

const full = { timestamp: T, snapshot: S, targets: G, roles: D, reference_time: '2026-01-01T00:00:00Z' }

function corrupt (text: string | Uint8Array): void {
  let caught: unknown
  try {
    parseState(typeof text === 'string' ? enc(text) : text)
  } catch (e) {
    caught = e
  }
  expect(caught).toMatchObject({ name: 'StateError', code: 'ERR_STATE_CORRUPT' })
}

describe('state.json', () => {
  it('round-trips a record through serializeState and parseState', () => {
    const rec: StateRecord = {
      root: cid('root'),
      trusted: { timestamp: cid('ts'), snapshot: cid('snap'), targets: cid('targets'), roles: emptyMap().cid, referenceTime: '2026-02-03T04:05:06Z' }
    }
    const back = parseState(serializeState(rec, new Date('2026-02-03T04:05:07.123Z')))
    expect(sameRecord(rec, back)).toBe(true)
    expect(back.trusted!.roles.equals(emptyMap().cid)).toBe(true)
    expect(back.trusted!.referenceTime).toBe('2026-02-03T04:05:06Z')
    const rootOnly = parseState(serializeState({ root: cid('root'), trusted: null }, new Date()))
    expect(rootOnly.trusted).toBeNull()
    expect(sameRecord(rec, rootOnly)).toBe(false)
  })

  it('accepts the documented shape with insignificant whitespace', () => {
    expect(parseState(enc(`  ${file(full)}\n`)).trusted?.roles.toString()).toBe(D)
  })

  it('refuses malformed JSON: trailing data, duplicates, bad escapes, numbers, arrays, bad UTF-8, depth', () => {
    corrupt('')
    corrupt(file() + 'x')
    corrupt(file().replace('{', `{"root":"${R}",`))
    corrupt(file().replace('"format"', '"form\\at"'))
    corrupt(file(null, { n: 1 }))
    corrupt(file(null, { n: [] }))
    corrupt(file(null, { n: true }))
    corrupt(new Uint8Array([0x7b, 0xff, 0x7d]))
    corrupt(file({ ...full, roles: { x: { y: 'z' } } }))
    corrupt('"\ud800"'.replace('\\', ''))
    corrupt(file().replace('"format"', '"\\ud800"'))
    corrupt(file().slice(0, -1))
  })

  it('refuses unknown, missing and malformed members', () => {
    corrupt(file(null, { extra: 'x' }))
    corrupt(JSON.stringify({ format: 'dagtuf-client-state/2', root: R, written: '2026-01-01T00:00:00Z' }))
    corrupt(file().replace('dagtuf-client-state/2', 'dagtuf-client-state/1')) // format 1 listed every role by name; not read
    corrupt(file(null, { written: '2026-13-01T00:00:00Z' }))
    corrupt(file({ ...full, extra: 'x' }))
    corrupt(file({ ...full, timestamp: undefined }))
    corrupt(file({ ...full, reference_time: 'yesterday' }))
    corrupt(file({ ...full, roles: undefined }))
    corrupt(file({ ...full, delegated: { d1: T } })) // format 1's member
    corrupt(file({ ...full, roles: 'none' }))
    corrupt(file({ ...full, roles: T })) // a dag-json CID where a shard node's belongs
  })

  it('refuses CIDs that are not canonical dagtuf metadata CIDs', () => {
    const raw = 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq'
    corrupt(file().replace(R, raw))
    corrupt(file().replace(R, R.toUpperCase()))
    corrupt(file().replace(R, 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'))
    corrupt(file().replace(R, R.slice(0, -2)))
    corrupt(file({ ...full, snapshot: 'not a cid' }))
  })

  it('refuses kinds the format does not use where an object or a string belongs', () => {
    corrupt(file([]))
    corrupt(file({ ...full, roles: [] }))
    corrupt(file({ ...full, roles: 1 }))
    corrupt(file(null, { root: 1 }))
    corrupt(file(null, { written: null }))
    corrupt('[]')
    corrupt('null')
  })
})
