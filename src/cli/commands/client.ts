/**
 * `dagtuf client init|update|get|list` — the client on the command line,
 * over the Updater (src/client/updater.ts).
 *
 *   dagtuf client init   --dir C --root CID SOURCE [--force]
 *   dagtuf client update --dir C [--timestamp CID | --ipns NAME] SOURCE [--json]
 *   dagtuf client get    --dir C PATH -o FILE SOURCE [--update [--timestamp CID | --ipns NAME]] [--unsafe-allow-expired]
 *   dagtuf client list   --dir C [SOURCE] [--json] [--unsafe-allow-expired]
 *
 * SOURCE is one of --gateway URL, --car FILE, --peer MULTIADDR, --repo DIR
 * (client-sources.ts); --ipns NAME (with --gateway) takes the head from the
 * name's signed IPNS record instead of the gateway's /head. A refusal exits 1 with the rule ID as code and the
 * offending CID in the message (and in the JSON error object).
 *
 * `--log-json FILE` (init, update, get) appends the Updater's events to FILE
 * as NDJSON, one JSON object per line (src/cli/event-log.ts): an accepted
 * update with the rules checked and what changed, a refusal with its rule
 * ID and the CID at fault, a download.
 *
 * `get` and `list` use the trusted state, so they check it at the moment of
 * use (CLIENT-EXPIRES): on a state that has expired they fail until an
 * update succeeds (`get --update` does both). `--unsafe-allow-expired`
 * judges expiry at the time of the last accepted update instead, for
 * deliberate offline use only.
 */
import type { Io } from '../command.js'
import type { Command } from '../command.js'
import { type Parsed, cidArg, flag, str } from '../args.js'
import { Updater, type RefreshResult, type TargetResult } from '../../client/updater.js'
import { StateError, UsageError } from '../../model/errors.js'
import { STATE_FILE } from '../../client/store.js'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { IPNS_OPTION, SOURCE_OPTIONS, ipnsHeadOf, openSource, type OpenedSource } from './client-sources.js'
import { dagtufCommand } from '../../util/shell.js'
import type { CID } from 'multiformats/cid'
import { EventLog, LOG_JSON_OPTION } from '../event-log.js'

export const DEFAULT_CLIENT_DIR = './dagtuf-client'

const DIR = { dir: { type: 'string' as const, help: `trusted-state folder (default ${DEFAULT_CLIENT_DIR})` } }

const UNSAFE_ALLOW_EXPIRED = {
  'unsafe-allow-expired': {
    type: 'boolean' as const,
    help: 'UNSAFE (offline use only): judge expiry at the time of the last accepted update, not now; ' +
      'whoever withholds updates can then keep you installing from an expired state'
  }
}

function dirOf (args: Parsed): string {
  return str(args, 'dir') ?? DEFAULT_CLIENT_DIR
}

/** Human output only without --json (main prints the JSON result). */
function say (io: Io, args: Parsed, line: string): void {
  if (!flag(args, 'json')) io.out(line)
}

/**
 * Every client command but `init` works on an existing trusted state: refuse
 * at once (ERR_STATE_MISSING) rather than create an empty client folder.
 */
async function requireState (dir: string): Promise<void> {
  const st = await stat(join(dir, STATE_FILE)).catch(() => null)
  if (st === null || !st.isFile()) {
    throw new StateError('ERR_STATE_MISSING', `no trusted root in ${dir} (trust one first with: ${dagtufCommand('client', 'init', '--dir', dir, '--root', 'CID', '--gateway', 'URL')})`, { details: { dir } })
  }
}

