/**
 * The shape of a `dagtuf` sub-command. Each command lives in its own module
 * under src/cli/commands/ and is listed once in src/cli/main.ts (COMMAND_TABLE,
 * which loads a command's module only when that command runs).
 *
 * Output contract: with `--json` a command prints exactly one JSON object on
 * stdout (its result, or `{ "error": { code, name, message, ... } }`);
 * without it, human-readable lines. Diagnostics and progress go to stderr.
 */
import type { OptionSpec, Parsed } from './args.js'

export interface Io {
  out (line: string): void
  err (line: string): void
  /** True when stderr is an interactive terminal (progress bars). */
  readonly tty: boolean
}

export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  readonly options: Readonly<Record<string, OptionSpec>>
  /**
   * When set, more positional arguments than this are a usage error (checked
   * by main before `run`), instead of being silently ignored.
   */
  readonly maxPositionals?: number
  /**
   * Returns the JSON result (printed with --json) and the exit code. A
   * long-running command that printed its one JSON object itself, when it
   * became ready (serve), returns `printed: true` so nothing more is printed.
   */
  run (args: Parsed, io: Io): Promise<{ result: Record<string, unknown>, exitCode?: number, printed?: boolean }>
}
