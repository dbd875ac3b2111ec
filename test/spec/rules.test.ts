/**
 * Every rule of spec/NOTES.md has a test that names it.
 *
 * A rule is defined in NOTES as a bold bracketed ID, `**[RULE-ID]**`. A test
 * names a rule when the title of an `it(`, `test(` or `describe(` call in
 * some file under test/ contains the ID as a whole word (so `VALID-DELEG`
 * does not name `VALID-DELEG-SIG`). Titles are read from the source as
 * string literals; a title computed at run time does not count.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { RULE_IDS } from '../../src/model/rules.js'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const RULE = /\*\*\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\]\*\*/g
const TITLE = /\b(?:it|test|describe)(?:\.[A-Za-z]+)*\s*\(\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`)/g

/** Rule IDs defined in NOTES, in order of definition. */
export function definedRules (notes: string): string[] {
  return [...new Set([...notes.matchAll(RULE)].map((m) => m[1]!))]
}

/** Test titles (string literals) in a source file. */
export function testTitles (source: string): string[] {
  return [...source.matchAll(TITLE)].map((m) => m[1] ?? m[2] ?? m[3] ?? '')
}

/** Whether `title` names `rule` as a whole word. */
export function names (title: string, rule: string): boolean {
  const at = (i: number): boolean => {
    const before = i === 0 ? '' : title[i - 1]!
    const after = title[i + rule.length] ?? ''
    return !/[A-Z0-9-]/.test(before) && !/[A-Z0-9-]/.test(after)
  }
  for (let i = title.indexOf(rule); i !== -1; i = title.indexOf(rule, i + 1)) if (at(i)) return true
  return false
}

function sourceFiles (dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...sourceFiles(p))
    else if (/\.(?:[cm]?[jt]s)$/.test(e.name)) out.push(p)
  }
  return out
}

describe('rule coverage of spec/NOTES.md', () => {
  it('the title scanner finds literal titles and whole-word rule IDs', () => {
    const src = "it('VALID-KIND: x', f)\ndescribe(\"SUCC-OPT\", g)\ntest.skip(`BOUND-CHAIN ${1}`, h)\nit('it\\'s VALID-DELEG-SIG', k)"
    expect(testTitles(src)).toEqual(['VALID-KIND: x', 'SUCC-OPT', 'BOUND-CHAIN ${1}', "it\\'s VALID-DELEG-SIG"])
    expect(names('VALID-DELEG-SIG: y', 'VALID-DELEG')).toBe(false)
    expect(names('see VALID-DELEG-SIG, VALID-DELEG', 'VALID-DELEG')).toBe(true)
    expect(definedRules('**[A-B]** and **[A-B]**, [C-D], **[E-F2]**')).toEqual(['A-B', 'E-F2'])
  })

  it('every rule ID defined in spec/NOTES.md is named by a test title under test/', () => {
    const notes = readFileSync(join(REPO, 'spec', 'NOTES.md'), 'utf8')
    const rules = definedRules(notes)
    expect(rules.length, 'spec/NOTES.md defines no **[RULE-ID]** rules').toBeGreaterThan(0)
    const titles = sourceFiles(join(REPO, 'test')).flatMap((f) => testTitles(readFileSync(f, 'utf8')).map((t) => ({ file: relative(REPO, f), t })))
    const missing = rules.filter((r) => !titles.some(({ t }) => names(t, r)))
    expect(missing, `rule IDs of spec/NOTES.md that no test names: ${missing.join(', ')}`).toEqual([])
  })

  it('src/model/rules.ts (the type of ValidationError.code) lists exactly the rule IDs of spec/NOTES.md, in order', () => {
    const notes = readFileSync(join(REPO, 'spec', 'NOTES.md'), 'utf8')
    expect([...RULE_IDS]).toEqual(definedRules(notes))
  })
})
