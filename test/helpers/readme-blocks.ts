/**
 * The fenced code blocks of README.md, for the tests that run them as
 * written (test/readme.test.ts, test/readme-library.test.ts).
 *
 * A block that cannot run in a test (a second machine, the whole test suite,
 * a server of another program...) is preceded, on the line just above its
 * fence, by an HTML comment giving the reason, which readers do not see
 * rendered:
 *
 *   <!-- not run: needs a PKCS#11 token -->
 *   ```sh
 *
 * A block that needs a program this machine may lack (a Debian package the
 * CI installs) names it instead, and is run where it is on the PATH, and
 * skipped, saying so, where it is not:
 *
 *   <!-- needs: redis-server -->
 *   ```sh
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './build.js'

export interface ReadmeBlock {
  /** The fence's language (`sh`, `ts`...). */
  readonly lang: string
  /** 1-based line of the opening fence in README.md. */
  readonly line: number
  readonly code: string
  /** The reason from `<!-- not run: REASON -->`, when the block is marked so. */
  readonly notRun?: string
  /** The programs from `<!-- needs: PROGRAM... -->`. */
  readonly needs?: readonly string[]
  /** The heading (of any level) the block is under. */
  readonly section: string
}

const NOT_RUN = /^<!--\s*not run:\s*(.*?)\s*-->$/
const NEEDS = /^<!--\s*needs:\s*([\w.+-]+(?:\s+[\w.+-]+)*)\s*-->$/

/** Every fenced block of `text` whose fence names `lang`, in order. */
export function fencedBlocks (text: string, lang: string): ReadmeBlock[] {
  const lines = text.split('\n')
  const out: ReadmeBlock[] = []
  let section = ''
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!
    if (/^#{1,6} /.test(l)) section = l.replace(/^#+ /, '')
    const open = /^```(\S*)\s*$/.exec(l)
    if (open === null) continue
    const end = lines.indexOf('```', i + 1)
    if (end === -1) throw new Error(`README.md line ${i + 1}: a fence that is never closed`)
    if (open[1] === lang) {
      const above = (lines[i - 1] ?? '').trim()
      const mark = NOT_RUN.exec(above)
      const needs = NEEDS.exec(above)
      out.push({ lang, line: i + 1, code: lines.slice(i + 1, end).join('\n'), section, ...(mark !== null ? { notRun: mark[1]! } : {}), ...(needs !== null ? { needs: needs[1]!.split(/\s+/) } : {}) })
    }
    i = end
  }
  return out
}

export function readmeText (): string {
  return readFileSync(join(ROOT, 'README.md'), 'utf8')
}
