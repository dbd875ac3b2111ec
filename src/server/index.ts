/** The HTTP service of `dagtuf serve`: the gateway's and the head registry's handlers, and their node:http adapter. */
export { startServer, type ServerOptions, type RunningServer } from './http-server.js'
export {
  gatewayHandler,
  type GatewayHandler, type GatewayHandlerOptions, type GatewayRequest, type GatewayResponse, type GatewayErrorCode
} from './gateway-handlers.js'
export {
  registryHandler,
  type HeadStore, type RateLimit, type RegistryOptions, type RegistryRequest, type RegistryHandler, type RegistryErrorCode
} from './registry-handlers.js'
export { repoHeadStore } from './repo-registry.js'
