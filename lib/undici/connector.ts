// An undici connector — the `connect` option of Client, Pool, Agent,
// ProxyAgent, EnvHttpProxyAgent, H2CClient — that opens sockets with
// undici's own buildConnector and puts the kernel timeouts on each. The
// options are written while the SYN is in flight, so a handshake (TCP or
// TLS) that stalls is covered too; a happy-eyeballs loser never becomes the
// socket, and the winner gets its own.
// The kernel layer reports through hooks; this wires the channels and NODE_DEBUG to them.
import '../diagnostics/protected'
import net from 'node:net'
import { buildConnector } from 'undici'
import { capabilities, applyResolvedTimeouts } from '../kernel/socket-timeouts'
import type { ResolvedTcpTimeouts, TcpTimeouts } from '../kernel/tcp-options'
import { resolveTcp } from '../options'
import { AddressBook } from '../health/address-book'
import { healthLookup } from '../health/lookup'
import { resolveAddressHealth, type AddressHealthOption } from '../health/options'
import { trackSocket } from '../health/track'
import { invalidType } from '../validate'
import { markStallGuardConnector } from './connector-mark'

export type Connector = buildConnector.connector
type BuildOptions = buildConnector.BuildOptions
/** What undici passes per connection: undici 8's Client adds its `allowH2` and `socketPath` for a connector it did not build. */
type ConnectOptions = buildConnector.Options & { allowH2?: boolean | undefined }
type ConnectCallback = buildConnector.Callback

/** undici's connector options (TLS, timeout, allowH2, …) plus `tcp`. */
export type ConnectorOptions = BuildOptions & {
  /** Kernel timeouts for every socket (see StallGuardOptions.tcp); `false` = none. */
  tcp?: TcpTimeouts | false | undefined
  /** Plain-text HTTP/2 (h2c) on every connection this connector opens. */
  useH2c?: boolean | undefined
  /**
   * A connector to protect instead of building undici's (the other
   * connector options then do not apply): e.g. the one ProxyAgent hands its
   * `clientFactory`/`factory` for the connection to the proxy.
   */
  connect?: Connector | undefined
  /**
   * Address health (docs/address-health.md): on by default; `false` = off;
   * `{ coolDown, maxCoolDown }` (ms) tunes when a down address is probed.
   */
  addressHealth?: AddressHealthOption
}

export interface GuardOptions {
  /** Kernel timeouts for every socket; undefined leaves sockets as undici makes them. */
  timeouts: ResolvedTcpTimeouts | undefined
  /** The front door's address book; undefined = address health off. */
  health?: AddressBook | undefined
}

/** The port undici connects to (it passes '' for the scheme's default). */
function portOf(options: ConnectOptions): number {
  return Number(options.port) || (options.protocol === 'https:' ? 443 : 80)
}

/** An IP literal host (undici keeps IPv6 in brackets), or undefined for a name. */
function ipOf(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
  return net.isIP(bare) ? bare : undefined
}

/**
 * Whether our kernel layer writes keepalive itself. Then undici is told
 * `keepAlive: false`, so neither undici (setKeepAlive(true, 60 s)) nor Node
 * (which re-applies it just before 'connect') writes keepalive options that
 * ours would overwrite a moment later: a new connection costs one
 * setsockopt more than undici's own, not five. Where the native layer is
 * missing, Node's setKeepAlive is the fallback and stays.
 */
function ownsKeepAlive(timeouts: ResolvedTcpTimeouts | undefined, build: BuildOptions): boolean {
  return timeouts !== undefined && timeouts.keepAlive && build.keepAlive == null && capabilities().native
}

/**
 * undici's buildConnector takes ALPN (`allowH2`) and `socketPath` when it is
 * built, not per call; undici 8's Client passes its own per call to a
 * connector it did not build (an Agent's per-request `allowH2: false` pool,
 * say). One undici connector per combination seen, so each keeps its TLS
 * session cache as undici's would.
 */
function undiciConnectors(build: BuildOptions, health: AddressBook | undefined): (call: ConnectOptions) => Connector {
  const made = new Map<string, Connector>()
  // With address health, one per port too: the resolver it hands Node
  // (healthLookup) must know the port, and Node's lookup is not told.
  const keyOf = (allowH2: unknown, socketPath: unknown, port: number): string =>
    `${String(allowH2)}\0${String(socketPath)}\0${health === undefined || socketPath ? 0 : port}`
  // Built now: undici validates its options here, at construction.
  buildConnector(build)
  return (call) => {
    const allowH2 = call.allowH2 ?? build.allowH2
    const socketPath = call.socketPath ?? build.socketPath
    const port = portOf(call)
    const key = keyOf(allowH2, socketPath, port)
    let connect = made.get(key)
    if (connect === undefined) {
      const lookup = health === undefined || socketPath
        ? undefined
        : healthLookup(health, port, (build as { lookup?: Parameters<typeof healthLookup>[2] }).lookup)
      connect = buildConnector({ ...build, allowH2, socketPath, ...(lookup && { lookup }) } as BuildOptions)
      made.set(key, connect)
    }
    return connect
  }
}


