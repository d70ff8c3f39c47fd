// How long a stalled connection can hang, per kind of stall, from the
// kernel's own rules: without stallguard (the sysctls alone) and with a
// given configuration. Seconds; null = never ends (no layer gives up).
//
// The retransmission budget follows the kernel's retransmits_timed_out():
// the RTO doubles from its base up to TCP_RTO_MAX, and `retries` such
// intervals (plus the last one) are waited out. With the minimum RTO that
// is a lower bound: a real RTO also carries the path's round-trip time.

/** include/net/tcp.h: TCP_RTO_MIN, TCP_RTO_MAX, TCP_TIMEOUT_INIT (ms). */
export const RTO_MIN_MS = 200
export const RTO_MAX_MS = 120_000
export const SYN_RTO_MS = 1000

/** The kernel's defaults for the sysctls below, used where /proc/sys cannot be read. */
export interface TcpSysctls {
  tcp_retries2: number
  tcp_syn_retries: number
  /** seconds */
  tcp_keepalive_time: number
  /** seconds */
  tcp_keepalive_intvl: number
  tcp_keepalive_probes: number
}

/** ms until the kernel gives up after `retries` retransmissions, the first after `rtoBaseMs`. */
export function retransmissionBudgetMs(retries: number, rtoBaseMs: number): number {
  const linearBackoffThresh = Math.floor(Math.log2(RTO_MAX_MS / rtoBaseMs))
  if (retries <= linearBackoffThresh) return ((2 << retries) - 1) * rtoBaseMs
  return ((2 << linearBackoffThresh) - 1) * rtoBaseMs + (retries - linearBackoffThresh) * RTO_MAX_MS
}

/** The kinds of stall stallguard is about (docs/diagnostics.md explains each). */
export interface StallSeconds {
  /** SYN never answered. */
  synUnanswered: number | null
  /** The path died with data in flight: a request written into a dead pooled connection, an upload. */
  deadPath: number | null
  /** The request was acknowledged, then silence: an idle connection to a dead peer (keepalive's case). */
  silentPeer: number | null
  /** The peer is alive but stopped reading: its receive window stays closed. */
  zeroWindow: number | null
}

/** Keepalive as the kernel will run it (seconds, count); undefined: keepalive off. */
export interface KeepAliveRun {
  idle: number
  interval: number
  count: number
}

/**
 * An idle dead peer: the first probe after `idle`, one per `interval`. With
 * a user timeout the kernel ignores the count and gives up at the first
 * probe tick where the silence has lasted the user timeout and at least one
 * probe went out.
 */
export function silentPeerSeconds(keepAlive: KeepAliveRun | undefined, userTimeoutMs: number): number | null {
  if (keepAlive === undefined) return null
  const { idle, interval, count } = keepAlive
  if (userTimeoutMs <= 0) return idle + count * interval
  const ticks = Math.max(1, Math.ceil((userTimeoutMs / 1000 - idle) / interval))
  return idle + ticks * interval
}

/** Without stallguard: only the sysctls (keepalive as if the client turned SO_KEEPALIVE on). */
export function worstCaseWithout(s: TcpSysctls): StallSeconds {
  return {
    synUnanswered: retransmissionBudgetMs(s.tcp_syn_retries, SYN_RTO_MS) / 1000,
    deadPath: retransmissionBudgetMs(s.tcp_retries2, RTO_MIN_MS) / 1000,
    silentPeer: silentPeerSeconds(
      { idle: s.tcp_keepalive_time, interval: s.tcp_keepalive_intvl, count: s.tcp_keepalive_probes }, 0),
    // Zero-window probes are answered: without a user timeout (Linux >= 5.11) nothing gives up.
    zeroWindow: null,
  }
}

export interface ProtectionInEffect {
  /** TCP_USER_TIMEOUT written to sockets, ms; 0 = none. */
  userTimeoutMs: number
  keepAlive: KeepAliveRun | undefined
  /** Kernel features (see kernelFeatures). */
  synBoundedByUserTimeout: boolean
  zeroWindowAbort: boolean
  /** Per-request deadline, ms; 0 = none. Caps every kind. */
  deadlineMs: number
}

export function worstCaseWith(s: TcpSysctls, p: ProtectionInEffect): StallSeconds {
  const without = worstCaseWithout(s)
  const ut = p.userTimeoutMs / 1000
  const kernel: StallSeconds = {
    synUnanswered: p.userTimeoutMs > 0 && p.synBoundedByUserTimeout
      ? Math.min(ut, without.synUnanswered!)
      : without.synUnanswered,
    deadPath: p.userTimeoutMs > 0 ? ut : without.deadPath,
    silentPeer: silentPeerSeconds(p.keepAlive, p.userTimeoutMs),
    zeroWindow: p.userTimeoutMs > 0 && p.zeroWindowAbort ? ut : null,
  }
  if (p.deadlineMs <= 0) return kernel
  const cap = (v: number | null): number => (v === null ? p.deadlineMs / 1000 : Math.min(v, p.deadlineMs / 1000))
  return {
    synUnanswered: cap(kernel.synUnanswered),
    deadPath: cap(kernel.deadPath),
    silentPeer: cap(kernel.silentPeer),
    zeroWindow: cap(kernel.zeroWindow),
  }
}

/** Kernel release → the features the user timeout depends on (Linux; false elsewhere). */
export function kernelFeatures(platform: string, release: string): { synBoundedByUserTimeout: boolean; zeroWindowAbort: boolean } {
  const match = /^(\d+)\.(\d+)/.exec(release)
  if (platform !== 'linux' || match === null) return { synBoundedByUserTimeout: false, zeroWindowAbort: false }
  const version = Number(match[1]) * 1000 + Number(match[2])
  return {
    synBoundedByUserTimeout: version >= 5004,
    zeroWindowAbort: version >= 5011,
  }
}
