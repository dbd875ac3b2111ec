/**
 * One cold client run, in a fresh process, for `npm run bench:client`
 * (bench/client.ts starts it and measures the wall time from outside).
 *
 *   node dist/bench/client-run.js dagtuf DIR GATEWAY_URL TIMESTAMP_CID PATH OUT
 *     Updater over a trusted-state folder that trusts only a root: update
 *     to the timestamp over the gateway, find PATH, download it.
 *   node dist/bench/client-run.js tufjs METADATA_DIR BASE_URL PATH OUT
 *     tuf-js 5: refresh, getTargetInfo, downloadTarget against a classic
 *     repository (METADATA_DIR holds only the trusted root.json).
 *
 * Prints one line `RESULT maxrss_kb=N` (the process's peak resident set).
 */
import '../src/polyfill.js'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

async function dagtuf (dir: string, url: string, ts: string, path: string, out: string): Promise<void> {
  const { Updater } = await import('../src/client/updater.js')
  const { GatewaySource } = await import('../src/blocks/gateway-source.js')
  const up = await Updater.create({ dir, source: new GatewaySource(url, { retries: 0 }) })
  await up.refresh(ts)
  const info = await up.getTargetInfo(path)
  if (info === null) throw new Error(`${path} not found`)
  await up.downloadTarget(info, out)
}

async function tufjs (metadataDir: string, url: string, path: string, out: string): Promise<void> {
  const tuf = await import('tuf-js')
  const up = new tuf.Updater({ metadataDir, metadataBaseUrl: `${url}/metadata`, targetBaseUrl: `${url}/targets`, targetDir: dirname(out) })
  await up.refresh()
  const info = await up.getTargetInfo(path)
  if (info === undefined) throw new Error(`${path} not found`)
  await up.downloadTarget(info, out)
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === 'dagtuf' && rest.length === 5) {
  mkdirSync(dirname(rest[4]!), { recursive: true })
  await dagtuf(rest[0]!, rest[1]!, rest[2]!, rest[3]!, rest[4]!)
} else if (mode === 'tufjs' && rest.length === 4) {
  mkdirSync(dirname(rest[3]!), { recursive: true })
  await tufjs(rest[0]!, rest[1]!, rest[2]!, rest[3]!)
} else {
  process.stderr.write('usage: client-run.js dagtuf DIR URL TS PATH OUT | tufjs METADATA_DIR URL PATH OUT\n')
  process.exit(2)
}
process.stdout.write(`RESULT maxrss_kb=${process.resourceUsage().maxRSS}\n`)
