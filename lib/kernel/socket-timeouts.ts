// The public socket-level API: put kernel timeouts on a net/tls socket, read
// them back, read TCP_INFO, and report what this platform can do.
import net from 'node:net'
import { kernelHooks } from './hooks'
import { StallGuardError } from '../errors'
import { nameKernelTimeout, type RememberedPeer } from './kernel-timeout'
import { native, type NativeTcpInfo } from './native'
import { degradedWarning, nativeSkipReason, nodeSetsKeepAliveIntervalAndCount, oneLine } from './degraded'
import {
  resolveTcpTimeouts,
  type ResolvedTcpTimeouts,
  type TcpTimeouts,
} from './tcp-options'
import { invalidType } from '../validate'

const kState = Symbol('stallguard.socketState')

interface SocketState extends RememberedPeer {
  timeouts: ResolvedTcpTimeouts
  /** True once our options reached the kernel for this socket's descriptor. */
  applied: boolean
  /** The kernel holds our keepalive values right now (nothing has reset them since). */
  keepAliveOurs: boolean
  /**
   * Connect attempts Node announced so far. The socket that connects is the
   * latest one (happy-eyeballs closes an attempt before it starts the next),
   * so an attempt number names a descriptor without trusting its number: the
   * kernel hands a closed attempt's number to the next one.
   */
  attempts: number
  /** The attempt whose descriptor got TCP_USER_TIMEOUT while connecting (0: none). */
  userTimeoutAttempt: number
  /** The attempt whose descriptor got every option while connecting (0: none; see `owned`). */
  allAttempt: number
  /** See ApplyOptions.owned. */
  owned: boolean
  /** True while the 'connect' listener is waiting to apply them (from the attempt or the apply call until 'connect'). */
  waiting: boolean
  /** Our connect-time listeners are on this socket (they stay; `waiting` says whether they act). */
  listening: boolean
  /** Node's own setKeepAlive, used by the fallback and by our re-apply wrapper. */
  nodeSetKeepAlive: net.Socket['setKeepAlive']
  /** Node's own destroy, behind the one that names kernel timeouts. */
  nodeDestroy: net.Socket['destroy']
  /** No native layer: our keepalive values went in through Node's setKeepAlive (see fallback()). */
  viaNode: boolean
  /** Node holds a keepalive of its own that it re-applies just before 'connect' (a call while connecting). */
  nodeReapplies: boolean
  /** The shortest keepalive idle (s) the socket's user asked for through setKeepAlive(true, ms); 0: none. */
  clientIdleSeconds: number
  /** The keepalive idle (s) we last wrote, so a repeated request costs no syscall. */
  heldIdleSeconds: number
}

type GuardedSocket = net.Socket & {
  [kState]?: SocketState
  _handle?: { fd?: number } | null
}

const caps = native.binding?.capabilities()
/** The binding loaded and this platform hands out descriptors: socket options are reachable. */
const nativeUsable = native.binding !== undefined && caps !== undefined && nativeSkipReason(process.platform) === undefined

/** What this process can do, and why not where it cannot. */
export interface Capabilities {
  /** The native binding loaded and can reach socket options on this platform. */
  native: boolean
  /** Why the native layer is unavailable (undefined when it works). */
  reason: string | undefined
  /** The binary that was loaded (a prebuild or a local build), if any. */
  binding: string | undefined
  platform: NodeJS.Platform
  userTimeout: boolean
  keepAliveIdle: boolean
  keepAliveInterval: boolean
  keepAliveCount: boolean
  tcpInfo: boolean
  /** Kernel option behind `userTimeout` (`TCP_USER_TIMEOUT` on Linux), or undefined. */
  userTimeoutOption: string | undefined
}

function unavailableReason(): string | undefined {
  const skip = nativeSkipReason(process.platform)
  if (skip !== undefined) return skip
  if (native.error) return `binding not loaded: ${oneLine(native.error.message)}`
  return undefined
}

