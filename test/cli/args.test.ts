import { describe, expect, it } from 'vitest'
import { int, list, parseArgs, str } from '../../src/cli/args.js'
import { UsageError } from '../../src/model/errors.js'
import { caught } from '../helpers/model.js'

const spec = { dir: { type: 'string' }, json: { type: 'boolean' }, paths: { type: 'list' }, n: { type: 'string' } } as const

describe('parseArgs', () => {
  it('reads values, switches, lists and positionals', () => {
    const p = parseArgs(['a', '--dir', 'D', '--json', '--paths', 'x/*', 'y', '--n=3', '--', '--b'], spec)
    expect(str(p, 'dir')).toBe('D')
    expect(p.options.json).toBe(true)
    expect(list(p, 'paths')).toEqual(['x/*', 'y'])
    expect(int(p, 'n', 1)).toBe(3)
    expect(p.positionals).toEqual(['a', '--b'])
  })

  it('refuses unknown flags, missing values, repeats, bad numbers with ERR_USAGE', async () => {
    for (const argv of [['--nope'], ['--dir'], ['--dir', 'a', '--dir', 'b'], ['--json=1'], ['--dir', '--json']]) {
      const e = await caught(() => parseArgs(argv, spec))
      expect(e).toBeInstanceOf(UsageError)
      expect(e.code).toBe('ERR_USAGE')
    }
    for (const n of ['x', '-1', '0', '1e3', '99999999999']) {
      expect((await caught(() => int(parseArgs(['--n', n], spec), 'n', 1, 1, 1000))).code).toBe('ERR_USAGE')
    }
    expect((await caught(() => parseArgs(['--__proto__', 'x'], spec))).code).toBe('ERR_USAGE')
  })

  it('a short flag ends a list (`--paths a -o F`: F is not a path)', () => {
    const p = parseArgs(['--paths', 'a', 'b', '-o', 'out.json'], spec)
    expect(list(p, 'paths')).toEqual(['a', 'b'])
    expect(p.positionals).toEqual(['-o', 'out.json'])
  })
})
