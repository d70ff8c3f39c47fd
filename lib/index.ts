// stallguard: kernel-level socket timeouts for Node.js HTTP clients.
export {
  applySocketTimeouts,
  capabilities,
  readSocketTimeouts,
  tcpInfo,
  type Capabilities,
  type SocketTimeoutsReading,
  type TcpInfo,
} from './socket-timeouts'
export { DEFAULT_TCP_TIMEOUTS, type TcpTimeouts } from './tcp-options'
export {
  DeadlineExceededError,
  KernelTimeoutError,
  StallGuardError,
  type StallLayer,
} from './errors'
export { StallGuardAgent, type StallGuardAgentOptions } from './dispatcher'
export {
  StallGuardHttpAgent,
  StallGuardHttpsAgent,
  type StallGuardAgentExtras,
  type StallGuardHttpAgentOptions,
  type StallGuardHttpsAgentOptions,
  type StallGuardRequestOptions,
} from './http-agent'
export { install, type InstallOptions, type Uninstall } from './install'
export { optionsFromEnv } from './env'
