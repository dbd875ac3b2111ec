/**
 * `dagtuf history` — for researchers: draw or dump the history a client
 * would walk (src/history): timestamps -> snapshots (height, skips) -> each
 * role's previous-version chain, root rotations with their key changes,
 * tombstones of retired roles, expiry.
 *
 *   dagtuf history (--dir D | --car F) [--timestamp CID] [--since CID]
 *                  [--format svg|dot|json] [--from CID --to CID]
 *                  [--now ISO] [--max-nodes N] [-o FILE]
 *
 * The head is the repository's (--dir; every timestamp of its log is drawn)
 * or the CAR's root (--car), or --timestamp. `--since CID` (a trusted
 * timestamp) stops the snapshot chain at its snapshot, as a client that
 * trusts it would. `--from A --to B` highlights the witness of `A <-* B`
 * (src/relations decides it, every step checked); when it does not hold the
 * command fails with SUCC-STAR (or BOUND-CHAIN) and the violations. The
 * drawing goes to stdout, or to FILE with -o (written atomically); `--json`
 * prints the graph as the one JSON object whatever --format says.
 */
import { cidArg, int, str, type Parsed } from '../args.js'
import type { Command } from '../command.js'
import { StateError, UsageError, diskFull } from '../../model/errors.js'
import type { BlockSource } from '../../blocks/types.js'
import type { CID } from 'multiformats/cid'
import { sourceLoader } from '../../validate/loader.js'
import { buildHistory, HISTORY_DEFAULTS, toDot, toSvg, withWitness, type History } from '../../history/index.js'
import { outOf } from './publish-common.js'
import { writeFileAtomic } from '../../util/durable-fs.js'

const FORMATS = ['svg', 'dot', 'json'] as const
type Format = typeof FORMATS[number]

function referenceTime (value: string | undefined): string {
  const d = value === undefined ? new Date() : new Date(value)
  if ((value !== undefined && value.length > 64) || Number.isNaN(d.getTime())) throw new UsageError('ERR_USAGE', '--now: not an ISO 8601 date')
  return d.toISOString().slice(0, 19) + 'Z'
}

function formatOf (args: Parsed): Format {
  const f = str(args, 'format') ?? 'svg'
  if (!(FORMATS as readonly string[]).includes(f)) throw new UsageError('ERR_USAGE', `--format must be one of ${FORMATS.join(', ')}`)
  return f as Format
}

/** The blocks, the head and the other timestamps to draw. */
async function open (args: Parsed): Promise<{ source: BlockSource, head: CID, timestamps: CID[], close: () => Promise<void> }> {
  const dir = str(args, 'dir')
  const car = str(args, 'car')
  if ((dir === undefined) === (car === undefined)) throw new UsageError('ERR_USAGE', 'history needs one of --dir D or --car FILE')
  const given = cidArg(args, 'timestamp')
  if (car !== undefined) {
    const { indexCar } = await import('../../blocks/car.js')
    const source = await indexCar(car)
    const head = given ?? source.roots[0]
    if (head === undefined) {
      await source.close()
      throw new UsageError('ERR_USAGE', `${car} has no root: give --timestamp CID`)
    }
    return { source, head, timestamps: [...source.roots], close: async () => { await source.close() } }
  }
  const { Repo } = await import('../../publish/repo.js')
  const { RepoBlockFiles } = await import('../../blocks/repo-files.js')
  const repo = await Repo.open(dir!)
  try {
    const log = await repo.log()
    const head = given ?? log[log.length - 1]!.timestamp
    return { source: new RepoBlockFiles(repo.dir), head, timestamps: log.map((e) => e.timestamp), close: async () => { await repo.close() } }
  } catch (e) {
    await repo.close()
    throw e
  }
}

export const historyCommand: Command = {
  name: 'history',
  summary: 'draw (SVG, DOT) or dump (JSON) the history a client would walk: timestamps, snapshots, role chains, rotations, tombstones',
  usage: 'history (--dir D | --car FILE) [--timestamp CID] [--since CID] [--format svg|dot|json] [--from CID --to CID] [--now ISO] [--max-nodes N] [-o FILE]',
  maxPositionals: 2,
  options: {
    dir: { type: 'string', help: 'repository folder: its head, and every timestamp of its log' },
    car: { type: 'string', help: 'CAR file (each block hash-checked): its root is the head' },
    timestamp: { type: 'string', help: 'the head to draw from (default: the repository\'s head, the CAR\'s root)' },
    since: { type: 'string', help: 'a trusted timestamp: walk the snapshots down to its snapshot only' },
    format: { type: 'string', help: 'svg (default), dot or json' },
    from: { type: 'string', help: 'with --to: highlight the witness of FROM <-* TO (objects of one kind)' },
    to: { type: 'string', help: 'see --from' },
    now: { type: 'string', help: 'reference time for expiry (ISO 8601; default now)' },
    'max-nodes': { type: 'string', help: `at most this many objects (default ${HISTORY_DEFAULTS.maxNodes})` },
    out: { type: 'string', help: 'write the drawing to FILE (same as -o FILE)' }
  },
  async run (args, io) {
    const format = formatOf(args)
    const now = referenceTime(str(args, 'now'))
    const since = cidArg(args, 'since')
    const from = cidArg(args, 'from')
    const to = cidArg(args, 'to')
    if ((from === undefined) !== (to === undefined)) throw new UsageError('ERR_USAGE', '--from and --to go together')
    const maxNodes = int(args, 'max-nodes', HISTORY_DEFAULTS.maxNodes, 3, 100_000)
    const { out } = outOf(args)
    const opened = await open(args)
    let history: History
    try {
      const loader = sourceLoader(opened.source)
      history = await buildHistory(loader, opened.head, { timestamps: opened.timestamps, referenceTime: now, maxNodes, ...(since === undefined ? {} : { since }) })
      if (from !== undefined && to !== undefined) history = await withWitness(loader, history, from, to)
    } finally {
      await opened.close()
    }
    const text = format === 'json' ? JSON.stringify(history, null, 2) + '\n' : format === 'dot' ? toDot(history) : toSvg(history)
    if (out !== undefined) {
      await writeFileAtomic(out, text, { onError: (e) => diskFull(e, out) ?? new StateError('ERR_STATE_IO', `could not write ${out}`, { cause: e, details: { path: out } }) })
      if (args.options.json !== true) io.out(`${format} of ${history.nodes.length} objects written to ${out}`)
    } else if (args.options.json !== true) {
      // One write: the drawing as it is (it ends with a newline).
      io.out(text.slice(0, -1))
    }
    return { result: history as unknown as Record<string, unknown> }
  }
}
