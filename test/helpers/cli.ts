/** The CLI in-process (src/cli/main.ts) with --json, for tests: its exit code and its one JSON object. */
import { expect } from 'vitest'
import { main } from '../../src/cli/main.js'

/** Run `dagtuf ARGV --json` in this process; stderr is dropped. */
export async function dagtufJson (...argv: string[]): Promise<{ code: number, json: Record<string, any> }> {
  const out: string[] = []
  const code = await main([...argv, '--json'], { out: (l) => out.push(l), err: () => {}, tty: false })
  return { code, json: JSON.parse(out[0] ?? '{}') as Record<string, any> }
}

/** As dagtufJson, and it must exit 0 (the JSON is in the failure message otherwise). */
export async function dagtufOk (...argv: string[]): Promise<Record<string, any>> {
  const r = await dagtufJson(...argv)
  expect(r.code, `dagtuf ${argv.join(' ')} -> ${JSON.stringify(r.json)}`).toBe(0)
  return r.json
}
