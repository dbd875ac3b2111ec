/**
 * `frugalHeap()`: ask V8 to keep this process's heap small (issue 9: a
 * client's peak memory must not depend on how far behind it is).
 *
 * A catch-up over K snapshots holds little at a time (a window of fetched
 * blocks and the steps being checked: about 26 MB live at K = 10,000), but
 * V8 sizes its heap for throughput by default: it grows the young
 * generation to 16 MiB a semi-space when many objects survive a scavenge
 * (they do: hundreds of fetches in flight), and lets the old generation
 * grow well past what is live before collecting it. Peak RSS of a fresh
 * 10,000-step catch-up was 190 MiB for about 26 MB live.
 *
 * Two V8 flags that V8 reads while it runs (not only at start-up, unlike
 * `--max-semi-space-size`): `--semi-space-growth-factor=1` keeps the young
 * generation at its initial size, and `--heap-growing-percent=30` collects
 * the old generation when it has grown by 30 % since the last collection.
 * The cost is more frequent collections (bench:catchup prints both).
 *
 * They apply to the whole process, so the library never sets them by
 * itself: the `dagtuf` CLI calls this for its client commands, the mirror
 * and serve (src/bin.ts); an application that embeds the client may call it
 * once.
 */
import { setFlagsFromString } from 'node:v8'

/** The flags, as given to V8: for a server (serve, mirror). */
export const FRUGAL_HEAP_FLAGS = ['--semi-space-growth-factor=1', '--heap-growing-percent=30'] as const

/**
 * For a client: the same, and `--optimize-for-size`, which keeps the young
 * generation at its smallest and trades some speed for memory elsewhere.
 * A 10,000-step catch-up peaked at 98 MiB with it, 105 without (bench:catchup
 * --process, library runner); a server's throughput matters more than its
 * last megabytes, so serve and the mirror do without.
 */
export const CLIENT_HEAP_FLAGS = [...FRUGAL_HEAP_FLAGS, '--optimize-for-size'] as const

let applied = false

/** Whether frugalHeap() ran in this process. */
export function frugalHeapApplied (): boolean {
  return applied
}

/**
 * Set CLIENT_HEAP_FLAGS (`'client'`, the default) or FRUGAL_HEAP_FLAGS
 * (`'server'`) for this process (once; later calls do nothing).
 */
export function frugalHeap (kind: 'client' | 'server' = 'client'): void {
  if (applied) return
  for (const f of kind === 'client' ? CLIENT_HEAP_FLAGS : FRUGAL_HEAP_FLAGS) setFlagsFromString(f)
  applied = true
}
