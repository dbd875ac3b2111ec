/**
 * Signing sessions end to end (NOTES 10.2): real repository folders,
 * `dagtuf serve --sessions`'s server on 127.0.0.1, keyholders signing over
 * HTTP, a client following the repository. Every refusal leaves the
 * repository folder (head, log, drafts, block files) byte for byte as it was.
 */
import { mkdir, readdir, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { signingMessage, toHexSig, type Signer } from '../../src/model/keys.js'
import { readKeyFile, signerFromKeyFile } from '../../src/publish/keyfile.js'
import { Repo } from '../../src/publish/repo.js'
import { SigningSessions } from '../../src/publish/sessions.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { fingerprint, verifyRepoHead } from '../cli/publish-helpers.js'
import { httpRequest } from './http-helpers.js'
import { dagtufJson, dagtufOk } from '../helpers/cli.js'

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, json: Record<string, any> }

async function call (url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  const h: Record<string, string> = text === undefined ? headers : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }
  const r = await httpRequest(`${url}${path}`, { method, headers: h, ...(text !== undefined ? { body: text } : {}) })
  return { status: r.status, headers: r.headers, json: JSON.parse(r.body.toString('utf8') || '{}') as Record<string, any> }
}

const dagtuf = dagtufJson

const ok = dagtufOk

/** The signature a keyholder posts for `role` of a draft view: over the exact message the server gave. */
async function sigFor (signer: Signer, view: Record<string, any>, role: string): Promise<{ role: string, keyid: string, sig: string }> {
  const obj = (view.objects as Array<{ role: string, message: string }>).find((o) => o.role === role)!
  return { role, keyid: signer.keyid, sig: toHexSig(await signer.sign(new Uint8Array(Buffer.from(obj.message, 'base64')))) }
}

let work: TempDir
/** A repository whose keys/ holds only the snapshot and timestamp keys; the root and targets keys are offline. */
let base: string
let offline: { root: Signer, targets: Signer }
let newRoot: Signer
let newRootPub: string

async function keyIn (dir: string, prefix: string): Promise<string> {
  const name = (await readdir(dir)).find((n) => n.startsWith(prefix) && n.endsWith('.json'))
  if (name === undefined) throw new Error(`no ${prefix} key in ${dir}`)
  return join(dir, name)
}

beforeAll(async () => {
  work = await tempDir('dagtuf-sessions-')
  base = join(work.path, 'base')
  await ok('init', '--dir', base)
  const vault = join(work.path, 'vault')
  await mkdir(vault)
  for (const role of ['root', 'targets']) {
    const f = await keyIn(join(base, 'keys'), `${role}-`)
    await rename(f, join(vault, `${role}.json`))
  }
  offline = {
    root: await signerFromKeyFile(await readKeyFile(join(vault, 'root.json')), undefined),
    targets: await signerFromKeyFile(await readKeyFile(join(vault, 'targets.json')), undefined)
  }
  await ok('keygen', '--out', join(vault, 'new-root'))
  newRoot = await signerFromKeyFile(await readKeyFile(join(vault, 'new-root')), undefined)
  newRootPub = (await readKeyFile(join(vault, 'new-root.pub'))).publicKey.public
}, 60_000)
afterAll(async () => { await work.remove() })

async function copyOfBase (name: string): Promise<string> {
  const { cp } = await import('node:fs/promises')
  const dir = join(work.path, name)
  await cp(base, dir, { recursive: true })
  return dir
}

