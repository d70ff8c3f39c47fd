// What the node:http(s) agents add to their sockets and requests: the
// socket's real error on the response body, and the per-request deadline.
// Without the former, a kernel timeout in the middle of a body reaches
// readers of the response as Node's generic `aborted` ECONNRESET instead of
// the ETIMEDOUT that says why.
//
// The hot path costs nothing per request: the error mapping is one listener
// per socket (which request the socket serves is read when an error comes),
// and a request without a deadline gets no listener and no timer at all.
// Four listeners per request used to add ~14% to a pooled request's client
// instructions (counted with callgrind).
import type http from 'node:http'
import type { Duplex } from 'node:stream'
import { armDeadline } from '../deadline'
import type { DeadlineExceededError } from '../errors'

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
export function forwardSocketErrors(stream: Duplex): void {
  // A subclass may hand the same stream over twice (returned and through the callback).
  if (stream.rawListeners('error').includes(onStreamError)) return
  stream.on('error', onStreamError)
}

function onStreamError(this: ServingStream, err: Error): void {
  const req = this._httpMessage
  if (req) failResponse(req, err)
}

/**
 * Arm a deadline of `deadlineMs` (> 0) for `req`, from the moment the agent
 * accepted it until the last byte of its response body arrived or it failed.
 * One listener ('close' ends every path: response consumed, keep-alive or
 * not, error, abort, upgrade) removes the timer and itself.
 */
export function armRequestDeadline(agent: http.Agent, req: http.ClientRequest, deadlineMs: number): void {
  const disarm = armDeadline(deadlineMs, (err) => expire(agent, req, err), () => describe(req))
  function done(): void {
    disarm()
    req.removeListener('close', done)
  }
  req.on('close', done)
}

function describe(req: http.ClientRequest): string {
  return `${req.method} ${req.protocol}//${req.host}${req.path}`
}

function failResponse(req: http.ClientRequest, err: Error): void {
  const res = (req as unknown as RequestInternals).res
  if (res && !res.complete && !res.destroyed) res.destroy(err)
}

function expire(agent: http.Agent, req: http.ClientRequest, err: DeadlineExceededError): void {
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

function dequeue(agent: http.Agent, req: http.ClientRequest): boolean {
  const queues = agent.requests as Record<string, http.ClientRequest[] | undefined>
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
