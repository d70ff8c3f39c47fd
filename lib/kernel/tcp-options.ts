// The option model for the kernel layer: what users write (milliseconds,
// `false` for "system default"), the defaults, and the resolved form in the
// units each socket option takes. Resolved once per agent, not per socket.
import { unknownKeyHint } from '../suggest'
import { checkNumber, invalidType, outOfRange } from '../validate'

/** Kernel timeouts for one socket. All durations are in milliseconds. */
export interface TcpTimeouts {
  /**
   * `TCP_USER_TIMEOUT`: abort when sent data stays unacknowledged this long.
   * Catches "data written into the void". 0/false = system default
   * (`tcp_retries2`, about 15 minutes on Linux).
   */
  userTimeout?: number | false
  /** `TCP_KEEPIDLE`: idle time before the first keepalive probe. Rounded up to whole seconds. */
  keepAliveIdle?: number | false
  /** `TCP_KEEPINTVL`: time between probes. Rounded up to whole seconds. */
  keepAliveInterval?: number | false
  /** `TCP_KEEPCNT`: unanswered probes before the kernel gives up. */
  keepAliveCount?: number | false
  /**
   * Accept a user timeout or keepalive time under {@link TCP_FLOOR_MS}
   * (1 s). Off by default: such a value is almost always seconds written
   * as milliseconds, and a user timeout that short aborts healthy
   * connections (see TCP_FLOOR_MS). For tests on a loopback-only network.
   */
  allowShortTimeouts?: boolean
}

/**
 * Defaults: a dead idle peer is found in about 10 s
 * (idle 5 s + 5 probes × 1 s), and unacknowledged data is given up on after
 * 10 s, following the rule user timeout ≈ idle + interval × count.
 */
export const DEFAULT_TCP_TIMEOUTS: Readonly<{
  userTimeout: number
  keepAliveIdle: number
  keepAliveInterval: number
  keepAliveCount: number
}> = Object.freeze({
  userTimeout: 10_000,
  keepAliveIdle: 5_000,
  keepAliveInterval: 1_000,
  keepAliveCount: 5,
})

/** Timeouts in kernel units. 0 = leave that option at the system default. */
export interface ResolvedTcpTimeouts {
  /** Whether SO_KEEPALIVE is turned on (false only when every keepalive option is off). */
  keepAlive: boolean
  keepAliveIdleSeconds: number
  keepAliveIntervalSeconds: number
  keepAliveCount: number
  userTimeoutMs: number
}

/** Kernel limits, shared with the env-var parser so both report the same ranges. */
export const KEEPALIVE_MAX_SECONDS = 32767
export const KEEPALIVE_MAX_COUNT = 127
export const USER_TIMEOUT_MAX_MS = 2 ** 31 - 1

/**
 * Smallest user timeout and keepalive time accepted unless
 * `allowShortTimeouts` is set, in ms. Why 1 s: the kernel retransmits a lost
 * SYN after 1 s and any other lost segment after at least 200 ms plus the
 * round trip, so a user timeout under 1 s turns a single lost packet, or a
 * slow path, into an aborted healthy connection; and keepalive runs in whole
 * seconds, so a smaller value is rounded up to 1 s anyway. A value under it
 * is nearly always seconds written as milliseconds (`userTimeout: 10`).
 */
export const TCP_FLOOR_MS = 1000

const KEYS = ['userTimeout', 'keepAliveIdle', 'keepAliveInterval', 'keepAliveCount', 'allowShortTimeouts'] as const

const SHORT_REASON = {
  userTimeout: 'a shorter user timeout aborts healthy connections on a normal network (a lost SYN is resent ' +
    'after 1 s, any other lost packet after 200 ms plus the round trip)',
  keepAlive: 'keepalive runs in whole seconds',
}

/** Refuse a time under the floor, naming what was probably meant and the way out. */
function checkFloor(name: string, ms: number, reason: string, allowName: string): void {
  if (ms === 0 || ms >= TCP_FLOOR_MS) return
  // Up to two minutes written as seconds is the likely slip; beyond that, no guess.
  const guess = ms <= 120 ? ` did you mean ${ms * 1000} (${ms} s)?` : ''
  throw outOfRange(name, ms,
    `at least ${TCP_FLOOR_MS} ms, or 0/false for the system default (${reason}); values are in milliseconds:` +
    `${guess} To use ${ms} ms anyway, set ${allowName}: true`)
}

