import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  BLOCK_CODES, BLOCK_VERDICTS, BlockError, CRYPTO_CODES, CryptoError, DECODE_CODES, DagtufError, DecodeError, KEY_FILE_CODES,
  KeyFileError, REPO_CODES, RepoError, STATE_CODES, StateError, USAGE_CODES, UsageError, ValidationError, isDagtufError, isVerdict,
  DISK_CODES, DiskFullError
} from '../../src/model/errors.js'
import { RULE_IDS } from '../../src/model/rules.js'
import { DECODE_RULES } from '../../src/validate/report.js'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Every class with its codes (ValidationError's are the rule IDs of NOTES). */
const CLASSES = [
  [DecodeError, Object.keys(DECODE_CODES)],
  [CryptoError, Object.keys(CRYPTO_CODES)],
  [ValidationError, [...RULE_IDS]],
  [BlockError, Object.keys(BLOCK_CODES)],
  [KeyFileError, Object.keys(KEY_FILE_CODES)],
  [RepoError, Object.keys(REPO_CODES)],
  [StateError, Object.keys(STATE_CODES)],
  [UsageError, Object.keys(USAGE_CODES)],
  [DiskFullError, Object.keys(DISK_CODES)]
] as const

const ALL_CODES = CLASSES.flatMap(([, codes]) => codes as readonly string[])
const ERR_TOKEN = /\bERR_[A-Z0-9_]*[A-Z0-9]\b/g

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [])
}

