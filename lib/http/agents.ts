// node:http and node:https agents whose every socket carries stallguard's
// kernel timeouts, with an optional deadline per request. They drop in
// wherever an http.Agent goes: http.request, the AWS SDK's NodeHttpHandler,
// got, axios.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { HTTP_AGENT_KEYS, requestDeadline, requestMinThroughput, splitOptions, type StallGuardOptions } from '../options'
import { forwardSocketErrors, watchRequest } from './request-guard'
import { applyResolvedTimeouts } from '../kernel/socket-timeouts'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'
import { listInflight, type InflightRequest } from '../watch/inflight'
import type { MinThroughput, MinThroughputOption } from '../watch/throughput'

/** What both agents add to Node's agent options: `tcp`, `deadline`, `minThroughput` (see StallGuardOptions). */
export interface StallGuardAgentExtras extends Pick<StallGuardOptions, 'tcp' | 'deadline' | 'minThroughput'> {}

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
  // Our options, checked and resolved in one place (lib/options.ts).
  const { resolved: { tcp: resolved, deadline, minThroughput }, rest } = splitOptions<T>(options, HTTP_AGENT_KEYS, 'an object of agent options')
  const agentOptions = { ...rest, keepAlive: rest.keepAlive ?? true } as T
  // Node writes keepAliveMsecs as the keepalive idle time at connect and each
  // time a socket returns to the pool. We rewrite it right after, but where
  // the native layer is missing Node's value is the one that stays: keep
  // the two equal unless the caller chose otherwise.
  if (rest.keepAliveMsecs === undefined && resolved && resolved.keepAliveIdleSeconds > 0) {
    agentOptions.keepAliveMsecs = resolved.keepAliveIdleSeconds * 1000
  }
  return { guard: { tcp: resolved, deadline, minThroughput }, agentOptions }
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
  const deadline = requestDeadline(own.deadline, guard.deadline, 'options.deadline')
  const floor = requestMinThroughput(own.minThroughput, guard.minThroughput, 'options.minThroughput')
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