async function withUpdater<T> (args: Parsed, required: boolean, fn: (u: Updater, s: OpenedSource) => Promise<T>, options: { init?: boolean, io?: Io } = {}): Promise<T> {
  if (options.init !== true) await requireState(dirOf(args))
  // Opened before anything else happens: a log that cannot be written stops the command first.
  const file = str(args, 'log-json')
  const log = file === undefined ? undefined : await EventLog.open(file)
  let failed = false
  try {
    return await withLoggedUpdater(args, required, fn, log, options)
  } catch (e) {
    failed = true
    throw e
  } finally {
    // The command's own error wins; a log that failed as well is said on stderr.
    if (log !== undefined) {
      await log.close().catch((e: unknown) => {
        if (!failed) throw e
        options.io?.err(`dagtuf: warning: ${(e as Error).message}`)
      })
    }
  }
}

async function withLoggedUpdater<T> (args: Parsed, required: boolean, fn: (u: Updater, s: OpenedSource) => Promise<T>, log: EventLog | undefined, options: { init?: boolean }): Promise<T> {
  // A failed init removes the client folder again, but only one it created itself.
  const created = options.init === true && await stat(dirOf(args)).then(() => false, () => true)
  try {
    return await withOpenedUpdater(args, required, fn, log)
  } catch (e) {
    if (created) await rm(dirOf(args), { recursive: true, force: true }).catch(() => {})
    // The library's message names `dagtuf client update` without the folder: say how to run it here.
    if (e instanceof StateError && e.code === 'ERR_STATE_NO_UPDATE') {
      const dir = dirOf(args)
      throw new StateError('ERR_STATE_NO_UPDATE', `${dir} trusts a root but has no update yet (update it first with: ${dagtufCommand('client', 'update', '--dir', dir, '--gateway', 'URL')})`, { cause: e, ...(e.details !== undefined ? { details: e.details } : {}) })
    }
    throw e
  }
}

async function withOpenedUpdater<T> (args: Parsed, required: boolean, fn: (u: Updater, s: OpenedSource) => Promise<T>, log: EventLog | undefined): Promise<T> {
  const opened = await openSource(args, required)
  try {
    const ipns = ipnsHeadOf(args, opened)
    const updater = await Updater.create({
      dir: dirOf(args),
      ...(log === undefined ? {} : { onEvent: log.listener, sourceLabel: ipns === undefined ? opened.label : `/ipns/${ipns.name} via ${opened.label}` }),
      ...(flag(args, 'unsafe-allow-expired') ? { unsafeAllowExpired: true } : {}),
      ...(opened.source === undefined ? {} : { source: opened.source }),
      ...(ipns !== undefined ? { ipns } : opened.head === undefined ? {} : { head: opened.head })
    })
    return await fn(updater, ipns === undefined ? opened : { ...opened, label: `/ipns/${ipns.name} via ${opened.label}` })
  } finally {
    await opened.close()
  }
}

function targetJson (t: TargetResult): Record<string, unknown> {
  const out: Record<string, unknown> = { path: t.path, cid: t.cid.toString(), length: t.length, role: t.role, chain: [...t.chain] }
  if (t.custom !== undefined) out.custom = t.custom
  return out
}

function refreshJson (r: RefreshResult): Record<string, unknown> {
  return {
    timestamp: r.timestamp, snapshot: r.snapshot, root: r.root, changed: r.changed, continuity: r.continuity, rootChain: r.rootChain, referenceTime: r.referenceTime, fetched: r.fetched,
    ...(r.floors === undefined ? {} : { floors: r.floors }),
    ...(r.ipns === undefined ? {} : { ipns: r.ipns })
  }
}