export function capabilities(): Capabilities {
  const reason = unavailableReason()
  const usable = nativeUsable && caps !== undefined
  return {
    native: usable,
    reason,
    binding: native.file,
    platform: process.platform,
    userTimeout: usable && caps.userTimeout,
    // Without the binding, Node's own setKeepAlive still sets the idle time,
    // and on newer Node interval and count too (see fallback()).
    keepAliveIdle: usable ? caps.keepAliveIdle : true,
    keepAliveInterval: usable ? caps.keepAliveInterval : nodeSetsKeepAliveIntervalAndCount,
    keepAliveCount: usable ? caps.keepAliveCount : nodeSetsKeepAliveIntervalAndCount,
    tcpInfo: usable && caps.tcpInfo,
    userTimeoutOption: usable && caps.userTimeout ? caps.userTimeoutOption : undefined,
  }
}

let warned = false
function warnOnce(message: string): void {
  if (warned) return
  warned = true
  process.emitWarning(message, { type: 'StallGuardWarning', code: 'SG_WARN_DEGRADED' })
}

/**
 * Whether the socket has a TCP handle (a Unix-domain socket's is a `Pipe`,
 * with no TCP options), read without a getpeername syscall. False before
 * connect() made the handle.
 */
export function isTcpSocket(socket: net.Socket): boolean {
  return isTcpHandle(socket as GuardedSocket)
}

function isTcpHandle(socket: GuardedSocket): boolean {
  type Handle = { constructor?: { name?: string }; _parent?: Handle } | null | undefined
  const handle = socket._handle as Handle
  const name = handle?.constructor?.name
  // A TLS socket's handle wraps the transport's (TCP or Pipe) as `_parent`.
  return name === 'TCP' || (name === 'TLSWrap' && handle?._parent?.constructor?.name === 'TCP')
}

function fdOf(socket: GuardedSocket): number {
  const fd = socket._handle?.fd
  return typeof fd === 'number' ? fd : -1
}

/**
 * Put kernel timeouts on a TCP socket (`net.Socket` or `tls.TLSSocket`),
 * connected or not. Durations are milliseconds; missing keys take
 * {@link DEFAULT_TCP_TIMEOUTS}. Unix-domain sockets are left alone.
 *
 * The values stay in force: a later `socket.setKeepAlive(true, ms)` (Node's
 * http.Agent does this whenever a socket returns to its pool, axios on every
 * request) keeps keepalive on at the shorter idle of the two, with our
 * interval and count. `setKeepAlive(false)` is respected.
 */
export function applySocketTimeouts(socket: net.Socket, tcp?: TcpTimeouts): void {
  applyResolvedTimeouts(socket, resolveTcpTimeouts(tcp))
}

export interface ApplyOptions {
  /**
   * The socket belongs to one of our agents, which created it with Node's
   * keepalive off (undici's `keepAlive: false`, node:http's connect options
   * without `keepAlive`) and never lets Node call setKeepAlive on it later
   * (undici does not; our node:http agents use `keepSocketAlive`). Then every
   * option is written once, while the SYN is in flight (a client's own
   * setKeepAlive call is still held to ours, see keepOursOverNodes). Without it (a caller's own socket) Node may hold
   * a keepalive of its own and re-apply it at 'connect' and on every later
   * setKeepAlive(true) call, so ours are written again after each.
   */
  owned?: boolean
}

