/**
 * Keys on a PKCS#11 token (SoftHSM2, started and initialised here in a
 * temporary folder): Ed25519 signers through CKM_EDDSA; the service's
 * timestamp key on the token re-signs the repository; an offline targets key
 * on the token signs a signing-session draft through `dagtuf remote sign`;
 * ONLINE-KEYS-ONLY holds for token keys too. Skipped, saying why, where the
 * softhsm2 package or the pkcs11js binding is absent.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { serveRepository } from '../../src/cli/commands/serve.js'
import { verifyBytes } from '../../src/model/keys.js'
import { openSession, publishStaged } from '../../src/publish/engine.js'
import { OnlineResigner } from '../../src/publish/online.js'
import { openPkcs11, type Pkcs11Keys } from '../../src/publish/pkcs11.js'
import { Repo } from '../../src/publish/repo.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { verifyRepoHead } from '../cli/publish-helpers.js'

const MODULE = '/usr/lib/softhsm/libsofthsm2.so'
const require = createRequire(import.meta.url)

function whyUnavailable (): string | undefined {
  if (!existsSync(MODULE)) return `the softhsm2 package is not installed (no ${MODULE}; apt-get install softhsm2)`
  try { execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' }) } catch { return 'softhsm2-util is not on the PATH' }
  try { require.resolve('pkcs11js') } catch { return 'the optional package pkcs11js is not installed (or did not build)' }
  return undefined
}
const unavailable = whyUnavailable()

async function ok (...argv: string[]): Promise<Record<string, any>> {
  const out: string[] = []
  const code = await main([...argv, '--json'], { out: (l) => out.push(l), err: () => {}, tty: false })
  expect(code, out.join('\n')).toBe(0)
  return JSON.parse(out[0]!) as Record<string, any>
}

/** Make an Ed25519 key pair labelled `label` on the token (what an operator does with the HSM's own tools). */
function generateOnToken (label: string): void {
  const p11 = require('pkcs11js') as any
  const p = new p11.PKCS11()
  p.load(MODULE)
  p.C_Initialize()
  try {
    const slot = p.C_GetSlotList(true).find((s: Uint8Array) => p.C_GetTokenInfo(s).label.trim() === 'dagtuf')
    const session = p.C_OpenSession(slot, p11.CKF_RW_SESSION | p11.CKF_SERIAL_SESSION)
    p.C_Login(session, p11.CKU_USER, '1234')
    const id = Buffer.from(label)
    p.C_GenerateKeyPair(session, { mechanism: 0x1055 /* CKM_EC_EDWARDS_KEY_PAIR_GEN */ }, [
      { type: p11.CKA_EC_PARAMS, value: Buffer.from('06032b6570', 'hex') /* OID 1.3.101.112, Ed25519 */ },
      { type: p11.CKA_TOKEN, value: true }, { type: p11.CKA_VERIFY, value: true }, { type: p11.CKA_LABEL, value: label }, { type: p11.CKA_ID, value: id }
    ], [
      { type: p11.CKA_TOKEN, value: true }, { type: p11.CKA_SIGN, value: true }, { type: p11.CKA_PRIVATE, value: true },
      { type: p11.CKA_SENSITIVE, value: true }, { type: p11.CKA_LABEL, value: label }, { type: p11.CKA_ID, value: id }
    ])
    p.C_Logout(session)
    p.C_CloseSession(session)
  } finally {
    p.C_Finalize()
  }
}

