import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { BIN, ROOT, ensureBuilt } from './helpers/build.js'

describe('the dagtuf package', () => {
  it('resolves by its own name to the built library', async () => {
    await ensureBuilt()
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', `
      const m = await import('dagtuf')
      console.log(JSON.stringify({ updater: typeof m.Updater, decode: typeof m.decodeEnvelope, gateway: typeof m.blocks.GatewaySource, valid: typeof m.validate.validateTimestamp }))
    `], { cwd: ROOT })
    expect(JSON.parse(stdout)).toMatchObject({ updater: 'function', decode: 'function', gateway: 'function', valid: 'function' })
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
