/**
 * The sharded maps of dagtuf metadata (spec/NOTES.md §11) and their value
 * codecs: a targets object's `targets` maps target paths to TargetInfo; a
 * snapshot's `delegated-targets` and `retired` map role names to targets
 * object CIDs.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { LIMITS } from '../model/config.js'
import { CODEC_DAG_PB, CODEC_RAW, HASH_SHA2_256 } from '../model/hash.js'
import { DecodeError } from '../model/errors.js'
import { checkRoleName, checkTargetPath, parseMetaLink, parseTargetInfo, targetInfoToWire } from '../model/schema.js'
import type { TargetInfo } from '../model/types.js'
import { buildMap, type BlockSink, type BuildResult } from './build.js'
import type { ValueCodec } from './node.js'

/**
 * Target path -> TargetInfo. `custom` is capped in both encodings (dag-cbor
 * writes every float in 9 bytes, so its size can exceed the dag-json one).
 */
export const targetsCodec: ValueCodec<TargetInfo> = Object.freeze({
  name: 'targets',
  checkKey: checkTargetPath,
  fromWire (wire: unknown, where: string): TargetInfo {
    // The common entry, { cid, length } with a well-formed content link, is
    // checked here without the general schema machinery (it is what a bulk
    // build of a million entries spends its time on); anything else takes
    // the general path, which gives the same answer and the precise error.
    const quick = plainEntry(wire)
    if (quick !== undefined) return quick
    const info = parseTargetInfo(wire, where)
    if (info.custom !== undefined) {
      if (!wellFormed(info.custom)) {
        // dag-cbor writes strings as UTF-8: a lone surrogate would read back as U+FFFD.
        throw new DecodeError('ERR_SCHEMA', `${where}.custom: a string that is not well-formed Unicode (a lone surrogate)`, { details: { path: where } })
      }
      let size: number
      try {
        size = dagCbor.encode(info.custom).byteLength
      } catch (cause) {
        // dag-cbor carries integers within 64 bits only (dag-json has no such limit).
        throw new DecodeError('ERR_SCHEMA', `${where}.custom: not a dag-cbor value (integers are limited to 64 bits)`, { cause, details: { path: where } })
      }
      if (size > LIMITS.maxCustomBytes) {
        throw new DecodeError('ERR_LIMIT', `${where}.custom: larger than ${LIMITS.maxCustomBytes} bytes as dag-cbor`, { details: { path: where } })
      }
    }
    return info
  },
  toWire: targetInfoToWire
})

/** `{ cid, length }` with nothing else, a safe non-negative length and a CIDv1 raw/dag-pb sha2-256 link, or undefined. */
function plainEntry (wire: unknown): TargetInfo | undefined {
  if (wire === null || typeof wire !== 'object' || Object.getPrototypeOf(wire) !== Object.prototype) return undefined
  const keys = Object.keys(wire)
  if (keys.length !== 2) return undefined
  const { cid, length } = wire as { cid?: unknown, length?: unknown }
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || Object.is(length, -0)) return undefined
  const c = CID.asCID(cid)
  if (c === null || c.version !== 1 || (c.code !== CODEC_RAW && c.code !== CODEC_DAG_PB)) return undefined
  if (c.multihash.code !== HASH_SHA2_256 || c.multihash.digest.byteLength !== 32 || c.multihash.size !== 32) return undefined
  return Object.freeze({ length, cid: c })
}

/** Every string (map keys included) of a decoded custom value is well-formed Unicode. */
function wellFormed (v: unknown): boolean {
  const stack: unknown[] = [v]
  while (stack.length > 0) {
    const x = stack.pop()
    if (typeof x === 'string') {
      if (!x.isWellFormed()) return false
    } else if (Array.isArray(x)) {
      stack.push(...x)
    } else if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array) && CID.asCID(x) === null) {
      for (const [k, y] of Object.entries(x)) {
        if (!k.isWellFormed()) return false
        stack.push(y)
      }
    }
  }
  return true
}

/** Role name -> CID of a targets object (a CIDv1 dag-json sha2-256). */
export const roleLinkCodec: ValueCodec<CID> = Object.freeze({
  name: 'roles',
  checkKey: checkRoleName,
  fromWire: parseMetaLink,
  toWire: (value: CID): unknown => value
})

/** Build a targets map bottom-up; blocks go to `sink`. */
export function buildTargetsMap (entries: Iterable<readonly [string, TargetInfo]>, sink: BlockSink): BuildResult {
  return buildMap(entries, targetsCodec, sink)
}

/** Build a role-name map (delegated-targets or retired) bottom-up; blocks go to `sink`. */
export function buildRolesMap (entries: Iterable<readonly [string, CID]>, sink: BlockSink): BuildResult {
  return buildMap(entries, roleLinkCodec, sink)
}
