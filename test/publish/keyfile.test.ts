import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeyFileError } from '../../src/model/errors.js'
import { generateKeyPair, signingMessage, verifyBytes } from '../../src/model/keys.js'
import { readKeyFile, readPassphrase, signerFromKeyFile, writePrivateKeyFile, writePublicKeyFile } from '../../src/publish/keyfile.js'

// Tests lower the scrypt cost explicitly; the default (2^17) is unchanged.
const LOW = { logN: 10 }

async function code (p: Promise<unknown>): Promise<string | undefined> {
  try { await p } catch (e) { return (e as KeyFileError).code }
  return undefined
}

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'dagtuf-keys-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('key files', () => {
  it('writes a plain key file with mode 0600 and signs with it', async () => {
    const pair = generateKeyPair()
    const f = join(dir, 'plain.json')
    await writePrivateKeyFile(f, pair)
    expect((await stat(f)).mode & 0o777).toBe(0o600)
    const info = await readKeyFile(f)
    expect(info.keyid).toBe(pair.keyid)
    expect(info.kind).toBe('plain')
    const s = await signerFromKeyFile(info)
    const msg = signingMessage(new Uint8Array([1, 2, 3]))
    expect(verifyBytes(pair.publicKey.public, msg, await s.sign(msg))).toBe(true)
    // The signer does not expose the seed when serialized.
    expect(JSON.stringify(s)).not.toContain(Buffer.from(pair.seed).toString('hex'))
  })

  it('encrypts with a passphrase and refuses a wrong one', async () => {
    const pair = generateKeyPair()
    const f = join(dir, 'enc.json')
    await writePrivateKeyFile(f, pair, { passphrase: 'correct horse', ...LOW })
    const text = await readFile(f, 'utf8')
    expect(text).not.toContain(Buffer.from(pair.seed).toString('hex'))
    const info = await readKeyFile(f)
    expect(info.kind).toBe('encrypted')
    expect((await signerFromKeyFile(info, 'correct horse')).keyid).toBe(pair.keyid)
    expect(await code(signerFromKeyFile(info, 'wrong horse'))).toBe('ERR_WRONG_PASSPHRASE')
    expect(await code(signerFromKeyFile(info, undefined))).toBe('ERR_PASSPHRASE_REQUIRED')
  })

  it('binds the header to the ciphertext: editing the KDF cost is detected', async () => {
    const pair = generateKeyPair()
    const f = join(dir, 'tamper.json')
    await writePrivateKeyFile(f, pair, { passphrase: 'pw', ...LOW })
    const v = JSON.parse(await readFile(f, 'utf8'))
    v.encrypted.log_n = 11
    const g = join(dir, 'tampered.json')
    await writeFile(g, JSON.stringify(v), { mode: 0o600 })
    expect(await code(signerFromKeyFile(await readKeyFile(g), 'pw'))).toBe('ERR_WRONG_PASSPHRASE')
  })

  it('refuses a seed that does not belong to the public key', async () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    const f = join(dir, 'mismatch.json')
    await writeFile(f, JSON.stringify({ format: 'dagtuf-key/1', keyid: a.keyid, public: a.publicKey.public, seed: Buffer.from(b.seed).toString('hex') }), { mode: 0o600 })
    expect(await code(signerFromKeyFile(await readKeyFile(f)))).toBe('ERR_KEY_FORMAT')
  })

  it('gives typed errors for missing, malformed, public-only and world-readable files', async () => {
    expect(await code(readKeyFile(join(dir, 'nope.json')))).toBe('ERR_KEY_MISSING')
    const bad = join(dir, 'bad.json')
    await writeFile(bad, '{"format":"dagtuf-key/1"}', { mode: 0o600 })
    expect(await code(readKeyFile(bad))).toBe('ERR_KEY_FORMAT')
    const pair = generateKeyPair()
    const pub = join(dir, 'k.pub')
    await writePublicKeyFile(pub, pair.publicKey)
    const info = await readKeyFile(pub)
    expect(info.kind).toBe('public')
    expect(await code(signerFromKeyFile(info))).toBe('ERR_KEY_FORMAT')
    const open = join(dir, 'open.json')
    await writePrivateKeyFile(open, pair)
    await chmod(open, 0o644)
    expect(await code(readKeyFile(open))).toBe('ERR_KEY_PERMISSIONS')
  })

  it('reads the passphrase from a file (first line) or the environment', async () => {
    const f = join(dir, 'pass.txt')
    await writeFile(f, 'secret words\nignored\n')
    expect(await readPassphrase(f, {})).toBe('secret words')
    expect(await readPassphrase(undefined, { DAGTUF_PASSPHRASE: 'env pw' })).toBe('env pw')
    expect(await readPassphrase(undefined, {})).toBe(undefined)
    expect(await code(readPassphrase(join(dir, 'none.txt'), {}))).toBe('ERR_KEY_MISSING')
  })

  it('never puts the seed in an error message', async () => {
    const pair = generateKeyPair()
    const f = join(dir, 'leak.json')
    await writePrivateKeyFile(f, pair, { passphrase: 'pw', ...LOW })
    try {
      await signerFromKeyFile(await readKeyFile(f), 'nope')
      expect.unreachable()
    } catch (e) {
      expect(JSON.stringify((e as KeyFileError).toJSON())).not.toContain(Buffer.from(pair.seed).toString('hex'))
    }
  })
})
