// Reporting that a socket got its kernel timeouts: channel
// `stallguard:socket:protected` and a NODE_DEBUG line. Free when nobody
// listens: the payload is built only for subscribers.
import type net from 'node:net'
import { nodeSetsKeepAliveIntervalAndCount } from '../kernel/degraded'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'
import { describeTcpTimeouts } from '../kernel/tcp-options'
import { channels, withSocket, type AppliedTimeouts, type SocketProtectedMessage } from './channels'
import { debug, debugEnabled } from './debug'
import { formatEndpoint } from './endpoint'

/**
 * The resolved (kernel-unit) timeouts in the milliseconds the payload
 * promises: what the kernel holds now. The fallback has no user timeout, and
 * Node before 24.21 / 26.4 leaves libuv's interval 1 s and count 10.
 */
export function appliedTimeouts(t: ResolvedTcpTimeouts, via: SocketProtectedMessage['via']): AppliedTimeouts {
  const libuvKeepAlive = via === 'fallback' && !nodeSetsKeepAliveIntervalAndCount
  return {
    userTimeout: via === 'native' ? t.userTimeoutMs : 0,
    keepAliveIdle: t.keepAliveIdleSeconds * 1000,
    keepAliveInterval: libuvKeepAlive ? 1000 : t.keepAliveIntervalSeconds * 1000,
    keepAliveCount: libuvKeepAlive ? 10 : t.keepAliveCount,
  }
}

export function announceProtected(
  socket: net.Socket,
  timeouts: ResolvedTcpTimeouts,
  via: SocketProtectedMessage['via'],
  peerAddress: string | undefined,
  peerPort: number | undefined,
): void {
  const subscribed = channels.socketProtected.hasSubscribers
  const debugging = debugEnabled()
  if (!subscribed && !debugging) return
  // Remembered at the connection attempt; a socket protected after it connected answers itself.
  const address = peerAddress ?? socket.remoteAddress
  const port = peerPort ?? socket.remotePort
  if (subscribed) {
    const message: SocketProtectedMessage = withSocket({ address, port, timeouts: appliedTimeouts(timeouts, via), via }, socket)
    channels.socketProtected.publish(message)
  }
  if (debugging) {
    const peer = address === undefined ? 'a socket' : formatEndpoint(address, port)
    const what = via === 'native' ? describeTcpTimeouts(timeouts) : "keepalive through Node's setKeepAlive only"
    debug('protected', `${peer} (${via}): ${what}`)
  }
}
