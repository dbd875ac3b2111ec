/**
 * IPNS names as dagtuf uses them, without loading any IPNS library: an
 * IPNS head is named by an Ed25519 libp2p key, written as a CIDv1 with the
 * libp2p-key codec (0x72) and an identity multihash of the key's protobuf
 * (`k51...` in base36, the form `dagtuf publish --ipns` prints).
 *
 * The name carries the public key itself, so a record for it can be checked
 * without asking anyone for the key. Names whose key is hashed (RSA) would
 * need the key from the record, and are refused.
 */
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { UsageError } from './errors.js'

/** The multicodec of libp2p public keys in CIDs. */
export const CODEC_LIBP2P_KEY = 0x72
/** The identity multihash: the digest is the key's protobuf itself. */
const IDENTITY = 0x00
/** Largest IPNS record accepted or served (the limit of the IPNS record spec). */
export const MAX_IPNS_RECORD_BYTES = 10 * 1024
/** The media type of a marshalled IPNS record (trustless gateway spec). */
export const IPNS_RECORD_MEDIA_TYPE = 'application/vnd.ipfs.ipns-record'

/** The libp2p PublicKey protobuf of an Ed25519 key: Type (field 1) = 1, Data (field 2) = 32 bytes. */
const ED25519_PROTOBUF_PREFIX = Uint8Array.from([0x08, 0x01, 0x12, 0x20])

export interface IpnsName {
  /** Canonical text: base36 CIDv1 libp2p-key, `k51...` (without /ipns/). */
  readonly name: string
  readonly cid: CID
  /** The key's libp2p protobuf (the identity multihash's digest). */
  readonly keyProtobuf: Uint8Array
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array
  /** The IPNS routing key: the bytes of `/ipns/` followed by the multihash. */
  readonly routingKey: Uint8Array
}

function bad (text: string, why: string, cause?: unknown): UsageError {
  return new UsageError('ERR_IPNS_NAME', `not an IPNS name dagtuf can use (${why}): ${JSON.stringify(text.slice(0, 80))}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { name: text.slice(0, 80) }
  })
}

/**
 * Parse an IPNS name: `k51...`, `/ipns/k51...`, another multibase form of the
 * same CID (`bafz...`), or a bare base58 peer id (`12D3KooW...`).
 *
 * @throws {UsageError} ERR_IPNS_NAME unless it names an Ed25519 key
 */
export function parseIpnsName (input: unknown): IpnsName {
  if (typeof input !== 'string' || input.length === 0 || input.length > 200) {
    throw new UsageError('ERR_IPNS_NAME', 'an IPNS name is a non-empty string (k51...)')
  }
  const text = input.startsWith('/ipns/') ? input.slice('/ipns/'.length) : input
  let cid: CID
  try {
    if (/^(12D3|Qm|1)/.test(text)) {
      // A peer id: a bare base58btc multihash.
      cid = CID.createV1(CODEC_LIBP2P_KEY, Digest.decode(base58btc.baseDecode(text)))
    } else {
      cid = CID.decode(CID.parse(text, text.startsWith('k') ? base36 : undefined).bytes)
    }
  } catch (cause) {
    throw bad(text, 'it does not parse as a CID', cause)
  }
  if (cid.version !== 1 || cid.code !== CODEC_LIBP2P_KEY) throw bad(text, 'not a CIDv1 with the libp2p-key codec')
  if (cid.multihash.code !== IDENTITY) throw bad(text, 'only names that embed their key (Ed25519) are supported')
  const keyProtobuf = cid.multihash.digest
  if (keyProtobuf.byteLength !== ED25519_PROTOBUF_PREFIX.byteLength + 32 || !ED25519_PROTOBUF_PREFIX.every((b, i) => keyProtobuf[i] === b)) {
    throw bad(text, 'the key is not an Ed25519 public key')
  }
  const prefix = new TextEncoder().encode('/ipns/')
  const mh = cid.multihash.bytes
  const routingKey = new Uint8Array(prefix.byteLength + mh.byteLength)
  routingKey.set(prefix, 0)
  routingKey.set(mh, prefix.byteLength)
  return Object.freeze({
    name: cid.toString(base36),
    cid,
    keyProtobuf: keyProtobuf.slice(),
    publicKey: keyProtobuf.slice(ED25519_PROTOBUF_PREFIX.byteLength),
    routingKey
  })
}
