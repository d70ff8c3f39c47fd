// Typed errors. Each says which layer fired (`layer`), keeps a stable `code`
// callers can classify on, and chains the original error as `cause`.
import { formatEndpoint } from './diagnostics/endpoint'
import { formatBytes, stallKind, summarizeTcpInfo } from './diagnostics/tcp-info-summary'
import type { NativeTcpInfo } from './kernel/native'
import type { ResolvedTcpTimeouts } from './kernel/tcp-options'
import { describeTcpTimeouts } from './kernel/tcp-options'

/** The phase a request was in. */
export type RequestPhase = 'queued' | 'connecting' | 'sending' | 'waiting for headers' | 'receiving body'

/** Which protection fired. */
export type StallLayer = 'kernel' | 'deadline' | 'throughput'

export class StallGuardError extends Error {
  code: string
  layer: StallLayer
  constructor(message: string, code: string, layer: StallLayer, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StallGuardError'
    this.code = code
    this.layer = layer
  }
}

/**
 * The kernel gave up on the peer: `TCP_USER_TIMEOUT` expired with data
 * unacknowledged, or keepalive probes went unanswered. Keeps
 * `code: 'ETIMEDOUT'`, `errno` and `syscall` of the original system error so
 * existing retry logic (AWS SDK, got, undici's retry) still recognises it.
 * The message says what the kernel saw (from `tcpInfo`), in words.
 */
export class KernelTimeoutError extends StallGuardError {
  errno: number | undefined
  syscall: string | undefined
  /** The peer's address, or the proxy's when the connection to the proxy died. */
  address: string | undefined
  port: number | undefined
  /** `TCP_USER_TIMEOUT` in effect, ms (0 = system default). */
  userTimeout: number
  /**
   * `TCP_INFO` read when the kernel gave up, before the descriptor closed
   * (same shape as `tcpInfo()`); undefined where the platform has none.
   */
  tcpInfo: NativeTcpInfo | undefined
  constructor(
    cause: NodeJS.ErrnoException,
    timeouts: ResolvedTcpTimeouts,
    peer: { address?: string | undefined; port?: number | undefined },
    tcpInfo?: NativeTcpInfo,
  ) {
    const where = peer.address ? ` to ${formatEndpoint(peer.address, peer.port)}` : ''
    const handshake = cause.syscall === 'connect'
    const what = tcpInfo !== undefined
      ? `${stallKind(tcpInfo, handshake)}: ${summarizeTcpInfo(tcpInfo, handshake)}`
      : handshake
        ? 'the peer never answered the handshake'
        : 'the peer stopped acknowledging data or keepalive probes'
    super(
      `${cause.syscall ?? 'socket'} ETIMEDOUT: the kernel aborted the connection${where}: ${what} ` +
        `(${describeTcpTimeouts(timeouts)})`,
      'ETIMEDOUT',
      'kernel',
      { cause },
    )
    this.name = 'KernelTimeoutError'
    this.errno = cause.errno
    this.syscall = cause.syscall
    this.address = peer.address
    this.port = peer.port
    this.userTimeout = timeouts.userTimeoutMs
    this.tcpInfo = tcpInfo
  }
}

/** Where a request was when a protection fired, redacted (no query string, no userinfo). */
export interface RequestSnapshot {
  method: string
  /** `protocol//host:port`, the port always written. */
  origin: string
  /** The path, its query string replaced by `?…`. */
  path: string
  phase: RequestPhase
  /** Request body bytes written to the connection so far. */
  bytesSent: number
  /** Response body bytes received so far. */
  bytesReceived: number
}

