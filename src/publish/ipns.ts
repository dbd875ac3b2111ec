/**
 * The head as an IPNS record, signed by the repository node's own IPNS key.
 *
 * The record (value `/ipfs/<timestamp CID>`) is created and stored in the
 * node's datastore with @helia/ipns in offline mode: the repository node
 * does no networking, so nothing is announced to a DHT here. The IPNS key
 * lives in the node's keychain (DIR/datastore), not in DIR/keys: it signs
 * only the pointer, never TUF metadata, and a client verifies everything
 * the pointer names anyway (an IPNS head is untrusted input, like any head).
 *
 * The last record made is also written, marshalled, to DIR/ipns.json with
 * its name, value and sequence, replaced atomically. That file is what
 * `dagtuf head` shows and what `dagtuf serve` serves at
 * GET /ipns/{name}?format=ipns-record: neither needs to load Helia's IPNS
 * module or touch the private key for it.
 */
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import type { RepoNode } from '../blocks/repo-node.js'
import { RepoError } from '../model/errors.js'
import { MAX_IPNS_RECORD_BYTES, parseIpnsName } from '../model/ipns.js'
import { Fields, parseJson } from '../model/strictjson.js'
import { readCapped, writeAtomic } from './repo-io.js'

export const IPNS_KEY_NAME = 'dagtuf-head'
/** The last record made, in the repository folder. */
export const IPNS_FILE = 'ipns.json'
const IPNS_FORMAT = 'dagtuf-ipns/1'

export interface IpnsResult {
  /** The IPNS name, `/ipns/k51...`. */
  name: string
  value: string
  sequence: string
}

/** DIR/ipns.json: the last IPNS record the repository made. */
export interface RepoIpns extends IpnsResult {
  /** End of validity (RFC 3339), as signed. */
  validity: string
  /** The marshalled signed record, as stored in the node. */
  record: Uint8Array
}

/**
 * Publish (offline) an IPNS record for `timestamp`, and write it to
 * DIR/ipns.json.
 *
 * @throws {RepoError} ERR_IPNS
 */
export async function publishHeadIpns (node: RepoNode, timestamp: CID, lifetimeMs: number): Promise<IpnsResult> {
  let made: RepoIpns
  try {
    // Loaded here: @helia/ipns costs ~0.4 s to import and only --ipns needs it.
    const { ipns, IPNSEntry } = await import('@helia/ipns')
    const name = ipns(node.helia as never)
    const r = await name.publish(IPNS_KEY_NAME, timestamp, { offline: true, lifetime: lifetimeMs })
    const text = r.name.startsWith('/ipns/') ? r.name : `/ipns/${r.name}`
    made = {
      name: `/ipns/${parseIpnsName(text).name}`,
      value: `/ipfs/${timestamp.toString()}`,
      sequence: String(r.record.sequence ?? ''),
      validity: new TextDecoder().decode(r.record.validity ?? new Uint8Array(0)),
      // The bytes the publisher stored (it marshals the same entry the same way).
      record: IPNSEntry.encode(r.record)
    }
  } catch (cause) {
    throw new RepoError('ERR_IPNS', 'the IPNS record could not be made', { cause })
  }
  await writeAtomic(join(node.dir, IPNS_FILE), ipnsFileText(made))
  return { name: made.name, value: made.value, sequence: made.sequence }
}

function ipnsFileText (r: RepoIpns): string {
  return JSON.stringify({
    format: IPNS_FORMAT,
    name: r.name,
    value: r.value,
    sequence: r.sequence,
    validity: r.validity,
    record: Buffer.from(r.record).toString('base64')
  }, null, 2) + '\n'
}

/**
 * The last IPNS record made for the repository in `dir`, or null when
 * `publish --ipns` never ran there.
 *
 * @throws {RepoError} ERR_REPO_CORRUPT for a malformed ipns.json; ERR_REPO_IO
 */
export async function readRepoIpns (dir: string): Promise<RepoIpns | null> {
  const bytes = await readCapped(join(dir, IPNS_FILE), 4 * MAX_IPNS_RECORD_BYTES)
  if (bytes === undefined) return null
  const onError = (message: string, cause?: unknown): RepoError =>
    new RepoError('ERR_REPO_CORRUPT', `${IPNS_FILE} is malformed: ${message}`, { ...(cause === undefined ? {} : { cause }), details: { file: IPNS_FILE } })
  const f = Fields.of(parseJson(bytes, { maxBytes: 4 * MAX_IPNS_RECORD_BYTES, maxDepth: 2, onError }), 'ipns', onError)
  f.literal('format', IPNS_FORMAT)
  const name = f.str('name', /^\/ipns\/k[0-9a-z]{1,120}$/)
  const value = f.str('value', /^\/ipfs\/[a-z2-7]{1,200}$/)
  const sequence = f.str('sequence', /^(0|[1-9]\d{0,19})$/)
  const validity = f.str('validity', /^[0-9TZ:.-]{1,64}$/)
  const recordText = f.str('record', /^[A-Za-z0-9+/]*={0,2}$/, 4 * MAX_IPNS_RECORD_BYTES)
  f.done()
  try {
    if (`/ipns/${parseIpnsName(name).name}` !== name) throw new Error('not canonical')
  } catch (cause) {
    throw onError('name is not a canonical /ipns/k51... name', cause)
  }
  const record = new Uint8Array(Buffer.from(recordText, 'base64'))
  if (record.byteLength === 0 || record.byteLength > MAX_IPNS_RECORD_BYTES) throw onError(`record is empty or larger than ${MAX_IPNS_RECORD_BYTES} bytes`)
  return { name, value, sequence, validity, record }
}