describe('signing sessions over HTTP', () => {
  let dir: string
  let server: RepositoryServer
  beforeAll(async () => {
    dir = await copyOfBase('rotation')
    server = await serveRepository(dir, { sessions: true })
  })
  afterAll(async () => { await server.close() })

  it('SESS-SIG-KEY SESS-SIG-BYTES: a root rotation signed by two keyholders in two requests, across a restart, is published and a client follows the new root', async () => {
    const before = await ok('head', '--dir', dir)
    const client = join(work.path, 'client')
    await ok('client', 'init', '--dir', client, '--root', before.root, '--gateway', server.url)

    const proposed = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'rotate', role: 'root', keys: [newRootPub], threshold: 1 }] })
    expect(proposed.status).toBe(201)
    const id = proposed.json.id as string
    expect(proposed.headers.location).toBe(`/drafts/${id}`)
    expect(proposed.json.state).toBe('pending')
    expect(proposed.json.objects.map((o: { role: string }) => o.role)).toEqual(['root'])
    // Both the previous root's threshold and the new root's.
    const needs = proposed.json.needs as Array<{ role: string, threshold: number, have: number, missing: string[] }>
    expect(needs).toHaveLength(2)
    expect(needs.flatMap((n) => n.missing).sort()).toEqual([offline.root.keyid, newRoot.keyid].sort())
    expect(needs.every((n) => n.have === 0 && n.threshold === 1)).toBe(true)
    expect((await call(server.url, 'GET', '/drafts')).json.drafts.map((d: { id: string }) => d.id)).toEqual([id])

    // The first keyholder (the old root key) signs the exact bytes given.
    const first = await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [await sigFor(offline.root, proposed.json, 'root')] })
    expect(first.status).toBe(200)
    expect(first.json).toMatchObject({ added: 1, published: false, draft: { state: 'pending' } })
    expect((await ok('head', '--dir', dir)).timestamp).toBe(before.timestamp)

    // The service restarts between the two signatures: the draft survives.
    await server.close()
    server = await serveRepository(dir, { sessions: true })
    const again = await call(server.url, 'GET', `/drafts/${id}`)
    expect(again.json.objects[0].signatures).toEqual([offline.root.keyid])

    const second = await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [await sigFor(newRoot, again.json, 'root')] })
    expect(second.status).toBe(200)
    expect(second.json.published).toBe(true)
    const after = await ok('head', '--dir', dir)
    expect(after.root).not.toBe(before.root)
    expect(second.json.draft).toEqual({ id, state: 'published', timestamp: after.timestamp })
    await verifyRepoHead(dir, before.timestamp)
    // The draft records the timestamp it became; it is no longer pending.
    expect((await call(server.url, 'GET', `/drafts/${id}`)).json).toEqual({ id, state: 'published', timestamp: after.timestamp })
    expect((await call(server.url, 'GET', '/drafts')).json.drafts).toEqual([])

    // A client of the service follows the rotation.
    const up = await dagtuf('client', 'update', '--dir', client, '--gateway', server.url)
    expect(up.code, JSON.stringify(up.json)).toBe(0)
    expect(up.json).toMatchObject({ timestamp: after.timestamp })
    const state = JSON.parse(await readFile(join(client, 'state.json'), 'utf8')) as Record<string, any>
    expect(JSON.stringify(state)).toContain(after.root as string)
  }, 60_000)

  it('SESS-SIG-KEY SESS-SIG-BYTES SESS-SIG-ONCE SESS-ONCE: every bad submission is refused with its status and code, and the repository folder is byte-identical', async () => {
    const proposed = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
    expect(proposed.status).toBe(201)
    const id = proposed.json.id as string
    const view = proposed.json
    // The targets key is the one (after the rotation above, the root is someone else's).
    expect(view.needs.map((n: { missing: string[] }) => n.missing)).toEqual([[offline.targets.keyid]])
    const good = await sigFor(offline.targets, view, 'targets')
    const otherBytes = { role: 'targets', keyid: offline.targets.keyid, sig: toHexSig(await offline.targets.sign(signingMessage(new TextEncoder().encode('other bytes')))) }
    const flipped = { ...good, sig: (good.sig[0] === '0' ? '1' : '0') + good.sig.slice(1) }

    const refusals: Array<[string, () => Promise<Answer>, number, string, string?]> = [
      ['wrong key (the old root key)', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [await sigFor(offline.root, view, 'targets')] }), 403, 'ERR_KEY_NOT_AUTHORIZED', 'SESS-SIG-KEY'],
      ['signature over other bytes', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [otherBytes] }), 422, 'ERR_DRAFT_SIGNATURE', 'SESS-SIG-BYTES'],
      ['bad signature', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [flipped] }), 422, 'ERR_DRAFT_SIGNATURE', 'SESS-SIG-BYTES'],
      ['the same key twice in one request', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [good, good] }), 409, 'ERR_DRAFT_SIGNED', 'SESS-SIG-ONCE'],
      ['a good signature next to a bad one (all or nothing)', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [good, otherBytes] }), 422, 'ERR_DRAFT_SIGNATURE', 'SESS-SIG-BYTES'],
      ['a role the draft does not have', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [{ ...good, role: 'root' }] }), 422, 'ERR_DRAFT_MISMATCH'],
      ['a malformed signature', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [{ ...good, sig: 'zz' }] }), 400, 'ERR_SIG_FORMAT'],
      ['no signature', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [] }), 400, 'ERR_BAD_REQUEST'],
      ['an unknown field', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [good], extra: 1 }), 400, 'ERR_BAD_REQUEST'],
      ['not JSON', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, '{"signatures": ['), 400, 'ERR_BAD_REQUEST'],
      ['not declared as JSON', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, JSON.stringify({ signatures: [good] }), { 'content-type': 'text/plain' }), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
      ['a body over the cap', async () => await call(server.url, 'POST', `/drafts/${id}/signatures`, JSON.stringify({ signatures: [good], pad: 'x'.repeat(2 * 1024 * 1024) })), 413, 'ERR_BODY_TOO_LARGE'],
      ['a draft that does not exist', async () => await call(server.url, 'POST', '/drafts/draft-0123456789abcdef/signatures', { signatures: [good] }), 404, 'ERR_DRAFT_NOT_FOUND'],
      ['a draft id that is not one', async () => await call(server.url, 'GET', '/drafts/..%2Fhead'), 404, 'ERR_DRAFT_NOT_FOUND'],
      ['an unknown route', async () => await call(server.url, 'GET', `/drafts/${id}/other`), 404, 'ERR_NOT_FOUND'],
      ['a method the route does not take', async () => await call(server.url, 'PUT', '/drafts', { ops: [] }), 405, 'ERR_METHOD_NOT_ALLOWED'],
      ['an empty proposal', async () => await call(server.url, 'POST', '/drafts', { ops: [] }), 422, 'ERR_DRAFT_EMPTY'],
      ['a malformed operation', async () => await call(server.url, 'POST', '/drafts', { ops: [{ op: 'rotate', role: 'root', keys: ['00'], threshold: 1 }] }), 400, 'ERR_BAD_REQUEST'],
      ['an operation the repository refuses', async () => await call(server.url, 'POST', '/drafts', { ops: [{ op: 'remove', role: 'nobody', path: 'a.txt' }] }), 422, 'ERR_ROLE_UNKNOWN']
    ]
    for (const [what, run, status, code, rule] of refusals) {
      const before = await fingerprint(dir)
      const r = await run()
      expect([what, r.status, r.json.error?.code]).toEqual([what, status, code])
      if (rule !== undefined) expect([what, r.json.error.rule]).toEqual([what, rule])
      expect([what, await fingerprint(dir)]).toEqual([what, before])
    }

    // The honest signature is still accepted, and publishes.
    const done = await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [good] })
    expect(done.status).toBe(200)
    expect(done.json.published).toBe(true)
    const head = await ok('head', '--dir', dir)
    expect(done.json.draft.timestamp).toBe(head.timestamp)

    // Replays after publication: refused, nothing stored.
    const before = await fingerprint(dir)
    const replay = await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [good] })
    expect(replay.status).toBe(409)
    expect(replay.json.error).toMatchObject({ code: 'ERR_DRAFT_PUBLISHED', rule: 'SESS-ONCE', timestamp: head.timestamp })
    const withdraw = await call(server.url, 'DELETE', `/drafts/${id}`)
    expect([withdraw.status, withdraw.json.error.code]).toEqual([409, 'ERR_DRAFT_PUBLISHED'])
    expect(await fingerprint(dir)).toEqual(before)
  }, 60_000)

  it('SESS-ONCE: a withdrawn draft takes no signature, and the CLI signs a service draft through the same step', async () => {
    const p = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
    const id = p.json.id as string
    expect((await call(server.url, 'DELETE', `/drafts/${id}`)).json).toEqual({ id, state: 'withdrawn' })
    expect((await call(server.url, 'GET', `/drafts/${id}`)).status).toBe(404)
    const before = await fingerprint(dir)
    const late = await call(server.url, 'POST', `/drafts/${id}/signatures`, { signatures: [await sigFor(offline.targets, p.json, 'targets')] })
    expect([late.status, late.json.error.code]).toEqual([404, 'ERR_DRAFT_NOT_FOUND'])
    expect(await fingerprint(dir)).toEqual(before)

    // A draft proposed over HTTP is a draft of the repository: `dagtuf sign --draft` finishes it.
    const q = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
    const head = await ok('head', '--dir', dir)
    const signed = await dagtuf('sign', '--dir', dir, '--draft', q.json.id, '--key', join(work.path, 'vault', 'targets.json'))
    expect(signed.code, JSON.stringify(signed.json)).toBe(0)
    expect(signed.json.finalized).toBe(true)
    await verifyRepoHead(dir, head.timestamp)
    expect((await call(server.url, 'GET', `/drafts/${q.json.id}`)).json).toMatchObject({ state: 'published', timestamp: (await ok('head', '--dir', dir)).timestamp })
    // Two drafts over one head: once one is published the other is stale, and refused (409) with nothing stored.
    const a = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
    const b = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
    expect((await call(server.url, 'POST', `/drafts/${a.json.id as string}/signatures`, { signatures: [await sigFor(offline.targets, a.json, 'targets')] })).json.published).toBe(true)
    expect((await call(server.url, 'GET', `/drafts/${b.json.id as string}`)).json.state).toBe('stale')
    const unchanged = await fingerprint(dir)
    const stale = await call(server.url, 'POST', `/drafts/${b.json.id as string}/signatures`, { signatures: [await sigFor(offline.targets, b.json, 'targets')] })
    expect([stale.status, stale.json.error.code]).toEqual([409, 'ERR_DRAFT_STALE'])
    expect(await fingerprint(dir)).toEqual(unchanged)
    expect((await call(server.url, 'DELETE', `/drafts/${b.json.id as string}`)).status).toBe(200)

    // And the CLI refuses, through that step, a key the draft does not wait for.
    const r = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
    const wrong = await dagtuf('sign', '--dir', dir, '--draft', r.json.id, '--key', join(work.path, 'vault', 'new-root'))
    expect(wrong.json.error.code).toBe('ERR_KEY_NOT_AUTHORIZED')
    expect((await call(server.url, 'DELETE', `/drafts/${r.json.id}`)).status).toBe(200)
  }, 60_000)
})

