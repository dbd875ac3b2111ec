/**
 * What `bin/dagtuf.js` loads: the Promise.withResolvers polyfill first (before
 * any Helia import), then the CLI. scripts/build-cli.mjs bundles this file
 * into dist/cli/ (see there for why); tsc builds it into dist/src/cli/ too.
 */
import '../polyfill.js'
export { main } from './main.js'
