#!/usr/bin/env node
// Entry point of the `dagtuf` command: the bundle scripts/build-cli.mjs makes
// of src/bin.ts (the Helia polyfill first, then the CLI; `npm run build`).
// A closed pipe (`dagtuf ... | head`) is not an error of ours.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e })
const { main, prepareProcess } = await import('../dist/cli/dagtuf.js')
const argv = process.argv.slice(2)
prepareProcess(argv)
process.exitCode = await main(argv)