/** Same as {@link applySocketTimeouts} with timeouts already validated (agents resolve once). */
export function applyResolvedTimeouts(socket: net.Socket, timeouts: ResolvedTcpTimeouts, options?: ApplyOptions): void {
  if (!(socket instanceof net.Socket)) {
    throw invalidType('socket', socket, 'a net.Socket or tls.TLSSocket')
  }
  const guarded = socket as GuardedSocket
  let state = guarded[kState]
  if (state === undefined) {
    state = guard(guarded, timeouts, options?.owned === true && nativeUsable)
  } else if (state.timeouts === timeouts && (state.applied || state.waiting)) {
    // The same agent's timeouts again (undici's connector sees the socket
    // twice: when it is returned and when it is handed over): already in
    // force or on their way, so no syscalls.
    return
  } else {
    // New values: everything is written again.
    state.timeouts = timeouts
    state.userTimeoutAttempt = 0
    state.allAttempt = 0
  }
  if (guarded.destroyed) return
  const fd = fdOf(guarded)
  if (!guarded.connecting && fd >= 0) {
    writeTimeouts(guarded, state)
    return
  }
  // Already past its connection attempt: a socket found after Node made the
  // connect call (an IP-literal host connects on the next tick, before a
  // ClientRequest's 'socket' event). The SYN is in flight on this
  // descriptor: bound it now; the rest follows at 'connect' as below.
  if (guarded.connecting && fd >= 0 && state.attempts === 0 && isTcpHandle(guarded)) {
    state.attempts = 1
    try {
      writeUserTimeout(guarded, state)
    } catch (err) {
      guarded.destroy(err as Error)
      return
    }
  }
  // The descriptor does not exist until the connect call runs (after DNS),
  // and happy-eyeballs makes a new one per attempt. Node emits
  // 'connectionAttempt' just before each connect call, so one tick later the
  // SYN_SENT socket exists: setting TCP_USER_TIMEOUT there bounds the kernel's
  // SYN retries too (Linux >= 5.4), which would otherwise run for ~2 minutes.
  // An owned socket gets everything there, once. Otherwise everything is
  // written again at 'connect', because Node re-applies its own keepalive
  // just before emitting it; prepending runs us after that and before
  // anyone else's listener.
  state.waiting = true
  // Shared listeners that read the socket's state (no closures per
  // connection), attached once per socket; they stay for a later connect()
  // of the same socket (Node allows one after close), which they protect
  // like the first.
  if (!state.listening) {
    state.listening = true
    guarded.on('connectionAttempt', onConnectionAttempt)
    guarded.prependListener('connect', onConnect)
  }
}

function onConnectionAttempt(this: GuardedSocket, address: string, port: number, family?: number): void {
  const state = this[kState]!
  // A Unix-domain socket announces its path as an attempt too (no family):
  // it has no TCP options, and is never counted as a TCP attempt.
  if (family !== 4 && family !== 6) return
  // An attempt after 'connect' is a new connection: Node lets a closed
  // socket connect() again. Protected like the first.
  state.waiting = true
  const attempt = ++state.attempts
  // The last attempt is the one that connects; remembered for error messages.
  state.peerAddress = address
  state.peerPort = port
  process.nextTick(writeForAttempt, this, state, attempt)
}

/** One tick after Node announced the attempt: its descriptor exists and the SYN is on its way. */
function writeForAttempt(socket: GuardedSocket, state: SocketState, attempt: number): void {
  if (!socket.connecting || socket.destroyed || fdOf(socket) < 0 || attempt !== state.attempts) return
  try {
    if (state.owned) {
      writeToKernel(socket, state)
      state.allAttempt = attempt
    } else {
      writeUserTimeout(socket, state)
    }
  } catch (err) {
    socket.destroy(err as Error)
  }
}

function onConnect(this: GuardedSocket): void {
  const state = this[kState]!
  if (!state.waiting) return
  state.waiting = false
  // Written while this very descriptor was connecting, and Node holds no keepalive to re-apply.
  if (state.allAttempt !== 0 && state.allAttempt === state.attempts && !state.nodeReapplies) return
  try {
    writeTimeouts(this, state)
  } catch (err) {
    this.destroy(err as Error)
  }
}

function guard(socket: GuardedSocket, timeouts: ResolvedTcpTimeouts, owned: boolean): SocketState {
  const state: SocketState = {
    timeouts,
    applied: false,
    keepAliveOurs: false,
    attempts: 0,
    userTimeoutAttempt: 0,
    allAttempt: 0,
    owned,
    waiting: false,
    listening: false,
    nodeSetKeepAlive: socket.setKeepAlive,
    nodeDestroy: socket.destroy,
    viaNode: false,
    nodeReapplies: false,
    clientIdleSeconds: 0,
    heldIdleSeconds: 0,
    peerAddress: undefined,
    peerPort: undefined,
  }
  socket[kState] = state
  // One shared function each, reading the socket's state: no closures per
  // connection (see keepOursOverNodes and nameKernelTimeouts for why).
  socket.setKeepAlive = keepOursOverNodes
  socket.destroy = nameKernelTimeouts as net.Socket['destroy']
  return state
}

