// STALLGUARD_* environment variables → install() options, so an operator can
// configure (or switch off) the global override without touching code. A
// value that cannot be understood stops start-up with a message naming the
// variable, the value and the accepted form: a typo must never quietly
// become a default.
import { MAX_RETRIES } from '../undici/retry-interceptor'
import { checkEnvNames, type EnvVarName } from './env-vars'
import type { InstallOptions } from './install'
import {
  KEEPALIVE_MAX_COUNT,
  KEEPALIVE_MAX_SECONDS,
  USER_TIMEOUT_MAX_MS,
  type TcpTimeouts,
} from '../kernel/tcp-options'
import { invalidType, MAX_TIMER_MS, outOfRange } from '../validate'

type Env = Record<string, string | undefined>

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 }
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)?$/
const OFF = new Set(['0', 'off', 'false', 'no'])
const ON = new Set(['1', 'on', 'true', 'yes'])

interface DurationRule {
  max: number
  /** What 0/off means for this variable. */
  off: string
  /** The option only takes whole milliseconds. */
  integer?: boolean
}

/** Trimmed, lower-cased value; undefined when unset or empty (`VAR=` in a shell or compose file). */
function read(env: Env, name: EnvVarName): string | undefined {
  const raw = env[name]
  if (raw === undefined) return undefined
  const value = raw.trim().toLowerCase()
  return value === '' ? undefined : value
}

function durationForm(rule: DurationRule): string {
  return `a duration: milliseconds or a number with a unit ms, s or m (e.g. 1500, 500ms, 10s, 2m), ` +
    `from 1 ms to ${rule.max} ms${rule.integer ? ' in whole milliseconds' : ''}, or 0/off for ${rule.off}`
}

/** Milliseconds; 0 for 0/off; undefined when unset. */
function duration(env: Env, name: EnvVarName, rule: DurationRule): number | undefined {
  const value = read(env, name)
  if (value === undefined) return undefined
  if (OFF.has(value)) return 0
  const match = DURATION.exec(value.replace(/\s+/g, ''))
  if (match === null) throw invalidType(name, env[name], durationForm(rule))
  const ms = Number(match[1]) * UNITS[match[2] ?? 'ms']!
  if (ms === 0) return 0
  if (ms < 1 || ms > rule.max || (rule.integer && !Number.isInteger(ms))) {
    throw outOfRange(name, env[name], durationForm(rule))
  }
  return ms
}

/** A whole number in [1, max]; 0 for 0/off; undefined when unset. */
function count(env: Env, name: EnvVarName, max: number, off: string): number | undefined {
  const value = read(env, name)
  if (value === undefined) return undefined
  if (OFF.has(value)) return 0
  const form = `an integer from 1 to ${max}, or 0/off for ${off}`
  if (!/^\d+$/.test(value)) throw invalidType(name, env[name], form)
  const n = Number(value)
  if (n > max) throw outOfRange(name, env[name], form)
  return n
}

/** undici retry: true = once (the agent's default), false = never, n = up to n times. */
function retries(env: Env, name: EnvVarName): boolean | number | undefined {
  const value = read(env, name)
  if (value === undefined) return undefined
  if (OFF.has(value)) return false
  if (ON.has(value) && value !== '1') return true
  return count(env, name, MAX_RETRIES, 'no retries (also off/false; on/true retries once)')
}

function flag(env: Env, name: EnvVarName): boolean | undefined {
  const value = read(env, name)
  if (value === undefined) return undefined
  if (ON.has(value)) return true
  if (OFF.has(value)) return false
  throw invalidType(name, env[name], '1/true/yes/on or 0/false/no/off')
}

/** 0 for the TCP options means "leave the kernel's default", as `false` does in code. */
const orSystemDefault = (ms: number | undefined): number | false | undefined => (ms === 0 ? false : ms)

/**
 * Read the `STALLGUARD_*` variables into {@link install} options. Only the
 * variables that are set appear in the result; unset or empty ones leave
 * the option to explicit code or the defaults. Throws on any bad value, and
 * on any STALLGUARD_* name it does not know (naming the closest known one).
 */
export function optionsFromEnv(env: Env = process.env): InstallOptions {
  checkEnvNames(env)
  const options: InstallOptions = {}
  const tcp: TcpTimeouts = {}
  const keepAlive = { max: KEEPALIVE_MAX_SECONDS * 1000, off: 'the system default' }
  const entries: Array<[keyof TcpTimeouts, number | false | undefined]> = [
    ['userTimeout', orSystemDefault(duration(env, 'STALLGUARD_TCP_USER_TIMEOUT',
      { max: USER_TIMEOUT_MAX_MS, off: 'the system default', integer: true }))],
    ['keepAliveIdle', orSystemDefault(duration(env, 'STALLGUARD_TCP_KEEPALIVE_IDLE', keepAlive))],
    ['keepAliveInterval', orSystemDefault(duration(env, 'STALLGUARD_TCP_KEEPALIVE_INTERVAL', keepAlive))],
    ['keepAliveCount', orSystemDefault(count(env, 'STALLGUARD_TCP_KEEPALIVE_COUNT', KEEPALIVE_MAX_COUNT, 'the system default'))],
  ]
  for (const [key, value] of entries) if (value !== undefined) tcp[key] = value
  if (Object.keys(tcp).length > 0) options.tcp = tcp

  // undici's own timeouts: 0 switches them off, as in undici.
  const undiciTimer = { max: MAX_TIMER_MS, off: 'no timeout', integer: true }
  const connectTimeout = duration(env, 'STALLGUARD_CONNECT_TIMEOUT', undiciTimer)
  const headersTimeout = duration(env, 'STALLGUARD_HEADERS_TIMEOUT', undiciTimer)
  const bodyTimeout = duration(env, 'STALLGUARD_BODY_TIMEOUT', undiciTimer)
  const deadline = duration(env, 'STALLGUARD_DEADLINE', { max: MAX_TIMER_MS, off: 'no deadline', integer: true })
  if (connectTimeout !== undefined) options.connectTimeout = connectTimeout
  if (headersTimeout !== undefined) options.headersTimeout = headersTimeout
  if (bodyTimeout !== undefined) options.bodyTimeout = bodyTimeout
  if (deadline !== undefined) options.deadline = deadline

  const retry = retries(env, 'STALLGUARD_RETRY')
  if (retry !== undefined) options.retry = retry

  const disable = flag(env, 'STALLGUARD_DISABLE')
  if (disable !== undefined) options.disable = disable
  return options
}
