/**
 * The OpenAPI 3 document of `dagtuf serve`, served at GET /openapi.json.
 * test/server/openapi.test.ts probes the real server: every route it serves
 * is described here, and every operation described here is served.
 */
import type { GatewayRequest, GatewayResponse } from './gateway-handlers.js'

const error = { $ref: '#/components/responses/Error' }
const json = (schema: unknown): { content: Record<string, { schema: unknown }> } => ({ content: { 'application/json': { schema } } })
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^draft-[0-9a-f]{8,32}$' } }

function errors (...statuses: number[]): Record<string, unknown> {
  return Object.fromEntries(statuses.map((s) => [String(s), error]))
}

export const OPENAPI = {
  openapi: '3.0.3',
  info: {
    title: 'dagtuf serve',
    version: '1',
    description: 'A dagtuf repository over HTTP: a trustless gateway for its blocks, its head, a head registry (PUT /head, --allow-push) and signing sessions (/drafts, --sessions). The TUF signatures are the authentication: no route takes credentials. Rules: spec/NOTES.md sections 10.1 and 10.2.'
  },
  paths: {
    '/ipfs/{cid}': {
      parameters: [
        { name: 'cid', in: 'path', required: true, schema: { type: 'string' } },
        { name: 'format', in: 'query', schema: { type: 'string', enum: ['raw', 'car'] } },
        { name: 'dag-scope', in: 'query', schema: { type: 'string', enum: ['all', 'entity', 'block'] } },
        { name: 'entity-bytes', in: 'query', schema: { type: 'string', pattern: '^-?[0-9]+:(-?[0-9]+|\\*)$' } },
        { name: 'car-dups', in: 'query', schema: { type: 'string', enum: ['y', 'n'] } },
        { name: 'car-order', in: 'query', schema: { type: 'string', enum: ['dfs', 'unk'] } },
        { name: 'car-version', in: 'query', schema: { type: 'string', enum: ['1'] } }
      ],
      get: { summary: 'One block (raw), or a CAR of the DAG below it as dag-scope and entity-bytes say (trustless gateway)', responses: { 200: { description: 'the block, or the CAR (streamed when it holds more than one block)', content: { 'application/vnd.ipld.raw': {}, 'application/vnd.ipld.car': {} } }, ...errors(400, 404, 406, 412) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'the block exists' }, ...errors(400, 404, 406, 412) } }
    },
    '/ipns/{name}': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }, { name: 'format', in: 'query', schema: { type: 'string', enum: ['ipns-record'] } }],
      get: { summary: 'The repository\'s latest IPNS record', responses: { 200: { description: 'the record', content: { 'application/vnd.ipfs.ipns-record': {} } }, ...errors(400, 404) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'a record exists' }, ...errors(400, 404) } }
    },
    '/routing/v1/providers/{cid}': {
      parameters: [{ name: 'cid', in: 'path', required: true, schema: { type: 'string' } }, { name: 'filter-protocols', in: 'query', schema: { type: 'string' } }, { name: 'filter-addrs', in: 'query', schema: { type: 'string' } }],
      get: { summary: 'Delegated Routing V1: this service as a provider of a block it holds (with --libp2p; else none)', responses: { 200: { description: '{ Providers: [...] }', content: { 'application/json': {}, 'application/x-ndjson': {} } }, ...errors(400, 405) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'the providers' }, ...errors(400) } }
    },
    '/routing/v1/ipns/{name}': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
      get: { summary: 'Delegated Routing V1: the latest IPNS record of this service\'s own name', responses: { 200: { description: 'the record', content: { 'application/vnd.ipfs.ipns-record': {} } }, ...errors(400, 404) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'a record exists' }, ...errors(400, 404) } },
      put: {
        summary: 'Delegated Routing V1: a newer record for this service\'s own name, taken when it verifies (signature, validity, a timestamp CID) and its sequence is above the one served; kept in memory',
        requestBody: { required: true, content: { 'application/vnd.ipfs.ipns-record': {} } },
        responses: { 200: json({ type: 'object' }), ...errors(400, 404, 409, 413, 415) }
      }
    },
    '/head': {
      get: { summary: 'The current timestamp CID (ETag: it, quoted)', responses: { 200: { description: 'the head', content: { 'text/plain': {} } }, ...errors(404) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'there is a head' }, ...errors(404) } },
      put: {
        summary: 'Push a new head (REG-CAS, REG-ACCEPT): a CAR whose one root is the new timestamp',
        parameters: [{ name: 'If-Match', in: 'header', required: true, schema: { type: 'string' }, description: 'the current head CID, quoted' }],
        requestBody: { required: true, content: { 'application/vnd.ipld.car': {} } },
        responses: { 200: json({ $ref: '#/components/schemas/Pushed' }), ...errors(400, 405, 409, 412, 413, 415, 422, 428, 429, 503) }
      },
      post: { summary: 'As PUT', requestBody: { required: true, content: { 'application/vnd.ipld.car': {} } }, responses: { 200: json({ $ref: '#/components/schemas/Pushed' }), ...errors(400, 405, 409, 412, 413, 415, 422, 428, 429, 503) } }
    },
    '/config': {
      get: { summary: 'The registry\'s limits, format version, head and root', responses: { 200: json({ type: 'object' }) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ok' } } }
    },
    '/drafts': {
      get: { summary: 'Pending drafts (--sessions)', responses: { 200: json({ type: 'object', properties: { drafts: { type: 'array', items: { $ref: '#/components/schemas/DraftView' } } } }) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ok' } } },
      post: {
        summary: 'Propose a change: a draft of new root/targets/delegated objects, waiting for signatures',
        requestBody: { required: true, ...json({ type: 'object', required: ['ops'], additionalProperties: false, properties: { ops: { type: 'array', items: { $ref: '#/components/schemas/Op' } } } }) },
        responses: { 201: json({ $ref: '#/components/schemas/DraftView' }), ...errors(400, 405, 413, 415, 422, 429, 503) }
      }
    },
    '/drafts/{id}': {
      parameters: [idParam],
      get: { summary: 'One draft: pending (what to sign, who must) or published (the timestamp it became)', responses: { 200: json({ $ref: '#/components/schemas/DraftView' }), ...errors(404) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ok' }, ...errors(404) } },
      delete: { summary: 'Withdraw a pending draft', responses: { 200: json({ type: 'object', properties: { id: { type: 'string' }, state: { type: 'string', enum: ['withdrawn'] } } }), ...errors(404, 409, 429, 503) } }
    },
    '/drafts/{id}/signatures': {
      parameters: [idParam],
      post: {
        summary: 'Add signatures (SESS-SIG-KEY, SESS-SIG-BYTES, SESS-SIG-ONCE); the draft is published once every threshold is met (SESS-ONCE)',
        requestBody: { required: true, ...json({ type: 'object', required: ['signatures'], additionalProperties: false, properties: { signatures: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/Signature' } } } }) },
        responses: { 200: json({ type: 'object', properties: { draft: { $ref: '#/components/schemas/DraftView' }, added: { type: 'integer' }, published: { type: 'boolean' }, publishError: { type: 'object', description: 'stored, every threshold met, but the publish failed (tried again at start)', properties: { code: { type: 'string' }, message: { type: 'string' }, rule: { type: 'string' } } } } }), ...errors(400, 403, 404, 405, 409, 410, 413, 415, 422, 429, 503) }
      }
    },
    '/metrics': {
      get: { summary: 'Prometheus metrics (text format 0.0.4): requests and bytes by route and status, refusals by rule, publish and signing-session latency, head age, seconds until each role expires', responses: { 200: { description: 'the exposition', content: { 'text/plain': {} } } } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ok' } } }
    },
    '/healthz': {
      get: { summary: 'Liveness: 200 while the process serves', responses: { 200: json({ type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } }) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ok' } } }
    },
    '/readyz': {
      get: { summary: 'Readiness: 200 when the head verifies and no role is inside the expiry warning horizon (serve --expiry-warning); else 503 with the reasons (ERR_NO_HEAD, the failing rule, ERR_EXPIRY_HORIZON naming the role)', responses: { 200: json({ type: 'object' }), 503: json({ type: 'object', properties: { ready: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, role: { type: 'string' }, seconds: { type: 'integer' }, message: { type: 'string' } } } } } }) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } } }
    },
    '/openapi.json': {
      get: { summary: 'This document', responses: { 200: json({ type: 'object' }) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ok' } } }
    },
    '/ui/': {
      get: { summary: 'The inspector: a page that runs the browser client (dagtuf/browser) against a gateway and shows what it verified', responses: { 200: { description: 'text/html' } } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ok' } } }
    },
    '/ui/dagtuf.js': {
      get: { summary: 'The browser bundle the inspector loads (404 ERR_UI_NOT_BUILT when not built)', responses: { 200: { description: 'text/javascript' }, ...errors(404) } },
      head: { summary: 'As GET, without the body', responses: { 200: { description: 'ok' } } }
    }
  },
  components: {
    responses: {
      Error: { description: 'A refusal with a stable code (and the rule of spec/NOTES.md it enforces, when there is one)', ...json({ $ref: '#/components/schemas/Error' }) }
    },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, rule: { type: 'string' } } } } },
      Pushed: { type: 'object', properties: { head: { type: 'string' }, previous: { type: 'string' }, blocks: { type: 'integer' }, stored: { type: 'integer' } } },
      Signature: { type: 'object', required: ['role', 'keyid', 'sig'], additionalProperties: false, properties: { role: { type: 'string' }, keyid: { type: 'string', pattern: '^[0-9a-f]{64}$' }, sig: { type: 'string', pattern: '^[0-9a-f]{128}$' } } },
      Op: {
        type: 'object',
        required: ['op'],
        description: 'A staged operation, as in staged.jsonl: add {role, path, cid, length, custom_dag_json?}, remove {role, path}, delegate {from, name, keys, threshold, terminating, paths | hash_prefixes | succinct_bits}, undelegate {name, from?}, rotate {role, keys, threshold}, refresh {role}',
        properties: { op: { type: 'string', enum: ['add', 'remove', 'delegate', 'undelegate', 'rotate', 'refresh'] } }
      },
      DraftView: {
        type: 'object',
        required: ['id', 'state'],
        properties: {
          id: { type: 'string' },
          state: { type: 'string', enum: ['pending', 'stale', 'expired', 'published'] },
          created: { type: 'string' },
          expires: { type: 'string' },
          base: { type: 'string' },
          timestamp: { type: 'string', description: 'once published: the timestamp CID it became' },
          objects: { type: 'array', items: { type: 'object', properties: { role: { type: 'string' }, message: { type: 'string', format: 'byte', description: 'exactly what to sign: the signature domain, then the signed bytes' }, signed: { type: 'object' }, signatures: { type: 'array', items: { type: 'string' } } } } },
          needs: { type: 'array', items: { type: 'object', properties: { role: { type: 'string' }, label: { type: 'string' }, threshold: { type: 'integer' }, have: { type: 'integer' }, signed: { type: 'array', items: { type: 'string' } }, missing: { type: 'array', items: { type: 'string' } } } } },
          changes: { type: 'array', items: { type: 'object' } }
        }
      }
    }
  }
} as const

const BODY = new TextEncoder().encode(JSON.stringify(OPENAPI))

export function isOpenApiRoute (req: Pick<GatewayRequest, 'url'>): boolean {
  return req.url.split('?')[0] === '/openapi.json'
}

/** GET|HEAD /openapi.json. */
export async function openApiHandler (req: GatewayRequest): Promise<GatewayResponse> {
  const headers = { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff', 'cache-control': 'public, max-age=300' }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    const body = new TextEncoder().encode(JSON.stringify({ error: { code: 'ERR_METHOD_NOT_ALLOWED', message: 'only GET and HEAD are allowed' } }))
    return { status: 405, headers: { ...headers, 'content-length': body.byteLength, allow: 'GET, HEAD' }, body }
  }
  return req.method === 'HEAD'
    ? { status: 200, headers: { ...headers, 'content-length': BODY.byteLength } }
    : { status: 200, headers: { ...headers, 'content-length': BODY.byteLength }, body: BODY }
}
