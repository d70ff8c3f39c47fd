// Turning the kernel's bare `read ETIMEDOUT` into a KernelTimeoutError that
// says who the peer was and what the kernel saw, and reporting it through
// the kernel layer's hook (the diagnostics layer publishes it: channel
// `stallguard:kernel-timeout`, NODE_DEBUG). Called from the socket's destroy
// wrapper, where the descriptor is still open: TCP_INFO is read there or
// never (the counters die with the descriptor).
import type net from 'node:net'
import { KernelTimeoutError } from '../errors'
import { kernelHooks } from './hooks'
import type { NativeTcpInfo } from './native'
import type { ResolvedTcpTimeouts } from './tcp-options'

/** The peer as remembered when the connection was made (getpeername fails once the kernel gave up). */
export interface RememberedPeer {
  peerAddress: string | undefined
  peerPort: number | undefined
}

type SystemError = NodeJS.ErrnoException & { address?: string; port?: number }

/**
 * Name a kernel abort. `info` is the TCP_INFO snapshot taken by the caller
 * while the descriptor is open.
 */
export function nameKernelTimeout(
  socket: net.Socket,
  cause: SystemError,
  timeouts: ResolvedTcpTimeouts,
  remembered: RememberedPeer,
  info: NativeTcpInfo | undefined,
): KernelTimeoutError {
  // A connect that timed out has no peer yet: Node put the address on the error.
  // Otherwise the peer remembered at the connection attempt; remoteAddress
  // only answers if something asked before the kernel gave up.
  const address = remembered.peerAddress ?? cause.address ?? socket.remoteAddress
  const port = remembered.peerPort ?? cause.port ?? socket.remotePort
  const error = new KernelTimeoutError(cause, timeouts, { address, port }, info)
  kernelHooks.kernelTimeout?.(socket, error, info)
  return error
}
