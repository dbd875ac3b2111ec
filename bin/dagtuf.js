#!/usr/bin/env node
// Entry point of the `dagtuf` command. The polyfill must load before any
// Helia import, so it is imported first and the CLI is loaded dynamically.
import '../dist/src/polyfill.js'
const { main } = await import('../dist/src/cli/main.js')
process.exitCode = await main(process.argv.slice(2))
