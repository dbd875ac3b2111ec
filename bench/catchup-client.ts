/**
 * The client side of `npm run bench:catchup --process`: one refresh in a
 * fresh process, so that its peak RSS is the client's own (the bench's
 * parent holds the whole repository in memory). Not a test.
 *
 * Usage: node dist/bench/catchup-client.js STATE_DIR GATEWAY_URL HEAD_CID [frugal]
 * (`frugal`: call frugalHeap() first, as the dagtuf CLI's client commands do)
 * Prints one JSON line: { ms, vmHwmMiB, continuity }.
 */
import '../src/polyfill.js'
import { readFileSync } from 'node:fs'
import { CID } from 'multiformats/cid'
import { GatewaySource } from '../src/blocks/gateway-source.js'
import { Updater } from '../src/client/updater.js'
import { frugalHeap } from '../src/client/heap.js'

const [dir, url, head, variant] = process.argv.slice(2)
if (variant === 'frugal') frugalHeap()
if (dir === undefined || url === undefined || head === undefined) {
  console.error('usage: catchup-client.js STATE_DIR GATEWAY_URL HEAD_CID')
  process.exit(2)
}
const up = await Updater.create({ dir, source: new GatewaySource(url) })
const t0 = performance.now()
const r = await up.refresh(CID.parse(head))
const ms = performance.now() - t0
const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))
console.log(JSON.stringify({ ms, vmHwmMiB: m === null ? 0 : Number(m[1]) / 1024, continuity: r.continuity }))
