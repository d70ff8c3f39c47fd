// Which connection did a request attempt run on, and had that connection
// carried a request before? The retry rule needs it ("failed on a reused
// connection"), and undici's handler API never shows the socket.
//
// How: undici publishes 'undici:client:sendHeaders' ({ request, headers,
// socket }) for every request it writes, HTTP/1.1 and HTTP/2, undici 7 and
// 8 alike. Requests are counted per socket there. The attempt is found from
// the request itself: undici's Request keeps the handler it was dispatched
// with, and when that handler is ours (the retry handler, or on undici 7 the
// bridge in front of it, see undici7-compat.ts) it answers with its probe.
// Nothing depends on event order, so interleaved requests, pipelining and
// requests queued in a pool cannot be mistaken for one another. A request
// whose handler is not ours (or an undici whose Request no longer keeps
// one) leaves its probe unanswered: no retry, the safe side.
import diagnostics from 'node:diagnostics_channel'

/** Our handlers answer with the probe of the attempt they carry (forwarded through wrappers). */
export const kConnectionProbe = Symbol('stallguard.connectionProbe')

/** What one attempt learned about its connection (the retry handler is its own probe). */
export interface ConnectionProbe {
  /** undefined until the request was written to a connection. */
  reused: boolean | undefined
}

/** Requests written per socket (sockets opened before we subscribed count from their next one). */
const requestsOn = new WeakMap<object, number>()
let subscribed = false
/** undici's private key for a Request's handler, found by its description on the first request. */
let handlerKey: symbol | null | undefined

function handlerOf(request: object): unknown {
  if (handlerKey === undefined) {
    handlerKey = Object.getOwnPropertySymbols(request).find((s) => s.description === 'handler') ?? null
  }
  return handlerKey === null ? undefined : (request as Record<symbol, unknown>)[handlerKey]
}

function onSendHeaders(message: unknown): void {
  const { request, socket } = (message ?? {}) as { request?: object | null; socket?: object | null }
  if (!socket || !request) return
  const before = requestsOn.get(socket) ?? 0
  requestsOn.set(socket, before + 1)
  const handler = handlerOf(request) as { [kConnectionProbe]?: ConnectionProbe } | null | undefined
  const probe = handler?.[kConnectionProbe]
  if (probe !== undefined) probe.reused = before > 0
}

/** Start counting requests per connection (idempotent; the retry layer calls it when built). */
export function watchConnectionReuse(): void {
  if (subscribed) return
  subscribed = true
  diagnostics.subscribe('undici:client:sendHeaders', onSendHeaders)
}
