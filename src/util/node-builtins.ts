/**
 * The Node built-ins that modules of the browser bundle use when they run
 * on Node, loaded here and nowhere else: node:crypto (fast SHA-256 and
 * Ed25519) and node:http(s) (the gateway client's default transport).
 *
 * The browser build (scripts/build-browser.mjs) replaces this module with
 * its twin node-builtins.browser.ts, which has the same exports and none of
 * the built-ins; any other `node:` import reachable from src/browser fails
 * that build. Callers therefore treat every export as optional: `nodeCrypto`
 * may be undefined (then @noble/* and WebCrypto do the work) and `hasNodeHttp`
 * false (then the global fetch does).
 */
type NodeCrypto = typeof import('node:crypto')

async function loadCrypto (): Promise<NodeCrypto | undefined> {
  try {
    const c = await import('node:crypto')
    return typeof c.createHash === 'function' && typeof c.verify === 'function' ? c : undefined
  } catch {
    return undefined
  }
}

/** node:crypto, or undefined where it is missing. */
export const nodeCrypto: NodeCrypto | undefined = await loadCrypto()

/** Whether node:http(s) can be loaded here. */
export const hasNodeHttp: boolean = true

export async function loadNodeHttp (): Promise<typeof import('node:http')> {
  return await import('node:http')
}

export async function loadNodeHttps (): Promise<typeof import('node:https')> {
  return await import('node:https')
}
