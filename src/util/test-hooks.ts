/**
 * Test hooks: the one place where production code reads test-only
 * environment variables, read once when this module loads. Both let a test
 * that runs dagtuf as a child process stop or slow it at named points, to
 * land a SIGKILL there. Unset (always, outside tests), every hook returns at
 * once and does nothing.
 *
 *   DAGTUF_TEST_PAUSE_AT=<point>  `pausePoint(<point>)` announces itself on
 *                                 stderr (`dagtuf: paused at <point>`) and
 *                                 waits forever (until killed); other points
 *                                 pass (test/cli/publish-kill.test.ts)
 *   DAGTUF_TEST_SLOW_MS=<n>       each `slowPoint()` announces itself on
 *                                 stderr (`dagtuf-test: slow point`) and
 *                                 pauses n ms (test/e2e/crash.test.ts)
 */
const env: Readonly<Record<string, string | undefined>> = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {}

/** The point `pausePoint` stops at, or undefined. */
const PAUSE_AT: string | undefined = env.DAGTUF_TEST_PAUSE_AT

/** The pause of `slowPoint` in ms, or undefined. */
const SLOW_MS: number | undefined = /^\d{1,6}$/.test(env.DAGTUF_TEST_SLOW_MS ?? '') ? Number(env.DAGTUF_TEST_SLOW_MS) : undefined

function announce (line: string): void {
  (globalThis as { process?: { stderr?: { write: (s: string) => unknown } } }).process?.stderr?.write(line)
}

/** Wait forever here when DAGTUF_TEST_PAUSE_AT names `point`. */
export async function pausePoint (point: string): Promise<void> {
  if (PAUSE_AT === undefined || PAUSE_AT !== point) return
  announce(`dagtuf: paused at ${point}\n`)
  await new Promise(() => { setInterval(() => {}, 1 << 30) })
}

/** Pause DAGTUF_TEST_SLOW_MS ms here, when it is set. */
export async function slowPoint (): Promise<void> {
  if (SLOW_MS === undefined) return
  announce('dagtuf-test: slow point\n')
  await new Promise((resolve) => setTimeout(resolve, SLOW_MS))
}
