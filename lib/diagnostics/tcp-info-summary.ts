// TCP_INFO in words, for error messages, debug lines and in-flight dumps:
// what the kernel saw when it gave up (or sees now). Only counters, never
// anything that names a request.
import type { NativeTcpInfo } from '../kernel/native'

/** Linux TCP states (include/net/tcp_states.h) this summary tells apart. */
const TCP_SYN_SENT = 2

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** `512 bytes`, `48 KiB`, `3.5 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? '' : 's'}`
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

/**
 * Bytes sent and not acknowledged. Exact where the kernel counts bytes
 * (Linux >= 4.19). Otherwise segments × MSS, an upper bound, and only while
 * the connection lives: the kernel empties its queue when it gives up.
 */
export function unacknowledgedBytes(info: NativeTcpInfo): { bytes: number; exact: boolean } {
  if (info.bytesSent !== undefined && info.bytesRetrans !== undefined && info.bytesAcked !== undefined) {
    // bytesAcked counts the SYN too, which carries no data.
    const dataAcked = Math.max(0, info.bytesAcked - 1)
    return { bytes: Math.max(0, info.bytesSent - info.bytesRetrans - dataAcked), exact: true }
  }
  return { bytes: info.unacked * info.sndMss, exact: false }
}

/**
 * The peer's receive window is closed and data waits behind it (Linux >=
 * 5.4 reports the window). A live peer that stopped reading still
 * acknowledges the window probes, which resets the kernel's probe counter;
 * unanswered probes mean the path died while the window was closed.
 */
export function windowClosed(info: NativeTcpInfo): boolean {
  return info.sndWnd === 0 && (info.notSentBytes === undefined || info.notSentBytes > 0)
}

/** What the peer stopped doing, judged from the counters. */
export function stallKind(info: NativeTcpInfo, handshake: boolean): string {
  if (handshake || info.state === TCP_SYN_SENT) return 'the peer never answered the handshake'
  if (windowClosed(info)) {
    return info.probes > 0
      ? 'the peer stopped answering zero-window probes'
      : 'the peer stopped reading (its receive window stayed closed)'
  }
  if (unacknowledgedBytes(info).bytes > 0 || (info.probes === 0 && Math.max(info.retransmits, info.totalRetrans) > 0)) {
    return 'the peer stopped acknowledging data'
  }
  if (info.probes > 0) return 'the peer stopped answering keepalive probes'
  return 'the peer stopped acknowledging data or keepalive probes'
}

/**
 * e.g. "no acknowledgement for 3.0 s, 6 retransmissions, 48 KiB
 * unacknowledged, last data received 3.2 s ago". `handshake`: the
 * connection never got past the SYN, so "last received" means nothing.
 * After the kernel gives up the socket is closed; the clocks and counters
 * (except the segment queue) keep their values.
 */
export function summarizeTcpInfo(info: NativeTcpInfo, handshake = false): string {
  if (handshake || info.state === TCP_SYN_SENT) {
    return `no SYN-ACK after ${plural(Math.max(info.totalRetrans, info.retransmits), 'SYN retransmission')}`
  }
  const parts: string[] = []
  const closed = windowClosed(info)
  if (closed && info.probes === 0) parts.push(`window probes acknowledged, the last ${seconds(info.lastAckRecv)} ago`)
  else parts.push(`no acknowledgement for ${seconds(info.lastAckRecv)}`)
  const retransmissions = Math.max(info.retransmits, info.totalRetrans)
  if (retransmissions > 0) parts.push(plural(retransmissions, 'retransmission'))
  if (info.probes > 0) parts.push(`${plural(info.probes, closed ? 'zero-window probe' : 'keepalive probe')} unanswered`)
  const unacked = unacknowledgedBytes(info)
  if (unacked.bytes > 0) parts.push(`${unacked.exact ? '' : 'up to '}${formatBytes(unacked.bytes)} unacknowledged`)
  if (info.notSentBytes !== undefined && info.notSentBytes > 0) {
    parts.push(`${formatBytes(info.notSentBytes)} not yet sent`)
  }
  if (info.sndWnd === 0) parts.push("the peer's receive window is 0")
  parts.push(`last data received ${seconds(info.lastDataRecv)} ago`)
  return parts.join(', ')
}
