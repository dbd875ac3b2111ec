#!/usr/bin/env node
// Entry point of the `dagtuf` command. The polyfill must load before any
// Helia import, so it is imported first and the CLI is loaded dynamically.
import '../dist/src/polyfill.js'
// A closed pipe (`dagtuf ... | head`) is not an error of ours.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e })
const { main } = await import('../dist/src/cli/main.js')
process.exitCode = await main(process.argv.slice(2))
