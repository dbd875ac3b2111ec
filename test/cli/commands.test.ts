/** The lazy command table of src/cli/main.ts against the command modules' exports. */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Command } from '../../src/cli/command.js'
import { COMMAND_TABLE, loadCommands, main } from '../../src/cli/main.js'

function isCommand (v: unknown): v is Command {
  return typeof v === 'object' && v !== null && typeof (v as Command).name === 'string' && typeof (v as Command).run === 'function'
}

describe('cli: the command table', () => {
  it('names each command once, loads the command of that name, and lists every command a module exports', async () => {
    const names = COMMAND_TABLE.map(([n]) => n)
    expect(new Set(names).size).toBe(names.length)
    const loaded = await loadCommands()
    expect(loaded.map((c) => c.name)).toEqual(names)
    const exported = new Set<Command>()
    const dir = join(import.meta.dirname, '../../src/cli/commands')
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
      const mod = await import(join(dir, f)) as Record<string, unknown>
      for (const v of Object.values(mod)) if (isCommand(v)) exported.add(v)
    }
    expect(exported.size).toBe(names.length)
    for (const c of loaded) expect(exported.has(c)).toBe(true)
  })

  it('help lists every command; an unknown command is a usage error', async () => {
    const out: string[] = []
    const io = { out: (l: string) => { out.push(l) }, err: (l: string) => { out.push(l) }, tty: false }
    expect(await main(['--json'], io)).toBe(0)
    expect((JSON.parse(out[0]!) as { commands: Array<{ name: string }> }).commands.map((c) => c.name)).toEqual(COMMAND_TABLE.map(([n]) => n))
    out.length = 0
    expect(await main(['client', 'nope', '--json'], io)).toBe(2)
    expect(JSON.parse(out[0]!)).toMatchObject({ error: { code: 'ERR_USAGE' } })
  })
})