describe('concurrency and limits', () => {
  it('two keyholders posting at the same moment are both taken, one at a time, and the draft is published once', async () => {
    const dir = await copyOfBase('concurrent')
    const server = await serveRepository(dir, { sessions: true })
    try {
      const before = await ok('head', '--dir', dir)
      const p = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'rotate', role: 'root', keys: [newRootPub], threshold: 1 }] })
      const [a, b] = await Promise.all([
        call(server.url, 'POST', `/drafts/${p.json.id as string}/signatures`, { signatures: [await sigFor(offline.root, p.json, 'root')] }),
        call(server.url, 'POST', `/drafts/${p.json.id as string}/signatures`, { signatures: [await sigFor(newRoot, p.json, 'root')] })
      ])
      expect([a.status, b.status]).toEqual([200, 200])
      expect([a.json.published, b.json.published].sort()).toEqual([false, true])
      await verifyRepoHead(dir, before.timestamp)
      expect((await ok('head', '--dir', dir)).root).not.toBe(before.root)
    } finally {
      await server.close()
    }
  }, 60_000)

  it('proposals and signatures are rate limited per address (429, Retry-After), and the pending drafts are capped (ERR_DRAFT_LIMIT)', async () => {
    const dir = await copyOfBase('limits')
    const server = await serveRepository(dir, { sessions: true, sessionRateLimit: { burst: 1, perMinute: 1 } })
    try {
      expect((await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })).status).toBe(201)
      const before = await fingerprint(dir)
      const limited = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
      expect([limited.status, limited.json.error.code]).toEqual([429, 'ERR_RATE_LIMITED'])
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
      expect(await fingerprint(dir)).toEqual(before)
      // Reads are not limited.
      expect((await call(server.url, 'GET', '/drafts')).status).toBe(200)
    } finally {
      await server.close()
    }
    const repo = await Repo.open(dir)
    try {
      const sessions = new SigningSessions({ repo, maxDrafts: 1 })
      const before = await fingerprint(dir)
      await expect(sessions.propose([{ op: 'refresh', role: 'targets' }])).rejects.toMatchObject({ code: 'ERR_DRAFT_LIMIT' })
      expect(await fingerprint(dir)).toEqual(before)
    } finally {
      await repo.close()
    }
  }, 60_000)
})

