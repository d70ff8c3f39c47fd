// What the kernel layer reports, through hooks it owns: the diagnostics
// layer above registers its listeners here (channels, NODE_DEBUG), so the
// dependency points outward and lib/kernel/ imports nothing from
// lib/diagnostics/. One listener per hook; nothing registered, nothing done.
import type net from 'node:net'
import type { KernelTimeoutError } from '../errors'
import type { NativeTcpInfo } from './native'
import type { ResolvedTcpTimeouts } from './tcp-options'

/** A socket got its kernel timeouts: all of them natively, or what Node's setKeepAlive could set. */
export type ProtectedListener = (
  socket: net.Socket,
  timeouts: ResolvedTcpTimeouts,
  via: 'native' | 'fallback',
  peerAddress: string | undefined,
  peerPort: number | undefined,
) => void

/** The kernel gave up on a connection; `info` is TCP_INFO read while the descriptor was open. */
export type KernelTimeoutListener = (socket: net.Socket, error: KernelTimeoutError, info: NativeTcpInfo | undefined) => void

export const kernelHooks: { protected?: ProtectedListener; kernelTimeout?: KernelTimeoutListener } = {}

export function onProtected(listener: ProtectedListener): void {
  kernelHooks.protected = listener
}

export function onKernelTimeout(listener: KernelTimeoutListener): void {
  kernelHooks.kernelTimeout = listener
}
