/**
 * A gateway that cannot be reached says why, in plain words (issue 14 item
 * 6): `ERR_TRANSPORT: could not connect to http://127.0.0.1:PORT (connection
 * refused)`, with the code kept (ERR_TRANSPORT), the network code in
 * details.network and the original error as the cause. Both transports: the
 * default node:http one and a `fetch` given as an option.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server } from 'node:net'
import { describe, expect, it } from 'vitest'
import { GatewaySource, fetchHead } from '../../src/blocks/gateway-source.js'
import { main } from '../../src/cli/main.js'
import { rawBlock, rejectsWith } from './helpers.js'

/** A port on 127.0.0.1 that was just listened on and closed again: nothing listens there. */
async function closedPort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((resolve) => s.close(() => { resolve() }))
  return port
}

/** A TCP server that accepts each connection and closes it at once, without an answer. */
async function hangingUp (): Promise<{ url: string, server: Server }> {
  const server = createServer((socket) => { socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }
}

/** The codes along an error's cause chain. */
function causeCodes (e: unknown): string[] {
  const out: string[] = []
  for (let x = e as { code?: unknown, cause?: unknown } | undefined; x !== undefined && x !== null; x = x.cause as typeof x) {
    if (typeof x.code === 'string') out.push(x.code)
  }
  return out
}

const block = rawBlock('gateway errors')
const transports: Array<[string, { fetch?: typeof fetch }]> = [['node:http', {}], ['fetch', { fetch: globalThis.fetch }]]

describe('gateway transport errors in plain words', () => {
  for (const [label, extra] of transports) {
    it(`${label}: a closed port on 127.0.0.1 is "could not connect to ... (connection refused)", ERR_TRANSPORT, cause kept`, async () => {
      const port = await closedPort()
      const base = `http://127.0.0.1:${port}`
      const e = await rejectsWith(new GatewaySource(base, { retries: 1, backoffMs: 1, ...extra }).get(block.cid), 'ERR_TRANSPORT')
      expect(e.message).toBe(`could not connect to ${base} (connection refused)`)
      expect(e.details).toMatchObject({ network: 'ECONNREFUSED', url: `${base}/ipfs/${block.cid.toString()}?format=raw` })
      expect(causeCodes(e)).toContain('ECONNREFUSED')
      const h = await rejectsWith(fetchHead(base, { retries: 0, ...extra }), 'ERR_TRANSPORT')
      expect(h.message).toBe(`could not connect to ${base} (connection refused)`)
    })

    it(`${label}: a host that does not exist is "could not connect to ... (host not found)"`, async () => {
      // .invalid never resolves (RFC 6761); a resolver that cannot answer at all says so instead.
      const e = await rejectsWith(new GatewaySource('http://dagtuf-test.invalid', { retries: 0, ...extra }).get(block.cid), 'ERR_TRANSPORT')
      expect(e.message).toMatch(/^could not connect to http:\/\/dagtuf-test\.invalid \((host not found|host name lookup failed for now)\)$/)
      expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(e.details.network)
    })

    it(`${label}: a gateway that hangs up without answering is "request to URL failed (connection reset/closed by the gateway)"`, async () => {
      const { url, server } = await hangingUp()
      try {
        const e = await rejectsWith(new GatewaySource(url, { retries: 0, ...extra }).get(block.cid), 'ERR_TRANSPORT')
        // node:http reports a reset (ECONNRESET), undici a closed socket (UND_ERR_SOCKET).
        expect(e.message).toMatch(new RegExp(`^request to ${url}/ipfs/${block.cid.toString()}\\?format=raw failed \\(connection (reset|closed) by the gateway\\)$`))
        expect(e.details.network).toBe(label === 'fetch' ? 'UND_ERR_SOCKET' : 'ECONNRESET')
      } finally {
        server.close()
      }
    })
  }

  it('an HTTP error answer keeps its own message (the status), not a network one', async () => {
    const server = createHttpServer((_req, res) => { res.writeHead(403).end() })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      const e = await rejectsWith(new GatewaySource(url, { retries: 0 }).get(block.cid), 'ERR_TRANSPORT')
      expect(e.message).toBe(`${url}/ipfs/${block.cid.toString()}?format=raw answered 403`)
      expect(e.details.network).toBeUndefined()
    } finally {
      server.close()
    }
  })

  it('the CLI prints it: dagtuf client init against a closed port says the connection was refused', async () => {
    const port = await closedPort()
    const err: string[] = []
    const code = await main(['client', 'init', '--dir', `/tmp/dagtuf-never-created-${port}`, '--root', block.cid.toString(), '--gateway', `http://127.0.0.1:${port}`],
      { out: () => {}, err: (l) => err.push(l), tty: false })
    expect(code).toBe(1)
    expect(err.join('\n')).toContain(`dagtuf: ERR_TRANSPORT: could not connect to http://127.0.0.1:${port} (connection refused)`)
  })
})