describe('a publish that fails after the last signature', () => {
  it('SESS-ONCE: the signature is kept and the answer says why (publishError); the restarted service publishes the draft', async () => {
    const dir = await copyOfBase('publish-error')
    let server = await serveRepository(dir, { sessions: true })
    const p = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
    await server.close()
    // The service loses its timestamp key.
    const tsKey = await keyIn(join(dir, 'keys'), 'timestamp-')
    await rename(tsKey, `${tsKey}.away`)
    server = await serveRepository(dir, { sessions: true })
    try {
      const before = await ok('head', '--dir', dir)
      const r = await call(server.url, 'POST', `/drafts/${p.json.id as string}/signatures`, { signatures: [await sigFor(offline.targets, p.json, 'targets')] })
      expect(r.status).toBe(200)
      expect(r.json).toMatchObject({ added: 1, published: false, publishError: { code: 'ERR_KEY_MISSING' } })
      expect((await ok('head', '--dir', dir)).timestamp).toBe(before.timestamp)
      expect(r.json.draft.objects[0].signatures).toEqual([offline.targets.keyid])
    } finally {
      await server.close()
    }
    await rename(`${tsKey}.away`, tsKey)
    const lines: string[] = []
    server = await serveRepository(dir, { sessions: true, log: (l) => lines.push(l) })
    try {
      const head = await ok('head', '--dir', dir)
      expect((await call(server.url, 'GET', `/drafts/${p.json.id as string}`)).json).toEqual({ id: p.json.id, state: 'published', timestamp: head.timestamp })
      expect(lines).toEqual([`draft ${p.json.id as string} published at start: timestamp ${head.timestamp as string}`])
      await verifyRepoHead(dir)
    } finally {
      await server.close()
    }
  }, 60_000)
})

