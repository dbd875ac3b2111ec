/**
 * `npm run bench` — throughput of the model layer on this machine:
 * ed25519 sign/verify on both crypto paths, SHA-256 on both paths, and
 * encode / decode (strict, with hash and canonical checks) / CID of typical
 * objects. A benchmark, not a test: it asserts nothing, it measures.
 */
import '../src/polyfill.js'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { expiresIn, makeSnapshot, makeTargets } from '../src/model/build.js'
import { cidOf, decodeEnvelope, encodeEnvelope } from '../src/model/codec.js'
import { CODEC_RAW, sha256Node, sha256Noble } from '../src/model/hash.js'
import { generateKeyPair, seedSigner, signBytes, verifyBytes, type Backend } from '../src/model/keys.js'
import { signEnvelope } from '../src/model/sign.js'
import type { TargetInfo } from '../src/model/types.js'
import { buildRolesMap, buildTargetsMap, emptyMap } from '../src/shard/index.js'

function measure (label: string, unit: string, minMs: number, fn: () => number): void {
  // Warm up, then run until minMs elapsed; fn returns the units it processed.
  for (let i = 0; i < 3; i++) fn()
  let units = 0
  const t0 = process.hrtime.bigint()
  let elapsed = 0
  while (elapsed < minMs) {
    units += fn()
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6
  }
  const rate = units / (elapsed / 1000)
  console.log(`${label.padEnd(52)} ${rate.toFixed(rate < 100 ? 1 : 0).padStart(12)} ${unit}/s`)
}

async function main (): Promise<void> {
  const ms = Number(process.env.BENCH_MS ?? 1000)
  console.log(`dagtuf model benchmark — node ${process.version}, ${ms} ms per line\n`)
  const pair = generateKeyPair()
  const msg = new Uint8Array(512).fill(7)
  for (const backend of ['node', 'noble'] as Backend[]) {
    const sig = signBytes(pair.seed, msg, backend)
    const signer = seedSigner(pair.seed, backend)
    measure(`ed25519 sign (${backend} Signer, 512 B message)`, 'sig', ms, () => { void signer.sign(msg); return 1 })
    measure(`ed25519 verify (${backend}, 512 B message)`, 'sig', ms, () => { verifyBytes(pair.publicKey.public, msg, sig, backend); return 1 })
  }
  const mib = new Uint8Array(1 << 20).fill(1)
  measure('sha-256 (node:crypto, 1 MiB)', 'MiB', ms, () => { sha256Node!(mib); return 1 })
  measure('sha-256 (@noble/hashes, 1 MiB)', 'MiB', ms, () => { sha256Noble(mib); return 1 })

  const now = new Date()
  for (const n of [10, 1000]) {
    const targets: Array<[string, TargetInfo]> = []
    for (let i = 0; i < n; i++) {
      const cid = CID.createV1(CODEC_RAW, Digest.create(0x12, sha256Node!(new TextEncoder().encode(`file ${i}`))))
      targets.push([`packages/pkg-${i}/pkg-${i}-1.0.${i}.tgz`, { length: 1000 + i, cid }])
    }
    // Format 2: the entries live in the sharded map (npm run bench:shard measures it at scale).
    measure(`build the sharded map of ${n} targets`, 'map', ms, () => { buildTargetsMap(targets, () => {}); return 1 })
    const signed = makeTargets({ expires: expiresIn(now, 86400 * 90), targets: buildTargetsMap(targets, () => {}).root })
    const env = await signEnvelope(signed, [seedSigner(pair.seed)])
    const label = `targets envelope over ${n} entries (${env.bytes.byteLength} B)`
    measure(`encode ${label}`, 'obj', ms, () => { encodeEnvelope(env.signed, env.signatures); return 1 })
    measure(`decode ${label}`, 'obj', ms, () => { decodeEnvelope('targets', env.bytes, env.cid); return 1 })
    measure(`CID of ${label}`, 'obj', ms, () => { cidOf(env.bytes); return 1 })
  }
  const roles = buildRolesMap([['a', cidOf(msg.subarray(1))], ['b', cidOf(msg.subarray(2))]], () => {}).root
  const snap = await signEnvelope(makeSnapshot({ expires: expiresIn(now, 7 * 86400), root: cidOf(msg), targets: cidOf(mib.subarray(0, 10)), delegatedTargets: roles, retired: emptyMap().cid }), [seedSigner(pair.seed)])
  measure(`decode snapshot (${snap.bytes.byteLength} B)`, 'obj', ms, () => { decodeEnvelope('snapshot', snap.bytes, snap.cid); return 1 })
}

await main()
