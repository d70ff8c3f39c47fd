// The only caller of node-gyp-build. Loading never throws: a missing or
// broken binding is recorded with its reason, and the rest of the package
// degrades to what Node can do by itself.
import { join } from 'node:path'
import { nativeSkipReason } from './degraded'

export interface NativeCapabilities {
  keepAlive: boolean
  keepAliveIdle: boolean
  keepAliveInterval: boolean
  keepAliveCount: boolean
  userTimeout: boolean
  tcpInfo: boolean
  /** Kernel name of the user-timeout option, '' when there is none. */
  userTimeoutOption: string
  /** 1 where the kernel counts milliseconds, 1000 where it counts seconds. */
  userTimeoutGranularity: number
}

export interface NativeTimeouts {
  keepAlive: boolean
  /** ms; -1 where the platform has no such option */
  keepAliveIdle: number
  keepAliveInterval: number
  keepAliveCount: number
  userTimeout: number
}

export interface NativeTcpInfo {
  state: number
  caState: number
  retransmits: number
  probes: number
  backoff: number
  /** µs */
  rto: number
  /** µs */
  rtt: number
  rttVar: number
  sndCwnd: number
  unacked: number
  lost: number
  totalRetrans: number
  /** ms since */
  lastDataSent: number
  lastDataRecv: number
  lastAckRecv: number
  /** Bytes per segment (turns `unacked` segments into an estimate in bytes). */
  sndMss: number
  // Absent where the kernel (or the headers the binding was built with) is
  // older than the version named.
  /** Bytes the peer acknowledged (Linux >= 4.1). */
  bytesAcked?: number
  /** Bytes received from the peer (Linux >= 4.1). */
  bytesReceived?: number
  /** Bytes queued but not yet sent: a closed window or congestion holds them back (Linux >= 4.6). */
  notSentBytes?: number
  /** Data bytes sent, retransmissions included (Linux >= 4.19). */
  bytesSent?: number
  /** Data bytes retransmitted (Linux >= 4.19). */
  bytesRetrans?: number
  /** The peer's advertised receive window in bytes; 0 = it stopped reading (Linux >= 5.4). */
  sndWnd?: number
}

export interface NativeBinding {
  capabilities(): NativeCapabilities
  /** Negative values leave an option untouched. */
  setTimeouts(
    fd: number,
    keepAlive: number,
    idleSeconds: number,
    intervalSeconds: number,
    count: number,
    userTimeoutMs: number,
  ): void
  getTimeouts(fd: number): NativeTimeouts
  tcpInfo(fd: number): NativeTcpInfo
}

export type NativeLoad =
  | { binding: NativeBinding; file: string; error: undefined }
  | { binding: undefined; file: undefined; error: Error }

function load(): NativeLoad {
  const skip = nativeSkipReason(process.platform)
  if (skip !== undefined) return { binding: undefined, file: undefined, error: new Error(skip) }
  try {
    // Compiled output lives in dist/kernel/, sources in lib/kernel/: the package root is two up from both.
    const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string }
    // Resolve, then require, so we can report which file won: a stale build/
    // shadows prebuilds/, and PREBUILDS_ONLY=1 skips build/ altogether.
    const file = nodeGypBuild.resolve(join(__dirname, '..', '..'))
    const binding = require(file) as NativeBinding
    if (typeof binding?.setTimeouts !== 'function') {
      throw new Error(`${file} does not export setTimeouts`)
    }
    return { binding, file, error: undefined }
  } catch (err) {
    return { binding: undefined, file: undefined, error: err instanceof Error ? err : new Error(String(err)) }
  }
}

export const native: NativeLoad = load()