/**
 * Validate user-facing timeouts (milliseconds, missing keys take the
 * defaults) and convert them to kernel units. `prefix` names the option in
 * error messages, e.g. `tcp` gives `tcp.userTimeout`.
 */
export function resolveTcpTimeouts(
  tcp: TcpTimeouts | undefined,
  prefix = 'tcp',
): ResolvedTcpTimeouts {
  if (tcp !== undefined && (tcp === null || typeof tcp !== 'object')) {
    throw invalidType(prefix, tcp, 'an object of TCP timeouts')
  }
  for (const key of Object.keys(tcp ?? {})) {
    if (!(KEYS as readonly string[]).includes(key)) {
      throw invalidType(`${prefix}.${key}`, (tcp as Record<string, unknown>)[key],
        `one of ${KEYS.join(', ')} (unknown option${unknownKeyHint(key, KEYS)})`)
    }
  }
  const allow = tcp?.allowShortTimeouts
  if (allow !== undefined && typeof allow !== 'boolean') {
    throw invalidType(`${prefix}.allowShortTimeouts`, allow, 'a boolean')
  }
  const pick = <K extends keyof typeof DEFAULT_TCP_TIMEOUTS>(key: K): unknown => {
    const value = tcp?.[key]
    return value === undefined ? DEFAULT_TCP_TIMEOUTS[key] : value
  }

  const userTimeoutMs = checkNumber(`${prefix}.userTimeout`, pick('userTimeout'), {
    min: 1, max: USER_TIMEOUT_MAX_MS, integer: true, unit: 'ms', zeroMeans: 'the system default',
  })
  const keepAliveMs = (key: 'keepAliveIdle' | 'keepAliveInterval'): number => checkNumber(`${prefix}.${key}`, pick(key), {
    min: 1, max: KEEPALIVE_MAX_SECONDS * 1000, unit: 'ms', zeroMeans: 'the system default',
  })
  const idleMs = keepAliveMs('keepAliveIdle')
  const intervalMs = keepAliveMs('keepAliveInterval')
  if (allow !== true) {
    const floorName = `${prefix}.allowShortTimeouts`
    checkFloor(`${prefix}.userTimeout`, userTimeoutMs, SHORT_REASON.userTimeout, floorName)
    checkFloor(`${prefix}.keepAliveIdle`, idleMs, SHORT_REASON.keepAlive, floorName)
    checkFloor(`${prefix}.keepAliveInterval`, intervalMs, SHORT_REASON.keepAlive, floorName)
  }
  // Round up: truncating 500 ms would give 0 s, which the kernel rejects.
  const keepAliveIdleSeconds = Math.ceil(idleMs / 1000)
  const keepAliveIntervalSeconds = Math.ceil(intervalMs / 1000)
  const keepAliveCount = checkNumber(`${prefix}.keepAliveCount`, pick('keepAliveCount'), {
    min: 1, max: KEEPALIVE_MAX_COUNT, integer: true, zeroMeans: 'the system default',
  })
  return {
    keepAlive: keepAliveIdleSeconds > 0 || keepAliveIntervalSeconds > 0 || keepAliveCount > 0,
    keepAliveIdleSeconds,
    keepAliveIntervalSeconds,
    keepAliveCount,
    userTimeoutMs,
  }
}

/** Human-readable summary used in error messages and the demo. */
export function describeTcpTimeouts(t: ResolvedTcpTimeouts): string {
  const parts: string[] = []
  if (t.userTimeoutMs > 0) parts.push(`TCP_USER_TIMEOUT ${t.userTimeoutMs} ms`)
  if (t.keepAlive) {
    const idle = t.keepAliveIdleSeconds > 0 ? `${t.keepAliveIdleSeconds} s` : 'system'
    const intvl = t.keepAliveIntervalSeconds > 0 ? `${t.keepAliveIntervalSeconds} s` : 'system'
    const cnt = t.keepAliveCount > 0 ? String(t.keepAliveCount) : 'system'
    parts.push(`keepalive idle ${idle}, interval ${intvl}, count ${cnt}`)
  }
  return parts.length > 0 ? parts.join('; ') : 'system defaults'
}
