/**
 * `dagtuf` command-line entry point. Parses the sub-command, runs it, and
 * maps every failure to a stable code and exit status: 0 success, 1 a check
 * failed or an operation was refused, 2 usage error, 3 unexpected internal
 * error (a bug: please report it).
 */
import { parseArgs, type OptionSpec } from './args.js'
import type { Command, Io } from './command.js'
import { demoCommand } from './commands/demo.js'
import { clientGetCommand, clientInitCommand, clientListCommand, clientUpdateCommand } from './commands/client.js'
import { pushCommand } from './commands/push.js'
import { serveCommand } from './commands/serve.js'
import { verifyCommand } from './commands/verify.js'
import { exportCommand, headCommand, initCommand, keygenCommand, logCommand, resetCommand, statusCommand } from './commands/repo.js'
import { draftExportCommand, draftImportCommand, draftShowCommand, draftsCommand, signCommand } from './commands/sign.js'
import { addCommand, delegateCommand, publishCommand, removeCommand, rotateCommand, undelegateCommand } from './commands/targets.js'
import { DagtufError, UsageError } from '../model/errors.js'

export const COMMANDS: readonly Command[] = [
  demoCommand,
  // publisher
  initCommand, addCommand, removeCommand, delegateCommand, undelegateCommand, rotateCommand, publishCommand,
  signCommand, draftsCommand, draftExportCommand, draftImportCommand, draftShowCommand,
  statusCommand, logCommand, headCommand, exportCommand, keygenCommand, resetCommand, pushCommand,
  // client and server
  clientInitCommand, clientUpdateCommand, clientGetCommand, clientListCommand, serveCommand,
  // researchers
  verifyCommand
]

const GLOBAL: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', help: 'print exactly one JSON object on stdout' },
  help: { type: 'boolean', help: 'show this help' }
}

function helpText (): string {
  const lines = [
    'dagtuf — The Update Framework over IPFS/IPLD',
    '',
    'Usage: dagtuf <command> [options]   (dagtuf <command> --help for details)',
    '',
    'Commands:'
  ]
  const w = Math.max(...COMMANDS.map((c) => c.name.length))
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(w)}  ${c.summary}`)
  lines.push('', 'Every command accepts --json to print one JSON object.')
  return lines.join('\n')
}

function commandHelp (c: Command): string {
  const lines = [`Usage: dagtuf ${c.usage}`, '', c.summary, '', 'Options:']
  for (const [name, spec] of Object.entries({ ...c.options, ...GLOBAL })) {
    lines.push(`  --${name}${spec.type === 'boolean' ? '' : spec.type === 'list' ? ' VALUE...' : ' VALUE'}${spec.help !== undefined ? `  ${spec.help}` : ''}`)
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

/** Run the CLI; returns the exit code. Never throws. */
export async function main (argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  const json = argv.includes('--json')
  try {
    // `dagtuf --json [command ...]` is `dagtuf [command ...] --json`.
    const lead = argv[0] === '--json' ? [...argv.slice(1), '--json'] : argv
    const [name, ...rest] = lead
    if (name === undefined || name === '--help' || name === '-h' || name === 'help' || (name === '--json' && rest.length === 0)) {
      if (json) io.out(JSON.stringify({ commands: COMMANDS.map((c) => ({ name: c.name, summary: c.summary, usage: c.usage })) }))
      else io.out(helpText())
      return 0
    }
    if (name === '--version') { io.out('dagtuf 0.1.0'); return 0 }
    // Two-word commands ("client update") are registered as "client update".
    const two = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === `${name} ${rest[0]}`)
    const command = two ?? COMMANDS.find((c) => c.name === name)
    if (command === undefined) throw new UsageError('ERR_USAGE', `unknown command ${JSON.stringify(name.slice(0, 64))} (dagtuf --help lists them)`)
    const sub = two !== undefined ? rest.slice(1) : rest
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
