// node:http and node:https agents whose every socket carries stallguard's
// kernel timeouts, with an optional deadline per request. They drop in
// wherever an http.Agent goes: http.request, the AWS SDK's NodeHttpHandler,
// got, axios.
// The kernel layer reports through hooks; this wires the channels and NODE_DEBUG to them.
import '../diagnostics/protected'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { HTTP_AGENT_KEYS, requestDeadline, requestMinThroughput, splitOptions, type StallGuardOptions } from '../options'
import { forwardSocketErrors, watchRequest, type RequestWatch } from './request-guard'
import { applyResolvedTimeouts, capabilities } from '../kernel/socket-timeouts'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'
import { listInflight, type InflightRequest } from '../watch/inflight'
import type { MinThroughput, MinThroughputOption } from '../watch/throughput'
import { AddressBook, type DownAddress } from '../health/address-book'
import { healthLookup } from '../health/lookup'
import { trackSocket } from '../health/track'

/** What both agents add to Node's agent options: `tcp`, `deadline`, `minThroughput`, `addressHealth` (see StallGuardOptions). */
export interface StallGuardAgentExtras extends Pick<StallGuardOptions, 'tcp' | 'deadline' | 'minThroughput' | 'addressHealth'> {}

/** Node's own agent option, kept by our agents (in @types/node from 24 on; declared here for older typings). */
export interface NodeProxyEnvOption {
  /**
   * Node >= 24.5: route requests through the proxy that `HTTP_PROXY`,
   * `HTTPS_PROXY` and `NO_PROXY` in this object name (e.g. `process.env`),
   * as Node's global agents do under `NODE_USE_ENV_PROXY=1`. The socket to
   * the proxy carries the kernel timeouts. Older Node versions ignore it.
   */
  proxyEnv?: NodeJS.ProcessEnv | Record<string, string | undefined> | undefined
}

/**
 * Node's agent options with `proxyEnv` added only where the installed
 * @types/node lacks it: @types/node 24+ declares it with its own type, and an
 * interface that extends both declarations fails to compile for consumers
 * with `skipLibCheck` off.
 */
type WithProxyEnv<T> = 'proxyEnv' extends keyof T ? T : T & NodeProxyEnvOption

export type StallGuardHttpAgentOptions = WithProxyEnv<http.AgentOptions> & StallGuardAgentExtras
export type StallGuardHttpsAgentOptions = WithProxyEnv<https.AgentOptions> & StallGuardAgentExtras

declare module 'http' {
  interface RequestOptions {
    /**
     * stallguard: total budget for this request in ms (0 = none), from
     * `http.request()` to the end of the response body. Read by
     * StallGuardHttpAgent/StallGuardHttpsAgent (also as the global agents
     * after install()); other agents ignore it. https.RequestOptions extends
     * this interface, so `https.request(url, { agent, deadline })` and
     * `http.get(…)` typecheck too.
     */
    deadline?: number | undefined
  }
}

/** Request options with the per-request `deadline` (ms, 0 = none) the agents read. */
export interface StallGuardRequestOptions extends https.RequestOptions {
  deadline?: number
  minThroughput?: MinThroughputOption
}

interface Guard {
  tcp: ResolvedTcpTimeouts | undefined
  deadline: number
  minThroughput: MinThroughput | undefined
  /** Our kernel layer writes keepalive itself: Node's connect-time keepalive would only be overwritten. */
  ownsKeepAlive: boolean
  /** The agent's address book; undefined = address health off. */
  health: AddressBook | undefined
  /** The agent's own watch, shared by every request without a deadline/minThroughput option (made on first use: it names the agent). */
  shared: RequestWatch | undefined
}

type ConnectionCallback = (err: Error | null, stream: Duplex) => void
type AddRequest = (this: http.Agent, req: http.ClientRequest, options: unknown, ...legacy: unknown[]) => void

