// node:http and node:https agents whose every socket carries stallguard's
// kernel timeouts, with an optional deadline per request. They drop in
// wherever an http.Agent goes: http.request, the AWS SDK's NodeHttpHandler,
// got, axios.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { resolveDeadline } from '../deadline'
import { forwardSocketErrors, watchRequest } from './request-guard'
import { applyResolvedTimeouts } from '../kernel/socket-timeouts'
import { resolveTcpTimeouts, type ResolvedTcpTimeouts, type TcpTimeouts } from '../kernel/tcp-options'
import { invalidType } from '../validate'
import { listInflight, type InflightRequest } from '../watch/inflight'
import { resolveMinThroughput, type MinThroughput, type MinThroughputOption } from '../watch/throughput'

/** What both agents add to Node's agent options. */
export interface StallGuardAgentExtras {
  /**
   * Kernel timeouts for every socket the agent opens (ms; missing keys take
   * `DEFAULT_TCP_TIMEOUTS`). `false` leaves sockets at the system defaults.
   */
  tcp?: TcpTimeouts | false
  /**
   * Total budget per request in ms, from `http.request()` to the end of the
   * response body (queueing, connect, upload, response). 0 or absent: none.
   * A request's own `deadline` option overrides it.
   */
  deadline?: number
  /**
   * Smallest average body rate (upload and download), off by default:
   * `{ bytesPerSecond, grace }`, `true` = 1 byte/s over 20 s. A request's
   * own `minThroughput` overrides it.
   */
  minThroughput?: MinThroughputOption
}

export interface StallGuardHttpAgentOptions extends http.AgentOptions, StallGuardAgentExtras {}
export interface StallGuardHttpsAgentOptions extends https.AgentOptions, StallGuardAgentExtras {}

/** Request options with the per-request `deadline` (ms, 0 = none) the agents read. */
export interface StallGuardRequestOptions extends https.RequestOptions {
  deadline?: number
  minThroughput?: MinThroughputOption
}

interface Guard {
  tcp: ResolvedTcpTimeouts | undefined
  deadline: number
  minThroughput: MinThroughput | undefined
}

type ConnectionCallback = (err: Error | null, stream: Duplex) => void
type AddRequest = (this: http.Agent, req: http.ClientRequest, options: unknown, ...legacy: unknown[]) => void

function configure<T extends http.AgentOptions>(
  options: (T & StallGuardAgentExtras) | undefined,
): { guard: Guard; agentOptions: T } {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalidType('options', options, 'an object of agent options')
  }
  const { tcp, deadline, minThroughput, ...rest } = options ?? ({} as T & StallGuardAgentExtras)
  // Same wording as StallGuardAgent: both front doors take the same `tcp`.
  if (tcp !== false && tcp !== undefined && (tcp === null || typeof tcp !== 'object')) {
    throw invalidType('tcp', tcp, 'an object of TCP timeouts or false')
  }
  const resolved = tcp === false ? undefined : resolveTcpTimeouts(tcp, 'tcp')
  const agentOptions = { ...rest, keepAlive: rest.keepAlive ?? true } as unknown as T
  // Node writes keepAliveMsecs as the keepalive idle time at connect and each
  // time a socket returns to the pool. We rewrite it right after, but where
  // the native layer is missing Node's value is the one that stays: keep
  // the two equal unless the caller chose otherwise.
  if (rest.keepAliveMsecs === undefined && resolved && resolved.keepAliveIdleSeconds > 0) {
    agentOptions.keepAliveMsecs = resolved.keepAliveIdleSeconds * 1000
  }
  const guard = {
    tcp: resolved,
    deadline: resolveDeadline(deadline, 'deadline'),
    minThroughput: resolveMinThroughput(minThroughput, 'minThroughput'),
  }
  return { guard, agentOptions }
}

/** Put the kernel options on a new socket; on failure destroy it and return why. */
function protect(stream: Duplex, tcp: ResolvedTcpTimeouts): Error | undefined {
  // A stream that is not a socket (a tunnel, a test double) has no kernel
  // options to set: leave it alone, as StallGuardAgent's connector does.
  if (!(stream instanceof net.Socket)) return undefined
  try {
    applyResolvedTimeouts(stream, tcp)
    return undefined
  } catch (err) {
    stream.destroy()
    return err as Error
  }
}

