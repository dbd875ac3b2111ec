/**
 * What `bin/dagtuf.js` loads: the Promise.withResolvers polyfill first (before
 * any Helia import), then the CLI. scripts/build-cli.mjs bundles this file
 * into dist/cli/ (see there for why); tsc builds it into dist/src/ too. It
 * sits at the top of src/ (a front module, test/spec/layers.test.ts) because
 * it loads the polyfill.
 */
import './polyfill.js'
import { frugalHeap } from './client/heap.js'
import { clientWantsFrugalHeap } from './cli/heap-policy.js'
export { main } from './cli/main.js'
export { frugalHeapApplied } from './client/heap.js'

/**
 * Process-wide settings of the `dagtuf` process before a command runs: the
 * client commands, the mirror and `serve` keep V8's heap small
 * (src/client/heap.ts): a long catch-up's peak memory then does not grow
 * with its length (except where a client command walks no snapshot chain:
 * src/cli/heap-policy.ts), and a server's stays within issue 16's 300 MB under load
 * (bench:serve peaked at 322 MB without, 223 MB with, throughput goals
 * still met: bench/results/serve-2026-11-30-0649.md and -0653.md). Not done
 * in `main`, which tests also run inside their own processes.
 */
export function prepareProcess (argv: readonly string[]): void {
  const first = argv[0] === '--json' ? argv[1] : argv[0]
  if (first === 'client') {
    if (clientWantsFrugalHeap(argv)) frugalHeap('client')
  } else if (first === 'mirror' || first === 'serve') frugalHeap('server')
}
