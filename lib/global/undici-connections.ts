// Kernel timeouts for the connections of undici dispatchers install() did
// not build: one it keeps instead of replacing (a ProxyAgent or
// EnvHttpProxyAgent the application set, or Node 24 set from
// NODE_USE_ENV_PROXY), and one the application sets after install() ran
// (a proxy dispatcher set after the preload).
//
// Why diagnostics channels and not a rebuilt dispatcher: a ProxyAgent's
// proxy URL, credentials, `proxyTls`/`requestTls`, headers and factories are
// private to it, and Node's NODE_USE_ENV_PROXY agent belongs to Node's own
// undici copy. Rebuilding "the same" dispatcher from what we can see would
// risk exactly what must never happen: a request that skips the proxy or
// the TLS settings the application chose. Keeping the dispatcher keeps its
// routing by construction; undici's `undici:client:connected` channel then
// hands us every socket any undici Client connects — the connection to the
// proxy included — in every undici copy in the process, since channels are
// global by name.
//
// What this costs, from undici's client.js: the channel fires once the
// connector has called back, i.e. after the TCP connect and, for TLS, after
// the handshake, and before the first request is written. So the SYN and
// the TLS handshake are bounded by undici's connectTimeout (10 s by
// default), not by TCP_USER_TIMEOUT; everything after — the CONNECT tunnel's
// traffic, requests, responses, idle pooled connections — is covered. The
// channel also sees connections of undici dispatchers the application uses
// explicitly (not as the global one); sockets a stallguard agent already
// protects keep their own values.
import diagnostics from 'node:diagnostics_channel'
import net from 'node:net'
import { applyResolvedTimeouts, hasSocketTimeouts } from '../kernel/socket-timeouts'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'

const connected = diagnostics.channel('undici:client:connected')

interface ConnectedMessage {
  socket?: unknown
}

/**
 * Put `timeouts` on every socket undici connects from now on, unless
 * stallguard already protects it. Returns the function that stops it.
 */
export function protectUndiciConnections(timeouts: ResolvedTcpTimeouts): () => void {
  const onConnected = (message: unknown): void => {
    const socket = (message as ConnectedMessage | null)?.socket
    if (!(socket instanceof net.Socket) || socket.destroyed) return
    // A TLS socket inside a CONNECT tunnel shares its descriptor with the
    // proxy connection, which got the options already. It gets them again
    // (the same values on the same descriptor) because a kernel abort
    // surfaces on the TLS socket, and only a guarded socket names it.
    if (hasSocketTimeouts(socket)) return
    try {
      applyResolvedTimeouts(socket, timeouts)
    } catch (err) {
      // Same rule as the connectors: never leave a socket we failed to set up
      // in use. undici sees the error on the socket and fails the request.
      socket.destroy(err as Error)
    }
  }
  connected.subscribe(onConnected)
  return () => { connected.unsubscribe(onConnected) }
}