function printRefresh (io: Io, args: Parsed, r: RefreshResult, label: string): void {
  const how = { first: 'first update', same: 'already up to date', descends: 'descends from the trusted timestamp', recovered: 'recovered after a key rotation (per-object floors)' }[r.continuity]
  say(io, args, `updated from ${label}: ${how}`)
  say(io, args, `  timestamp ${r.timestamp}`)
  say(io, args, `  snapshot  ${r.snapshot}`)
  say(io, args, `  root      ${r.root}${r.rootChain.length > 1 ? ` (${r.rootChain.length - 1} root step${r.rootChain.length > 2 ? 's' : ''})` : ''}`)
  say(io, args, `  changed   ${r.changed.length === 0 ? 'nothing' : r.changed.join(', ')}`)
  if (r.floors !== undefined) say(io, args, `  floors kept: ${r.floors.kept.join(', ') || 'none'}; dropped: ${r.floors.dropped.join(', ') || 'none'}`)
  say(io, args, `  fetched   ${r.fetched.blocks} blocks, ${r.fetched.bytes} bytes (${r.fetched.cacheHits} from the cache)`)
  if (r.ipns !== undefined) say(io, args, `  ipns      ${r.ipns.name} sequence ${r.ipns.sequence}, valid until ${r.ipns.validity}`)
}

/**
 * One update of `u`: to `ts` when given, else from the IPNS name, else from
 * the source's head, or, with several sources, from every source's head
 * (src/client/any-head.ts), each source's outcome reported.
 */
async function refreshFrom (u: Updater, s: OpenedSource, args: Parsed, io: Io, ts: CID | undefined, lookahead: readonly string[] = []): Promise<{ json: Record<string, unknown> }> {
  const ipns = str(args, 'ipns') !== undefined
  if (ts === undefined && !ipns && s.heads !== undefined && s.heads.length > 1) {
    const { refreshFromHeads } = await import('../../client/any-head.js')
    const r = await refreshFromHeads(u, s.heads, { onReport: (rep) => { say(io, args, `  ${rep.source}: ${rep.outcome}${rep.head === undefined ? '' : ` ${rep.head}`}${rep.code === undefined ? '' : ` (${rep.code})`}`) } })
    printRefresh(io, args, r.result, s.label)
    return { json: { ...refreshJson(r.result), sources: r.sources, ...(s.set === undefined ? {} : { blocks: s.set.stats() }) } }
  }
  if (ts === undefined && s.head === undefined && !ipns) throw new UsageError('ERR_USAGE', `${s.label} has no head: give --timestamp CID`)
  const r = await u.refresh(ts, { lookahead })
  printRefresh(io, args, r, s.label)
  return { json: { ...refreshJson(r), ...(s.set === undefined ? {} : { blocks: s.set.stats() }) } }
}

export const clientInitCommand: Command = {
  name: 'client init',
  summary: 'trust a root (by CID, obtained out of band): fetch it and check it',
  usage: 'client init --dir C --root CID (--gateway URL | --car FILE | --peer MULTIADDR | --repo DIR) [--force] [--log-json FILE]',
  options: { ...DIR, root: { type: 'string', help: 'CID of the root to trust' }, force: { type: 'boolean', help: 'discard an existing trusted state' }, ...LOG_JSON_OPTION, ...SOURCE_OPTIONS },
  async run (args, io) {
    const root = cidArg(args, 'root')
    if (root === undefined) throw new UsageError('ERR_USAGE', 'client init needs --root CID')
    return await withUpdater(args, true, async (u, s) => {
      const r = await u.init(root, { force: flag(args, 'force') })
      say(io, args, r.changed ? `trusting root ${r.root} (fetched from ${s.label}) in ${u.dir}` : `${u.dir} already trusts root ${r.root}`)
      return { result: { dir: u.dir, root: r.root, changed: r.changed } }
    }, { init: true, io })
  }
}

export const clientUpdateCommand: Command = {
  name: 'client update',
  summary: 'verify the newest timestamp (or --timestamp CID) against the trusted state, and trust it',
  usage: 'client update --dir C [--timestamp CID | --ipns NAME] (--gateway URL... | --car FILE | --peer MULTIADDR... | --repo DIR | --routing URL) [--hedge MS | --race] [--json] [--log-json FILE]',
  options: { ...DIR, timestamp: { type: 'string', help: 'update to this timestamp CID instead of the source\'s head' }, ...IPNS_OPTION, ...LOG_JSON_OPTION, ...SOURCE_OPTIONS },
  async run (args, io) {
    const ts = cidArg(args, 'timestamp')
    return await withUpdater(args, true, async (u, s) => {
      const r = await refreshFrom(u, s, args, io, ts)
      return { result: r.json }
    }, { io })
  }
}