function configure<T extends http.AgentOptions>(
  options: (T & StallGuardAgentExtras) | undefined,
): { guard: Guard; agentOptions: T; keepAliveMsecs: number | undefined } {
  // Our options, checked and resolved in one place (lib/options.ts).
  const { resolved: { tcp: resolved, deadline, minThroughput, addressHealth }, rest } = splitOptions<T>(options, HTTP_AGENT_KEYS, 'an object of agent options', "Node's http.Agent")
  const agentOptions = { ...rest, keepAlive: rest.keepAlive ?? true } as T
  // Node writes keepAliveMsecs as the keepalive idle time at connect and each
  // time a socket returns to the pool. We rewrite it right after, but where
  // the native layer is missing Node's value is the one that stays: keep
  // the two equal unless the caller chose otherwise. Set on the agent after
  // construction (where Node reads it), not in its options: node:http
  // copies the agent's options into every request's options (a
  // dictionary-mode object, key by key), so a key there costs every request.
  const keepAliveMsecs = rest.keepAliveMsecs === undefined && resolved && resolved.keepAliveIdleSeconds > 0
    ? resolved.keepAliveIdleSeconds * 1000
    : undefined
  const ownsKeepAlive = resolved !== undefined && resolved.keepAlive && capabilities().native
  const health = addressHealth === undefined ? undefined : new AddressBook(addressHealth)
  return { guard: { tcp: resolved, deadline, minThroughput, ownsKeepAlive, health, shared: undefined }, agentOptions, keepAliveMsecs }
}

/** Node's agent field behind `keepAliveMsecs` (read by its pool, not in @types/node). */
type KeepAliveField = { keepAliveMsecs: number }

/**
 * Options for one new connection with `changes` made. node:http's
 * createSocket builds a fresh null-prototype object for each socket and
 * afterwards reads only the fields that name the pool from it: that object
 * is changed in place. Copying it costs ~5 µs (V8 makes null-prototype
 * literals dictionary-mode objects, ~20 fields), which was a fifth of the
 * client instructions stallguard added to a new connection (callgrind,
 * bench/instructions.ts --path=/close). Any other object (a caller of
 * createConnection's own) is copied, never changed.
 */
function withChanges<T extends object>(options: T, changes: object): T {
  if (Object.getPrototypeOf(options) === null) return Object.assign(options, changes)
  return { ...options, ...changes } as T
}

/**
 * Node's http.Agent passes `keepAlive`/`keepAliveInitialDelay` to every new
 * socket, so Node writes SO_KEEPALIVE and the idle time (and libuv resets
 * TCP_KEEPINTVL=1, TCP_KEEPCNT=10) when the connect completes — just before
 * we write all of ours. Where our kernel layer writes keepalive itself, the
 * socket is created without Node's (`keepAlive: false` is what net.Socket
 * and tls.connect read as "off", like an absent value).
 */
function connectOptions<T extends http.ClientRequestArgs>(guard: Guard, options: T): T {
  if (!guard.ownsKeepAlive || !(options as { keepAlive?: unknown }).keepAlive) return options
  return withChanges(options, { keepAlive: false })
}

/** Node's margin before a server's announced keep-alive timeout, where the agent has no `agentKeepAliveTimeoutBuffer` (Node < 24). */
const KEEP_ALIVE_HINT_MARGIN_MS = 1000

type PooledSocket = net.Socket & { _httpMessage?: { res?: http.IncomingMessage } | null; timeout?: number }
type AgentFields = { options: { timeout?: number }; agentKeepAliveTimeoutBuffer?: number }

/**
 * Node's pool hook, `keepSocketAlive`, does three things when a socket goes
 * back to the pool: `socket.setKeepAlive(true, keepAliveMsecs)`, `unref()`,
 * and the idle-socket timeout (the agent's `timeout`, shortened to the
 * server's `Keep-Alive: timeout=N` hint minus a margin; a hint too short to
 * reuse the socket safely destroys it). The first would make libuv reset
 * TCP_KEEPINTVL=1 and TCP_KEEPCNT=10 under our values, so where our kernel
 * layer owns keepalive the hook does only the other two — no socket is
 * patched and no syscall repeats on reuse. test/http-agent-pool.ts checks
 * both halves against Node's own agent.
 */
