// The doctor's judgement of a configuration: settings that would end healthy
// connections or requests on a normal network, and the verdict line that
// opens the report. Plain words first, the TCP term in brackets.
import { TCP_FLOOR_MS } from '../kernel/tcp-options'
import type { StallSeconds } from './worst-case'

/** One setting that would hurt healthy traffic. */
export interface Risk {
  /** The variable (or option) to change. */
  setting: string
  /** What goes wrong, in plain words. */
  problem: string
}

/** The figures the judgement needs, all in milliseconds (0 = off). */
export interface RiskInput {
  userTimeoutMs: number
  keepAliveIdleMs: number
  keepAliveIntervalMs: number
  deadlineMs: number
  connectTimeoutMs: number | undefined
  headersTimeoutMs: number | undefined
  bodyTimeoutMs: number | undefined
  minThroughputGraceMs: number | undefined
}

/** Below this, a timer fires on healthy traffic: one lost packet costs 1 s on a connection attempt, 200 ms + a round trip after. */
const HEALTHY_FLOOR_MS = TCP_FLOOR_MS

const ms = (value: number): string => (value >= 1000 ? `${value / 1000} s` : `${value} ms`)

export function findRisks(c: RiskInput): Risk[] {
  const risks: Risk[] = []
  const short = (value: number | undefined): value is number => value !== undefined && value > 0 && value < HEALTHY_FLOOR_MS
  if (short(c.userTimeoutMs)) {
    risks.push({ setting: 'STALLGUARD_TCP_USER_TIMEOUT', problem: `the dead-connection cut-off [TCP_USER_TIMEOUT] of ${ms(c.userTimeoutMs)} ends healthy connections that lose one packet or have a long round trip` })
  }
  if (short(c.keepAliveIdleMs) || short(c.keepAliveIntervalMs)) {
    risks.push({ setting: 'STALLGUARD_TCP_KEEPALIVE_IDLE/INTERVAL', problem: 'idle checks [keepalive] under 1 s are rounded up to 1 s by the kernel' })
  }
  if (short(c.deadlineMs)) {
    risks.push({ setting: 'STALLGUARD_DEADLINE', problem: `every request that takes longer than ${ms(c.deadlineMs)} fails, healthy slow ones included` })
  }
  if (short(c.connectTimeoutMs)) {
    risks.push({ setting: 'STALLGUARD_CONNECT_TIMEOUT', problem: `a connection attempt that loses one packet fails: the kernel resends it [SYN] after 1 s, the connect timeout is ${ms(c.connectTimeoutMs)}` })
  }
  if (short(c.headersTimeoutMs)) {
    risks.push({ setting: 'STALLGUARD_HEADERS_TIMEOUT', problem: `a server that takes longer than ${ms(c.headersTimeoutMs)} to start answering fails` })
  }
  if (short(c.bodyTimeoutMs)) {
    risks.push({ setting: 'STALLGUARD_BODY_TIMEOUT', problem: `a response that pauses ${ms(c.bodyTimeoutMs)} between chunks fails` })
  }
  if (short(c.minThroughputGraceMs)) {
    risks.push({ setting: 'STALLGUARD_MIN_THROUGHPUT_GRACE', problem: `a transfer that pauses ${ms(c.minThroughputGraceMs)} (one lost packet) counts as too slow` })
  }
  return risks
}

/** Seconds in words: "10 s", "15.4 min", "2.2 h", "never ends". */
export function durationText(seconds: number | null): string {
  if (seconds === null) return 'never ends'
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`
  if (seconds < 120) return `${Number(seconds.toFixed(1))} s`
  if (seconds < 7200) return `${Number((seconds / 60).toFixed(1))} min`
  return `${Number((seconds / 3600).toFixed(1))} h`
}

/** The longest hang over every kind of stall; null when one never ends. */
export function longest(stalls: StallSeconds): number | null {
  let max = 0
  for (const value of Object.values(stalls) as Array<number | null>) {
    if (value === null) return null
    max = Math.max(max, value)
  }
  return max
}

export type VerdictKind = 'protected' | 'partly protected' | 'degraded' | 'dangerous setting' | 'off' | 'invalid configuration'

export interface VerdictInput {
  error: string | undefined
  disabled: boolean
  nativeLoaded: boolean
  nativeRemedy: string
  risks: Risk[]
  with: StallSeconds
  without: StallSeconds
}

/** Longer than this, a hang is one a user notices and a retry loop does not fix. */
const ACCEPTABLE_SECONDS = 120

export function verdict(v: VerdictInput): { kind: VerdictKind; text: string } {
  const worstWithout = durationText(longest(v.without))
  if (v.error !== undefined) {
    return { kind: 'invalid configuration', text: 'INVALID CONFIGURATION: the preload would stop the application at start-up (exit 78). ' +
      'Fix the variable named under ERROR below, or set STALLGUARD_DISABLE=1 to start without stallguard.' }
  }
  if (v.disabled) {
    return { kind: 'off', text: 'OFF: STALLGUARD_DISABLE is set, so connections are as unprotected as without stallguard ' +
      `(a stuck one can hang ${longest(v.without) === null ? 'forever' : worstWithout}). Unset it to turn protection back on.` }
  }
  if (v.risks.length > 0) {
    const first = v.risks[0]!
    return { kind: 'dangerous setting', text: `DANGEROUS SETTING: ${first.problem}. Raise ${first.setting} to at least 1 s, or unset it for the default${v.risks.length > 1 ? ` (${v.risks.length - 1} more below)` : ''}.` }
  }
  if (!v.nativeLoaded) {
    return { kind: 'degraded', text: `DEGRADED: the native layer is not loaded, so data sent into a dead connection waits for the kernel (${durationText(v.without.deadPath)}) unless a deadline ends it. Fix: ${v.nativeRemedy}.` }
  }
  const worst = longest(v.with)
  if (worst === null || worst > ACCEPTABLE_SECONDS) {
    const kinds = (Object.entries(v.with) as Array<[keyof StallSeconds, number | null]>)
      .filter(([, s]) => s === null || s > ACCEPTABLE_SECONDS).length
    return { kind: 'partly protected', text: `PARTLY PROTECTED: ${kinds} of the 4 kinds of stuck connection below can still hang ` +
      `${worst === null ? 'forever' : `for ${durationText(worst)}`}. Unset the STALLGUARD_TCP_* variables set to 0/off (the defaults cover all 4), or set STALLGUARD_DEADLINE.` }
  }
  const before = longest(v.without) === null ? 'some never end' : `up to ${worstWithout}`
  return { kind: 'protected', text: `PROTECTED: a connection to a dead or unreachable server fails within ${durationText(worst)} (without stallguard ${before}). Nothing to do.` }
}

/** The kinds of stall in plain words, the TCP term in brackets. */
export const STALL_NAMES: Record<keyof StallSeconds, string> = {
  synUnanswered: 'server never answers a new connection [SYN unanswered]',
  deadPath: 'network dies while data is being sent [unacknowledged data]',
  silentPeer: 'server vanishes during an idle connection [keepalive]',
  zeroWindow: 'server stops reading what is sent [zero window]',
}
