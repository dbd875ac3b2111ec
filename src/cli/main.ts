/**
 * `dagtuf` command-line entry point. Parses the sub-command, runs it, and
 * maps every failure to a stable code and exit status: 0 success, 1 a check
 * failed or an operation was refused (ERR_DISK_FULL too), 2 usage error, 3
 * unexpected internal error (a bug: please report it).
 */
import { parseArgs, type OptionSpec } from './args.js'
import type { Command, Io } from './command.js'
import { DagtufError, UsageError, diskFull } from '../model/errors.js'
import { didYouMean } from './suggest.js'

type Entry = readonly [name: string, load: () => Promise<Command>]

/**
 * Every command, in the order `dagtuf --help` lists them, and where it lives.
 * A command's module is loaded only when that command runs: a cold
 * `dagtuf client get --gateway URL` loads neither the publisher, nor libp2p,
 * nor the CAR reader (about 0.1 s of start-up; test/cli/commands.test.ts
 * checks this table against the modules' exports).
 */
export const COMMAND_TABLE: readonly Entry[] = [
  ['demo', async () => (await import('./commands/demo.js')).demoCommand],
  // publisher
  ['init', async () => (await import('./commands/repo.js')).initCommand],
  ['add', async () => (await import('./commands/targets.js')).addCommand],
  ['remove', async () => (await import('./commands/targets.js')).removeCommand],
  ['delegate', async () => (await import('./commands/targets.js')).delegateCommand],
  ['undelegate', async () => (await import('./commands/targets.js')).undelegateCommand],
  ['rotate', async () => (await import('./commands/targets.js')).rotateCommand],
  ['publish', async () => (await import('./commands/targets.js')).publishCommand],
  ['sign', async () => (await import('./commands/sign.js')).signCommand],
  ['drafts', async () => (await import('./commands/read.js')).draftsCommand],
  ['draft export', async () => (await import('./commands/sign.js')).draftExportCommand],
  ['draft import', async () => (await import('./commands/sign.js')).draftImportCommand],
  ['draft show', async () => (await import('./commands/read.js')).draftShowCommand],
  ['status', async () => (await import('./commands/read.js')).statusCommand],
  ['log', async () => (await import('./commands/read.js')).logCommand],
  ['head', async () => (await import('./commands/read.js')).headCommand],
  ['audit verify', async () => (await import('./commands/audit.js')).auditVerifyCommand],
  ['audit show', async () => (await import('./commands/audit.js')).auditShowCommand],
  ['export', async () => (await import('./commands/repo.js')).exportCommand],
  ['keygen', async () => (await import('./commands/repo.js')).keygenCommand],
  ['reset', async () => (await import('./commands/repo.js')).resetCommand],
  ['push', async () => (await import('./commands/push.js')).pushCommand],
  ['remote propose', async () => (await import('./commands/remote.js')).remoteProposeCommand],
  ['remote drafts', async () => (await import('./commands/remote.js')).remoteDraftsCommand],
  ['remote status', async () => (await import('./commands/remote.js')).remoteStatusCommand],
  ['remote sign', async () => (await import('./commands/remote.js')).remoteSignCommand],
  ['remote withdraw', async () => (await import('./commands/remote.js')).remoteWithdrawCommand],
  // client and server
  ['client init', async () => (await import('./commands/client.js')).clientInitCommand],
  ['client update', async () => (await import('./commands/client.js')).clientUpdateCommand],
  ['client get', async () => (await import('./commands/client.js')).clientGetCommand],
  ['client list', async () => (await import('./commands/client.js')).clientListCommand],
  ['serve', async () => (await import('./commands/serve.js')).serveCommand],
  ['mirror', async () => (await import('./commands/mirror.js')).mirrorCommand],
  // researchers
  ['verify', async () => (await import('./commands/verify.js')).verifyCommand],
  ['history', async () => (await import('./commands/history.js')).historyCommand]
]

/** Every command, loaded (for the help listing). */
export async function loadCommands (): Promise<Command[]> {
  return await Promise.all(COMMAND_TABLE.map(async ([, load]) => await load()))
}

const GLOBAL: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', help: 'print exactly one JSON object on stdout' },
  help: { type: 'boolean', help: 'show this help' }
}

function helpText (commands: readonly Command[]): string {
  const lines = [
    'dagtuf — The Update Framework over IPFS/IPLD',
    '',
    'Usage: dagtuf <command> [options]   (dagtuf <command> --help for details)',
    '',
    'Commands:'
  ]
  const w = Math.max(...commands.map((c) => c.name.length))
  for (const c of commands) lines.push(`  ${c.name.padEnd(w)}  ${c.summary}`)
  lines.push('', 'Every command accepts --json to print one JSON object.')
  return lines.join('\n')
}

function commandHelp (c: Command): string {
  const lines = [`Usage: dagtuf ${c.usage}`, '', c.summary, '', 'Options:']
  for (const [name, spec] of Object.entries({ ...c.options, ...GLOBAL })) {
    lines.push(`  --${name}${spec.type === 'boolean' ? '' : spec.type === 'list' ? ' VALUE...' : spec.type === 'repeat' ? ' VALUE (repeatable)' : ' VALUE'}${spec.help !== undefined ? `  ${spec.help}` : ''}`)
  }
  return lines.join('\n')
}

export function defaultIo (): Io {
  return {
    out: (line) => { process.stdout.write(line + '\n') },
    err: (line) => { process.stderr.write(line + '\n') },
    tty: process.stderr.isTTY === true
  }
}

/** The groups of two-word commands ("client", "draft"), each with its subcommand words in table order. */
function groups (): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (const [n] of COMMAND_TABLE) {
    const sp = n.indexOf(' ')
    if (sp === -1) continue
    const g = n.slice(0, sp)
    m.set(g, [...(m.get(g) ?? []), n.slice(sp + 1)])
  }
  return m
}