/** `PATH -o FILE` (the parser knows only --long options): the output file and the one path. */
function pathAndOutput (args: Parsed): { path: string, output: string } {
  const pos = [...args.positionals]
  let output = str(args, 'output')
  const o = pos.indexOf('-o')
  if (o !== -1) {
    const f = pos[o + 1]
    if (f === undefined || output !== undefined) throw new UsageError('ERR_USAGE', '-o takes one FILE')
    output = f
    pos.splice(o, 2)
  }
  if (pos.length !== 1) throw new UsageError('ERR_USAGE', 'client get takes one target PATH')
  if (output === undefined) throw new UsageError('ERR_USAGE', 'client get needs -o FILE')
  return { path: pos[0]!, output }
}

export const clientGetCommand: Command = {
  name: 'client get',
  summary: 'find a target in the trusted state (not expired now) and download it, verified by CID and length',
  usage: 'client get --dir C PATH -o FILE (--gateway URL... | --car FILE | --peer MULTIADDR... | --repo DIR | --routing URL) [--hedge MS | --race] [--update [--timestamp CID | --ipns NAME]] [--unsafe-allow-expired] [--log-json FILE]',
  options: {
    ...DIR,
    output: { type: 'string', help: 'where to write the target (same as -o FILE)' },
    update: { type: 'boolean', help: 'update the trusted state first' },
    timestamp: { type: 'string', help: 'with --update: update to this timestamp CID' },
    ...IPNS_OPTION,
    ...UNSAFE_ALLOW_EXPIRED,
    ...LOG_JSON_OPTION,
    ...SOURCE_OPTIONS
  },
  async run (args, io) {
    const { path, output } = pathAndOutput(args)
    if (str(args, 'ipns') !== undefined && !flag(args, 'update')) throw new UsageError('ERR_USAGE', '--ipns NAME picks the head of an update: add --update')
    return await withUpdater(args, true, async (u, s) => {
      let refreshed: { json: Record<string, unknown> } | undefined
      if (flag(args, 'update')) {
        // The search for PATH starts while the new state is written (RefreshOptions.lookahead).
        refreshed = await refreshFrom(u, s, args, io, cidArg(args, 'timestamp'), [path])
      }
      const info = await u.getTargetInfo(path)
      if (info === null) throw new StateError('ERR_TARGET_NOT_LISTED', `no role entitled to ${JSON.stringify(path)} lists it in the trusted state`, { details: { path } })
      const got = await u.downloadTarget(info, output)
      say(io, args, `${path}: ${got.length} bytes, ${got.cid}, signed by role ${info.role}${info.chain.length > 1 ? ` (via ${info.chain.join(' -> ')})` : ''}, verified and written to ${got.path}`)
      return { result: { ...targetJson(info), file: got.path, ...(refreshed === undefined ? {} : { update: refreshed.json }) } }
    }, { io })
  }
}

export const clientListCommand: Command = {
  name: 'client list',
  summary: 'list the targets of the trusted state (as the search resolves them)',
  usage: 'client list --dir C [--gateway URL | --car FILE | --peer MULTIADDR | --repo DIR] [--json] [--unsafe-allow-expired]',
  options: { ...DIR, ...UNSAFE_ALLOW_EXPIRED, ...SOURCE_OPTIONS },
  async run (args, io) {
    return await withUpdater(args, false, async (u) => {
      const state = await u.state()
      const targets = await u.listTargets()
      for (const t of targets) say(io, args, `${t.path}  ${t.length}  ${t.cid.toString()}  ${t.role}`)
      if (targets.length === 0) say(io, args, '(no targets)')
      return { result: { timestamp: state.trusted?.timestamp.toString() ?? null, targets: targets.map(targetJson) } }
    })
  }
}
