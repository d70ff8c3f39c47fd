// Everything install() does process-wide to reach sockets and requests of
// clients it did not build: an http.Agent an SDK made itself, a got/axios
// agent, any undici copy's Agent/Pool/Client/ProxyAgent (Node's fetch
// included), and with scope 'tcp' every outgoing TCP socket (database and
// cache drivers). One module owns every subscription and the one fallback
// patch, and one function undoes all of it.
//
// Public diagnostics channels first, and what each one gives (read in Node's
// and undici's sources):
// - `http.client.request.created` (Node >= 22.14 / 23.2) at the end of the
//   ClientRequest constructor, after agent.addRequest; `http.client.request.start`
//   (every supported Node) at req.end(). Either way the request's socket
//   comes through its 'socket' event, while a new socket still connects:
//   for a hostname the DNS lookup is pending and the kernel layer's
//   'connectionAttempt' hook bounds the SYN; an IP-literal host has made its
//   connect call already and gets TCP_USER_TIMEOUT on the spot.
// - `undici:client:beforeConnect` is published right before undici calls its
//   connector, which calls net.connect/tls.connect synchronously; those
//   publish `net.client.socket` synchronously (net.connect on every Node,
//   tls.connect and Socket#connect from Node 22.17 on). A mark set on the
//   former is consumed by the latter, so undici's socket is protected while
//   its SYN is in flight; the mark dies at the next microtask, so a custom
//   asynchronous connector can never hand it to an unrelated socket.
// - `undici:client:connected` after connect + TLS: the net under the above
//   (an https connection on a Node where tls.connect publishes nothing; a
//   custom connector), before the first request is written.
// - `net.client.socket` for every socket (scope 'tcp'). Where Socket#connect
//   does not publish (Node < 22.17), scope 'tcp' wraps
//   net.Socket.prototype.connect, the only patch here, put back by the
//   undo function.
// The kernel layer reports through hooks; this wires the channels and NODE_DEBUG to them.
import '../diagnostics/protected'
import diagnostics from 'node:diagnostics_channel'
import http from 'node:http'
import net from 'node:net'
import { debug, debugEnabled } from '../diagnostics/debug'
import { forwardSocketErrors, watchRequest } from '../http/request-guard'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../http/agents'
import { applyResolvedTimeouts, hasSocketTimeouts, isTcpSocket } from '../kernel/socket-timeouts'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'
import { isStallGuardConnector } from '../undici/connector-mark'
import type { MinThroughput } from '../watch/throughput'

/** Which clients install() reaches: every HTTP client (default), or every outgoing TCP socket. */
export type Scope = 'http' | 'tcp'
export const SCOPES: readonly Scope[] = ['http', 'tcp']

/** How install() reaches sockets on this Node (`capabilities().processHooks`). */
export interface ProcessHooks {
  /**
   * 'channels': public diagnostics channels only. 'fallback': scope 'tcp' on
   * a Node whose Socket#connect publishes no channel, so
   * net.Socket.prototype.connect is wrapped while installed.
   */
  mechanism: 'channels' | 'fallback'
  /**
   * Node publishes `net.client.socket` for tls.connect and Socket#connect
   * too (Node >= 22.17): an https undici connection is protected from its
   * SYN on, so its SYN and TLS handshake are bounded by the user timeout
   * (without it, by undici's connectTimeout, 10 s by default).
   */
  earlyChannel: boolean
  /**
   * Node publishes `http.client.request.created` (>= 22.14 / 23.2): a
   * process-wide deadline counts from the request's creation; without it,
   * from req.end().
   */
  requestCreated: boolean
  /** The clients reached, in words. */
  reaches: string[]
}

const requestCreated = diagnostics.channel('http.client.request.created')
const requestStart = diagnostics.channel('http.client.request.start')
const netSocket = diagnostics.channel('net.client.socket')
const beforeConnect = diagnostics.channel('undici:client:beforeConnect')
const connected = diagnostics.channel('undici:client:connected')

/**
 * Whether ClientRequest publishes `http.client.request.created` (Node 22.14+,
 * 23.2+), read from Node's own source rather than a version table: a
 * channel nobody publishes would leave node:http unreached.
 */
const hasRequestCreated = Function.prototype.toString.call(http.ClientRequest).includes('onClientRequestCreatedChannel')

let earlyChannelProbe: boolean | undefined
/**
 * Whether Socket#connect publishes `net.client.socket`, asked of Node
 * itself: it publishes before it checks its arguments, so a connect()
 * without any returns at once (throws), with no handle and no syscall.
 */
function socketConnectPublishes(): boolean {
  if (earlyChannelProbe !== undefined) return earlyChannelProbe
  let seen = false
  const probe = new net.Socket()
  const listener = (message: unknown): void => {
    if ((message as { socket?: unknown } | null)?.socket === probe) seen = true
  }
  netSocket.subscribe(listener)
  try {
    ;(probe.connect as (options: object) => unknown)({})
  } catch {
    // ERR_MISSING_ARGS: expected.
  } finally {
    netSocket.unsubscribe(listener)
    probe.destroy()
  }
  earlyChannelProbe = seen
  return seen
}

