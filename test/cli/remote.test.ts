/**
 * `dagtuf remote propose|drafts|status|sign|withdraw` against a real
 * `dagtuf serve --sessions` on 127.0.0.1, and `remote sign` against a
 * service that asks to sign bytes that are not a metadata object.
 */
import { cp, mkdir, readdir, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveRepository, type RepositoryServer } from '../../src/cli/commands/serve.js'
import { SIGNATURE_DOMAIN } from '../../src/model/keys.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { testServer } from '../server/http-helpers.js'
import { fingerprint, verifyRepoHead } from './publish-helpers.js'
import { dagtufJson, dagtufOk } from '../helpers/cli.js'

const dagtuf = dagtufJson

const ok = dagtufOk

let work: TempDir
let dir: string
let vault: string
let server: RepositoryServer

beforeAll(async () => {
  work = await tempDir('dagtuf-remote-')
  dir = join(work.path, 'repo')
  await ok('init', '--dir', dir)
  vault = join(work.path, 'vault')
  await mkdir(vault)
  for (const n of await readdir(join(dir, 'keys'))) {
    if (n.startsWith('root-')) await rename(join(dir, 'keys', n), join(vault, 'root.json'))
    if (n.startsWith('targets-')) await rename(join(dir, 'keys', n), join(vault, 'targets.json'))
  }
  server = await serveRepository(dir, { sessions: true })
}, 60_000)
afterAll(async () => { await server?.close(); await work.remove() })

describe('dagtuf remote', () => {
  it('proposes, lists, shows, signs and withdraws drafts of a signing service', async () => {
    const before = await ok('head', '--dir', dir)
    const p = await ok('remote', 'propose', '--server', server.url, '--refresh', 'targets')
    const id = p.draft.id as string
    expect(p.draft.state).toBe('pending')
    expect((await ok('remote', 'drafts', '--server', server.url)).drafts.map((d: { id: string }) => d.id)).toEqual([id])
    const shown = await ok('remote', 'status', '--server', server.url, '--draft', id)
    expect(shown.draft.objects[0].signed._type).toBe('targets')

    // A key the draft does not wait for signs nothing, and nothing changes.
    const unchanged = await fingerprint(dir)
    const wrong = await dagtuf('remote', 'sign', '--server', server.url, '--draft', id, '--key', join(vault, 'root.json'))
    expect(wrong.json.error.code).toBe('ERR_REMOTE_REFUSED')
    expect(await fingerprint(dir)).toEqual(unchanged)

    const signed = await ok('remote', 'sign', '--server', server.url, '--draft', id, '--key', join(vault, 'targets.json'))
    expect(signed.published).toBe(true)
    expect(signed.signed).toHaveLength(1)
    const head = await ok('head', '--dir', dir)
    expect(signed.draft).toEqual({ id, state: 'published', timestamp: head.timestamp })
    await verifyRepoHead(dir, before.timestamp)
    expect((await ok('remote', 'status', '--server', server.url)).head).toBe(head.timestamp)

    // Signing it again: the service refuses the replay, with its code and rule.
    const again = await dagtuf('remote', 'sign', '--server', server.url, '--draft', id, '--key', join(vault, 'targets.json'))
    expect(again.json.error.code).toBe('ERR_REMOTE_REFUSED')

    // Staged changes of a local copy are proposed as they are; then withdrawn.
    const local = join(work.path, 'local')
    await cp(dir, local, { recursive: true })
    await ok('keygen', '--out', join(vault, 'targets2'))
    await ok('rotate', '--dir', local, 'targets', '--key', join(vault, 'targets2.pub'))
    const staged = await ok('remote', 'propose', '--server', server.url, '--staged', local)
    expect(staged.draft.objects.map((o: { role: string }) => o.role).sort()).toEqual(['root', 'targets'])
    expect((await ok('remote', 'withdraw', '--server', server.url, '--draft', staged.draft.id)).withdrawn).toBe(true)
    const gone = await dagtuf('remote', 'status', '--server', server.url, '--draft', staged.draft.id)
    expect(gone.json.error).toMatchObject({ code: 'ERR_REMOTE_REFUSED', status: 404, serverCode: 'ERR_DRAFT_NOT_FOUND' })
  }, 60_000)

  it('remote sign refuses to sign a message that is not the signature domain and a metadata object, and sends nothing', async () => {
    const waited = (await ok('keygen', '--out', join(vault, 'k'))).keyid as string
    let posts = 0
    const fake = await testServer((req, res) => {
      if (req.method === 'POST') posts++
      const message = Buffer.concat([Buffer.from(SIGNATURE_DOMAIN), Buffer.from('{"please":"sign me"}')]).toString('base64')
      const view = { id: 'draft-0123456789abcdef', state: 'pending', objects: [{ role: 'targets', message, signed: {}, signatures: [] }], needs: [{ role: 'targets', label: 'targets', threshold: 1, have: 0, signed: [], missing: [waited] }] }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(view))
    })
    try {
      const r = await dagtuf('remote', 'sign', '--server', fake.url, '--draft', 'draft-0123456789abcdef', '--key', join(vault, 'k'))
      expect(r.json.error.code).toBe('ERR_REMOTE_ANSWER')
      expect(posts).toBe(0)
    } finally {
      await fake.close()
    }
  }, 60_000)
})