/** Puts the timeouts on every socket `pick(options)` opens; `owned` when undici was told to leave keepalive alone. */
export function guardConnector(
  pick: (options: ConnectOptions) => Connector,
  guard: GuardOptions,
  owned = false,
): Connector {
  const { timeouts, health } = guard
  const applyOptions = { owned }
  const protect = (socket: unknown): void => {
    // A custom connector may return a non-TCP stream (tests, tunnels): leave it alone.
    if (timeouts !== undefined && socket instanceof net.Socket) applyResolvedTimeouts(socket, timeouts, applyOptions)
  }

  const stallguardConnect = function stallguardConnect(options: ConnectOptions, callback: ConnectCallback) {
    const port = health === undefined ? 0 : portOf(options)
    if (health !== undefined && !options.socketPath) {
      // An IP literal gets no lookup: a down address is refused here, before
      // anything is created (a name is refused by healthLookup).
      const ip = typeof options.hostname === 'string' ? ipOf(options.hostname) : undefined
      const refusal = ip === undefined ? undefined : health.refusal(ip, port)
      if (refusal !== undefined) {
        // Never synchronously: undici's Client is inside its resume loop
        // here, and an error reported now would leave it without the
        // 'drain' that makes its Pool hand it the next queued request.
        process.nextTick(callback, refusal, null)
        return undefined as unknown as ReturnType<Connector>
      }
    }
    const returned: unknown = pick(options)(options, (...[err, socket]: Parameters<ConnectCallback>) => {
      if (err !== null) {
        callback(err, null)
        return
      }
      try {
        // Already applied when the connector returned the socket; this covers
        // connectors that only hand it over here. For the same socket it is a
        // no-op (see applyResolvedTimeouts).
        protect(socket)
      } catch (setupErr) {
        // Never hand undici a socket we failed to set up, nor leave it open.
        socket.destroy()
        callback(setupErr as Error, null)
        return
      }
      callback(null, socket)
    })
    if (health !== undefined) trackSocket(health, returned, port)
    // Before the connect call: the options then reach the kernel while the
    // SYN is in flight, ahead of the TLS handshake and the first request.
    try {
      protect(returned)
    } catch (setupErr) {
      // undici's connector reports the socket's error through the callback above.
      ;(returned as net.Socket).destroy(setupErr as Error)
    }
    return returned
  } as Connector
  markStallGuardConnector(stallguardConnect)
  return stallguardConnect
}

/** undici's connector for `build`, guarded; keepalive left to us where we own it. */
export function guardedUndiciConnector(build: BuildOptions, guard: GuardOptions): Connector {
  const owned = ownsKeepAlive(guard.timeouts, build)
  const pick = undiciConnectors(owned ? { ...build, keepAlive: false } : build, guard.health)
  return guardConnector(pick, guard, owned)
}

/**
 * An undici connector whose every socket carries stallguard's kernel
 * timeouts. Takes what undici's `buildConnector` takes (TLS options,
 * `timeout`, `allowH2`, `socketPath`, `maxCachedSessions`, `useH2c`,
 * autoSelectFamily …) plus `tcp`; honours the `allowH2`/`socketPath` undici
 * passes per connection.
 *
 * @example
 * new Pool(origin, { connect: connector({ tcp: { userTimeout: 5000 } }) })
 * // The connection to a proxy: ProxyAgent hands its own connector for it to
 * // `clientFactory` (CONNECT) and `factory` (undici 8, plain-http targets).
 * const protect = (origin, opts) => new Pool(origin, { ...opts, connect: connector({ tcp, connect: opts.connect }) })
 * new ProxyAgent({ uri, clientFactory: protect, factory: protect })
 */
export function connector(options: ConnectorOptions = {}): Connector {
  if (options === null || typeof options !== 'object') {
    throw invalidType('options', options, 'an object of undici connect options plus tcp')
  }
  const { tcp, connect, addressHealth, ...build } = options
  const timeouts = resolveTcp(tcp)
  const rule = resolveAddressHealth(addressHealth)
  const health = rule === undefined ? undefined : new AddressBook(rule)
  if (connect !== undefined) {
    if (typeof connect !== 'function') throw invalidType('connect', connect, 'an undici connector (a function)')
    return guardConnector(() => connect, { timeouts, health })
  }
  return guardedUndiciConnector(build as BuildOptions, { timeouts, health })
}