/** What install({ scope }) reaches on this Node. */
export function processHooks(scope: Scope = 'http'): ProcessHooks {
  const earlyChannel = socketConnectPublishes()
  const reaches = [
    'node:http(s) requests of any agent (the socket from the request on; deadline and throughput floor too)',
    earlyChannel
      ? 'undici connections of any copy and any dispatcher (fetch included), from the SYN on'
      : 'undici connections of any copy and any dispatcher (fetch included): http from the SYN on, https after the TLS handshake (before it: undici\'s connectTimeout)',
  ]
  if (scope === 'tcp') {
    reaches.push(earlyChannel
      ? 'every outgoing TCP socket (net.connect, tls.connect, net.Socket#connect)'
      : 'every outgoing TCP socket (net.connect through its channel; tls.connect and net.Socket#connect through the wrapped net.Socket.prototype.connect)')
  }
  return {
    mechanism: scope === 'tcp' && !earlyChannel ? 'fallback' : 'channels',
    earlyChannel,
    requestCreated: hasRequestCreated,
    reaches,
  }
}

export interface ProcessHookOptions {
  scope: Scope
  /** Kernel timeouts for sockets we did not create; undefined: none (tcp: false). */
  timeouts: ResolvedTcpTimeouts | undefined
  /** Deadline (ms, 0 = none) and throughput floor for node:http requests of agents we did not build. */
  deadline: number
  floor: MinThroughput | undefined
  /**
   * Say once when an undici dispatcher we did not build connects while a
   * deadline or floor is configured. Only when the global dispatcher is
   * ours: a kept one (composed with the deadline, or named by install()'s
   * own warning) cannot be told apart from the application's others.
   */
  warnUnreached: boolean
}

/** Marks a socket whose error forwarding is in place (once per socket, not per request). */
const kSeen = Symbol('stallguard.processHooks.seen')
type SeenSocket = net.Socket & { [kSeen]?: true }

/** Owner of the watch for requests made without any agent (a custom createConnection). */
const agentless = Object.freeze({ name: 'no agent' })

let warnedDeadline = false
let currentScope: Scope | undefined

/** The scope of the hooks in place ('http' when none are). */
export function activeScope(): Scope {
  return currentScope ?? 'http'
}

/**
 * Start reaching sockets (and, with a deadline or floor, node:http requests)
 * of clients stallguard did not build. Returns the function that stops all
 * of it: every channel unsubscribed, the fallback patch put back.
 */
export function installProcessHooks(options: ProcessHookOptions): () => void {
  const { scope, timeouts, deadline, floor, warnUnreached } = options
  const watching = deadline > 0 || floor !== undefined
  const undo: Array<() => void> = []
  const subscribe = (channel: diagnostics.Channel, listener: (message: unknown, name: string | symbol) => void): void => {
    channel.subscribe(listener)
    undo.push(() => channel.unsubscribe(listener))
  }

  const protect = (socket: net.Socket): void => {
    if (timeouts === undefined || socket.destroyed || hasSocketTimeouts(socket)) return
    try {
      applyResolvedTimeouts(socket, timeouts)
    } catch (err) {
      // As in the connectors: a socket we failed to set up is not left in use.
      socket.destroy(err as Error)
    }
  }

  // node:http: one listener per request, shared (no closure per request).
  function onRequestSocket(this: http.ClientRequest, socket: net.Socket): void {
    onHttpSocket(socket)
  }
  const onHttpSocket = (socket: net.Socket): void => {
    if (!(socket instanceof net.Socket)) return
    const seen = socket as SeenSocket
    if (seen[kSeen]) return
    seen[kSeen] = true
    // A kernel timeout in the middle of a body reaches the reader as the
    // real ETIMEDOUT, not node:http's generic 'aborted'.
    forwardSocketErrors(socket, true)
    protect(socket)
  }
  const onRequest = (message: unknown): void => {
    const req = (message as { request?: unknown } | null)?.request
    if (!(req instanceof http.ClientRequest)) return
    const agent = (req as { agent?: unknown }).agent
    // Our agents protect and watch their own (global ones after install(), and agent:false ones).
    if (agent instanceof StallGuardHttpAgent || agent instanceof StallGuardHttpsAgent) return
    if (watching) watchForeign(req, agent, deadline, floor)
    if (timeouts === undefined) return
    // A pooled socket (the agent decided in addRequest, before either
    // channel): it was new once, and seen then. Nothing per request on the
    // hot path; the cost is a socket an agent pooled before install() ran,
    // which stays as it was (none under the preload).
    if ((req as { reusedSocket?: boolean }).reusedSocket === true) return
    const socket = req.socket
    if (socket) onHttpSocket(socket)
    else req.on('socket', onRequestSocket)
  }
  if (timeouts !== undefined || watching) subscribe(hasRequestCreated ? requestCreated : requestStart, onRequest)

  if (timeouts !== undefined) {
    // undici: the connector's socket, marked between beforeConnect and net.client.socket.
    let undiciNext = false
    const clearMark = (): void => { undiciNext = false }
    subscribe(beforeConnect, (message) => {
      const connector = (message as { connector?: unknown } | null)?.connector
      if (isStallGuardConnector(connector)) return
      if (watching && warnUnreached) warnDeadlineUnreached()
      undiciNext = true
      queueMicrotask(clearMark)
    })
    subscribe(connected, (message) => {
      const socket = (message as { socket?: unknown } | null)?.socket
      if (!(socket instanceof net.Socket)) return
      // Already protected from its SYN on (the mark above), or by our connector.
      // A TLS socket inside a CONNECT tunnel shares the proxy connection's
      // descriptor; it gets the same values again, because a kernel abort
      // surfaces on the TLS socket and only a guarded socket names it.
      protect(socket)
    })

    // After our own code had its turn: an agent or connector of ours
    // protects its socket right after creating it, with its own values.
    const protectLater = (socket: net.Socket): void => {
      if (isTcpSocket(socket)) protect(socket)
    }
    subscribe(netSocket, (message) => {
      const socket = (message as { socket?: unknown } | null)?.socket
      if (!(socket instanceof net.Socket)) return
      if (undiciNext) {
        undiciNext = false
        protect(socket)
      } else if (scope === 'tcp') {
        process.nextTick(protectLater, socket)
      }
    })
    if (scope === 'tcp' && !socketConnectPublishes()) undo.push(wrapSocketConnect(protectLater))
  }

  if (debugEnabled()) {
    const hooks = processHooks(scope)
    debug('install', `scope ${scope} via ${hooks.mechanism} (early net.client.socket: ${hooks.earlyChannel ? 'yes' : 'no'}); reaches: ${hooks.reaches.join('; ')}`)
  }

  currentScope = scope
  let stopped = false
  return () => {
    if (stopped) return
    stopped = true
    if (currentScope === scope) currentScope = undefined
    for (const step of undo.reverse()) step()
  }
}

