import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN, ROOT, ensureBuilt } from './helpers/build.js'

describe('the dagtuf package', () => {
  it('resolves by its own name to the built library', async () => {
    await ensureBuilt()
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', `
      const m = await import('dagtuf')
      console.log(JSON.stringify({ updater: typeof m.Updater, decode: typeof m.decodeEnvelope, gateway: typeof m.blocks.GatewaySource, valid: typeof m.validate.validateTimestamp, same: m.GatewaySource === m.blocks.GatewaySource }))
    `], { cwd: ROOT })
    expect(JSON.parse(stdout)).toMatchObject({ updater: 'function', decode: 'function', gateway: 'function', valid: 'function', same: true })
  })

  it('each entry point (dagtuf, dagtuf/client, dagtuf/publish, dagtuf/blocks, dagtuf/polyfill) resolves after the build and exports exactly the names chosen for it', async () => {
    await ensureBuilt()
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', `
      const out = {}
      for (const s of ['dagtuf', 'dagtuf/client', 'dagtuf/publish', 'dagtuf/blocks', 'dagtuf/polyfill']) out[s] = Object.keys(await import(s)).sort()
      const root = await import('dagtuf')
      for (const ns of ['validate', 'relations', 'blocks', 'client', 'publish', 'server']) out['dagtuf:' + ns] = Object.keys(root[ns]).sort()
      console.log(JSON.stringify(out))
    `], { cwd: ROOT })
    const names = JSON.parse(stdout) as Record<string, string[]>
    // EVENT_* and SPAN: the shape of the Updater's events and the names of its spans (issue 17).
    // frugalHeap and its flags: a client process's heap kept small (issue 9).
    const client = ['CLIENT_HEAP_FLAGS', 'EVENT_LIMITS', 'EVENT_VERSION', 'FRUGAL_HEAP_FLAGS', 'SPAN', 'Updater', 'frugalHeap', 'verifyIpnsRecord']
    const publish = [
      'DEFAULT_REPO_DIR', 'addFiles', 'checkKeyFor', 'commit', 'commitDraft', 'delegate', 'draftNeeds', 'exportCar',
      'initRepo', 'listDrafts', 'loadCurrent', 'openSession', 'plan', 'publicKeysFrom', 'publishHeadIpns', 'publishStaged',
      'readDraft', 'readKeyFile', 'readPassphrase', 'readRepoIpns', 'refresh', 'removePaths', 'rotate', 'sign', 'signTop',
      'signerFromKeyFile', 'signerSource', 'tryFinalizeDraft', 'undelegate', 'writePrivateKeyFile', 'writePublicKeyFile'
    ]
    const blocks = [
      'CarSource', 'GatewaySource', 'MemoryBlockStore', 'addContent', 'canFetchIpnsRecords', 'encodeCar', 'fetchHead', 'fetchIpnsRecord',
      'importCar', 'openPeerSource', 'openRepoNode', 'readCar', 'readContent', 'readContentBytes', 'writeCar'
    ]
    expect(names).toEqual({
      dagtuf: [
        'BLOCK_CODES', 'BLOCK_VERDICTS', 'BlockError', 'CRYPTO_CODES', 'CryptoError', 'DECODE_CODES', 'DagtufError', 'DecodeError',
        // GatewaySource is also top-level on purpose (issue 14): the README's client snippet uses it.
        'GatewaySource', 'KEY_FILE_CODES', 'KeyFileError', 'LIMITS', 'MAX_BLOCK_BYTES', 'REPO_CODES', 'RULE_IDS', 'RepoError', 'SPEC_VERSION', 'STATE_CODES',
        'StateError', 'TOP_ROLES', 'USAGE_CODES', 'Updater', 'UsageError', 'ValidationError', 'addSignatures', 'blocks', 'cidOf', 'client',
        'decodeEnvelope', 'encodeEnvelope', 'expiresIn', 'generateKeyPair', 'isDagtufError', 'isVerdict', 'keyIdOf', 'keyPairFromSeed',
        'makeRoot', 'makeSnapshot', 'makeTargets', 'makeTimestamp', 'parseIpnsName', 'publicKeyFromBytes', 'publish', 'relations',
        'seedSigner', 'server', 'signEnvelope', 'validate', 'verifySignature'
      ],
      'dagtuf/client': client,
      'dagtuf/publish': publish,
      'dagtuf/blocks': blocks,
      'dagtuf/polyfill': [],
      'dagtuf:validate': [
        'assertValidSnapshot', 'assertValidTimestamp', 'findTarget', 'globMatch', 'meetsThreshold', 'pathHash', 'roleMatchesPath',
        'rootViolations', 'sourceLoader', 'validateSnapshot', 'validateTimestamp'
      ],
      'dagtuf:relations': ['succ', 'succOpt', 'succStar'],
      'dagtuf:blocks': blocks,
      'dagtuf:client': client,
      'dagtuf:publish': publish,
      'dagtuf:server': ['gatewayHandler', 'registryHandler', 'repoHeadStore', 'startServer']
    })
    // Internal on purpose: the trusted-state machine, byte and hex helpers.
    for (const internal of ['TrustedState', 'MiB', 'toHex', 'jsonDepth']) {
      expect(Object.values(names).some((list) => list.includes(internal)), internal).toBe(false)
    }
  })

  it('npm run docs documents every entry point of package.json (typedoc.json names each exported module but the polyfill)', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string | { types: string, default: string }>, scripts: Record<string, string> }
    const typedoc = JSON.parse(await readFile(join(ROOT, 'typedoc.json'), 'utf8')) as { entryPoints: string[], out: string }
    const sources = Object.entries(pkg.exports)
      .filter(([name]) => name !== './polyfill')
      // dagtuf/browser is a bundle (dist/browser/dagtuf.js); its types name its source.
      .map(([, built]) => typeof built === 'string' ? built.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts') : built.types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts'))
    expect([...typedoc.entryPoints].sort()).toEqual(sources.sort())
    expect(pkg.scripts.docs).toBe('typedoc')
    expect(typedoc.out).toBe('docs/api')
  })

  it('works when imported plainly, without dagtuf/polyfill, on a runtime without Promise.withResolvers (Node 20): an embedded node listens and closes', async () => {
    await ensureBuilt()
    const dir = await mkdtemp(join(tmpdir(), 'dagtuf-plain-'))
    try {
      // The child removes the method first, so the check means the same on Node 22+, which has it.
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', `
        delete Promise.withResolvers
        const seen = {}
        const { openRepoNode } = await import('dagtuf/blocks')
        // Importing installs nothing; opening a node (which loads Helia and libp2p) does.
        seen.afterImport = typeof Promise.withResolvers
        const node = await openRepoNode(${JSON.stringify(join(dir, 'repo'))}, { listen: ['/ip4/127.0.0.1/tcp/0'] })
        seen.addresses = node.multiaddrs().length
        await node.close()
        seen.afterClose = typeof Promise.withResolvers
        const r = Promise.withResolvers()
        r.resolve(42)
        seen.resolved = await r.promise
        console.log(JSON.stringify(seen))
      `], { cwd: ROOT, timeout: 60_000 })
      expect(JSON.parse(stdout)).toEqual({ afterImport: 'undefined', addresses: expect.any(Number), afterClose: 'function', resolved: 42 })
      expect((JSON.parse(stdout) as { addresses: number }).addresses).toBeGreaterThan(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('dagtuf --help lists the commands that exist, and an unknown command is a usage error', async () => {
    await ensureBuilt()
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, '--help', '--json'], { cwd: ROOT })
    const names = (JSON.parse(stdout) as { commands: Array<{ name: string }> }).commands.map((c) => c.name)
    for (const n of ['demo', 'init', 'add', 'publish', 'sign', 'export', 'verify', 'serve', 'client update', 'client get']) expect(names).toContain(n)
    const err = await promisify(execFile)(process.execPath, [BIN, 'frobnicate', '--json'], { cwd: ROOT }).then(() => null, (e: { code: number, stdout: string }) => e)
    expect(err?.code).toBe(2)
    expect(JSON.parse(err!.stdout).error.code).toBe('ERR_USAGE')
  })
})