describe('the error hierarchy', () => {
  it('every class has a fixed name, keeps code, cause and details, and serialises without the stack', () => {
    const cause = new Error('inner')
    const names = new Set<string>()
    for (const [C, codes] of CLASSES) {
      const code = codes[0]!
      const e = new (C as new (code: string, message: string, options?: object) => DagtufError)(code, 'message', { cause, details: { cid: 'bafy' } })
      expect(e).toBeInstanceOf(DagtufError)
      expect(isDagtufError(e)).toBe(true)
      expect(e.code).toBe(code)
      expect(e.cause).toBe(cause)
      expect(e.toJSON()).toEqual({ name: e.name, code, message: 'message', cid: 'bafy' })
      names.add(e.name)
    }
    expect(names.size).toBe(CLASSES.length)
    expect(new ValidationError('VALID-ROOT-SELF', 'm').rule).toBe('VALID-ROOT-SELF')
    expect(isDagtufError(new Error('x'))).toBe(false)
  })

  it('each code belongs to exactly one class', () => {
    const owners = new Map<string, string[]>()
    for (const [C, codes] of CLASSES) for (const c of codes) owners.set(c, [...(owners.get(c) ?? []), C.name])
    const shared = [...owners].filter(([, o]) => o.length > 1).map(([c, o]) => `${c}: ${o.join(', ')}`)
    expect(shared, `codes in two classes:\n${shared.join('\n')}`).toEqual([])
    for (const [C, codes] of CLASSES) expect(codes.length, C.name).toBeGreaterThan(0)
  })

  /** The codes of the JSON error bodies of the gateway, the head registry and /readyz (their `...Code` types). */
  function httpCodes (only?: 'registry'): Set<string> {
    const out = new Set<string>()
    const files: Array<[string, string, string]> = [
      ['registry-handlers.ts', 'export type RegistryErrorCode', 'export type RegistryHandler'],
      ...(only === undefined
        ? [['gateway-handlers.ts', 'export type GatewayErrorCode', 'export type GatewayHandler'] as [string, string, string],
            ['health-handlers.ts', 'export type HealthReasonCode', 'export function isHealthRoute'] as [string, string, string]]
        : [])
    ]
    for (const [file, from, to] of files) {
      const text = readFileSync(join(REPO, 'src', 'server', file), 'utf8')
      for (const c of text.slice(text.indexOf(from), text.indexOf(to)).match(ERR_TOKEN) ?? []) out.add(c)
    }
    return out
  }

  it('every ERR_ code written in src/ is a code of some class (or of the gateway\'s or the registry\'s HTTP bodies)', () => {
    const http = httpCodes()
    expect(http.has('ERR_NOT_ACCEPTABLE')).toBe(true)
    expect(http.has('ERR_EXPIRY_HORIZON')).toBe(true)
    expect(http.has('ERR_PUSH_DISABLED')).toBe(true)
    // Node's own error codes, matched where dagtuf handles them.
    const node = ['ERR_STREAM_DESTROYED']
    const known = new Set([...ALL_CODES, ...http, ...node])
    const unknown: string[] = []
    for (const f of sourceFiles(join(REPO, 'src'))) {
      for (const c of readFileSync(f, 'utf8').match(ERR_TOKEN) ?? []) if (!known.has(c)) unknown.push(`${f.slice(REPO.length + 1)}: ${c}`)
    }
    expect(unknown, unknown.join('\n')).toEqual([])
  })

  it('README and NOTES name only codes that exist, README lists every publisher code, and the NOTES appendix agrees with DECODE_RULES', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8')
    const notes = readFileSync(join(REPO, 'spec', 'NOTES.md'), 'utf8')
    // The README also documents the head registry's HTTP answers.
    const known = new Set([...ALL_CODES, ...httpCodes('registry')])
    const stale = [...new Set([...readme.match(ERR_TOKEN) ?? [], ...notes.match(ERR_TOKEN) ?? []])].filter((c) => !known.has(c))
    expect(stale, `codes in README/NOTES that no class has: ${stale.join(', ')}`).toEqual([])
    // The command-line reference of the README covers every RepoError and KeyFileError code.
    const missing = [...Object.keys(REPO_CODES), ...Object.keys(KEY_FILE_CODES)].filter((c) => !readme.includes(`\`${c}\``))
    expect(missing, `publisher codes the README does not list: ${missing.join(', ')}`).toEqual([])
    // NOTES appendix: | `RULE` / `RULE2` | `ERR_A`, `ERR_B` / `ERR_C` | — each side split on '/'.
    const appendix = notes.slice(notes.indexOf('## Appendix: decode error codes'))
    const fromNotes = new Map<string, string>()
    for (const row of appendix.matchAll(/^\| (`[A-Z][^|]*?) \| (`ERR_[^|]*?) \|$/gm)) {
      const rules = row[1]!.split(' / ').map((s) => /`([A-Z0-9-]+)`/.exec(s)![1]!)
      const codes = row[2]!.split(' / ')
      rules.forEach((rule, i) => { for (const c of codes[i]!.match(ERR_TOKEN) ?? []) fromNotes.set(c, rule) })
    }
    const fromCode = new Map<string, string>([...Object.entries(DECODE_RULES), ...Object.entries(BLOCK_VERDICTS)])
    expect(Object.fromEntries([...fromNotes].sort())).toEqual(Object.fromEntries([...fromCode].sort()))
  })

  it('isVerdict: decode and validation failures and the hash, size and content refusals of blocks are verdicts; not-found, timeouts, transport and aborts are not', () => {
    expect(isVerdict(new DecodeError('ERR_NON_CANONICAL', 'm'))).toBe(true)
    expect(isVerdict(new ValidationError('BOUND-BLOCKS', 'm'))).toBe(true)
    for (const c of ['ERR_HASH_MISMATCH', 'ERR_BLOCK_TOO_LARGE', 'ERR_UNSUPPORTED_HASH', 'ERR_LENGTH_MISMATCH', 'ERR_UNIXFS_INVALID'] as const) {
      expect(isVerdict(new BlockError(c, 'm')), c).toBe(true)
    }
    for (const c of ['ERR_BLOCK_NOT_FOUND', 'ERR_TIMEOUT', 'ERR_TRANSPORT', 'ERR_ABORTED', 'ERR_CLOSED', 'ERR_IPNS_NOT_FOUND'] as const) {
      expect(isVerdict(new BlockError(c, 'm')), c).toBe(false)
    }
    expect(isVerdict(new StateError('ERR_STATE_IO', 'm'))).toBe(false)
    expect(isVerdict(new UsageError('ERR_ARGUMENT', 'm'))).toBe(false)
    expect(isVerdict(Object.assign(new Error('m'), { code: 'ERR_HASH_MISMATCH' }))).toBe(false)
  })
})