function createGuarded(
  guard: Guard,
  options: http.ClientRequestArgs,
  cb: ConnectionCallback | undefined,
  create: (options: http.ClientRequestArgs, cb?: ConnectionCallback) => Duplex | null | undefined,
): Duplex | null | undefined {
  const tcp = guard.tcp
  // A subclass may hand its socket over through the callback instead of
  // returning it. (net.createConnection registers the callback as a 'connect'
  // listener and calls it without arguments: that passes straight through.)
  const callback: ConnectionCallback | undefined = cb && ((err, stream) => {
    const failure = !err && stream ? setUp(stream, tcp) : undefined
    if (failure) cb(failure, stream)
    else cb(err, stream)
  })
  const socket = create(options, callback)
  if (!socket) return socket
  const failure = setUp(socket, tcp)
  if (failure === undefined) return socket
  // http.Agent hands a callback error to the request ('error' on it); without
  // a callback there is nobody to tell but the caller.
  if (!cb) throw failure
  cb(failure, socket)
  return undefined
}

/** Everything a new stream gets once: error forwarding, and the kernel options unless `tcp: false`. */
function setUp(stream: Duplex, tcp: ResolvedTcpTimeouts | undefined): Error | undefined {
  forwardSocketErrors(stream)
  return tcp === undefined ? undefined : protect(stream, tcp)
}

function addGuarded(
  agent: http.Agent,
  base: AddRequest,
  guard: Guard,
  args: IArguments,
): void {
  const req = args[0] as http.ClientRequest
  const options: unknown = args[1]
  const own = options !== null && typeof options === 'object'
    ? (options as { deadline?: unknown; minThroughput?: unknown; port?: unknown })
    : {}
  // Validate before the agent opens anything for this request; the error
  // surfaces from http.request() like Node's own option errors.
  const deadline = own.deadline === undefined ? guard.deadline : resolveDeadline(own.deadline, 'options.deadline')
  const floor = own.minThroughput === undefined
    ? guard.minThroughput
    : resolveMinThroughput(own.minThroughput, 'options.minThroughput')
  const port = Number(own.port) || (agent as unknown as { defaultPort: number }).defaultPort
  // Listed in flight from the moment the agent accepts it (queued included).
  watchRequest(req, { method: req.method, origin: `${req.protocol}//${req.host}`, port, path: req.path }, { deadline, floor, owner: agent })
  // Node passes (req, options); arguments also carries the pre-0.11
  // (req, host, port, localAddress) form through untouched.
  base.apply(agent, args as unknown as Parameters<AddRequest>)
}

const httpAddRequest = (http.Agent.prototype as unknown as { addRequest: AddRequest }).addRequest
const httpsAddRequest = (https.Agent.prototype as unknown as { addRequest: AddRequest }).addRequest

/**
 * An `http.Agent` (keep-alive on by default) whose sockets carry kernel
 * timeouts, so a silently dead peer fails in seconds; plus an optional
 * per-request `deadline`.
 */
export class StallGuardHttpAgent extends http.Agent {
  readonly #guard: Guard

  constructor(options?: StallGuardHttpAgentOptions) {
    const { guard, agentOptions } = configure<http.AgentOptions>(options)
    super(agentOptions)
    this.#guard = guard
  }

  override createConnection(options: http.ClientRequestArgs, cb?: ConnectionCallback): Duplex | null | undefined {
    return createGuarded(this.#guard, options, cb, (o, c) => super.createConnection(o, c))
  }

  /** Node's pool entry point for every request (not in @types/node). */
  addRequest(_req: http.ClientRequest, _options: StallGuardRequestOptions): void {
    addGuarded(this, httpAddRequest, this.#guard, arguments)
  }

  /** This agent's open requests: phase, age, bytes, the socket's TCP_INFO summary (redacted). */
  inflight(): InflightRequest[] {
    return listInflight(this)
  }
}

/** The https counterpart of {@link StallGuardHttpAgent}; TLS sessions are cached as usual. */
export class StallGuardHttpsAgent extends https.Agent {
  readonly #guard: Guard

  constructor(options?: StallGuardHttpsAgentOptions) {
    const { guard, agentOptions } = configure<https.AgentOptions>(options)
    super(agentOptions)
    this.#guard = guard
  }

  override createConnection(options: https.RequestOptions, cb?: ConnectionCallback): Duplex | null | undefined {
    return createGuarded(this.#guard, options, cb, (o, c) => super.createConnection(o, c))
  }

  addRequest(_req: http.ClientRequest, _options: StallGuardRequestOptions): void {
    addGuarded(this, httpsAddRequest, this.#guard, arguments)
  }

  /** This agent's open requests: phase, age, bytes, the socket's TCP_INFO summary (redacted). */
  inflight(): InflightRequest[] {
    return listInflight(this)
  }
}
