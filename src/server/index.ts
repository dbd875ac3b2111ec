/** The HTTP service of `dagtuf serve`: the gateway's and the head registry's handlers, and their node:http adapter. */
export { startServer, type ServerOptions, type RunningServer } from './http-server.js'
export {
  gatewayHandler,
  type GatewayHandler, type GatewayHandlerOptions, type GatewayRequest, type GatewayResponse, type GatewayErrorCode
} from './gateway-handlers.js'
export {
  registryHandler, isRegistryRoute, DEFAULT_MAX_BLOCKS, DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_LIMIT,
  type HeadStore, type RateLimit, type RegistryOptions, type RegistryRequest, type RegistryHandler, type RegistryErrorCode
} from './registry-handlers.js'
export { repoHeadStore } from './repo-registry.js'
