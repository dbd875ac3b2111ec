/**
 * /openapi.json against the real routes of `dagtuf serve --allow-push
 * --sessions`: requests with every method on a sample of every path shape
 * (and paths no route takes) tell which (method, path) the server serves (an
 * answer other than 405 or a 404 "no such route"); each served pair must be
 * an operation of the document, and each operation of the document must be
 * served.
 */
import { mkdir, readdir, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { OPENAPI } from '../../src/server/openapi.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { httpRequest } from './http-helpers.js'

let work: TempDir
let server: RepositoryServer
let head: string

beforeAll(async () => {
  work = await tempDir('dagtuf-openapi-')
  const dir = join(work.path, 'repo')
  const out: string[] = []
  expect(await main(['init', '--dir', dir, '--json'], { out: (l) => out.push(l), err: () => {}, tty: false })).toBe(0)
  head = (JSON.parse(out[0]!) as { timestamp: string }).timestamp
  await mkdir(join(work.path, 'vault'))
  for (const n of await readdir(join(dir, 'keys'))) if (n.startsWith('root-') || n.startsWith('targets-')) await rename(join(dir, 'keys', n), join(work.path, 'vault', n))
  server = await serveRepository(dir, { allowPush: true, sessions: true })
}, 60_000)
afterAll(async () => { await server?.close(); await work.remove() })

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']
const DRAFT = 'draft-0123456789abcdef'

/** The document's template that `path` instantiates, if any. */
function templateOf (path: string): string | undefined {
  for (const t of Object.keys(OPENAPI.paths)) {
    const re = new RegExp('^' + t.replace(/\{[^}]+\}/g, '[^/]+') + '$')
    if (re.test(path)) return t
  }
  return undefined
}

describe('GET /openapi.json', () => {
  it('describes exactly the routes the server serves', async () => {
    const served = await httpRequest(`${server.url}/openapi.json`)
    expect(served.status).toBe(200)
    expect(JSON.parse(served.body.toString('utf8'))).toEqual(JSON.parse(JSON.stringify(OPENAPI)))

    const paths = ['/', '/head', '/config', `/ipfs/${head}`, '/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', '/drafts', `/drafts/${DRAFT}`,
      `/drafts/${DRAFT}/signatures`, `/drafts/${DRAFT}/other`, '/drafts/a/b/c', '/openapi.json', '/openapi', '/ipfs', '/nothing', '/head/x', '/config/x',
      '/ui/', '/ui/dagtuf.js', `/routing/v1/providers/${head}`, '/routing/v1/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8', '/routing/v1/peers/x', '/routing/v1', '/metrics', '/healthz', '/readyz', '/metrics/x']
    const servedPairs = new Set<string>()
    for (const path of paths) {
      let getServed = false
      for (const method of METHODS) {
        // An empty body of the wrong type: a route that takes a body refuses it (415), others route as usual.
        const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH'
        const r = await httpRequest(`${server.url}${path}`, { method, ...(hasBody ? { headers: { 'content-type': 'text/plain', 'content-length': '0' } } : {}) })
        const code = r.status === 404 && r.body.byteLength > 0 ? (JSON.parse(r.body.toString('utf8')) as { error?: { code?: string } }).error?.code : undefined
        let isServed: boolean
        if (r.status === 405) isServed = false
        else if (r.status === 404) isServed = method === 'HEAD' ? getServed : code !== 'ERR_NOT_FOUND'
        else isServed = true
        if (method === 'GET') getServed = isServed
        if (isServed) servedPairs.add(`${method} ${path}`)
      }
    }
    // Every served pair is documented.
    for (const pair of servedPairs) {
      const [method, path] = pair.split(' ') as [string, string]
      const t = templateOf(path)
      expect(t, `${pair} is served but its path is not in /openapi.json`).toBeDefined()
      expect(Object.keys((OPENAPI.paths as Record<string, Record<string, unknown>>)[t!]!), `${pair} is served but not documented`).toContain(method.toLowerCase())
    }
    // Every documented operation is served (on the sample path of its template).
    for (const [t, ops] of Object.entries(OPENAPI.paths as Record<string, Record<string, unknown>>)) {
      const sample = paths.find((p) => templateOf(p) === t)
      expect(sample, `no sample path for ${t}`).toBeDefined()
      for (const m of Object.keys(ops).filter((k) => k !== 'parameters')) {
        expect(servedPairs.has(`${m.toUpperCase()} ${sample!}`), `${m.toUpperCase()} ${t} is documented but not served`).toBe(true)
      }
    }
    // Paths no route takes are not served with any method.
    for (const p of ['/', '/openapi', '/nothing', '/ipfs', `/drafts/${DRAFT}/other`, '/drafts/a/b/c']) {
      expect(METHODS.filter((m) => servedPairs.has(`${m} ${p}`)), p).toEqual([])
    }
  }, 60_000)
})