function keepGuarded(agent: http.Agent, guard: Guard, socket: Duplex, nodeKeep: (socket: Duplex) => boolean): boolean {
  if (!guard.ownsKeepAlive || !(socket instanceof net.Socket)) return nodeKeep(socket)
  const pooled = socket as PooledSocket
  const fields = agent as unknown as AgentFields
  pooled.unref()
  let timeout = fields.options.timeout || 0
  const hint = pooled._httpMessage?.res?.headers['keep-alive']
  const seconds = typeof hint === 'string' ? /^timeout=(\d+)/.exec(hint)?.[1] : undefined
  if (seconds !== undefined) {
    const serverTimeout = Number(seconds) * 1000 - (fields.agentKeepAliveTimeoutBuffer ?? KEEP_ALIVE_HINT_MARGIN_MS)
    if (serverTimeout <= 0) return false
    if (serverTimeout < timeout) timeout = serverTimeout
  }
  if (pooled.timeout !== timeout) pooled.setTimeout(timeout)
  return true
}

/**
 * Put the kernel options on a new socket; on failure destroy it and return
 * why. `owned`: created without Node's keepalive, and the pool hook never
 * calls setKeepAlive on it (see connectOptions and keepGuarded), so the
 * kernel layer writes everything once, at the connect attempt.
 */
function protect(stream: Duplex, tcp: ResolvedTcpTimeouts, owned: boolean): Error | undefined {
  // A stream that is not a socket (a tunnel, a test double) has no kernel
  // options to set: leave it alone, as StallGuardAgent's connector does.
  if (!(stream instanceof net.Socket)) return undefined
  try {
    applyResolvedTimeouts(stream, tcp, { owned })
    return undefined
  } catch (err) {
    stream.destroy()
    return err as Error
  }
}

/**
 * Address health at the connection: a down IP literal is refused with a
 * socket that never connects and fails on the next tick with the condemning
 * error (Node's agent then accounts for it as for any failed socket); a name
 * goes through healthLookup (the options to connect with are returned).
 * Returns `options` itself when there is nothing to change.
 */
function healthCheck(
  book: AddressBook,
  options: http.ClientRequestArgs,
  port: number,
): net.Socket | http.ClientRequestArgs {
  if (options.socketPath) return options
  const host = String(options.host ?? 'localhost')
  if (net.isIP(host)) {
    const refusal = book.refusal(host, port)
    if (refusal === undefined) return options
    const refused = new net.Socket()
    process.nextTick(() => refused.destroy(refusal))
    return refused
  }
  const lookup = healthLookup(book, port, options.lookup as Parameters<typeof healthLookup>[2])
  return withChanges(options, { lookup })
}

function createGuarded(
  guard: Guard,
  options: http.ClientRequestArgs,
  cb: ConnectionCallback | undefined,
  create: (options: http.ClientRequestArgs, cb?: ConnectionCallback) => Duplex | null | undefined,
  defaultPort: number,
): Duplex | null | undefined {
  const port = guard.health === undefined ? 0 : Number(options.port) || defaultPort
  if (guard.health !== undefined) {
    const checked = healthCheck(guard.health, options, port)
    if (checked instanceof net.Socket) return checked
    options = checked
  }
  // A subclass may hand its socket over through the callback instead of
  // returning it. (net.createConnection registers the callback as a 'connect'
  // listener and calls it without arguments: that passes straight through.)
  const callback: ConnectionCallback | undefined = cb && ((err, stream) => {
    const failure = !err && stream ? setUp(stream, guard) : undefined
    if (failure) cb(failure, stream)
    else cb(err, stream)
  })
  const socket = create(options, callback)
  if (!socket) return socket
  if (guard.health !== undefined) trackSocket(guard.health, socket, port)
  const failure = setUp(socket, guard)
  if (failure === undefined) return socket
  // http.Agent hands a callback error to the request ('error' on it); without
  // a callback there is nobody to tell but the caller.
  if (!cb) throw failure
  cb(failure, socket)
  return undefined
}

