// Reporting what the kernel layer does: a socket got its kernel timeouts
// (channel `stallguard:socket:protected`), the kernel gave up on a
// connection (`stallguard:kernel-timeout`), each with a NODE_DEBUG line.
// Registered on the kernel layer's hooks when this module loads (every
// entry point that protects sockets imports it). Free when nobody listens:
// payloads are built only for subscribers.
import type net from 'node:net'
import type { KernelTimeoutError } from '../errors'
import { nodeSetsKeepAliveIntervalAndCount } from '../kernel/degraded'
import { onKernelTimeout, onProtected } from '../kernel/hooks'
import type { NativeTcpInfo } from '../kernel/native'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'
import { describeTcpTimeouts } from '../kernel/tcp-options'
import { channels, withSocket, type AppliedTimeouts, type KernelTimeoutMessage, type SocketProtectedMessage } from './channels'
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

export function announceKernelTimeout(socket: net.Socket, error: KernelTimeoutError, info: NativeTcpInfo | undefined): void {
  if (channels.kernelTimeout.hasSubscribers) {
    const message: KernelTimeoutMessage = withSocket({ error, tcpInfo: info }, socket)
    channels.kernelTimeout.publish(message)
  }
  if (debugEnabled()) debug('kernel-timeout', error.message)
}

onProtected(announceProtected)
onKernelTimeout(announceKernelTimeout)
