/**
 * The twin of node-builtins.ts in the client's start-up snapshot
 * (scripts/build-snapshot.mjs swaps it in): the same exports, without the
 * top-level await a CommonJS bundle cannot hold. node:crypto is loaded while
 * the snapshot is built; node:http(s) only when a gateway is first asked
 * (Node cannot put its HTTP modules in a user snapshot), through the
 * built-in-only `require` a snapshot has.
 */
import * as crypto from 'node:crypto'

type NodeCrypto = typeof import('node:crypto')

/** node:crypto (always present in the snapshot). */
export const nodeCrypto: NodeCrypto | undefined = crypto

/** Whether node:http(s) can be loaded here. */
export const hasNodeHttp: boolean = true

export async function loadNodeHttp (): Promise<typeof import('node:http')> {
  return require('node:http') as typeof import('node:http')
}

export async function loadNodeHttps (): Promise<typeof import('node:https')> {
  return require('node:https') as typeof import('node:https')
}