/** Everything a new stream gets once: error forwarding, and the kernel options unless `tcp: false`. */
function setUp(stream: Duplex, guard: Guard): Error | undefined {
  forwardSocketErrors(stream)
  return guard.tcp === undefined ? undefined : protect(stream, guard.tcp, guard.ownsKeepAlive)
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
  // surfaces from http.request() like Node's own option errors. Most
  // requests bring neither option: they share the agent's watch (the
  // tracker copies what it reads) instead of allocating one each.
  const watch = own.deadline === undefined && own.minThroughput === undefined
    ? guard.shared ??= { deadline: guard.deadline, floor: guard.minThroughput, owner: agent }
    : {
      deadline: requestDeadline(own.deadline, guard.deadline, 'options.deadline'),
      floor: requestMinThroughput(own.minThroughput, guard.minThroughput, 'options.minThroughput'),
      owner: agent,
    }
  const port = Number(own.port) || (agent as unknown as { defaultPort: number }).defaultPort
  // Listed in flight from the moment the agent accepts it (queued included).
  watchRequest(req, port, watch)
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
    const { guard, agentOptions, keepAliveMsecs } = configure<http.AgentOptions>(options)
    super(agentOptions)
    this.#guard = guard
    if (keepAliveMsecs !== undefined) (this as unknown as KeepAliveField).keepAliveMsecs = keepAliveMsecs
  }

  override createConnection(options: http.ClientRequestArgs, cb?: ConnectionCallback): Duplex | null | undefined {
    return createGuarded(this.#guard, connectOptions(this.#guard, options), cb, (o, c) => super.createConnection(o, c), (this as unknown as { defaultPort: number }).defaultPort)
  }

  /** Node's documented pool hook: a socket goes back to the pool (true) or is destroyed (false). */
  override keepSocketAlive(socket: Duplex): boolean {
    return keepGuarded(this, this.#guard, socket, (s) => super.keepSocketAlive(s) as unknown as boolean)
  }

  /** Node's pool entry point for every request (not in @types/node). */
  addRequest(_req: http.ClientRequest, _options: StallGuardRequestOptions): void {
    addGuarded(this, httpAddRequest, this.#guard, arguments)
  }

  /** This agent's open requests: phase, age, bytes, the socket's TCP_INFO summary (redacted). */
  inflight(): InflightRequest[] {
    return listInflight(this)
  }

  /** Addresses this agent currently sends no new connections to (address health), with since when and why. */
  downAddresses(): DownAddress[] {
    return this.#guard.health?.down() ?? []
  }
}

/** The https counterpart of {@link StallGuardHttpAgent}; TLS sessions are cached as usual. */
export class StallGuardHttpsAgent extends https.Agent {
  readonly #guard: Guard

  constructor(options?: StallGuardHttpsAgentOptions) {
    const { guard, agentOptions, keepAliveMsecs } = configure<https.AgentOptions>(options)
    super(agentOptions)
    this.#guard = guard
    if (keepAliveMsecs !== undefined) (this as unknown as KeepAliveField).keepAliveMsecs = keepAliveMsecs
  }

  override createConnection(options: https.RequestOptions, cb?: ConnectionCallback): Duplex | null | undefined {
    return createGuarded(this.#guard, connectOptions(this.#guard, options), cb, (o, c) => super.createConnection(o, c), (this as unknown as { defaultPort: number }).defaultPort)
  }

  override keepSocketAlive(socket: Duplex): boolean {
    return keepGuarded(this, this.#guard, socket, (s) => super.keepSocketAlive(s) as unknown as boolean)
  }

  addRequest(_req: http.ClientRequest, _options: StallGuardRequestOptions): void {
    addGuarded(this, httpsAddRequest, this.#guard, arguments)
  }

  /** This agent's open requests: phase, age, bytes, the socket's TCP_INFO summary (redacted). */
  inflight(): InflightRequest[] {
    return listInflight(this)
  }

  /** Addresses this agent currently sends no new connections to (address health), with since when and why. */
  downAddresses(): DownAddress[] {
    return this.#guard.health?.down() ?? []
  }
}
