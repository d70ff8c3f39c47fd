// The public socket-level API: put kernel timeouts on a net/tls socket, read
// them back, read TCP_INFO, and report what this platform can do.
import net from 'node:net'
import { announceProtected } from '../diagnostics/protected'
import { StallGuardError } from '../errors'
import { nameKernelTimeout, type RememberedPeer } from './kernel-timeout'
import { native, type NativeTcpInfo } from './native'
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
  /** Descriptor that already got TCP_USER_TIMEOUT at connect time (-1: none). */
  userTimeoutFd: number
  /** True while a 'connect' listener is waiting to apply them. */
  waiting: boolean
  /** Node announced a TCP connect attempt for this socket (pipes never get one). */
  tcpAttempted: boolean
  /** Node's own setKeepAlive, used by the fallback and by our re-apply wrapper. */
  nodeSetKeepAlive: net.Socket['setKeepAlive']
}

type GuardedSocket = net.Socket & {
  [kState]?: SocketState
  _handle?: { fd?: number } | null
}

const caps = native.binding?.capabilities()
const hasDescriptors = process.platform !== 'win32'
/** The binding loaded and this platform hands out descriptors: socket options are reachable. */
const nativeUsable = native.binding !== undefined && caps !== undefined && hasDescriptors

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
  if (native.error) return `native binding failed to load: ${native.error.message}`
  if (!hasDescriptors) return `Node exposes no socket descriptors on ${process.platform}`
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
    // Without the binding, Node's own setKeepAlive still sets the idle time.
    keepAliveIdle: usable ? caps.keepAliveIdle : true,
    keepAliveInterval: usable && caps.keepAliveInterval,
    keepAliveCount: usable && caps.keepAliveCount,
    tcpInfo: usable && caps.tcpInfo,
    userTimeoutOption: usable && caps.userTimeout ? caps.userTimeoutOption : undefined,
  }
}