/**
 * Every protected socket, ours included: whoever holds it may call
 * setKeepAlive(true, ms) at any time (node:http's default pool does on every
 * reuse; axios does setKeepAlive(true, 60000) on every request), and Node's
 * setKeepAlive (libuv >= 1.35) rewrites TCP_KEEPINTVL=1 and TCP_KEEPCNT=10
 * besides the idle time. Node offers no hook on a bare socket to follow such
 * a call, so the socket's own method is replaced, once per connection.
 *
 * The rule: keepalive stays on with the shorter idle of the two (ours, the
 * caller's), our interval and count stay. While the kernel holds ours, a
 * call is answered here, with a syscall only when it shortens the idle
 * time. `setKeepAlive(false)` is the caller's decision and is respected
 * (TCP_USER_TIMEOUT stays); a later setKeepAlive(true, …) puts ours back.
 * While the socket connects, Node's call goes through (Node re-applies it
 * just before 'connect'), and ours are written again at 'connect'.
 */
function keepOursOverNodes(this: GuardedSocket, enable?: unknown, initialDelay?: unknown, ...rest: unknown[]): GuardedSocket {
  const state = this[kState]
  // Borrowed onto a socket we never guarded: plain Node.
  if (state === undefined) return (net.Socket.prototype.setKeepAlive as (...args: unknown[]) => GuardedSocket).call(this, enable, initialDelay, ...rest)
  // Node >= 24 also takes one object: setKeepAlive({ enable, initialDelay, interval, count }).
  let on = enable
  let delay = initialDelay
  if (on !== null && typeof on === 'object') {
    const options = on as { enable?: unknown; initialDelay?: unknown }
    on = options.enable
    delay = options.initialDelay
  }
  const t = state.timeouts
  if (on && t.keepAlive) {
    const seconds = typeof delay === 'number' && delay >= 1000 ? Math.trunc(delay / 1000) : 0
    if (seconds > 0 && (state.clientIdleSeconds === 0 || seconds < state.clientIdleSeconds)) state.clientIdleSeconds = seconds
    if (state.keepAliveOurs && !this.connecting) {
      if (idleSeconds(state) !== state.heldIdleSeconds) rewriteKeepAlive(this, state)
      return this
    }
  }
  const result = (state.nodeSetKeepAlive as (...args: unknown[]) => GuardedSocket).call(this, enable, initialDelay, ...rest)
  if (!on) {
    state.keepAliveOurs = false
    return result
  }
  if (!t.keepAlive) return result
  if (this.connecting) {
    // Node holds this value and re-applies it just before 'connect': the
    // 'connect' listener writes ours again after it.
    state.nodeReapplies = true
    return result
  }
  rewriteKeepAlive(this, state)
  return result
}

/** Our keepalive (at the shorter idle) back onto a connected socket, natively or through Node. */
function rewriteKeepAlive(socket: GuardedSocket, state: SocketState): void {
  if (state.applied && nativeUsable) {
    const fd = fdOf(socket)
    if (fd < 0) return
    try {
      writeKeepAlive(fd, state)
      state.keepAliveOurs = true
    } catch (err) {
      socket.destroy(err as Error)
    }
  } else if (state.viaNode) {
    keepAliveThroughNode(socket, state)
  }
}

/** The idle time to hold: ours, or the caller's when that is shorter (0: the system default). */
function idleSeconds(state: SocketState): number {
  const ours = state.timeouts.keepAliveIdleSeconds
  const theirs = state.clientIdleSeconds
  if (theirs === 0) return ours
  return ours > 0 && ours <= theirs ? ours : theirs
}

/**
 * A kernel abort surfaces as a plain `read ETIMEDOUT`; every path (read,
 * write, connect, TLS) ends in destroy(err), so that is where we name it,
 * while the descriptor (and with it TCP_INFO) still exists. Installed as
 * every protected socket's own `destroy`.
 */
