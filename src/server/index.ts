/** The HTTP service of `dagtuf serve`: the gateway's handlers and their node:http adapter. */
export { startServer, type ServerOptions, type RunningServer } from './http-server.js'
export {
  gatewayHandler,
  type GatewayHandler, type GatewayHandlerOptions, type GatewayRequest, type GatewayResponse, type GatewayErrorCode
} from './gateway-handlers.js'
