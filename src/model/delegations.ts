/**
 * The delegated roles of a `delegations` object in either form (NOTES 8,
 * DELEG-SUCCINCT): an explicit ordered list, or TAP 15 succinct hash bins.
 *
 * A succinct delegation of b bits stands for 2^b roles, in bin order, named
 * `PREFIX-HEX` with HEX the bin number in lowercase hex, zero-padded to
 * ceil(b/4) digits; each has the delegation's keyids and threshold, is not
 * terminating, and holds the paths whose SHA-256 starts with the bin's b
 * bits. As a hash-prefix role, bin i is the 2^(4·ceil(b/4) − b) hex prefixes
 * of ceil(b/4) digits that start with those bits, so every rule and every
 * matcher for `path_hash_prefixes` applies unchanged.
 */
import { LIMITS } from './config.js'
import type { DelegatedRole, Delegations, HashPrefixRole, SuccinctRoles } from './types.js'

const expanded = new WeakMap<Delegations, readonly DelegatedRole[]>()

/** Hex digits of a bin number for `bits` bits. */
export function binDigits (bits: number): number {
  return Math.ceil(bits / 4)
}

/** The role name of bin `i`. */
export function binName (s: Pick<SuccinctRoles, 'bitLength' | 'namePrefix'>, i: number): string {
  return `${s.namePrefix}-${i.toString(16).padStart(binDigits(s.bitLength), '0')}`
}

/** The bin of a path, from the lowercase hex SHA-256 of its UTF-8 bytes. */
export function binOfHash (bits: number, hashHex: string): number {
  const digits = binDigits(bits)
  const v = parseInt(hashHex.slice(0, digits), 16)
  return v >>> (4 * digits - bits)
}

/** The hash-prefix role of bin `i`. */
export function binRole (s: SuccinctRoles, i: number): HashPrefixRole {
  const digits = binDigits(s.bitLength)
  const spare = 4 * digits - s.bitLength
  const prefixes: string[] = []
  for (let k = 0; k < 1 << spare; k++) prefixes.push(((i << spare) | k).toString(16).padStart(digits, '0'))
  return Object.freeze({
    name: binName(s, i),
    keyids: s.keyids,
    threshold: s.threshold,
    terminating: false,
    pathHashPrefixes: Object.freeze(prefixes)
  })
}

/** Is `name` one of the bins of `s`? Then its bin number, else undefined. */
export function binIndexOf (s: Pick<SuccinctRoles, 'bitLength' | 'namePrefix'>, name: string): number | undefined {
  const head = `${s.namePrefix}-`
  if (!name.startsWith(head)) return undefined
  const hex = name.slice(head.length)
  if (hex.length !== binDigits(s.bitLength) || !/^[0-9a-f]+$/.test(hex)) return undefined
  const i = parseInt(hex, 16)
  return i < 2 ** s.bitLength ? i : undefined
}

/** The delegated roles of `d`, in search order (computed once per object for succinct bins). */
export function entriesOf (d: Delegations): readonly DelegatedRole[] {
  const s = d.succinct
  if (s === undefined) return d.roles
  let out = expanded.get(d)
  if (out === undefined) {
    if (s.bitLength < 1 || s.bitLength > LIMITS.maxSuccinctBits) throw new RangeError('succinct bit length out of range')
    const list: DelegatedRole[] = []
    for (let i = 0; i < 2 ** s.bitLength; i++) list.push(binRole(s, i))
    out = Object.freeze(list)
    expanded.set(d, out)
  }
  return out
}
