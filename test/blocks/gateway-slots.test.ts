/**
 * GatewaySource's per-origin request slots (src/blocks/gateway-source.ts,
 * Slots): at most GATEWAY_SOCKETS requests to one gateway at once, the
 * others waiting before their time limit starts. A real HTTP server on
 * 127.0.0.1.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { GATEWAY_SOCKETS, GatewaySource } from '../../src/blocks/gateway-source.js'
import { rawBlock, rejectsWith } from './helpers.js'

const opened: Server[] = []
afterEach(async () => {
  for (const s of opened.splice(0)) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

/** A gateway answering every block of `blocks` after `delayMs`, counting the requests it holds at once. */
async function slowGateway (blocks: Array<{ cid: { toString: () => string }, bytes: Uint8Array }>, delayMs: number): Promise<{ url: string, peak: () => number, served: () => number }> {
  const byCid = new Map(blocks.map((b) => [b.cid.toString(), b.bytes]))
  let now = 0
  let peak = 0
  let served = 0
  const server = createServer((req, res) => {
    now++
    peak = Math.max(peak, now)
    const m = /^\/ipfs\/([a-z0-9]+)\?format=raw$/.exec(req.url ?? '')
    setTimeout(() => {
      now--
      const bytes = m === null ? undefined : byCid.get(m[1]!)
      if (bytes === undefined) { res.statusCode = 404; res.end(); return }
      served++
      res.setHeader('content-type', 'application/vnd.ipld.raw')
      res.end(bytes)
    }, delayMs)
  })
  opened.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, peak: () => peak, served: () => served }
}

describe('GatewaySource: request slots per gateway', () => {
  it('at most GATEWAY_SOCKETS requests at once; the others wait without their time limit running', async () => {
    const blocks = Array.from({ length: 2 * GATEWAY_SOCKETS + 5 }, (_, i) => rawBlock(`slot block ${i}`))
    const gw = await slowGateway(blocks, 150)
    // Each attempt may take 400 ms: the third wave starts about 300 ms after the first,
    // so a time limit that ran while waiting would fail it (and retries are off).
    const source = new GatewaySource(gw.url, { timeoutMs: 400, retries: 0 })
    const got = await Promise.all(blocks.map(async (b) => await source.get(b.cid)))
    expect(got.map((g) => Buffer.from(g).toString())).toEqual(blocks.map((b) => Buffer.from(b.bytes).toString()))
    expect(gw.served()).toBe(blocks.length)
    expect(gw.peak()).toBe(GATEWAY_SOCKETS)
  })

  it('a request aborted while it waits for a slot fails with ERR_ABORTED and is never sent', async () => {
    const blocks = Array.from({ length: GATEWAY_SOCKETS + 1 }, (_, i) => rawBlock(`abort block ${i}`))
    const gw = await slowGateway(blocks, 200)
    const source = new GatewaySource(gw.url, { retries: 0 })
    const first = blocks.slice(0, GATEWAY_SOCKETS).map(async (b) => await source.get(b.cid))
    const ac = new AbortController()
    const waiting = source.get(blocks[GATEWAY_SOCKETS]!.cid, { signal: ac.signal })
    setTimeout(() => { ac.abort() }, 50)
    await rejectsWith(waiting, 'ERR_ABORTED')
    await Promise.all(first)
    expect(gw.served()).toBe(GATEWAY_SOCKETS)
    // Its slot was not lost: the next request goes through.
    expect(Buffer.from(await source.get(blocks[GATEWAY_SOCKETS]!.cid)).toString()).toBe(Buffer.from(blocks[GATEWAY_SOCKETS]!.bytes).toString())
  })
})