describe.skipIf(unavailable !== undefined)(`PKCS#11 keys on SoftHSM2${unavailable !== undefined ? ` (skipped: ${unavailable})` : ''}`, () => {
  let work: TempDir
  let pinFile: string
  beforeAll(async () => {
    work = await tempDir('dagtuf-pkcs11-')
    const tokens = join(work.path, 'tokens')
    await mkdir(tokens)
    const conf = join(work.path, 'softhsm2.conf')
    await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`)
    process.env.SOFTHSM2_CONF = conf
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'dagtuf', '--pin', '1234', '--so-pin', '5678'], { stdio: 'ignore' })
    generateOnToken('timestamp-hsm')
    generateOnToken('targets-hsm')
    pinFile = join(work.path, 'pin')
    await writeFile(pinFile, '1234\n')
  }, 60_000)
  afterAll(async () => { await work?.remove() })

  it('opens the token: one Ed25519 signer per key, whose signatures verify; a wrong PIN, label or module is ERR_PKCS11 with its reason', async () => {
    const keys = await openPkcs11({ module: MODULE, token: 'dagtuf', pin: '1234' })
    try {
      expect([...keys.labels.values()].sort()).toEqual(['targets-hsm', 'timestamp-hsm'])
      const message = new TextEncoder().encode('DAGTUF-SIG-V1\u0000something')
      for (const s of keys.signers) expect(verifyBytes(s.publicKey.public, message, await s.sign(message))).toBe(true)
    } finally {
      keys.close()
    }
    await expect(openPkcs11({ module: MODULE, token: 'dagtuf', pin: '9999' })).rejects.toMatchObject({ code: 'ERR_PKCS11', details: { reason: 'pin' } })
    await expect(openPkcs11({ module: MODULE, token: 'dagtuf', pin: '1234', labels: ['nope'] })).rejects.toMatchObject({ code: 'ERR_PKCS11', details: { reason: 'key' } })
    await expect(openPkcs11({ module: MODULE, token: 'other', pin: '1234' })).rejects.toMatchObject({ code: 'ERR_PKCS11', details: { reason: 'token' } })
    await expect(openPkcs11({ module: join(work.path, 'no.so'), pin: '1234' })).rejects.toMatchObject({ code: 'ERR_PKCS11', details: { reason: 'module' } })
  }, 60_000)

  it('ONLINE-KEYS-ONLY: a timestamp key on the token re-signs the repository, a targets key on the token signs a session draft with remote sign, and a service refuses to hold the targets token key', async () => {
    const dir = join(work.path, 'repo')
    await ok('init', '--dir', dir)
    let token: Pkcs11Keys | undefined = await openPkcs11({ module: MODULE, token: 'dagtuf', pin: '1234' })
    const byLabel = (l: string) => token!.signers.find((s) => token!.labels.get(s.keyid) === l)!
    const ts = byLabel('timestamp-hsm')
    const tg = byLabel('targets-hsm')
    try {
      // The repository moves its timestamp and targets keys to the token (the root key file signs the new root).
      const session = await openSession(dir, { lock: true })
      try {
        session.keys.addSigner(ts)
        session.keys.addSigner(tg)
        const r = await publishStaged(session, [
          { op: 'rotate', role: 'timestamp', keys: [ts.publicKey.public], threshold: 1 },
          { op: 'rotate', role: 'targets', keys: [tg.publicKey.public], threshold: 1 }
        ])
        expect(r.kind).toBe('published')
      } finally {
        await session.repo.close()
      }
      const rotated = (await ok('head', '--dir', dir)).timestamp as string
      // Offline: the root key and the old key files leave the service's folder; the snapshot key stays.
      const vault = join(work.path, 'vault')
      await mkdir(vault)
      for (const n of await readdir(join(dir, 'keys'))) if (!n.startsWith('snapshot-')) await rename(join(dir, 'keys', n), join(vault, n))

      await expect(serveRepository(dir, { sessions: true, signers: [ts, tg] })).rejects.toMatchObject({ code: 'ERR_KEY_NOT_ONLINE' })

      // Online re-signing with the token's timestamp key (injected clock).
      const repo = await Repo.open(dir)
      try {
        const r = new OnlineResigner({ repo, signers: [ts], now: () => new Date(Date.now() + 2 * 86400_000) })
        expect(await r.tick()).toBeDefined()
      } finally {
        await repo.close()
      }
      const resigned = await verifyRepoHead(dir, rotated)
      expect(resigned).not.toBe(rotated)

      // A session draft of targets, signed by the token's targets key through the CLI.
      const server = await serveRepository(dir, { sessions: true, signers: [ts] })
      try {
        const p = await ok('remote', 'propose', '--server', server.url, '--refresh', 'targets')
        const signed = await ok('remote', 'sign', '--server', server.url, '--draft', p.draft.id, '--pkcs11-module', MODULE, '--pkcs11-token', 'dagtuf', '--pkcs11-pin-file', pinFile, '--pkcs11-key', 'targets-hsm')
        expect(signed.published).toBe(true)
        expect(signed.signed).toEqual([{ role: 'targets', keyid: tg.keyid }])
        await verifyRepoHead(dir, resigned)
      } finally {
        await server.close()
      }
    } finally {
      token.close()
      token = undefined
    }
  }, 120_000)
})
