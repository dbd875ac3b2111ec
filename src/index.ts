/**
 * The dagtuf library. The data model is exported flat; each layer above it
 * is a namespace (they share a few names, such as LimitOverrides), with the
 * updater also exported directly for the common client case:
 *
 *   import { Updater, blocks } from 'dagtuf'
 *   const source = new blocks.GatewaySource('https://gateway.example')
 *   const updater = await Updater.create({ dir: 'client', source })
 *
 * Importing this module does not load Helia or libp2p; they load when a node
 * is opened.
 */
export * from './model/index.js'
export * as validate from './validate/index.js'
export * as relations from './relations/index.js'
export * as blocks from './blocks/index.js'
export * as client from './client/index.js'
export * as publish from './publish/engine.js'
export * as server from './server/http-server.js'
export { Updater } from './client/index.js'
