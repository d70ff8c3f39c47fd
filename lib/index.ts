// stallguard: kernel-level socket timeouts for Node.js HTTP clients.
export {
  applySocketTimeouts,
  capabilities,
  readSocketTimeouts,
  tcpInfo,
  type Capabilities,
  type SocketTimeoutsReading,
  type TcpInfo,
} from './kernel/socket-timeouts'
export { DEFAULT_TCP_TIMEOUTS, type TcpTimeouts } from './kernel/tcp-options'
export {
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
// undici is a peer dependency: these three load it on first access (lazy-exports.ts).
export { connector, interceptors, StallGuardAgent } from './undici/lazy-exports'
export type { StallGuardAgentOptions } from './undici/agent'
export type { Connector, ConnectorOptions } from './undici/connector'
export type { DeadlineOptions, Interceptor, MinThroughputOptions, RetryOptions } from './undici/interceptors'
export type { ResolvedOptions, StallGuardOptions } from './options'
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
