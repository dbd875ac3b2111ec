/**
 * What `bin/dagtuf.js` loads: the Promise.withResolvers polyfill first (before
 * any Helia import), then the CLI. scripts/build-cli.mjs bundles this file
 * into dist/cli/ (see there for why); tsc builds it into dist/src/ too. It
 * sits at the top of src/ (a front module, test/spec/layers.test.ts) because
 * it loads the polyfill.
 */
import './polyfill.js'
import { frugalHeap } from './client/heap.js'
export { main } from './cli/main.js'
export { frugalHeapApplied } from './client/heap.js'

/**
 * Process-wide settings of the `dagtuf` process before a command runs: the
 * client commands and the mirror keep V8's heap small (src/client/heap.ts),
 * so that a long catch-up's peak memory does not grow with its length. Not
 * done in `main`, which tests also run inside their own processes.
 */
export function prepareProcess (argv: readonly string[]): void {
  const first = argv[0] === '--json' ? argv[1] : argv[0]
  if (first === 'client' || first === 'mirror') frugalHeap()
}
