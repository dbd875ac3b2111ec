/**
 * Help and mistakes on the command line (issue 14 item 5): the groups of
 * two-word commands have their own help, no arguments is a usage error on
 * stderr, and a mistyped command or option gets a "did you mean".
 */
import { describe, expect, it } from 'vitest'
import { COMMAND_TABLE, main } from '../../src/cli/main.js'
import { closest, didYouMean, editDistance } from '../../src/cli/suggest.js'

async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  return { code, out, err }
}

/** The subcommands of a group, from the command table. */
function subcommandsOf (group: string): string[] {
  return COMMAND_TABLE.map(([n]) => n).filter((n) => n.startsWith(`${group} `))
}

/** The command names listed by a help text (the first word of each indented line). */
function listed (text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.trim().split(/\s{2,}/)[0]!)
}

describe('cli: help of the command groups', () => {
  for (const group of ['client', 'draft']) {
    it(`dagtuf ${group} --help, dagtuf ${group} help and dagtuf help ${group} list exactly its subcommands, on stdout, exit 0`, async () => {
      expect(subcommandsOf(group).length).toBeGreaterThan(1)
      for (const argv of [[group, '--help'], [group, '-h'], [group, 'help'], ['help', group]]) {
        const r = await dagtuf(...argv)
        expect(r.code, argv.join(' ')).toBe(0)
        expect(r.err).toEqual([])
        expect(r.out.join('\n')).toContain(`Usage: dagtuf ${group} <subcommand>`)
        expect(listed(r.out.join('\n'))).toEqual(subcommandsOf(group))
      }
      const j = await dagtuf(group, '--help', '--json')
      expect(j.code).toBe(0)
      expect((JSON.parse(j.out[0]!) as { commands: Array<{ name: string }> }).commands.map((c) => c.name)).toEqual(subcommandsOf(group))
    })

    it(`dagtuf ${group} alone prints its usage to stderr and exits 2 (with --json: an ERR_USAGE object)`, async () => {
      const r = await dagtuf(group)
      expect(r.code).toBe(2)
      expect(r.out).toEqual([])
      expect(listed(r.err.join('\n'))).toEqual(subcommandsOf(group))
      const j = await dagtuf(group, '--json')
      expect(j.code).toBe(2)
      expect(JSON.parse(j.out[0]!)).toMatchObject({ error: { code: 'ERR_USAGE' } })
    })
  }

  it('dagtuf help client get is the help of client get', async () => {
    const a = await dagtuf('help', 'client', 'get')
    const b = await dagtuf('client', 'get', '--help')
    expect(a.code).toBe(0)
    expect(a.out).toEqual(b.out)
    expect(a.out[0]).toMatch(/^Usage: dagtuf client get /)
  })
})

describe('cli: no arguments', () => {
  it('dagtuf with no arguments prints the usage to stderr, nothing on stdout, and exits 2', async () => {
    const r = await dagtuf()
    expect(r.code).toBe(2)
    expect(r.out).toEqual([])
    expect(r.err.join('\n')).toMatch(/^Usage: dagtuf <command>/m)
    expect(listed(r.err.join('\n'))).toEqual(COMMAND_TABLE.map(([n]) => n))
  })

  it('dagtuf --help still prints the usage to stdout and exits 0', async () => {
    const r = await dagtuf('--help')
    expect(r.code).toBe(0)
    expect(r.err).toEqual([])
    expect(listed(r.out.join('\n'))).toEqual(COMMAND_TABLE.map(([n]) => n))
  })
})

describe('cli: did you mean', () => {
  it('editDistance counts insertions, deletions, substitutions and neighbour swaps', () => {
    expect(editDistance('', '')).toBe(0)
    expect(editDistance('ad', 'add')).toBe(1)
    expect(editDistance('dri', 'dir')).toBe(1)
    expect(editDistance('sign', 'sing')).toBe(1)
    expect(editDistance('kitten', 'sitting')).toBe(3)
    expect(editDistance('abc', '')).toBe(3)
    expect(editDistance('publish', 'publish')).toBe(0)
  })

  it('closest gives the nearest names only when they are near', () => {
    expect(closest('ad', ['add', 'remove', 'head'])).toEqual(['add'])
    expect(closest('zzzz', ['add', 'remove', 'head'])).toEqual([])
    expect(closest('sat', ['set', 'sit', 'status'])).toEqual(['set', 'sit'])
    expect(closest('x'.repeat(100), ['x'.repeat(100)])).toEqual([])
    expect(didYouMean('sat', ['set', 'sit'])).toBe(' (did you mean set or sit?)')
    expect(didYouMean('zzzz', ['set'])).toBe('')
  })

  const cases: Array<[argv: string[], suggestion: string]> = [
    [['ad', 'x.txt'], 'did you mean add?'],
    [['pubish'], 'did you mean publish?'],
    [['stauts'], 'did you mean status?'],
    [['client', 'updte'], 'did you mean client update?'],
    [['draft', 'exprot'], 'did you mean draft export?'],
    [['clinet'], 'did you mean client?'],
    [['status', '--dri', 'x'], 'did you mean --dir?'],
    [['client', 'list', '--gatway', 'http://x'], 'did you mean --gateway?'],
    [['--jsno'], 'did you mean --json?']
  ]
  for (const [argv, suggestion] of cases) {
    it(`dagtuf ${argv.join(' ')}: a usage error that says "${suggestion}"`, async () => {
      const r = await dagtuf(...argv)
      expect(r.code).toBe(2)
      expect(r.err.join('\n')).toMatch(/ERR_USAGE/)
      expect(r.err.join('\n')).toContain(suggestion)
    })
  }

  it('a name far from every command gets no suggestion, and is still a usage error', async () => {
    const r = await dagtuf('frobnicate')
    expect(r.code).toBe(2)
    expect(r.err.join('\n')).toMatch(/unknown command "frobnicate"/)
    expect(r.err.join('\n')).not.toContain('did you mean')
  })
})
