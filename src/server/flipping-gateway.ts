/**
 * A hostile gateway for demonstrations and tests: it forwards every request
 * to `upstream` and flips one byte of each `/ipfs/` response body that
 * `flip(path)` selects. dagtuf must refuse what it serves (ENC-CID for
 * metadata, CLIENT-TARGET-CONTENT for content). Listens on 127.0.0.1 only.
 */
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export async function flippingGateway (upstream: string, flip: (path: string) => boolean = () => true, options: { head?: string } = {}): Promise<{ url: string, close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (options.head !== undefined && (req.url === '/head' || req.url?.startsWith('/head?') === true)) {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(options.head + '\n')
      return
    }
    const fwd = request(upstream + (req.url ?? '/'), { method: req.method, headers: { accept: req.headers.accept ?? '*/*' } }, (up) => {
      const chunks: Buffer[] = []
      up.on('data', (c: Buffer) => chunks.push(c))
      up.on('end', () => {
        const body = Buffer.concat(chunks)
        const path = req.url ?? ''
        if (path.startsWith('/ipfs/') && body.length > 0 && flip(path)) body[body.length >> 1] = body[body.length >> 1]! ^ 0x01
        res.writeHead(up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? 'application/octet-stream', 'content-length': body.length })
        res.end(body)
      })
    })
    fwd.on('error', () => { res.writeHead(502); res.end() })
    fwd.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}
