// What the node:http(s) agents add to their sockets and requests: the
// socket's real error on the response body, and the per-request watch
// (deadline, throughput floor, in-flight listing).
// Without the former, a kernel timeout in the middle of a body reaches
// readers of the response as Node's generic `aborted` ECONNRESET instead of
// the ETIMEDOUT that says why.
//
// The hot path costs little per request: the error mapping is one listener
// per socket (which request the socket serves is read when an error comes),
// and the watch is one tracker and one 'close' listener; no timer (the
// shared clock has one for the process), nothing per chunk.
// Four listeners per request used to add ~14% to a pooled request's client
// instructions (counted with callgrind).
import type http from 'node:http'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import type { RequestPhase } from '../diagnostics/channels'
import type { StreamDirection } from '../errors'
import { RequestTracker, type RequestProbe, type RequestTarget } from '../watch/request-tracker'
import type { MinThroughput } from '../watch/throughput'

/** ClientRequest internals we rely on (present since Node 0.x, not in @types/node). */
interface RequestInternals {
  res?: http.IncomingMessage | null
  /** Hands the request its socket or, with no socket, fails it with `err`. */
  onSocket(socket: undefined, err: Error): void
}

/** The request a socket is serving right now: node:http sets it on assignment, clears it on release. */
type ServingStream = Duplex & { _httpMessage?: http.ClientRequest | null }

/**
 * Give the response being read on `stream` the stream's own error, for the
 * stream's whole life. Registered before node:http's listeners, so the body
 * fails with the real cause before Node's cleanup could mark a body that is
 * delimited by the connection's end as complete. One shared listener: the
 * request is looked up when an error comes.
 */
export function forwardSocketErrors(stream: Duplex, prepend = false): void {
  // A subclass may hand the same stream over twice (returned and through the
  // callback). listenerCount with a listener counts without copying the array.
  if (stream.listenerCount('error', onStreamError) > 0) return
  // A socket found only once node:http gave it to a request has node:http's
  // listener already: ours goes in front of it.
  if (prepend) stream.prependListener('error', onStreamError)
  else stream.on('error', onStreamError)
}

function onStreamError(this: ServingStream, err: Error): void {
  const req = this._httpMessage
  if (req) failResponse(req, err)
}

/**
 * The size of a response's header block as it came off the wire: status
 * line, one `name: value` line per field, blank line. node:http keeps the
 * fields as received (rawHeaders, latin1, so length = bytes); a server that
 * pads around the colon makes this a few bytes short.
 */
function headerBlockBytes(res: http.IncomingMessage): number {
  let bytes = `HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage ?? ''}\r\n`.length + 2
  const raw = res.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) bytes += raw[i]!.length + 2 + raw[i + 1]!.length + 2
  return bytes
}

/** What the agent resolved for one request (shared between requests, never changed). */
export interface RequestWatch {
  readonly deadline: number
  readonly floor: MinThroughput | undefined
  /** The agent, for agent.inflight(); any object naming the owner for a request without one. */
  readonly owner: object
}

/**
 * The node:http front door's view of a request, read only when the clock
 * or the in-flight dump asks: phase from the request's own state, bytes
 * from the socket's counters (minus what earlier requests on the same
 * keep-alive socket moved; for bytes sent, minus the header block too).
 */
class HttpRequestProbe implements RequestProbe, RequestTarget {
  private readonly agent: object
  private readonly req: http.ClientRequest
  /** The port when the front door knew it cheaply (our agents' options); otherwise read when printed. */
  private readonly knownPort: number | undefined
  /** The socket's counters when this request got it (earlier requests on a keep-alive socket moved those). */
  private baseRead = 0
  private baseWritten = 0
  /** The response's header block, in bytes, once the headers are in (computed on first read). */
  private responseHeaderBytes: number | undefined = undefined
  /** The request as the clock and the in-flight list see it; the probe names the target too (read when printed). */
  readonly tracker: RequestTracker

  constructor(req: http.ClientRequest, port: number | undefined, watch: RequestWatch) {
    this.agent = watch.owner
    this.req = req
    this.knownPort = port
    this.tracker = new RequestTracker(this, this, watch)
  }

  /** Port to print when the origin has none (RequestTarget): only asked for when a request is printed. */
  get port(): number {
    return this.knownPort ?? hostHeaderPort(this.req, this.agent)
  }

  // RequestTarget, as node:http parsed it.
  get method(): string { return this.req.method }
  get origin(): string { return `${this.req.protocol}//${this.req.host}` }
  get path(): string { return this.req.path }

  /** node:http hands the socket over before it writes anything of this request on it. */
  assigned(socket: net.Socket): void {
    this.baseRead = socket.bytesRead
    this.baseWritten = socket.bytesWritten
  }

  phase(): RequestPhase {
    const req = this.req
    const socket = req.socket as (net.Socket & { encrypted?: boolean; _secureEstablished?: boolean }) | null
    if (!socket) return 'queued'
    if (socket.connecting || (socket.encrypted === true && socket._secureEstablished === false)) return 'connecting'
    const res = (req as unknown as RequestInternals).res
    if (res) return 'receiving body'
    if (!req.writableFinished || socket.writableLength > 0) return 'sending'
    return 'waiting for headers'
  }

