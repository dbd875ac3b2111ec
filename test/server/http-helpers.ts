/** Small node:http helpers for server tests: raw requests and hostile test servers on 127.0.0.1. */
import { createServer, request } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach } from 'vitest'
import type { BlockSource } from '../../src/blocks/types.js'
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/http-server.js'

export interface RawAnswer { status: number, headers: IncomingHttpHeaders, body: Buffer }

/** One request on a fresh connection (agent: false), with a time limit. */
export async function httpRequest (url: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<RawAnswer> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error('test request timed out')) })
    req.on('error', reject)
    if (init.body !== undefined) req.write(init.body)
    req.end()
  })
}

export interface TestServer { url: string, requests: () => number, close: () => Promise<void> }

/** A throwaway HTTP server on 127.0.0.1:0 running `handler`; counts requests. */
export async function testServer (handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<TestServer> {
  let n = 0
  const server = createServer((req, res) => { handler(req, res, ++n) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => n,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}

/** A proxy to `target` that rewrites every response body with `change`. */
export async function tamperingProxy (target: string, change: (body: Buffer) => Buffer): Promise<TestServer> {
  return await testServer((req, res) => {
    const upstream = request(target + (req.url ?? '/'), { method: req.method, headers: { ...req.headers, host: new URL(target).host }, agent: false }, (up) => {
      const chunks: Buffer[] = []
      up.on('data', (c: Buffer) => chunks.push(c))
      up.on('end', () => {
        const body = change(Buffer.concat(chunks))
        res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': String(body.byteLength) })
        res.end(body)
      })
    })
    upstream.on('error', () => { res.destroy() })
    upstream.end()
  })
}

/**
 * `serve(source, extra)`: a dagtuf server (startServer, no head) on
 * 127.0.0.1 for the tests of the enclosing describe block, each closed after
 * its test. Call inside a `describe`.
 */
export function servers (): (source: BlockSource, extra?: Partial<ServerOptions>) => Promise<RunningServer> {
  const running: RunningServer[] = []
  afterEach(async () => { for (const s of running.splice(0)) await s.close() })
  return async (source, extra = {}) => {
    const s = await startServer({ source, head: async () => null, ...extra })
    running.push(s)
    return s
  }
}
