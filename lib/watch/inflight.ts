// The in-flight registry: every open request of every stallguard agent, so a
// person on call can ask a live process what its requests are doing
// (`agent.inflight()`, `inflight()` for the whole process, or a signal that
// prints it). Built from the same trackers the deadline and the throughput
// floor use; adding and removing one is a list operation per request.
import { performance } from 'node:perf_hooks'
import type { RequestPhase } from '../diagnostics/channels'
import { formatBytes } from '../diagnostics/tcp-info-summary'
import { tcpInfo, type TcpInfo } from '../kernel/socket-timeouts'
import { List } from './list'
import { downAddresses, formatDownAddresses } from '../health/registry'
import type { RequestTracker } from './request-tracker'

/** One open request, redacted (no query string, no userinfo). */
export interface InflightRequest {
  method: string
  /** `protocol//host:port` */
  origin: string
  /** Path with the query string replaced by `?…`. */
  path: string
  phase: RequestPhase
  /** ms since the agent accepted the request. */
  age: number
  bytesSent: number
  bytesReceived: number
  /** The request's deadline, ms (0 = none). */
  deadline: number
  /** The throughput floor in force, if any. */
  minThroughput: { bytesPerSecond: number; grace: number } | undefined
  /** The connection's TCP_INFO summary, where the socket is known and the platform has it. */
  tcpInfo: TcpInfoSummary | undefined
}

/** The TCP_INFO fields that say whether a path is alive. */
export interface TcpInfoSummary {
  /** Retransmissions of the current unacknowledged segment. */
  retransmits: number
  totalRetrans: number
  /** Segments sent and not yet acknowledged. */
  unacked: number
  /** Smoothed RTT, ms. */
  rtt: number
  /** ms since data was last sent / received / an ACK arrived. */
  lastDataSent: number
  lastDataRecv: number
  lastAckRecv: number
}

/** Every open request of this copy of stallguard, oldest first. */
export const inflightRequests = new List<RequestTracker>()

function summarize(info: TcpInfo): TcpInfoSummary {
  return {
    retransmits: info.retransmits,
    totalRetrans: info.totalRetrans,
    unacked: info.unacked,
    rtt: Math.round(info.rtt / 100) / 10,
    lastDataSent: info.lastDataSent,
    lastDataRecv: info.lastDataRecv,
    lastAckRecv: info.lastAckRecv,
  }
}

function readTcpInfo(tracker: RequestTracker): TcpInfoSummary | undefined {
  const socket = tracker.socket()
  if (socket === undefined || socket.destroyed) return undefined
  try {
    const info = tcpInfo(socket)
    return info && summarize(info)
  } catch {
    // A dump must never throw because one socket went away under it.
    return undefined
  }
}

function describe(tracker: RequestTracker, now: number): InflightRequest {
  return {
    ...tracker.snapshot(),
    age: Math.round(now - tracker.startedAt),
    deadline: tracker.deadline,
    minThroughput: tracker.floor && { ...tracker.floor },
    tcpInfo: readTcpInfo(tracker),
  }
}

/** Open requests, oldest first; only those opened by `owner` when given. */
export function listInflight(owner?: object): InflightRequest[] {
  const now = performance.now()
  const list: InflightRequest[] = []
  for (const tracker of inflightRequests) {
    if (owner === undefined || tracker.owner === owner) list.push(describe(tracker, now))
  }
  return list
}

/**
 * Every request open on any stallguard agent in this process: the ones
 * install() set up (global dispatcher, http(s).globalAgent) and any other.
 */
export function inflight(): InflightRequest[] {
  return listInflight()
}

/** The dump as text: one line per request, for stderr. */
export function formatInflight(list: InflightRequest[]): string {
  const lines = [`stallguard: ${list.length} request${list.length === 1 ? '' : 's'} in flight (pid ${process.pid})`]
  for (const r of list) {
    const tcp = r.tcpInfo
      ? `; tcp: ${r.tcpInfo.unacked} unacked, ${r.tcpInfo.retransmits} retransmits (${r.tcpInfo.totalRetrans} total), ` +
        `rtt ${r.tcpInfo.rtt} ms, last data received ${r.tcpInfo.lastDataRecv} ms ago, last ack ${r.tcpInfo.lastAckRecv} ms ago`
      : ''
    lines.push(`  ${r.method} ${r.origin}${r.path} ${r.phase} for ${(r.age / 1000).toFixed(1)} s: ` +
      `${formatBytes(r.bytesSent)} sent, ${formatBytes(r.bytesReceived)} received` +
      `${r.deadline > 0 ? `, deadline ${r.deadline} ms` : ''}${tcp}`)
  }
  return `${lines.join('\n')}\n`
}

let dumpSignal: NodeJS.Signals | undefined
function onDumpSignal(): void {
  // Down addresses explain queued requests failing at once (docs/address-health.md).
  process.stderr.write(formatInflight(inflight()) + formatDownAddresses(downAddresses()))
}

/**
 * Print the in-flight dump to stderr whenever `signal` arrives (opt-in,
 * `STALLGUARD_DUMP_SIGNAL=SIGUSR2`). One signal at a time; `undefined`
 * stops listening. The listener keeps no event-loop reference beyond what
 * Node's signal handling does.
 */
export function dumpInflightOn(signal: NodeJS.Signals | undefined): void {
  if (signal === dumpSignal) return
  if (dumpSignal !== undefined) process.removeListener(dumpSignal, onDumpSignal)
  dumpSignal = signal
  if (signal !== undefined) process.on(signal, onDumpSignal)
}