let warned = false
function warnOnce(message: string): void {
  if (warned) return
  warned = true
  process.emitWarning(message, { type: 'StallGuardWarning', code: 'STALLGUARD_DEGRADED' })
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
 * The values stay in force: a later `socket.setKeepAlive(true, …)` (Node's
 * http.Agent does this whenever a socket returns to its pool) would reset
 * interval and count, so it is followed by ours. `setKeepAlive(false)` is
 * respected.
 */
export function applySocketTimeouts(socket: net.Socket, tcp?: TcpTimeouts): void {
  applyResolvedTimeouts(socket, resolveTcpTimeouts(tcp))
}

/** Same as {@link applySocketTimeouts} with timeouts already validated (agents resolve once). */
export function applyResolvedTimeouts(socket: net.Socket, timeouts: ResolvedTcpTimeouts): void {
  if (!(socket instanceof net.Socket)) {
    throw invalidType('socket', socket, 'a net.Socket or tls.TLSSocket')
  }
  const guarded = socket as GuardedSocket
  let state = guarded[kState]
  if (state === undefined) {
    state = guard(guarded, timeouts)
  } else if (state.timeouts === timeouts && (state.applied || state.waiting)) {
    // The same agent's timeouts again (undici's connector sees the socket
    // twice: when it is returned and when it is handed over): already in
    // force or on their way, so no syscalls.
    return
  } else {
    // New values: everything is written again.
    state.timeouts = timeouts
    state.userTimeoutFd = -1
  }
  if (guarded.destroyed) return
  if (!guarded.connecting && fdOf(guarded) >= 0) {
    writeTimeouts(guarded, state)
    return
  }
  // The descriptor does not exist until the connect call runs (after DNS),
  // and happy-eyeballs makes a new one per attempt. Node emits
  // 'connectionAttempt' just before each connect call, so one tick later the
  // SYN_SENT socket exists: setting TCP_USER_TIMEOUT there bounds the kernel's
  // SYN retries too (Linux >= 5.4), which would otherwise run for ~2 minutes.
  // At 'connect' everything is written again, because Node re-applies its own
  // keepalive just before emitting it; prepending runs us after that and
  // before anyone else's listener.
  if (!state.waiting) {
    state.waiting = true
    const onAttempt = (address: string, port: number): void => {
      state.tcpAttempted = true
      // The last attempt is the one that connects; remembered for error messages.
      state.peerAddress = address
      state.peerPort = port
      process.nextTick(() => {
        if (!guarded.connecting || guarded.destroyed || fdOf(guarded) < 0) return
        try {
          writeUserTimeout(guarded, state)
        } catch (err) {
          guarded.destroy(err as Error)
        }
      })
    }
    guarded.on('connectionAttempt', onAttempt)
    const settle = (): void => {
      state.waiting = false
      guarded.off('connectionAttempt', onAttempt)
      guarded.off('close', settle)
    }
    guarded.once('close', settle)
    guarded.prependOnceListener('connect', () => {
      settle()
      try {
        writeTimeouts(guarded, state)
      } catch (err) {
        guarded.destroy(err as Error)
      }
    })
  }
}

function guard(socket: GuardedSocket, timeouts: ResolvedTcpTimeouts): SocketState {
  const state: SocketState = {
    timeouts,
    applied: false,
    keepAliveOurs: false,
    userTimeoutFd: -1,
    waiting: false,
    tcpAttempted: false,
    nodeSetKeepAlive: socket.setKeepAlive,
    peerAddress: undefined,
    peerPort: undefined,
  }
  socket[kState] = state

  // Node's setKeepAlive (libuv >= 1.35) rewrites TCP_KEEPINTVL=1 and
  // TCP_KEEPCNT=10 every time it is called, and node:http's pool calls it
  // whenever a socket comes back. While the kernel holds our values, such a
  // call is answered here without a syscall (it would only be undone again:
  // 4 setsockopts by Node, 3 by us, on every pooled request). Otherwise Node
  // runs and ours go back on right after.
  socket.setKeepAlive = function setKeepAlive(this: GuardedSocket, enable?: boolean, ...rest: unknown[]) {
    if (enable && state.keepAliveOurs && !this.connecting) return this
    const result = (state.nodeSetKeepAlive as (...args: unknown[]) => net.Socket).call(this, enable, ...rest)
    if (!enable) {
      state.keepAliveOurs = false
      return result
    }
    if (state.applied && state.timeouts.keepAlive && nativeUsable) {
      const fd = fdOf(this)
      if (fd >= 0) {
        try {
          writeKeepAlive(fd, state.timeouts)
          state.keepAliveOurs = true
        } catch (err) {
          this.destroy(err as Error)
        }
      }
    }
    return result
  }

  // A kernel abort surfaces as a plain `read ETIMEDOUT`; every path (read,
  // write, connect, TLS) ends in destroy(err), so that is where we name it,
  // while the descriptor (and with it TCP_INFO) still exists.
  const nodeDestroy = socket.destroy
  socket.destroy = function destroy(this: GuardedSocket, err?: Error, ...rest: unknown[]) {
    if (
      err !== undefined && err !== null && state.applied &&
      (err as NodeJS.ErrnoException).code === 'ETIMEDOUT' && !(err instanceof StallGuardError)
    ) {
      err = nameKernelTimeout(this, err, state.timeouts, state, tcpInfo(this))
    }
    return (nodeDestroy as (...args: unknown[]) => net.Socket).call(this, err, ...rest)
  } as net.Socket['destroy']
  return state
}

/** Negative = leave alone (the binding's convention); 0 in our model means the same. */
const orSkip = (value: number): number => (value > 0 ? value : -1)

function writeKeepAlive(fd: number, t: ResolvedTcpTimeouts): void {
  native.binding!.setTimeouts(
    fd,
    -1,
    caps!.keepAliveIdle ? orSkip(t.keepAliveIdleSeconds) : -1,
    caps!.keepAliveInterval ? orSkip(t.keepAliveIntervalSeconds) : -1,
    caps!.keepAliveCount ? orSkip(t.keepAliveCount) : -1,
    -1,
  )
}

function writeTimeouts(socket: GuardedSocket, state: SocketState): void {
  // Unix-domain sockets and other non-TCP streams have no peer family. Asking
  // costs a getpeername syscall (~6 µs here, a fifth of what a new connection
  // costs us), so a socket Node announced a TCP attempt for skips it.
  if (!state.tcpAttempted && socket.remoteFamily === undefined) return
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
  state.userTimeoutFd = fd
  state.applied = true
}

/** All our options onto the socket's descriptor (native layer usable, fd >= 0). */
function writeToKernel(socket: GuardedSocket, state: SocketState): void {
  if (!nativeUsable) return
  const t = state.timeouts
  const fd = fdOf(socket)
  const binding = native.binding!
  // Set at connect time on this very descriptor (happy-eyeballs makes one per attempt).
  const userTimeoutDone = fd === state.userTimeoutFd
  if (t.userTimeoutMs > 0 && !caps!.userTimeout) {
    warnOnce(`stallguard: this platform (${process.platform}) has no TCP user timeout option; ` +
      'only keepalive and application deadlines protect against stalled writes')
  }
  binding.setTimeouts(
    fd,
    t.keepAlive ? 1 : -1,
    caps!.keepAliveIdle ? orSkip(t.keepAliveIdleSeconds) : -1,
    caps!.keepAliveInterval ? orSkip(t.keepAliveIntervalSeconds) : -1,
    caps!.keepAliveCount ? orSkip(t.keepAliveCount) : -1,
    caps!.userTimeout && !userTimeoutDone ? orSkip(t.userTimeoutMs) : -1,
  )
  state.applied = true
  state.keepAliveOurs = t.keepAlive
  announceProtected(socket, t, 'native', state.peerAddress, state.peerPort)
}

/**
 * No binding or no descriptor: do what Node can. Node >= 24.21 / 26.4 also
 * honours interval and count here; older versions ignore the extra arguments.
 */
function fallback(socket: GuardedSocket, state: SocketState): void {
  const reason = unavailableReason() ?? 'the socket has no file descriptor'
  warnOnce(`stallguard: ${reason}; falling back to Node's setKeepAlive ` +
    '(keepalive idle only, no TCP_USER_TIMEOUT). Application deadlines still apply.')
  const t = state.timeouts
  if (!t.keepAlive) return
  ;(state.nodeSetKeepAlive as (...args: unknown[]) => net.Socket).call(
    socket, true, t.keepAliveIdleSeconds * 1000, t.keepAliveIntervalSeconds * 1000, t.keepAliveCount)
  announceProtected(socket, t, 'fallback', state.peerAddress, state.peerPort)
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
    throw new StallGuardError(`stallguard: cannot ${what}: ${reason}`, 'ERR_STALLGUARD_UNSUPPORTED', 'kernel')
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
