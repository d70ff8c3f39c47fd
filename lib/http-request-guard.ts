// What the node:http(s) agents add to each request: the deadline, and the
// socket's real error on the response body. Without the latter, a kernel
// timeout in the middle of a body reaches readers of the response as Node's
// generic `aborted` ECONNRESET instead of the ETIMEDOUT that says why.
import type http from 'node:http'
import type net from 'node:net'
import { armDeadline } from './deadline'
import type { DeadlineExceededError } from './errors'

/** ClientRequest internals we rely on (present since Node 0.x, not in @types/node). */
interface RequestInternals {
  res?: http.IncomingMessage | null
  /** Hands the request its socket or, with no socket, fails it with `err`. */
  onSocket(socket: undefined, err: Error): void
}

/**
 * Watch `req` from the moment the agent accepted it until its response body
 * ended or it failed; `deadlineMs` > 0 arms one timer for that whole span.
 * Every listener and the timer are removed on every exit path, so a socket
 * going back to the pool carries nothing of this request.
 */
export function watchRequest(agent: http.Agent, req: http.ClientRequest, deadlineMs: number): void {
  let socket: net.Socket | undefined
  let disarm: (() => void) | undefined
  const onSocketError = (err: Error): void => failResponse(req, err)
  const onSocket = (s: net.Socket): void => {
    socket = s
    // Runs after Node's own listener, which has already given `err` to the request.
    s.on('error', onSocketError)
  }
  const onResponse = (res: http.IncomingMessage): void => {
    res.once('end', done)
  }
  function done(): void {
    disarm?.()
    disarm = undefined
    req.removeListener('socket', onSocket)
    req.removeListener('response', onResponse)
    req.removeListener('close', done)
    socket?.removeListener('error', onSocketError)
  }
  req.on('socket', onSocket)
  req.on('response', onResponse)
  // 'close' ends every path: response consumed (keep-alive or not), error,
  // abort, upgrade. Response 'end' comes first when the socket is not reused,
  // and a deadline must not fire between the two.
  req.once('close', done)
  if (deadlineMs > 0) {
    disarm = armDeadline(deadlineMs, (err) => expire(agent, req, err), describe(req))
  }
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
