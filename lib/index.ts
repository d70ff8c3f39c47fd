// stallguard: kernel-level socket timeouts for Node.js HTTP clients.
// The kernel layer reports through hooks; this wires the channels and NODE_DEBUG to them.
import './diagnostics/protected'
export { capabilities, type Capabilities } from './capabilities'
export type { ProcessHooks, Scope } from './global/process-hooks'
export {
  applySocketTimeouts,
  readSocketTimeouts,
  tcpInfo,
  type SocketTimeoutsReading,
  type TcpInfo,
} from './kernel/socket-timeouts'
export { DEFAULT_TCP_TIMEOUTS, type TcpTimeouts } from './kernel/tcp-options'
export {
  AddressDownError,
  DeadlineExceededError,
  KernelTimeoutError,
  StalledStreamError,
  StallGuardError,
  type RequestSnapshot,
  type StallLayer,
  type StreamDirection,
} from './errors'
export { dumpInflightOn, inflight, type InflightRequest, type TcpInfoSummary } from './watch/inflight'
export { AWS_MIN_THROUGHPUT, type MinThroughput, type MinThroughputOption } from './watch/throughput'
export type { StallGuardAgentOptions } from './undici/agent'
export type { Connector, ConnectorOptions } from './undici/connector'
export type { DeadlineOptions, Interceptor, MinThroughputOptions, RetryOptions } from './undici/interceptors'
export type { ResolvedOptions, StallGuardOptions } from './options'
export type { AddressHealthOption, AddressHealthOptions } from './health/options'
export type { DownAddress } from './health/address-book'
export type { AddressDownMessage, AddressUpMessage } from './diagnostics/channels'
export {
  StallGuardHttpAgent,
  StallGuardHttpsAgent,
  type NodeProxyEnvOption,
  type StallGuardAgentExtras,
  type StallGuardHttpAgentOptions,
  type StallGuardHttpsAgentOptions,
  type StallGuardRequestOptions,
} from './http/agents'
export { install, type InstallOptions, type Uninstall } from './global/install'
export { optionsFromEnv } from './global/env'

// undici is a peer dependency: StallGuardAgent, connector and interceptors
// load it on first access, so the node:http side works without it. Declared
// for the compiler; defined below as getters in the one form Node's ESM
// loader reads named exports of a CommonJS module from
// (`Object.defineProperty(module.exports, name, { enumerable: true, get:
// function () { return a.b } })`),
// so `import { StallGuardAgent } from 'stallguard'` keeps working.
import type * as AgentModule from './undici/agent'
import type * as ConnectorModule from './undici/connector'
import type * as InterceptorsModule from './undici/interceptors'
import { lazyUndiciExports } from './undici/lazy-exports'
export declare const StallGuardAgent: typeof AgentModule.StallGuardAgent
export type StallGuardAgent = AgentModule.StallGuardAgent
export declare const connector: typeof ConnectorModule.connector
export declare const interceptors: typeof InterceptorsModule.interceptors
// A plain identifier: the loader reads `return a.b`, not `return a.b.c`.
const lazy = lazyUndiciExports
Object.defineProperty(module.exports, 'StallGuardAgent', { enumerable: true, get: function () { return lazy.StallGuardAgent } })
Object.defineProperty(module.exports, 'connector', { enumerable: true, get: function () { return lazy.connector } })
Object.defineProperty(module.exports, 'interceptors', { enumerable: true, get: function () { return lazy.interceptors } })