function nameKernelTimeouts(this: GuardedSocket, err?: Error, ...rest: unknown[]): GuardedSocket {
  const state = this[kState]
  if (state === undefined) return (net.Socket.prototype.destroy as (...args: unknown[]) => GuardedSocket).call(this, err, ...rest)
  if (
    err !== undefined && err !== null && state.applied &&
    (err as NodeJS.ErrnoException).code === 'ETIMEDOUT' && !(err instanceof StallGuardError)
  ) {
    err = nameKernelTimeout(this, err, state.timeouts, state, snapshot(this))
  }
  return (state.nodeDestroy as (...args: unknown[]) => GuardedSocket).call(this, err, ...rest)
}

/** TCP_INFO for an error report: a failed read leaves the report without it, never fails the destroy. */
function snapshot(socket: GuardedSocket): TcpInfo | undefined {
  try {
    return tcpInfo(socket)
  } catch {
    return undefined
  }
}

/** Negative = leave alone (the binding's convention); 0 in our model means the same. */
const orSkip = (value: number): number => (value > 0 ? value : -1)

function writeKeepAlive(fd: number, state: SocketState): void {
  const t = state.timeouts
  const idle = idleSeconds(state)
  native.binding!.setTimeouts(
    fd,
    1,
    caps!.keepAliveIdle ? orSkip(idle) : -1,
    caps!.keepAliveInterval ? orSkip(t.keepAliveIntervalSeconds) : -1,
    caps!.keepAliveCount ? orSkip(t.keepAliveCount) : -1,
    -1,
  )
  state.heldIdleSeconds = idle
}

function writeTimeouts(socket: GuardedSocket, state: SocketState): void {
  // Unix-domain sockets and other non-TCP streams have no peer family. Asking
  // costs a getpeername syscall (~6 µs here, a fifth of what a new connection
  // costs us), so a socket Node announced a TCP attempt for skips it.
  if (state.attempts === 0 && socket.remoteFamily === undefined) return
  if (!nativeUsable || fdOf(socket) < 0) {
    fallback(socket, state)
    return
  }
  writeToKernel(socket, state)
}

/**
 * Only TCP_USER_TIMEOUT, on a socket whose SYN is in flight: that is what
 * bounds the handshake; keepalive is written at 'connect' anyway, because
 * Node re-applies its own just before.
 */
function writeUserTimeout(socket: GuardedSocket, state: SocketState): void {
  const t = state.timeouts
  if (!nativeUsable || t.userTimeoutMs <= 0 || !caps!.userTimeout) return
  const fd = fdOf(socket)
  native.binding!.setTimeouts(fd, -1, -1, -1, -1, t.userTimeoutMs)
  state.userTimeoutAttempt = state.attempts
  state.applied = true
}

/** All our options onto the socket's descriptor (native layer usable, fd >= 0). */
function writeToKernel(socket: GuardedSocket, state: SocketState): void {
  if (!nativeUsable) return
  const t = state.timeouts
  const fd = fdOf(socket)
  const binding = native.binding!
  // Set while this very descriptor was connecting (happy-eyeballs makes one per attempt).
  const userTimeoutDone = state.userTimeoutAttempt !== 0 && state.userTimeoutAttempt === state.attempts
  if (t.userTimeoutMs > 0 && !caps!.userTimeout) {
    warnOnce(`stallguard: this platform (${process.platform}) has no TCP user timeout option; ` +
      'only keepalive and application deadlines protect against stalled writes')
  }
  const idle = idleSeconds(state)
  binding.setTimeouts(
    fd,
    t.keepAlive ? 1 : -1,
    caps!.keepAliveIdle ? orSkip(idle) : -1,
    caps!.keepAliveInterval ? orSkip(t.keepAliveIntervalSeconds) : -1,
    caps!.keepAliveCount ? orSkip(t.keepAliveCount) : -1,
    caps!.userTimeout && !userTimeoutDone ? orSkip(t.userTimeoutMs) : -1,
  )
  state.applied = true
  state.keepAliveOurs = t.keepAlive
  state.heldIdleSeconds = idle
  kernelHooks.protected?.(socket, t, 'native', state.peerAddress, state.peerPort)
}

