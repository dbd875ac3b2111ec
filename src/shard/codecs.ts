/**
 * Value codecs of the sharded maps dagtuf uses (spec/NOTES.md §11): a
 * snapshot's `delegated-targets` and `retired` map role names to targets
 * object CIDs.
 */
import { CID } from 'multiformats/cid'
import { DecodeError } from '../model/errors.js'
import { CODEC_DAG_JSON, HASH_SHA2_256 } from '../model/hash.js'
import { isSafeRoleName } from '../model/schema.js'
import type { ValueCodec } from './node.js'

/** Role name -> CID of a targets object (a CIDv1 dag-json sha2-256). */
export const roleLinkCodec: ValueCodec<CID> = Object.freeze({
  name: 'roles',
  checkKey (key: string, where: string): void {
    if (!isSafeRoleName(key)) throw new DecodeError('ERR_UNSAFE_NAME', `${where}: unsafe role name`, { details: { path: where } })
  },
  fromWire (wire: unknown, where: string): CID {
    const cid = CID.asCID(wire)
    if (cid === null || cid.version !== 1 || cid.code !== CODEC_DAG_JSON || cid.multihash.code !== HASH_SHA2_256 || cid.multihash.digest.byteLength !== 32) {
      throw new DecodeError('ERR_SCHEMA', `${where}: expected a CIDv1 dag-json sha2-256 link`, { details: { path: where } })
    }
    return cid
  },
  toWire (value: CID): unknown { return value }
})
