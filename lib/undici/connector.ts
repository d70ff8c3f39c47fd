// The connector StallGuardAgent hands to undici: undici's own buildConnector
// (or the caller's `connect` function), with our kernel timeouts put on every
// socket it creates. The options are written when the winning address
// connects, before the TLS handshake, so a handshake that stalls is covered
// too; happy-eyeballs losers never carry them (they never become the socket).
import net from 'node:net'
import { buildConnector } from 'undici'
import { applyResolvedTimeouts } from '../kernel/socket-timeouts'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'

type Connector = buildConnector.connector
type ConnectOptions = buildConnector.Options
type ConnectCallback = buildConnector.Callback

/** The agent options that shape how undici connects (same names as undici's). */
export interface ConnectorSource {
  connect?: buildConnector.BuildOptions | Connector | null | undefined
  connectTimeout?: number | null | undefined
  tls?: buildConnector.BuildOptions | null | undefined
  maxCachedSessions?: number | null | undefined
  socketPath?: string | null | undefined
  allowH2?: boolean | undefined
  useH2c?: boolean | undefined
  autoSelectFamily?: boolean | undefined
  autoSelectFamilyAttemptTimeout?: number | undefined
}

export interface GuardOptions {
  /** Kernel timeouts for every socket; undefined leaves sockets as undici makes them. */
  timeouts: ResolvedTcpTimeouts | undefined
  /** Called with every socket handed to undici (used to count requests per connection). */
  onSocket?: ((socket: net.Socket) => void) | undefined
}

/**
 * Build undici's connector from the agent options exactly as undici's Pool
 * and Client would (they skip this when `connect` is already a function,
 * which ours is), or take the caller's function.
 */
function baseConnector(source: ConnectorSource): Connector {
  if (typeof source.connect === 'function') return source.connect
  const { autoSelectFamily, autoSelectFamilyAttemptTimeout } = source
  return buildConnector({
    ...source.tls,
    maxCachedSessions: source.maxCachedSessions,
    allowH2: source.allowH2,
    useH2c: source.useH2c,
    socketPath: source.socketPath,
    timeout: source.connectTimeout,
    ...(typeof autoSelectFamily === 'boolean' ? { autoSelectFamily, autoSelectFamilyAttemptTimeout } : undefined),
    ...source.connect,
  } as unknown as buildConnector.BuildOptions)
}

export function guardedConnector(source: ConnectorSource, guard: GuardOptions): Connector {
  const connect = baseConnector(source)
  const { timeouts, onSocket } = guard

  const protect = (socket: unknown): void => {
    // A custom connector may return a non-TCP stream (tests, proxies): leave it alone.
    if (timeouts !== undefined && socket instanceof net.Socket) applyResolvedTimeouts(socket, timeouts)
  }

  return function stallguardConnect(options: ConnectOptions, callback: ConnectCallback) {
    const returned: unknown = connect(options, (...[err, socket]: Parameters<ConnectCallback>) => {
      if (err !== null) {
        callback(err, null)
        return
      }
      try {
        // Already applied when the connector returned the socket; this covers
        // connectors that only hand it over here. For the same socket it is a
        // no-op (see applyResolvedTimeouts).
        protect(socket)
        onSocket?.(socket)
      } catch (setupErr) {
        // Never hand undici a socket we failed to set up, nor leave it open.
        socket.destroy()
        callback(setupErr as Error, null)
        return
      }
      callback(null, socket)
    })
    // Before 'connect' fires: the options then reach the kernel at connect
    // time, ahead of the TLS handshake and the first request.
    try {
      protect(returned)
    } catch (setupErr) {
      // undici's connector reports the socket's error through the callback above.
      ;(returned as net.Socket).destroy(setupErr as Error)
    }
    return returned
  } as Connector
}
