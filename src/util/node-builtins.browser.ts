/**
 * The browser twin of node-builtins.ts (see there): the same exports, no
 * Node built-in. The browser build substitutes it; `satisfies` below makes
 * the type checker hold the two to the same shape.
 */
import type * as Node from './node-builtins.js'

export const nodeCrypto: typeof Node.nodeCrypto = undefined

export const hasNodeHttp: typeof Node.hasNodeHttp = false

export const loadNodeHttp: typeof Node.loadNodeHttp = async () => {
  throw new Error('node:http is not available in a browser')
}

export const loadNodeHttps: typeof Node.loadNodeHttps = async () => {
  throw new Error('node:https is not available in a browser')
}
