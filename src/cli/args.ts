/**
 * A small, strict command-line parser: `--flag value`, `--flag=value`,
 * boolean switches, repeated options and positionals. Unknown flags, missing
 * values and bad numbers are UsageErrors (ERR_USAGE), never crashes; an
 * unknown flag close to a known one gets a "did you mean".
 */
import type { CID } from 'multiformats/cid'
import { UsageError } from '../model/errors.js'
import { parseCid } from '../model/hash.js'
import { didYouMean } from './suggest.js'

export interface OptionSpec {
  /**
   * 'string' takes a value; 'boolean' is a switch; 'list' may repeat or take
   * several values; 'repeat' may repeat, one value each time (the words after
   * it stay positionals).
   */
  readonly type: 'string' | 'boolean' | 'list' | 'repeat'
  readonly help?: string
}

export interface Parsed {
  readonly options: Record<string, string | boolean | string[] | undefined>
  readonly positionals: string[]
}

const MAX_ARGS = 100_000
const MAX_ARG_LENGTH = 64 * 1024

/** @throws {UsageError} ERR_USAGE */
export function parseArgs (argv: readonly string[], spec: Readonly<Record<string, OptionSpec>>): Parsed {
  if (argv.length > MAX_ARGS) throw new UsageError('ERR_USAGE', 'too many arguments')
  const options: Record<string, string | boolean | string[] | undefined> = Object.create(null)
  const positionals: string[] = []
  let onlyPositionals = false
  let currentList: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (typeof a !== 'string' || a.length > MAX_ARG_LENGTH) throw new UsageError('ERR_USAGE', 'argument too long')
    if (onlyPositionals || !a.startsWith('--') || a === '--') {
      if (a === '--' && !onlyPositionals) { onlyPositionals = true; currentList = undefined; continue }
      if (currentList !== undefined && !a.startsWith('-')) {
        (options[currentList] as string[]).push(a)
        continue
      }
      // A short flag such as `-o` ends a list: its value is not a list item.
      currentList = undefined
      positionals.push(a)
      continue
    }
    currentList = undefined
    const eq = a.indexOf('=')
    const name = eq === -1 ? a.slice(2) : a.slice(2, eq)
    if (!Object.hasOwn(spec, name)) throw new UsageError('ERR_USAGE', `unknown option --${name.slice(0, 64)}${didYouMean(name, Object.keys(spec), '--')}`)
    const s = spec[name]!
    if (s.type === 'boolean') {
      if (eq !== -1) throw new UsageError('ERR_USAGE', `--${name} takes no value`)
      options[name] = true
      continue
    }
    let value: string
    if (eq !== -1) value = a.slice(eq + 1)
    else {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('--')) throw new UsageError('ERR_USAGE', `--${name} needs a value`)
      value = next
      i++
    }
    if (s.type === 'string') {
      if (options[name] !== undefined) throw new UsageError('ERR_USAGE', `--${name} given twice`)
      options[name] = value
    } else {
      const list = (options[name] as string[] | undefined) ?? []
      list.push(value)
      options[name] = list
      if (eq === -1 && s.type === 'list') currentList = name
    }
  }
  return { options, positionals }
}

export function str (p: Parsed, name: string): string | undefined {
  const v = p.options[name]
  return typeof v === 'string' ? v : undefined
}

export function flag (p: Parsed, name: string): boolean {
  return p.options[name] === true
}

export function list (p: Parsed, name: string): string[] {
  const v = p.options[name]
  return Array.isArray(v) ? v : []
}

/** A positive integer option within [min, max]. @throws {UsageError} */
export function int (p: Parsed, name: string, dflt: number, min = 1, max = 1_000_000): number {
  const v = str(p, name)
  if (v === undefined) return dflt
  if (!/^\d{1,9}$/.test(v)) throw new UsageError('ERR_USAGE', `--${name} must be an integer`)
  const n = Number(v)
  if (n < min || n > max) throw new UsageError('ERR_USAGE', `--${name} must be between ${min} and ${max}`)
  return n
}

/**
 * A CID given on the command line, or undefined when the option is absent.
 * A value that is not a CID is a usage error (exit 2), whatever the command.
 *
 * @throws {UsageError} ERR_USAGE
 */
export function cidArg (p: Parsed, name: string): CID | undefined {
  const v = str(p, name)
  if (v === undefined) return undefined
  try {
    return parseCid(v)
  } catch (cause) {
    throw new UsageError('ERR_USAGE', `--${name}: not a CID: ${JSON.stringify(v.slice(0, 80))}`, { cause })
  }
}
