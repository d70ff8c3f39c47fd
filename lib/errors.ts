// Typed errors. Each says which layer fired (`layer`), keeps a stable `code`
// callers can classify on, and chains the original error as `cause`.
import { formatEndpoint } from './diagnostics/endpoint'
import { stallKind, summarizeTcpInfo } from './diagnostics/tcp-info-summary'
import type { NativeTcpInfo } from './kernel/native'
import type { ResolvedTcpTimeouts } from './kernel/tcp-options'
import { describeTcpTimeouts } from './kernel/tcp-options'

/** Which protection fired. */
export type StallLayer = 'kernel' | 'deadline'

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

/** A request's total time budget (`deadline`) ran out. */
export class DeadlineExceededError extends StallGuardError {
  /** The budget, ms. */
  deadline: number
  constructor(deadline: number, what = 'request', options?: { cause?: unknown }) {
    super(
      `${what} exceeded its deadline of ${deadline} ms (stallguard deadline)`,
      'SG_ERR_DEADLINE_EXCEEDED',
      'deadline',
      options,
    )
    this.name = 'DeadlineExceededError'
    this.deadline = deadline
  }
}