/** A request's total time budget (`deadline`) ran out. */
export class DeadlineExceededError extends StallGuardError {
  /** The budget, ms. */
  deadline: number
  method: string | undefined
  origin: string | undefined
  path: string | undefined
  /** The phase the request was in when its budget ran out. */
  phase: RequestPhase | undefined
  bytesSent: number | undefined
  bytesReceived: number | undefined
  constructor(deadline: number, request?: RequestSnapshot, options?: { cause?: unknown }) {
    const what = request
      ? `${request.method} ${request.origin}${request.path} exceeded its deadline of ${deadline} ms ` +
        `while ${request.phase} (${formatBytes(request.bytesSent)} sent, ${formatBytes(request.bytesReceived)} received)`
      : `request exceeded its deadline of ${deadline} ms`
    super(`${what} (stallguard deadline)`, 'SG_ERR_DEADLINE_EXCEEDED', 'deadline', options)
    this.name = 'DeadlineExceededError'
    this.deadline = deadline
    this.method = request?.method
    this.origin = request?.origin
    this.path = request?.path
    this.phase = request?.phase
    this.bytesSent = request?.bytesSent
    this.bytesReceived = request?.bytesReceived
  }
}

/** Which way the stalled body was going. */
export type StreamDirection = 'upload' | 'download'

/**
 * A request or response body moved slower than the `minThroughput` floor
 * (averaged over its grace period, time the caller held the body not
 * counted): the peer is alive but delivering (or draining) almost nothing.
 */
export class StalledStreamError extends StallGuardError {
  direction: StreamDirection
  /** Average rate over the window, bytes/s. */
  observedBytesPerSecond: number
  /** The floor, bytes/s. */
  bytesPerSecond: number
  /** The window the rate was averaged over, ms. */
  grace: number
  /** Body bytes moved in `direction` so far. */
  bytes: number
  method: string
  origin: string
  path: string
  phase: RequestPhase
  constructor(
    request: RequestSnapshot,
    rate: { direction: StreamDirection; observed: number; bytesPerSecond: number; grace: number },
  ) {
    const bytes = rate.direction === 'upload' ? request.bytesSent : request.bytesReceived
    const moved = rate.direction === 'upload' ? 'sent' : 'received'
    super(
      `${request.method} ${request.origin}${request.path}: ${rate.direction} stalled at ` +
        `${formatRate(rate.observed)} over the last ${(rate.grace / 1000).toFixed(1)} s, below the minimum of ` +
        `${formatRate(rate.bytesPerSecond)} (${formatBytes(bytes)} ${moved} so far) (stallguard minThroughput)`,
      'SG_ERR_STALLED_STREAM',
      'throughput',
    )
    this.name = 'StalledStreamError'
    this.direction = rate.direction
    this.observedBytesPerSecond = rate.observed
    this.bytesPerSecond = rate.bytesPerSecond
    this.grace = rate.grace
    this.bytes = bytes
    this.method = request.method
    this.origin = request.origin
    this.path = request.path
    this.phase = request.phase
  }
}

function formatRate(bytesPerSecond: number): string {
  const rounded = bytesPerSecond < 10 ? Math.round(bytesPerSecond * 10) / 10 : Math.round(bytesPerSecond)
  return `${rounded < 1024 ? `${rounded} B` : formatBytes(rounded)}/s`
}

/**
 * A connection was refused before it was attempted: the address (every
 * address of the origin) is down since a kernel timeout condemned it, and its
 * cool-down has not run out. Keeps `code: 'ETIMEDOUT'` and `syscall:
 * 'connect'` so retry logic treats it as the connect timeout it stands for;
 * `cause` is the error that condemned the address.
 */
export class AddressDownError extends StallGuardError {
  errno: number | undefined
  syscall: string
  address: string
  port: number
  /** When the address went down (epoch ms). */
  since: number
  /** What condemned it, in words. */
  reason: string
  constructor(address: string, port: number, since: number, reason: string, retryInMs: number, condemning: Error) {
    const ago = ((Date.now() - since) / 1000).toFixed(1)
    super(
      `connect ETIMEDOUT: ${formatEndpoint(address, port)} is down since ${new Date(since).toISOString()} ` +
        `(${ago} s ago): ${reason}; next probe in ${(Math.max(0, retryInMs) / 1000).toFixed(1)} s (stallguard address health)`,
      'ETIMEDOUT',
      'kernel',
      { cause: condemning },
    )
    this.name = 'AddressDownError'
    this.errno = (condemning as NodeJS.ErrnoException).errno
    this.syscall = 'connect'
    this.address = address
    this.port = port
    this.since = since
    this.reason = reason
  }
}