/**
 * No binding or no descriptor: do what Node can. Node >= 24.21 / 26.4 also
 * honours interval and count here; older versions ignore the extra arguments.
 */
function fallback(socket: GuardedSocket, state: SocketState): void {
  const reason = unavailableReason()
  warnOnce(reason === undefined
    ? degradedWarning('a socket has no file descriptor', process.platform, true)
    : degradedWarning(reason, process.platform))
  state.viaNode = true
  if (!state.timeouts.keepAlive) return
  keepAliveThroughNode(socket, state)
  kernelHooks.protected?.(socket, state.timeouts, 'fallback', state.peerAddress, state.peerPort)
}

/**
 * Our keepalive values through Node's setKeepAlive. Held in force like the
 * native ones: a later setKeepAlive(true, ms) (node:http's pool) is answered
 * without a call while they stand, because on Node >= 24.21 passing the idle
 * time alone puts libuv's interval and count back.
 */
function keepAliveThroughNode(socket: GuardedSocket, state: SocketState): void {
  const t = state.timeouts
  const idle = idleSeconds(state)
  ;(state.nodeSetKeepAlive as (...args: unknown[]) => net.Socket).call(
    socket, true, idle * 1000, t.keepAliveIntervalSeconds * 1000, t.keepAliveCount)
  state.keepAliveOurs = true
  state.heldIdleSeconds = idle
}

/** Kernel timeouts as the kernel holds them, in milliseconds (0 = system default user timeout). */
export interface SocketTimeoutsReading {
  keepAlive: boolean
  keepAliveIdle: number
  keepAliveInterval: number
  keepAliveCount: number
  userTimeout: number
}

function requireDescriptor(socket: net.Socket, what: string): number {
  if (!(socket instanceof net.Socket)) {
    throw invalidType('socket', socket, 'a net.Socket or tls.TLSSocket')
  }
  const reason = unavailableReason()
  if (!nativeUsable) {
    throw new StallGuardError(`stallguard: cannot ${what}: ${reason}`, 'SG_ERR_UNSUPPORTED', 'kernel')
  }
  const fd = fdOf(socket as GuardedSocket)
  if (fd < 0) {
    throw new StallGuardError(`stallguard: cannot ${what}: the socket is not connected`, 'ENOTCONN', 'kernel')
  }
  return fd
}

/** Read back the timeouts the kernel holds for a connected socket. */
export function readSocketTimeouts(socket: net.Socket): SocketTimeoutsReading {
  const fd = requireDescriptor(socket, 'read socket timeouts')
  const raw = native.binding!.getTimeouts(fd)
  return {
    keepAlive: raw.keepAlive,
    keepAliveIdle: raw.keepAliveIdle,
    keepAliveInterval: raw.keepAliveInterval,
    keepAliveCount: raw.keepAliveCount,
    userTimeout: raw.userTimeout,
  }
}

export type TcpInfo = NativeTcpInfo

/**
 * `TCP_INFO` for a connected socket (Linux), or undefined where the platform,
 * the binding or the socket (not connected, not TCP) cannot give it.
 */
export function tcpInfo(socket: net.Socket): TcpInfo | undefined {
  if (!(socket instanceof net.Socket)) {
    throw invalidType('socket', socket, 'a net.Socket or tls.TLSSocket')
  }
  if (!capabilities().tcpInfo) return undefined
  const fd = fdOf(socket as GuardedSocket)
  if (fd < 0) return undefined
  try {
    return native.binding!.tcpInfo(fd)
  } catch (err) {
    // Not a TCP socket (Unix domain): unsupported for this socket, not an error.
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EOPNOTSUPP' || code === 'ENOTSUP') return undefined
    throw err
  }
}

/**
 * Whether stallguard already put kernel timeouts on this socket (or is about
 * to): a process-wide protector must not overwrite an agent's own values.
 */
export function hasSocketTimeouts(socket: net.Socket): boolean {
  return (socket as GuardedSocket)[kState] !== undefined
}
