// Uses every export of the published package, as a strict consumer would.
// Compiled by .ci/types-consumer.sh against the packed tarball with
// skipLibCheck off, per @types/node major and TypeScript version, as ESM and CJS.
import http from 'node:http'
import net from 'node:net'
import {
  applySocketTimeouts, AWS_MIN_THROUGHPUT, capabilities, connector, DEFAULT_TCP_TIMEOUTS, DeadlineExceededError,
  dumpInflightOn, inflight, install, interceptors, KernelTimeoutError, optionsFromEnv, readSocketTimeouts,
  StalledStreamError, StallGuardAgent, StallGuardError, StallGuardHttpAgent, StallGuardHttpsAgent, tcpInfo,
  type Capabilities, type Connector, type ConnectorOptions, type DeadlineOptions, type InflightRequest,
  type InstallOptions, type Interceptor, type MinThroughput, type MinThroughputOption, type MinThroughputOptions,
  type NodeProxyEnvOption, type RequestSnapshot, type ResolvedOptions, type RetryOptions, type SocketTimeoutsReading,
  type StallGuardAgentExtras, type StallGuardAgentOptions, type StallGuardHttpAgentOptions,
  type StallGuardHttpsAgentOptions, type StallGuardOptions, type StallGuardRequestOptions, type StallLayer,
  type StreamDirection, type TcpInfo, type TcpInfoSummary, type TcpTimeouts, type Uninstall,
} from 'stallguard'

const tcp: TcpTimeouts = { ...DEFAULT_TCP_TIMEOUTS, userTimeout: 5000 }
const floor: MinThroughput = { ...AWS_MIN_THROUGHPUT }
const floorOption: MinThroughputOption = true
const options: StallGuardOptions = { tcp, deadline: 1000, retry: 1, minThroughput: floorOption }
const agentOptions: StallGuardAgentOptions = { ...options, connections: 4 }
const agent = new StallGuardAgent(agentOptions)
const extras: StallGuardAgentExtras = { tcp, deadline: 1000, minThroughput: floor }
const proxy: NodeProxyEnvOption = { proxyEnv: process.env }
const httpOptions: StallGuardHttpAgentOptions = { ...extras, ...proxy, keepAlive: true, proxyEnv: { HTTP_PROXY: 'http://127.0.0.1:3128' } }
const httpsOptions: StallGuardHttpsAgentOptions = { ...extras, rejectUnauthorized: true }
const httpAgent = new StallGuardHttpAgent(httpOptions)
const httpsAgent = new StallGuardHttpsAgent(httpsOptions)
const requestOptions: StallGuardRequestOptions = { agent: httpAgent, deadline: 500, minThroughput: false }
http.get('http://127.0.0.1:1/', { agent: httpAgent, deadline: 500 }).on('error', () => {})
const caps: Capabilities = capabilities()
const connectorOptions: ConnectorOptions = { tcp }
const connect: Connector = connector(connectorOptions)
const deadlineOptions: DeadlineOptions = { deadline: 100 }
const throughputOptions: MinThroughputOptions = { minThroughput: floor }
const retryOptions: RetryOptions = { retry: 2 }
const chain: Interceptor[] = [
  interceptors.deadline(deadlineOptions), interceptors.minThroughput(throughputOptions), interceptors.retry(retryOptions),
]
const composed = agent.compose(...chain)
const resolved: ResolvedOptions | undefined = undefined
const socket = new net.Socket()
applySocketTimeouts(socket, tcp)
const reading: SocketTimeoutsReading = readSocketTimeouts(socket)
const info: TcpInfo | undefined = tcpInfo(socket)
const list: InflightRequest[] = [...inflight(), ...agent.inflight(), ...httpAgent.inflight()]
const summary: TcpInfoSummary | undefined = list[0]?.tcpInfo
const sent: number | undefined = list[0]?.bytesSent
dumpInflightOn('SIGUSR2')
const installOptions: InstallOptions = { ...optionsFromEnv({}), deadline: 1000 }
const uninstall: Uninstall = install(installOptions)
const snapshot: RequestSnapshot | undefined = undefined
function classify(err: unknown): StallLayer | StreamDirection | undefined {
  if (err instanceof KernelTimeoutError) return err.layer
  if (err instanceof DeadlineExceededError) return err.phase === undefined ? undefined : err.layer
  if (err instanceof StalledStreamError) return err.direction
  if (err instanceof StallGuardError) return err.code === 'ETIMEDOUT' ? err.layer : undefined
  return undefined
}
void [snapshot, requestOptions, caps, connect, composed, resolved, reading, info, summary, sent, uninstall, classify, httpsAgent]
