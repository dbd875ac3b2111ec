/**
 * Bad input to the publisher's commands: each gets a typed error with a
 * stable code and exit status 1 (2 for usage errors), exactly one JSON object
 * under --json, no stack trace, and nothing half-written.
 */
import { execFile } from 'node:child_process'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, ensureBuilt } from '../helpers/build.js'
import { tempDir, type TempDir } from '../helpers/client-sim.js'
import { cli, ok } from './publish-helpers.js'

interface Run { code: number, stdout: string, stderr: string }

/** The built CLI in a child process (a crash there cannot take the test runner down). */
async function dagtuf (...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: work.path, timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (e) {
    const x = e as { code?: number, stdout?: string, stderr?: string }
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' }
  }
}

/** Run with --json in a child: exactly one JSON object on stdout, no stack trace on stderr. */
async function refused (args: string[], code: string, status = 1): Promise<Record<string, unknown>> {
  const r = await dagtuf(...args, '--json')
  const lines = r.stdout.trim().split('\n')
  expect(lines, r.stdout + r.stderr).toHaveLength(1)
  const error = (JSON.parse(lines[0]!) as { error: Record<string, unknown> }).error
  expect(error.code, JSON.stringify(error)).toBe(code)
  expect(r.code).toBe(status)
  expect(r.stderr).not.toMatch(/\n\s+at |node:internal|Unhandled/)
  return error
}

let work: TempDir
let repo: string
beforeAll(async () => {
  await ensureBuilt()
  work = await tempDir('dagtuf-bad-')
  repo = join(work.path, 'repo')
  await ok('init', '--dir', repo)
})
afterAll(async () => { await work.remove() })

describe('CAR files', () => {
  it('export into a folder that does not exist is a typed error, not a crash, and leaves no file', async () => {
    const e = await refused(['export', '--dir', repo, '--car', join(work.path, 'no-such-dir', 'x.car')], 'ERR_TRANSPORT')
    expect(e.message).toMatch(/ENOENT/)
    const dir = join(work.path, 'adir')
    await mkdir(dir)
    await refused(['export', '--dir', repo, '--car', dir], 'ERR_TRANSPORT')
    expect(await readdir(work.path)).not.toContainEqual(expect.stringMatching(/\.tmp$/))
  })

  it('verify names a CAR file that is missing or a folder, instead of calling it malformed', async () => {
    const ts = ((await ok('head', '--dir', repo)).timestamp) as string
    expect((await refused(['verify', '--car', join(work.path, 'nope.car'), '--timestamp', ts], 'ERR_CAR')).message).toMatch(/cannot read the CAR file .*no such file/)
    expect((await refused(['verify', '--car', work.path, '--timestamp', ts], 'ERR_CAR')).message).toMatch(/it is a folder/)
    await writeFile(join(work.path, 'garbage.car'), 'junk')
    expect((await refused(['verify', '--car', join(work.path, 'garbage.car'), '--timestamp', ts], 'ERR_CAR')).message).toMatch(/malformed/)
  })
})

describe('keygen', () => {
  it('an existing FILE.pub refuses the key and leaves no private key behind', async () => {
    const out = join(work.path, 'k-exists')
    await writeFile(`${out}.pub`, 'someone else\'s public key')
    expect((await cli('keygen', '--out', out)).errorCode).toBe('ERR_FILE_EXISTS')
    expect(await readdir(work.path)).not.toContain('k-exists')
    expect(await readFile(`${out}.pub`, 'utf8')).toBe('someone else\'s public key')
  })
})

describe('--dir', () => {
  it('a file given as the repository folder is named as such', async () => {
    const file = join(work.path, 'a-file')
    await writeFile(file, 'x')
    for (const cmd of ['status', 'head', 'log', 'publish']) {
      const r = await cli(cmd, '--dir', file)
      expect(r.errorCode, cmd).toBe('ERR_REPO_NOT_FOUND')
      expect(String((r.json.error as { message: string }).message)).toMatch(/is not a folder/)
    }
    expect((await cli('add', '--dir', join(file, 'sub'), file)).errorCode).toBe('ERR_REPO_NOT_FOUND')
    const init = await cli('init', '--dir', file)
    expect(init.errorCode).toBe('ERR_REPO_IO')
    expect(String((init.json.error as { message: string }).message)).toMatch(/is not a folder/)
    expect(await readFile(file, 'utf8')).toBe('x')
  })

  it.runIf(process.platform === 'linux')('init under a folder that refuses new entries fails instead of spinning (Node\'s recursive mkdir loops under /proc)', async () => {
    await refused(['init', '--dir', '/proc/dagtuf-no-such/repo'], 'ERR_REPO_IO')
  }, 20_000)
})

