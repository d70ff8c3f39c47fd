// Reporting that a socket got its kernel timeouts: channel
// `stallguard:socket:protected` and a NODE_DEBUG line. Free when nobody
// listens: the payload is built only for subscribers.
import type net from 'node:net'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'
import { describeTcpTimeouts } from '../kernel/tcp-options'
import { channels, type AppliedTimeouts, type SocketProtectedMessage } from './channels'
import { debug, debugEnabled } from './debug'
import { formatEndpoint } from './endpoint'

/**
 * The resolved (kernel-unit) timeouts in the milliseconds the payload
 * promises. The fallback has no user timeout (and Node before 24.21 / 26.4
 * ignores interval and count: the kernel then holds 1 s and 10).
 */
export function appliedTimeouts(t: ResolvedTcpTimeouts, via: SocketProtectedMessage['via']): AppliedTimeouts {
  return {
    userTimeout: via === 'native' ? t.userTimeoutMs : 0,
    keepAliveIdle: t.keepAliveIdleSeconds * 1000,
    keepAliveInterval: t.keepAliveIntervalSeconds * 1000,
    keepAliveCount: t.keepAliveCount,
  }
}

export function announceProtected(
  socket: net.Socket,
  timeouts: ResolvedTcpTimeouts,
  via: SocketProtectedMessage['via'],
  peerAddress: string | undefined,
  peerPort: number | undefined,
): void {
  if (channels.socketProtected.hasSubscribers) {
    const message: SocketProtectedMessage = { socket, timeouts: appliedTimeouts(timeouts, via), via }
    channels.socketProtected.publish(message)
  }
  if (debugEnabled()) {
    const address = peerAddress ?? socket.remoteAddress
    const peer = address === undefined ? 'a socket' : formatEndpoint(address, peerPort ?? socket.remotePort)
    const what = via === 'native' ? describeTcpTimeouts(timeouts) : "keepalive through Node's setKeepAlive only"
    debug('protected', `${peer} (${via}): ${what}`)
  }
}
