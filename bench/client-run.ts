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
 *   node dist/bench/client-run.js tufjs-linear METADATA_DIR BASE_URL PATH OUT
 *     The same with tuf-js's two quadratic loops over the targets map made
 *     linear, in this process only (see linearTargets below).
 *
 * Prints one line `RESULT maxrss_kb=N` (the process's peak resident set),
 * `RESULT boot_ms=` (from the process's start to this module running: Node's
 * own start-up), `RESULT import_ms=` (loading the client's modules) and
 * `RESULT work_ms=` (refresh, lookup and download, after the imports),
 * and for tufjs-linear `RESULT linear_calls=N` (how often the patched
 * methods ran, so that a patch that stopped applying shows up as 0).
 */
const bootMs = performance.now()
import '../src/polyfill.js'
import { peakRssKb } from './peak-rss.js'
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

let linearCalls = 0

/**
 * tuf-js 5.0.1 (through @tufjs/models 4.1.1) builds the targets map with
 * `Object.entries(data).reduce((acc, [k, v]) => ({ ...acc, [k]: v }), {})`:
 * every step copies the whole accumulator, O(n²) in the number of targets.
 * It does so twice on a client's path: in `Targets.fromJSON` (parsing
 * targets.json) and in `Targets.prototype.toJSON` (which signature
 * verification canonicalizes). Both are replaced here, in this process only,
 * by the same computation with one object filled in place: same checks
 * (`targets must be an object`), same TargetFile.fromJSON / toJSON per entry,
 * same result. Nothing on disk is changed.
 */
function linearTargets (): void {
  const require = createRequire(import.meta.url)
  // The very module instance tuf-js requires (one copy in node_modules).
  const models = require('@tufjs/models') as {
    Targets: { fromJSON: (data: Record<string, unknown>) => TargetsLike, prototype: TargetsLike }
    TargetFile: { fromJSON: (path: string, data: unknown) => { toJSON: () => unknown } }
  }
  interface TargetsLike {
    type: string, specVersion: string, version: number, expires: string
    targets: Record<string, { toJSON: () => unknown }>
    unrecognizedFields: Record<string, unknown>
    delegations?: { toJSON: () => unknown }
    toJSON: () => Record<string, unknown>
  }
  const { Targets, TargetFile } = models
  const fromJSON = Targets.fromJSON.bind(Targets)
  Targets.fromJSON = (data) => {
    linearCalls++
    const { targets, ...rest } = data
    const t = fromJSON(rest)
    if (targets !== undefined) {
      if (typeof targets !== 'object' || targets === null || Array.isArray(targets)) throw new TypeError('targets must be an object')
      const map: TargetsLike['targets'] = {}
      for (const [path, v] of Object.entries(targets)) map[path] = TargetFile.fromJSON(path, v)
      t.targets = map
    }
    return t
  }
  Targets.prototype.toJSON = function (this: TargetsLike) {
    linearCalls++
    const targets: Record<string, unknown> = {}
    for (const [path, f] of Object.entries(this.targets)) targets[path] = f.toJSON()
    const json: Record<string, unknown> = { _type: this.type, spec_version: this.specVersion, version: this.version, expires: this.expires, targets, ...this.unrecognizedFields }
    if (this.delegations !== undefined) json.delegations = this.delegations.toJSON()
    return json
  }
}

let importMs = 0
let workMs = 0

async function dagtuf (dir: string, url: string, ts: string, path: string, out: string): Promise<void> {
  const t0 = performance.now()
  const { Updater } = await import('../src/client/updater.js')
  const { GatewaySource } = await import('../src/blocks/gateway-source.js')
  const t1 = performance.now()
  importMs = t1 - t0
  const up = await Updater.create({ dir, source: new GatewaySource(url, { retries: 0 }) })
  await up.refresh(ts)
  const info = await up.getTargetInfo(path)
  if (info === null) throw new Error(`${path} not found`)
  await up.downloadTarget(info, out)
  workMs = performance.now() - t1
}

async function tufjs (metadataDir: string, url: string, path: string, out: string): Promise<void> {
  const t0 = performance.now()
  const tuf = await import('tuf-js')
  const t1 = performance.now()
  importMs = t1 - t0
  const up = new tuf.Updater({ metadataDir, metadataBaseUrl: `${url}/metadata`, targetBaseUrl: `${url}/targets`, targetDir: dirname(out) })
  await up.refresh()
  const info = await up.getTargetInfo(path)
  if (info === undefined) throw new Error(`${path} not found`)
  await up.downloadTarget(info, out)
  workMs = performance.now() - t1
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === 'dagtuf' && rest.length === 5) {
  mkdirSync(dirname(rest[4]!), { recursive: true })
  await dagtuf(rest[0]!, rest[1]!, rest[2]!, rest[3]!, rest[4]!)
} else if ((mode === 'tufjs' || mode === 'tufjs-linear') && rest.length === 4) {
  if (mode === 'tufjs-linear') linearTargets()
  mkdirSync(dirname(rest[3]!), { recursive: true })
  await tufjs(rest[0]!, rest[1]!, rest[2]!, rest[3]!)
} else {
  process.stderr.write('usage: client-run.js dagtuf DIR URL TS PATH OUT | tufjs[-linear] METADATA_DIR URL PATH OUT\n')
  process.exit(2)
}
if (mode === 'tufjs-linear') process.stdout.write(`RESULT linear_calls=${linearCalls}\n`)
process.stdout.write(`RESULT boot_ms=${bootMs.toFixed(1)}\nRESULT import_ms=${importMs.toFixed(1)}\nRESULT work_ms=${workMs.toFixed(1)}\n`)
process.stdout.write(`RESULT maxrss_kb=${peakRssKb()}\n`)
