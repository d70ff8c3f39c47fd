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
  StallGuardError,
  type StallLayer,
} from './errors'
export { StallGuardAgent, type StallGuardAgentOptions } from './undici/agent'
export { connector, type Connector, type ConnectorOptions } from './undici/connector'
export { interceptors, type DeadlineOptions, type Interceptor, type RetryOptions } from './undici/interceptors'
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