  /**
   * Request body bytes, as StallGuardAgent counts them: what this request
   * wrote to the socket minus its header block (node:http renders it once,
   * into `_header`, and writes it first). With chunked transfer encoding the
   * chunk framing (a few bytes per write) still counts.
   */
  bytesSent(): number {
    const req = this.req as http.ClientRequest & { _header?: string | null }
    const socket = req.socket
    if (!socket) return 0
    const headerBytes = typeof req._header === 'string' ? Buffer.byteLength(req._header, 'latin1') : 0
    return Math.max(0, socket.bytesWritten - this.baseWritten - headerBytes)
  }

  /**
   * Response body bytes, as StallGuardAgent counts them: what the socket read
   * for this request minus the response's header block (none before the
   * headers are complete). With chunked transfer encoding the chunk framing
   * still counts, as does a 1xx interim response.
   */
  bytesReceived(): number {
    const socket = this.req.socket
    const res = (this.req as unknown as RequestInternals).res
    if (!socket || !res) return 0
    this.responseHeaderBytes ??= headerBlockBytes(res)
    return Math.max(0, socket.bytesRead - this.baseRead - this.responseHeaderBytes)
  }

  heldByCaller(direction: StreamDirection): boolean {
    const socket = this.req.socket
    if (!socket) return false
    // node:http stops reading the socket while the response's buffer is full.
    if (direction === 'download') return socket.isPaused()
    // Nothing waiting to go out: the caller has not written more yet.
    return socket.writableLength === 0
  }

  socket(): net.Socket | undefined {
    const socket = this.req.socket
    return socket instanceof net.Socket ? socket : undefined
  }

  fail(err: Error): void {
    expire(this.agent, this.req, err)
  }
}

/**
 * The port a request goes to, from its Host header (node:http writes the
 * port there unless it is the scheme's default), else the agent's default.
 * Read only when the request is printed: a header lookup and a regular
 * expression per request were a measurable part of watching an agent we
 * did not build.
 */
function hostHeaderPort(req: http.ClientRequest, agent: object): number {
  const host = req.getHeader('host')
  const hostPort = typeof host === 'string' ? /:(\d+)$/.exec(host)?.[1] : undefined
  if (hostPort !== undefined) return Number(hostPort)
  return (agent as { defaultPort?: number }).defaultPort ?? (req.protocol === 'https:' ? 443 : 80)
}

/** Where a watched request keeps its probe, for the two shared listeners below. */
const kProbe = Symbol('stallguard.requestProbe')
type WatchedRequest = http.ClientRequest & { [kProbe]?: HttpRequestProbe }

/**
 * Watch `req` from the moment the agent accepted it until the last byte of
 * its response body arrived or it failed: listed in flight, and its deadline
 * and throughput floor on the shared clock. Two listeners: 'socket' (where
 * this request's bytes start) and 'close' (ends every path: response
 * consumed, keep-alive or not, error, abort, upgrade). Both are shared
 * functions that find the probe on the request: each fires once per
 * request, and `once` with a closure cost two functions and a wrapper each.
 */
export function watchRequest(req: http.ClientRequest, port: number | undefined, watch: RequestWatch): void {
  const probe = new HttpRequestProbe(req, port, watch)
  probe.tracker.open()
  ;(req as WatchedRequest)[kProbe] = probe
  req.on('socket', onRequestSocket)
  req.on('close', onRequestClose)
}

function onRequestSocket(this: WatchedRequest, socket: net.Socket): void {
  this[kProbe]?.assigned(socket)
}

function onRequestClose(this: WatchedRequest): void {
  this[kProbe]?.tracker.close()
}

function failResponse(req: http.ClientRequest, err: Error): void {
  const res = (req as unknown as RequestInternals).res
  if (res && !res.complete && !res.destroyed) res.destroy(err)
}

function expire(agent: object, req: http.ClientRequest, err: Error): void {
  const internals = req as unknown as RequestInternals
  const res = internals.res
  // The exchange finished in time (the whole request sent, the whole
  // response arrived); the request closes once its reader is done ('end'
  // can precede 'close' when the socket is not reused).
  if (res?.complete && req.writableFinished) return
  // Destroying the response (or, before one, the request) destroys the
  // socket: a half-read connection never goes back to the pool.
  if (res && !res.destroyed) res.destroy(err)
  if (!req.socket && dequeue(agent, req)) {
    // Waiting for a free socket (maxSockets reached): Node would report a
    // destroyed queued request only once some socket frees up.
    req.destroy(err)
    internals.onSocket(undefined, err)
    return
  }
  req.destroy(err)
}

function dequeue(agent: object, req: http.ClientRequest): boolean {
  const queues = (agent as Partial<http.Agent>).requests as Record<string, http.ClientRequest[] | undefined> | undefined
  if (queues === undefined || queues === null) return false
  for (const [name, queue] of Object.entries(queues)) {
    const index = queue?.indexOf(req) ?? -1
    if (queue && index >= 0) {
      queue.splice(index, 1)
      if (queue.length === 0) delete queues[name]
      return true
    }
  }
  return false
}