describe('drafts expire', () => {
  it('SESS-ONCE: a draft past its time to live takes no signature (410) and is removed', async () => {
    const dir = await copyOfBase('expiry')
    let clock = Date.now()
    const server = await serveRepository(dir, { sessions: true, draftTtlSeconds: 3600, now: () => new Date(clock) })
    try {
      const p = await call(server.url, 'POST', '/drafts', { ops: [{ op: 'refresh', role: 'targets' }] })
      expect(p.status).toBe(201)
      clock += 3601_000
      const before = await fingerprint(dir)
      const r = await call(server.url, 'POST', `/drafts/${p.json.id as string}/signatures`, { signatures: [await sigFor(offline.targets, p.json, 'targets')] })
      expect([r.status, r.json.error.code, r.json.error.rule]).toEqual([410, 'ERR_DRAFT_EXPIRED', 'SESS-ONCE'])
      expect(await fingerprint(dir)).toEqual(before)
      expect((await call(server.url, 'GET', `/drafts/${p.json.id as string}`)).json.state).toBe('expired')
      // The next listing sweeps it away.
      expect((await call(server.url, 'GET', '/drafts')).json.drafts).toEqual([])
      expect((await call(server.url, 'GET', `/drafts/${p.json.id as string}`)).status).toBe(404)
    } finally {
      await server.close()
    }
  }, 60_000)
})

describe('a service holds only online keys', () => {
  it('ONLINE-KEYS-ONLY: serve --sessions refuses to start with a root or targets key in its key folder', async () => {
    const dir = join(work.path, 'with-root-key')
    await ok('init', '--dir', dir)
    await expect(serveRepository(dir, { sessions: true })).rejects.toMatchObject({ code: 'ERR_KEY_NOT_ONLINE' })
    await expect(serveRepository(dir, { onlineKeys: true })).rejects.toMatchObject({ code: 'ERR_KEY_NOT_ONLINE' })
    const r = await dagtuf('serve', '--dir', dir, '--sessions')
    expect(r.json.error.code).toBe('ERR_KEY_NOT_ONLINE')
  }, 60_000)
})