describe('usage errors (exit 2)', () => {
  it('an argument a command does not take is refused, not ignored', async () => {
    const car = join(work.path, 'extra.car')
    for (const args of [
      ['init', '--dir', join(work.path, 'extra-repo'), 'extra'],
      ['keygen', '--out', join(work.path, 'extra-key'), 'extra'],
      ['status', '--dir', repo, 'extra'],
      ['log', '--dir', repo, 'extra'],
      ['reset', '--dir', repo, 'extra'],
      ['export', '--dir', repo, '--car', car, 'extra'],
      ['publish', '--dir', repo, 'extra'],
      ['drafts', '--dir', repo, 'extra'],
      ['draft', 'show', '--dir', repo, 'one', 'two']
    ]) {
      const r = await cli(...args)
      expect(r.errorCode, args.join(' ')).toBe('ERR_USAGE')
      expect(r.code).toBe(2)
    }
    // Nothing was made.
    expect(await readdir(work.path)).not.toEqual(expect.arrayContaining(['extra-repo']))
    expect(await readdir(work.path)).not.toEqual(expect.arrayContaining(['extra-key', 'extra.car']))
  })

  it('add and remove without FILE or PATH, and an empty --dir, are usage errors', async () => {
    for (const args of [['add', '--dir', repo], ['remove', '--dir', repo], ['status', '--dir', ''], ['init', '--dir', '']]) {
      const r = await cli(...args)
      expect(r.errorCode, args.join(' ')).toBe('ERR_USAGE')
      expect(r.code).toBe(2)
    }
    const r = await cli('add', '--dir', repo, '--key', 'k.json', 'file.txt')
    expect(String((r.json.error as { message: string }).message)).toMatch(/give FILE before --key/)
  })

  it('dagtuf --json alone lists the commands, like dagtuf --help --json', async () => {
    const r = await dagtuf('--json')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect((JSON.parse(lines[0]!) as { commands: unknown[] }).commands.length).toBeGreaterThan(10)
    const head = await dagtuf('--json', 'head', '--dir', repo)
    expect(head.code).toBe(0)
    expect(JSON.parse(head.stdout)).toHaveProperty('timestamp')
  })

  it('a CID option that is not a CID is a usage error in every command (client, export, verify)', async () => {
    await refused(['client', 'init', '--dir', join(work.path, 'c-bad'), '--root', 'notacid', '--car', 'x.car'], 'ERR_USAGE', 2)
    await refused(['client', 'update', '--dir', join(work.path, 'c-bad'), '--timestamp', 'notacid', '--car', 'x.car'], 'ERR_USAGE', 2)
    await refused(['export', '--dir', repo, '--car', join(work.path, 'x.car'), '--timestamp', 'notacid'], 'ERR_USAGE', 2)
    await refused(['verify', '--car', 'x.car', '--timestamp', 'bafy-nope'], 'ERR_USAGE', 2)
  })
})

describe('serve', () => {
  it('a host it cannot listen on is a typed error (ERR_LISTEN), not an internal error', async () => {
    await refused(['serve', '--dir', repo, '--host', '999.1.1.1'], 'ERR_LISTEN', 1)
  })
})

describe('client commands before init', () => {
  it('update, list and get on a folder with no trusted state refuse (ERR_STATE_MISSING) and create nothing', async () => {
    const nope = join(work.path, 'no-client-here')
    await refused(['client', 'update', '--dir', nope, '--repo', repo], 'ERR_STATE_MISSING')
    await refused(['client', 'list', '--dir', nope], 'ERR_STATE_MISSING')
    await refused(['client', 'get', '--dir', nope, 'a.txt', '-o', join(work.path, 'a.out'), '--repo', repo], 'ERR_STATE_MISSING')
    await expect(readdir(nope)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('client init that fails', () => {
  it('removes the client folder it created, and leaves an existing one alone', async () => {
    const fresh = join(work.path, 'client-fresh')
    await refused(['client', 'init', '--dir', fresh, '--root', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', '--repo', repo], 'ERR_BLOCK_NOT_FOUND')
    await expect(readdir(fresh)).rejects.toMatchObject({ code: 'ENOENT' })
    const existing = join(work.path, 'client-existing')
    await mkdir(existing)
    await writeFile(join(existing, 'note.txt'), 'mine')
    await refused(['client', 'init', '--dir', existing, '--root', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', '--repo', repo], 'ERR_BLOCK_NOT_FOUND')
    expect(await readFile(join(existing, 'note.txt'), 'utf8')).toBe('mine')
  })
})

