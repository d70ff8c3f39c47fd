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
export { StallGuardAgent, type StallGuardAgentOptions } from './undici/agent'
export { connector, type Connector, type ConnectorOptions } from './undici/connector'
export { interceptors, type DeadlineOptions, type Interceptor, type MinThroughputOptions, type RetryOptions } from './undici/interceptors'
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
