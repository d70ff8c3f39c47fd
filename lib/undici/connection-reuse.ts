// Which connection did a request attempt run on, and had that connection
// carried a request before? The retry rule needs it ("failed on a reused
// connection"), and undici's handler API never shows the socket.
//
// How: undici publishes 'undici:client:sendHeaders' ({ request, headers,
// socket }) synchronously right after it called the request's
// onRequestStart on the connection that will carry it, before writing a
// byte; HTTP/1.1 and HTTP/2, undici 7 and 8 alike. So an attempt arms a
// one-shot probe at the end of its onRequestStart and the next sendHeaders in
// the same synchronous run is its own. A microtask disarms a probe that
// nothing consumed (the request was aborted in onRequestStart), so a later
// request from an unrelated dispatcher can never be mistaken for it.
// Requests are counted per socket for sockets our connector marked; the
// count also covers requests that are not retry-eligible (a POST first, then
// a GET on the same connection: the GET is on a reused connection).
import diagnostics from 'node:diagnostics_channel'
import type net from 'node:net'

const kRequests = Symbol('stallguard.requestsOnSocket')

type CountedSocket = net.Socket & { [kRequests]?: number }

/** What one attempt learned about its connection. */
export class ConnectionProbe {
  /** undefined until the request was handed to a connection. */
  reused: boolean | undefined = undefined
}

let armed: ConnectionProbe | undefined
let subscribed = false

function onSendHeaders(message: unknown): void {
  const probe = armed
  armed = undefined
  const socket = (message as { socket?: CountedSocket } | null)?.socket
  if (socket === undefined || socket === null) return
  const before = socket[kRequests]
  if (before === undefined) return
  socket[kRequests] = before + 1
  if (probe !== undefined) probe.reused = before > 0
}

/** Count requests on this socket (called by the connector for every socket it hands to undici). */
export function countRequestsOn(socket: net.Socket): void {
  if (!subscribed) {
    subscribed = true
    diagnostics.subscribe('undici:client:sendHeaders', onSendHeaders)
  }
  const counted = socket as CountedSocket
  if (counted[kRequests] === undefined) counted[kRequests] = 0
}

/** Expect the request that is being started right now to report its connection to `probe`. */
export function armProbe(probe: ConnectionProbe): void {
  armed = probe
  queueMicrotask(() => {
    if (armed === probe) armed = undefined
  })
}
