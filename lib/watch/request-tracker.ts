// One open request as stallguard watches it: where it is (phase), how many
// body bytes moved each way, how old it is, and whether our caller is the
// one holding its body. The same object serves the deadline, the throughput
// floor (both checked by the shared clock) and the in-flight dump.
//
// Each front door (undici interceptor, node:http agents) describes its
// request through a RequestProbe: reading counters and state when asked,
// so the request's hot path does no more than count bytes.
import type net from 'node:net'
import { performance } from 'node:perf_hooks'
import type { RequestPhase } from '../diagnostics/channels'
import { redactOrigin, redactPath } from '../diagnostics/redact'
import { DeadlineExceededError, StalledStreamError, type RequestSnapshot, type StreamDirection } from '../errors'
import { announceDeadline, announceStall } from './announce'
import { clock, type Watched } from './clock'
import type { Entry } from './list'
import { inflightRequests } from './inflight'
import { sampleInterval, ThroughputWindow, type MinThroughput } from './throughput'

/** A front door's view of its request. */
export interface RequestProbe {
  phase(): RequestPhase
  bytesSent(): number
  bytesReceived(): number
  /** Our caller holds the body this way now: a paused consumer, or no upload bytes handed over yet. */
  heldByCaller(direction: StreamDirection): boolean
  /** The connection, once there is one and it is reachable (for tcpInfo in the dump). */
  socket(): net.Socket | undefined
  /** End the request with `err`: abort it, destroy its socket and request body. */
  fail(err: Error): void
}

/** Who the request goes to, as given by the caller (redacted only when printed). */
export interface RequestTarget {
  method: string
  /** `protocol//host[:port]` or a URL; userinfo is dropped when printed. */
  origin?: unknown
  /** Port to print when `origin` has none (the scheme's default). */
  port?: number | undefined
  path: unknown
}

export interface WatchOptions {
  /** Total budget, ms; 0 = none. */
  deadline: number
  floor: MinThroughput | undefined
  /** Who opened it, for agent.inflight(). */
  owner: object
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443 }

/** `protocol//host:port` with the port always written and no userinfo. */
export function originWithPort(origin: unknown, port?: number): string {
  const redacted = redactOrigin(origin)
  try {
    const url = new URL(redacted)
    const p = url.port || String(port ?? DEFAULT_PORTS[url.protocol] ?? '')
    return p ? `${url.protocol}//${url.hostname.includes(':') ? `[${url.hostname.replace(/^\[|\]$/g, '')}]` : url.hostname}:${p}` : redacted
  } catch {
    return redacted
  }
}

export class RequestTracker implements Watched {
  readonly target: RequestTarget
  readonly owner: object
  readonly deadline: number
  readonly floor: MinThroughput | undefined
  readonly startedAt = performance.now()
  readonly expiresAt: number
  readonly sampleEvery: number
  private readonly probe: RequestProbe
  private throughputWindow: ThroughputWindow | undefined = undefined
  private windowDirection: StreamDirection | undefined = undefined
  private watching = false
  private listed: Entry<RequestTracker> | undefined = undefined
  private clocked: Entry<Watched> | undefined = undefined

  constructor(probe: RequestProbe, target: RequestTarget, options: WatchOptions) {
    this.probe = probe
    this.target = target
    this.owner = options.owner
    this.deadline = options.deadline
    this.floor = options.floor
    this.expiresAt = options.deadline > 0 ? this.startedAt + options.deadline : Infinity
    this.sampleEvery = options.floor ? sampleInterval(options.floor) : 0
  }

  /** Start watching: listed in flight, and on the clock when it has a deadline or a floor. */
  open(): void {
    if (this.watching) return
    this.watching = true
    this.listed = inflightRequests.add(this)
    if (this.expiresAt !== Infinity || this.sampleEvery > 0) this.clocked = clock.watch(this)
  }

  /** The request is over (or failed): stop watching. */
  close(): void {
    if (!this.watching) return
    this.watching = false
    if (this.listed !== undefined) inflightRequests.remove(this.listed)
    if (this.clocked !== undefined) clock.unwatch(this.clocked)
  }

  get isOpen(): boolean {
    return this.watching
  }

  snapshot(): RequestSnapshot {
    const probe = this.probe
    return {
      method: this.target.method,
      origin: originWithPort(this.target.origin, this.target.port),
      path: redactPath(this.target.path),
      phase: probe.phase(),
      bytesSent: probe.bytesSent(),
      bytesReceived: probe.bytesReceived(),
    }
  }

  socket(): net.Socket | undefined {
    return this.probe.socket()
  }

  expire(): void {
    if (!this.watching) return
    const snapshot = this.snapshot()
    const err = new DeadlineExceededError(this.deadline, snapshot)
    this.close()
    announceDeadline(err, snapshot.phase)
    this.probe.fail(err)
  }

  sample(now: number): void {
    const floor = this.floor
    if (!this.watching || floor === undefined) return
    const probe = this.probe
    const phase = probe.phase()
    const direction: StreamDirection | undefined =
      phase === 'sending' ? 'upload' : phase === 'receiving body' ? 'download' : undefined
    if (direction === undefined) {
      // Waiting for headers (headersTimeout's job) or not started: nothing to measure.
      this.throughputWindow = undefined
      this.windowDirection = undefined
      return
    }
    const bytes = direction === 'upload' ? probe.bytesSent() : probe.bytesReceived()
    if (this.throughputWindow === undefined || this.windowDirection !== direction) {
      this.throughputWindow = new ThroughputWindow(floor, now, bytes)
      this.windowDirection = direction
      return
    }
    const rate = this.throughputWindow.sample(now, bytes, probe.heldByCaller(direction))
    if (rate < 0) return
    const err = new StalledStreamError(this.snapshot(), {
      direction, observed: rate, bytesPerSecond: floor.bytesPerSecond, grace: this.throughputWindow.measuredMs,
    })
    this.close()
    announceStall(err)
    probe.fail(err)
  }
}
