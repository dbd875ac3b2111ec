/**
 * Which invocations the client's start-up snapshot may run
 * (scripts/build-snapshot.mjs, src/client-snapshot.ts, bin/dagtuf).
 *
 * The snapshot holds the client commands with every dependency they need
 * bundled in, already compiled: a V8 heap serialised at build time, so a
 * cold `dagtuf client get` skips Node's module loader and most of V8's
 * lazy compilation. Code that needs Helia or libp2p (`--peer`, `--ipns`
 * records, a repository folder as the source with `--repo`) is not in it: a
 * snapshot cannot load packages at run time (Node 20 has no `import()` in a
 * deserialised main). Those invocations, and every command but the four
 * client subcommands, run the ordinary CLI (bin/dagtuf.js) instead.
 *
 * The answer is conservative: an argument that only looks like one of those
 * options (a value starting with `--peer`, say) sends the command to the
 * ordinary CLI, which is slower and always correct.
 */

/** The client subcommands the snapshot holds. */
export const SNAPSHOT_SUBCOMMANDS: readonly string[] = ['init', 'update', 'get', 'list']

/** Options whose code needs packages the snapshot does not hold. */
export const FULL_RUNTIME_OPTIONS: readonly string[] = ['--peer', '--ipns', '--repo']

/** Whether the client snapshot can run `dagtuf ARGV` (ARGV without `dagtuf`). */
export function snapshotCanRun (argv: readonly string[]): boolean {
  const rest = argv[0] === '--json' ? argv.slice(1) : argv
  if (rest[0] !== 'client' || rest[1] === undefined || !SNAPSHOT_SUBCOMMANDS.includes(rest[1])) return false
  for (const a of rest) {
    if (FULL_RUNTIME_OPTIONS.some((o) => a === o || a.startsWith(o + '='))) return false
  }
  return true
}
