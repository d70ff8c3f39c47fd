// diagnostics_channel names and payloads stallguard publishes. APM agents and
// OpenTelemetry instrumentations subscribe there, as they do to undici's and
// node:http's. Publishing is free when nobody listens: every publisher checks
// `hasSubscribers` before it builds a payload.
//
// Payloads are stable: fields are added, never renamed or removed. Strings in
// them that name a request (origin, path) are redacted (see redact.ts).
import diagnostics from 'node:diagnostics_channel'
import type net from 'node:net'
import type { DeadlineExceededError, KernelTimeoutError, RequestPhase } from '../errors'
import type { NativeTcpInfo as TcpInfo } from '../kernel/native'

export type { RequestPhase }

/** Kernel timeouts as written to one socket, in milliseconds (count: probes; 0 = system default). */
export interface AppliedTimeouts {
  userTimeout: number
  keepAliveIdle: number
  keepAliveInterval: number
  keepAliveCount: number
}

/**
 * Payloads that carry the live socket carry it as a non-enumerable property:
 * a subscriber reads `message.socket` as usual, but `util.inspect(message)`
 * or `JSON.stringify(message)` in a logger never walks into it (a node:http
 * socket holds its request, whose path has the query string).
 */
export function withSocket<T extends object>(payload: T, socket: net.Socket): T & { socket: net.Socket } {
  return Object.defineProperty(payload, 'socket', { value: socket, enumerable: false }) as T & { socket: net.Socket }
}

/** `stallguard:socket:protected`: a socket got its kernel timeouts. */
export interface SocketProtectedMessage {
  /** Not enumerable (see withSocket). */
  socket: net.Socket
  /**
   * The peer (or proxy) the socket connects to. The agents' own sockets are
   * protected while the SYN is in flight, when `socket.remoteAddress` is not
   * known yet; undefined only when nothing says (a socket connected elsewhere
   * whose peer was never asked).
   */
  address: string | undefined
  port: number | undefined
  timeouts: AppliedTimeouts
  /** 'native': every option written by the addon; 'fallback': what Node's setKeepAlive could set. */
  via: 'native' | 'fallback'
}

/** `stallguard:kernel-timeout`: the kernel gave up on a connection. */
export interface KernelTimeoutMessage {
  error: KernelTimeoutError
  /** Not enumerable (see withSocket). */
  socket: net.Socket
  /** TCP_INFO read when the kernel gave up; undefined where the platform has none. */
  tcpInfo: TcpInfo | undefined
}

/** `stallguard:deadline`: a request's deadline fired. */
export interface DeadlineMessage {
  error: DeadlineExceededError
  phase: RequestPhase
}

/** `stallguard:retry`: a request that died on a stale pooled connection is sent again. */
export interface RetryMessage {
  /** 1 for the first retry. */
  attempt: number
  /** The error that ended the previous attempt. */
  error: Error
  method: string
  /** Redacted origin (`https://host:port`). */
  origin: string
  /** Redacted path (query string replaced by `?…`). */
  path: string
}

/** `stallguard:address:down`: an address stops getting new connections. */
export interface AddressDownMessage {
  address: string
  port: number
  /** What condemned it, in words. */
  reason: string
  /** The error that condemned it (a KernelTimeoutError, usually). */
  error: Error
  /** When it went down (epoch ms). */
  since: number
  /** ms until its probe connection may go out. */
  coolDown: number
}

/** `stallguard:address:up`: a connection to a down address succeeded; it is used again. */
export interface AddressUpMessage {
  address: string
  port: number
  /** What had condemned it. */
  reason: string
  /** ms it was down. */
  downFor: number
}

export const channels = {
  socketProtected: diagnostics.channel('stallguard:socket:protected'),
  kernelTimeout: diagnostics.channel('stallguard:kernel-timeout'),
  deadline: diagnostics.channel('stallguard:deadline'),
  retry: diagnostics.channel('stallguard:retry'),
  addressDown: diagnostics.channel('stallguard:address:down'),
  addressUp: diagnostics.channel('stallguard:address:up'),
} as const