/** What may come first on the command line: each command's first word, and `help`. */
function firstWords (): string[] {
  return [...new Set(COMMAND_TABLE.map(([n]) => n.split(' ')[0]!)), 'help']
}

/** The help of a group: its subcommands only (their modules alone are loaded). */
async function groupHelp (group: string, json: boolean): Promise<string> {
  const commands = await Promise.all(COMMAND_TABLE.filter(([n]) => n.startsWith(`${group} `)).map(async ([, load]) => await load()))
  if (json) return JSON.stringify({ commands: commands.map((c) => ({ name: c.name, summary: c.summary, usage: c.usage })) })
  const lines = [`Usage: dagtuf ${group} <subcommand> [options]   (dagtuf ${group} <subcommand> --help for details)`, '', 'Subcommands:']
  const w = Math.max(...commands.map((c) => c.name.length))
  for (const c of commands) lines.push(`  ${c.name.padEnd(w)}  ${c.summary}`)
  return lines.join('\n')
}

const isHelp = (a: string | undefined): boolean => a === '--help' || a === '-h' || a === 'help'

/**
 * Run the CLI; returns the exit code. Never throws. No arguments at all, or a
 * group without its subcommand (`dagtuf draft`), is a usage error: the usage
 * goes to stderr and the exit code is 2. A mistyped command or option gets a
 * "did you mean" (src/cli/suggest.ts).
 */
export async function main (argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  const json = argv.includes('--json')
  try {
    // `dagtuf --json [command ...]` is `dagtuf [command ...] --json`.
    const lead = argv[0] === '--json' ? [...argv.slice(1), '--json'] : argv
    // `dagtuf help COMMAND...` is `dagtuf COMMAND... --help`.
    const [name, ...rest] = lead[0] === 'help' && lead.length > 1 && lead[1] !== '--json' ? [...lead.slice(1), '--help'] : lead
    if (name === undefined) {
      io.err(helpText(await loadCommands()))
      return 2
    }
    if (isHelp(name) || (name === '--json' && rest.length === 0)) {
      const commands = await loadCommands()
      if (json) io.out(JSON.stringify({ commands: commands.map((c) => ({ name: c.name, summary: c.summary, usage: c.usage })) }))
      else io.out(helpText(commands))
      return 0
    }
    if (name === '--version') { io.out('dagtuf 0.1.0'); return 0 }
    // Two-word commands ("client update") are registered as "client update".
    const subs = groups().get(name)
    let entry: Entry | undefined
    let sub: string[]
    if (subs !== undefined) {
      const word = rest[0]
      if (word === undefined || word.startsWith('-') || isHelp(word)) {
        if (isHelp(word) || rest.includes('--help') || rest.includes('-h')) { io.out(await groupHelp(name, json)); return 0 }
        if (json) throw new UsageError('ERR_USAGE', `dagtuf ${name} needs a subcommand: ${subs.join(', ')}`)
        io.err(await groupHelp(name, false))
        return 2
      }
      entry = COMMAND_TABLE.find(([n]) => n === `${name} ${word}`)
      if (entry === undefined) {
        throw new UsageError('ERR_USAGE', `unknown command ${JSON.stringify(`${name} ${word}`.slice(0, 64))}${didYouMean(word, subs, `${name} `)} (dagtuf ${name} --help lists them)`)
      }
      sub = rest.slice(1)
    } else {
      entry = COMMAND_TABLE.find(([n]) => n === name)
      if (entry === undefined) {
        throw new UsageError('ERR_USAGE', `unknown ${name.startsWith('-') ? 'option' : 'command'} ${JSON.stringify(name.slice(0, 64))}${name.startsWith('--') ? didYouMean(name.slice(2), [...Object.keys(GLOBAL), 'version'], '--') : didYouMean(name, firstWords())} (dagtuf --help lists the commands)`)
      }
      sub = rest
    }
    const command = await entry[1]()
    const parsed = parseArgs(sub, { ...command.options, ...GLOBAL })
    if (parsed.options.help === true) { io.out(commandHelp(command)); return 0 }
    if (command.maxPositionals !== undefined && parsed.positionals.length > command.maxPositionals) {
      throw new UsageError('ERR_USAGE', `unexpected argument ${JSON.stringify(parsed.positionals[command.maxPositionals]!.slice(0, 64))} (dagtuf ${command.usage})`)
    }
    const { result, exitCode = 0, printed = false } = await command.run(parsed, io)
    if (json && !printed) io.out(JSON.stringify(result))
    return exitCode
  } catch (e) {
    return reportError(e, json, io)
  }
}

function reportError (e: unknown, json: boolean, io: Io): number {
  // A full disk is ERR_DISK_FULL (exit 1) whichever layer it surfaced in,
  // wrapped (ERR_TRANSPORT, ERR_STATE_IO...) or not (it was exit 3).
  const full = diskFull(e)
  if (full !== undefined && full !== e) return reportError(full, json, io)
  if (e instanceof DagtufError) {
    if (json) io.out(JSON.stringify({ error: e.toJSON() }))
    else io.err(`dagtuf: ${e.code}: ${e.message}`)
    return e instanceof UsageError ? 2 : 1
  }
  const message = e instanceof Error ? e.message : String(e)
  if (json) io.out(JSON.stringify({ error: { name: 'InternalError', code: 'ERR_INTERNAL', message } }))
  else io.err(`dagtuf: ERR_INTERNAL: ${message}`)
  if (process.env.DAGTUF_DEBUG !== undefined && e instanceof Error) io.err(e.stack ?? '')
  return 3
}
