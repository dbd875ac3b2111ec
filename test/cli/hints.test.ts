/**
 * Every command line the CLI prints as a hint ("... with: dagtuf ...") runs
 * as printed (issue 14): it carries the --dir it needs, quoted for the shell.
 * The hints are read from the human output, split as a POSIX shell would
 * split them, and run through the in-process `main(argv, io)`; only the
 * placeholder words in capitals (KEYFILE, CID, URL) are replaced.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { serveRepository } from '../../src/cli/commands/serve.js'
import { shellQuote } from '../../src/util/shell.js'
import { ok } from './publish-helpers.js'

let work: string
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'dagtuf-hints-')) })
afterAll(async () => { await rm(work, { recursive: true, force: true }) })

async function dagtuf (...argv: string[]): Promise<{ code: number, out: string[], err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), tty: false })
  return { code, out, err }
}

/**
 * The words of a POSIX shell command line (bare words, '...' and the \'
 * escape), up to an unquoted `)` or the end. Anything else the shell would
 * treat specially ($, `, ", *, ?, ;, &, |, <, >, ~ at a word's start) makes
 * the hint unfit to print, and fails here.
 */
function shellWords (text: string): string[] {
  const words: string[] = []
  let word: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === ')' || c === ' ') {
      if (word !== undefined) words.push(word)
      word = undefined
      if (c === ')') return words
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1)
      if (end === -1) throw new Error(`unterminated quote in ${text}`)
      word = (word ?? '') + text.slice(i + 1, end)
      i = end
    } else if (c === '\\') {
      word = (word ?? '') + text[++i]!
    } else if ('$`"*?;&|<>(\t\n'.includes(c) || (c === '~' && word === undefined)) {
      throw new Error(`unquoted ${JSON.stringify(c)} in the hint ${text}`)
    } else word = (word ?? '') + c
  }
  if (word !== undefined) words.push(word)
  return words
}

/** The one hint `dagtuf ...` printed after `with: ` in these lines, as argv (without `dagtuf`). */
function hintOf (lines: readonly string[], what: RegExp): string[] {
  const found = lines.filter((l) => what.test(l) && l.includes('with: dagtuf '))
  expect(found, `one hint matching ${String(what)} in:\n${lines.join('\n')}`).toHaveLength(1)
  const line = found[0]!
  const words = shellWords(line.slice(line.indexOf('with: dagtuf ') + 'with: '.length))
  expect(words[0]).toBe('dagtuf')
  return words.slice(1)
}

function fill (argv: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return argv.map((w) => values[w] ?? w)
}

describe('cli: printed hints run as printed', () => {
  it('the shell split of a quoted word gives the word back', () => {
    for (const w of ['plain', "it's here", 'a b', '$HOME', 'x)y', '~/d', 'a"b', "''"]) {
      expect(shellWords(shellQuote(w))).toEqual([w])
    }
  })

  it('publish stopped at a draft: the printed sign command, and the hints of status, run as printed', async () => {
    // A folder name the shell would split and unquote: the hint must quote it.
    const dir = join(work, "a repo's dir")
    await ok('init', '--dir', dir)
    const alice = join(work, 'alice.key')
    await ok('keygen', '--out', alice)
    await ok('delegate', '--dir', dir, 'alice', '--key', `${alice}.pub`, '--paths', 'alice/*')
    const pub = await dagtuf('publish', '--dir', dir)
    expect(pub.code).toBe(0)
    const sign = hintOf(pub.out, /^sign with:/)
    expect(sign).toEqual(['sign', '--draft', expect.stringMatching(/^draft-/), '--key', 'KEYFILE', '--dir', dir])

    // status lists the draft with a hint to list the drafts.
    const status = await dagtuf('status', '--dir', dir)
    const drafts = await dagtuf(...hintOf(status.out, /^draft /))
    expect(drafts.code, drafts.err.join('\n')).toBe(0)
    expect(drafts.out.join('\n')).toContain(sign[2]!)

    const signed = await dagtuf(...fill(sign, { KEYFILE: alice }))
    expect(signed.code, signed.err.join('\n')).toBe(0)
    expect(signed.out.join('\n')).toMatch(/^published timestamp /m)

    // A staged change: status says how to publish it.
    const f = join(work, 'one.txt')
    await writeFile(f, 'one\n')
    await ok('add', '--dir', dir, f)
    const head = (await ok('head', '--dir', dir)).timestamp
    const staged = await dagtuf('status', '--dir', dir)
    const publish = await dagtuf(...hintOf(staged.out, /staged change/))
    expect(publish.code, publish.err.join('\n')).toBe(0)
    expect((await ok('head', '--dir', dir)).timestamp).not.toBe(head)
    expect((await ok('status', '--dir', dir)).staged).toEqual([])
  })

  it('no repository in --dir: the printed init command creates it', async () => {
    const dir = join(work, 'not yet (here)')
    const head = await dagtuf('head', '--dir', dir)
    expect(head.code).toBe(1)
    expect(head.err.join('\n')).toMatch(/ERR_REPO_NOT_FOUND/)
    const init = await dagtuf(...hintOf(head.err, /ERR_REPO_NOT_FOUND/))
    expect(init.code, init.err.join('\n')).toBe(0)
    expect((await dagtuf('head', '--dir', dir)).code).toBe(0)
  })

  it('no trusted state in the client --dir, then no update yet: the printed client init and client update run with the root CID and a gateway URL filled in', async () => {
    const repo = join(work, 'served')
    const init = await ok('init', '--dir', repo)
    const server = await serveRepository(repo, { host: '127.0.0.1', port: 0 })
    try {
      const dir = join(work, 'client $dir')
      const list = await dagtuf('client', 'list', '--dir', dir)
      expect(list.code).toBe(1)
      expect(list.err.join('\n')).toMatch(/ERR_STATE_MISSING/)
      const hint = hintOf(list.err, /ERR_STATE_MISSING/)
      const trust = await dagtuf(...fill(hint, { CID: init.root as string, URL: server.url }))
      expect(trust.code, trust.err.join('\n')).toBe(0)
      // Trusted but never updated: the printed update command.
      const early = await dagtuf('client', 'list', '--dir', dir)
      expect(early.code).toBe(1)
      expect(early.err.join('\n')).toMatch(/ERR_STATE_NO_UPDATE/)
      const update = await dagtuf(...fill(hintOf(early.err, /ERR_STATE_NO_UPDATE/), { URL: server.url }))
      expect(update.code, update.err.join('\n')).toBe(0)
      expect((await dagtuf('client', 'list', '--dir', dir)).code).toBe(0)
    } finally {
      await server.close()
    }
  })
})
