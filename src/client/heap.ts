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

/** The flags, as given to V8. */
export const FRUGAL_HEAP_FLAGS = ['--semi-space-growth-factor=1', '--heap-growing-percent=30'] as const

let applied = false

/** Whether frugalHeap() ran in this process. */
export function frugalHeapApplied (): boolean {
  return applied
}

/** Set FRUGAL_HEAP_FLAGS for this process (once; later calls do nothing). */
export function frugalHeap (): void {
  if (applied) return
  for (const f of FRUGAL_HEAP_FLAGS) setFlagsFromString(f)
  applied = true
}