/**
 * The fallback (scope 'tcp', Node < 22.17): net.Socket.prototype.connect
 * wrapped to see sockets that tls.connect and `new net.Socket().connect()`
 * open, which publish no channel there. The wrapper only schedules the
 * protection for the next tick and calls Node's connect unchanged. Undone by
 * putting Node's back; if someone wrapped it after us, ours stays in their
 * chain as a pass-through.
 */
function wrapSocketConnect(protectLater: (socket: net.Socket) => void): () => void {
  const proto = net.Socket.prototype as unknown as { connect: (...args: unknown[]) => unknown }
  const original = proto.connect
  let active = true
  const connect = function connect(this: net.Socket, ...args: unknown[]): unknown {
    if (active) process.nextTick(protectLater, this)
    return original.apply(this, args)
  }
  proto.connect = connect
  return () => {
    active = false
    if (proto.connect === connect) proto.connect = original
  }
}

function watchForeign(req: http.ClientRequest, agent: unknown, deadline: number, floor: MinThroughput | undefined): void {
  const owner = agent !== null && typeof agent === 'object' ? agent : agentless
  // The port is read from the Host header only when the request is printed.
  watchRequest(req, undefined, { deadline, floor, owner })
}

/** Once per process: an undici dispatcher we did not build has no public way in for an interceptor. */
function warnDeadlineUnreached(): void {
  if (warnedDeadline) return
  warnedDeadline = true
  process.emitWarning(
    'stallguard: an undici dispatcher stallguard did not build opened a connection: its connections get the kernel ' +
      'timeouts, but the process-wide deadline and minThroughput reach it only as the global dispatcher; undici has ' +
      'no public way to add an interceptor to a dispatcher that exists (use StallGuardAgent, or ' +
      'dispatcher.compose(interceptors.deadline(...)))',
    { type: 'StallGuardWarning', code: 'SG_WARN_UNREACHED_DISPATCHER' },
  )
}

/**
 * doctor's lines on the process-wide hooks for `scope`: the mechanism, what
 * it reaches, and the bounds that apply where a channel comes late.
 */
export function describeProcessHooks(scope: Scope): { hooks: ProcessHooks; lines: string[]; notes: string[] } {
  const hooks = processHooks(scope)
  const lines = [
    `scope ${scope}, via ${hooks.mechanism === 'channels' ? 'diagnostics channels' : 'diagnostics channels + net.Socket.prototype.connect wrapped (Node has no early net.client.socket)'}`,
    ...hooks.reaches.map((r) => `reaches ${r}`),
  ]
  const notes: string[] = []
  if (!hooks.earlyChannel) {
    notes.push(`Node ${process.version} publishes net.client.socket only for net.connect: the SYN and TLS handshake of an https connection ` +
      'by an undici dispatcher stallguard did not build are bounded by undici\'s connectTimeout (10 s by default), not the user timeout')
  }
  if (!hooks.requestCreated) notes.push(`Node ${process.version}: a process-wide deadline on a node:http request of another agent counts from req.end()`)
  notes.push('deadline and minThroughput do not reach undici dispatchers the application built (undici has no public way in); the global dispatcher gets them')
  return { hooks, lines, notes }
}
