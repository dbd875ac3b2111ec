/**
 * DELEG-SUCCINCT: TAP 15 succinct hash bins as a list of hash-prefix roles.
 */
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { makeTargets } from '../../src/model/build.js'
import { cidOf, decodeEnvelope, encodeEnvelope } from '../../src/model/codec.js'
import { binIndexOf, binName, binOfHash, binRole, entriesOf } from '../../src/model/delegations.js'
import { DecodeError } from '../../src/model/errors.js'
import { generateKeyPair } from '../../src/model/keys.js'
import { emptyMap } from '../../src/shard/index.js'
import { pathHash, roleMatchesPath } from '../../src/validate/delegation.js'
import { caught, dec, enc } from '../helpers/model.js'

const key = generateKeyPair().publicKey
const bins = (bitLength: number, namePrefix = 'bins') => makeTargets({ expires: '2030-01-01T00:00:00Z', targets: emptyMap().cid, succinct: { keys: [key], threshold: 1, bitLength, namePrefix } })

describe('DELEG-SUCCINCT', () => {
  it('DELEG-SUCCINCT: bins are named PREFIX-HEX, zero-padded, in bin order, and cover each path exactly once', () => {
    const d = bins(3).delegations!
    const list = entriesOf(d)
    expect(list.map((r) => r.name)).toEqual(['bins-0', 'bins-1', 'bins-2', 'bins-3', 'bins-4', 'bins-5', 'bins-6', 'bins-7'])
    // 3 bits: bin 1 is 001x = hex prefixes 2 and 3.
    expect(list[1]!.pathHashPrefixes).toEqual(['2', '3'])
    expect(list.every((r) => !r.terminating && r.threshold === 1)).toBe(true)
    expect(binName({ bitLength: 14, namePrefix: 'bin' }, 0x3fff)).toBe('bin-3fff')
    expect(binName({ bitLength: 14, namePrefix: 'bin' }, 5)).toBe('bin-0005')
    expect(binIndexOf({ bitLength: 14, namePrefix: 'bin' }, 'bin-0005')).toBe(5)
    expect(binIndexOf({ bitLength: 14, namePrefix: 'bin' }, 'bin-005')).toBeUndefined()
    expect(binIndexOf({ bitLength: 3, namePrefix: 'bin' }, 'bin-8')).toBeUndefined()
    for (const bits of [1, 3, 4, 5, 8, 11, 14]) {
      const s = { keyids: ['x'], threshold: 1, bitLength: bits, namePrefix: 'p' }
      for (const path of ['a/b.txt', 'packages/x-1.0.tgz', 'é/漢', 'z']) {
        const h = pathHash(path)
        const i = binOfHash(bits, h)
        // The first `bits` bits of the hash, read directly.
        const first = BigInt('0x' + h.slice(0, 16)) >> BigInt(64 - bits)
        expect(i).toBe(Number(first))
        expect(roleMatchesPath(binRole(s, i), path)).toBe(true)
        if (bits <= 5) {
          const matching = Array.from({ length: 2 ** bits }, (_, j) => binRole(s, j)).filter((r) => roleMatchesPath(r, path))
          expect(matching.map((r) => r.name)).toEqual([binName(s, i)])
        }
      }
    }
  })

  it('DELEG-SUCCINCT: succinct_roles round-trips, and is exclusive with roles; bit length 1..16; bin names must be safe', async () => {
    const t = bins(14)
    const env = encodeEnvelope(t, [])
    expect(dec(env.bytes)).toContain('"succinct_roles":{"bit_length":14,"keyids":["')
    expect(decodeEnvelope('targets', env.bytes, env.cid).signed.delegations?.succinct).toMatchObject({ bitLength: 14, namePrefix: 'bins', threshold: 1 })
    expect(entriesOf(decodeEnvelope('targets', env.bytes, env.cid).signed.delegations!)).toHaveLength(16384)
    const text = dec(env.bytes)
    const redecode = (s: string) => { const b = enc(s); return decodeEnvelope('targets', b, CID.parse(cidText(b))) }
    for (const [bad, code] of [
      [text.replace('"keys":', '"roles":[],"keys":'), 'ERR_SCHEMA'],
      [text.replace('"bit_length":14', '"bit_length":17'), 'ERR_LIMIT'],
      [text.replace('"bit_length":14', '"bit_length":0'), 'ERR_SCHEMA'],
      [text.replace('"name_prefix":"bins"', '"name_prefix":"-bins"'), 'ERR_UNSAFE_NAME'],
      [text.replace('"name_prefix":"bins"', `"name_prefix":"${'b'.repeat(252)}"`), 'ERR_UNSAFE_NAME']
    ] as const) {
      const e = await caught(() => redecode(bad))
      expect(e, bad.slice(0, 80)).toBeInstanceOf(DecodeError)
      expect([code, 'ERR_NON_CANONICAL']).toContain(e.code)
    }
    expect(() => makeTargets({ expires: '2030-01-01T00:00:00Z', targets: emptyMap().cid, delegations: [], succinct: { keys: [key], threshold: 1, bitLength: 2, namePrefix: 'b' } })).toThrow()
  })
})

function cidText (bytes: Uint8Array): string {
  return cidOf(bytes).toString()
}
