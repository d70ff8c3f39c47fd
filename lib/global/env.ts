// STALLGUARD_* environment variables → install() options, so an operator can
// configure (or switch off) the global override without touching code. A
// value that cannot be understood stops start-up with a message naming the
// variable, the value and the accepted form: a typo must never quietly
// become a default.
import { MAX_RETRIES } from '../undici/retry-interceptor'
import { checkEnvNames, ENV_PREFIX, TEST_PREFIX, type EnvVarName } from './env-vars'
import type { InstallOptions } from './install'
import {
  KEEPALIVE_MAX_COUNT,
  KEEPALIVE_MAX_SECONDS,
  TCP_FLOOR_MS,
  USER_TIMEOUT_MAX_MS,
  type TcpTimeouts,
} from '../kernel/tcp-options'
import { invalidType, MAX_TIMER_MS, outOfRange, type OptionError } from '../validate'
import { AWS_MIN_THROUGHPUT, MIN_GRACE_MS, type MinThroughputOption } from '../watch/throughput'
import { constants as osConstants } from 'node:os'
import { SCOPES, type Scope } from './process-hooks'
import { DEFAULT_COOL_DOWN_MS, type AddressHealthOption } from '../health/options'

type Env = Record<string, string | undefined>

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const DURATION = /^(-?)(\d+(?:\.\d+)?)(ms|s|m|h)?$/
const OFF = new Set(['0', 'off', 'false', 'no'])
const ON = new Set(['1', 'on', 'true', 'yes'])

/**
 * A bad STALLGUARD_* value: the message names the variable, the value and
 * what is accepted; the fields let the preload print the same as a paragraph.
 */
export type EnvValueError = OptionError & { variable: string; value: string; accepted: string; hint: string | undefined }

function envError(kind: 'type' | 'range', name: string, raw: string | undefined, accepted: string, hint?: string): EnvValueError {
  const base = kind === 'type' ? invalidType(name, raw, accepted) : outOfRange(name, raw, accepted)
  const err = base as EnvValueError
  if (hint !== undefined) err.message += `; ${hint}`
  err.variable = name
  err.value = raw ?? ''
  err.accepted = accepted
  err.hint = hint
  return err
}

interface DurationRule {
  max: number
  /** Smallest non-zero value, ms (default 1). */
  min?: number
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
  return `a duration with a unit ms, s, m or h (e.g. 500ms, 10s, 2m, 1h), ` +
    `from ${rule.min ?? 1} ms to ${rule.max} ms${rule.integer ? ' in whole milliseconds' : ''}, or 0/off for ${rule.off}`
}

/**
 * Milliseconds; 0 for 0/off; undefined when unset. A unit is required: a
 * bare `10` has meant 10 ms to some readers and 10 s to others, and 10 ms
 * as a user timeout kills every connection.
 */
function duration(env: Env, name: EnvVarName, rule: DurationRule): number | undefined {
  const value = read(env, name)
  if (value === undefined) return undefined
  if (OFF.has(value)) return 0
  const match = DURATION.exec(value.replace(/\s+/g, ''))
  if (match === null) throw envError('type', name, env[name], durationForm(rule))
  const [, minus, number, unit] = match as unknown as [string, string, string, string | undefined]
  if (minus !== '') throw envError('range', name, env[name], durationForm(rule), 'a duration cannot be negative')
  if (Number(number) === 0) return 0
  if (unit === undefined) {
    throw envError('type', name, env[name], durationForm(rule),
      `a number needs a unit: did you mean ${number}s? (${number}ms for milliseconds)`)
  }
  const ms = Number(number) * UNITS[unit]!
  if (ms < (rule.min ?? 1) || ms > rule.max || (rule.integer && !Number.isInteger(ms))) {
    throw envError('range', name, env[name], durationForm(rule))
  }
  return ms
}

/** A whole number in [1, max]; 0 for 0/off; undefined when unset. */
function count(env: Env, name: EnvVarName, max: number, off: string): number | undefined {
  const value = read(env, name)
  if (value === undefined) return undefined
  if (OFF.has(value)) return 0
  const form = `an integer from 1 to ${max}, or 0/off for ${off}`
  if (!/^\d+$/.test(value)) throw envError('type', name, env[name], form)
  const n = Number(value)
  if (n > max) throw envError('range', name, env[name], form)
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
  throw envError('type', name, env[name], '1/true/yes/on or 0/false/no/off')
}

const RATE_UNITS: Record<string, number> = { b: 1, kb: 1000, kib: 1024, mb: 1e6, mib: 2 ** 20, gb: 1e9, gib: 2 ** 30 }
const RATE = /^(\d+(?:\.\d+)?)(b|kb|kib|mb|mib|gb|gib)?(?:\/s)?$/
const RATE_FORM = 'a rate in bytes per second, with an optional unit B, KB, KiB, MB, MiB, GB or GiB and an optional /s ' +
  '(e.g. 1, 512B/s, 64KiB/s), on/true for 1 byte/s over 20 s, or 0/off for no floor'

/**
 * STALLGUARD_MIN_THROUGHPUT (a rate) and STALLGUARD_MIN_THROUGHPUT_GRACE (a
 * duration, default 20 s): the throughput floor, or false for off.
 */
function throughputFloor(env: Env): MinThroughputOption {
  const name = 'STALLGUARD_MIN_THROUGHPUT'
  const graceName = 'STALLGUARD_MIN_THROUGHPUT_GRACE'
  const value = read(env, name)
  const grace = duration(env, graceName, { max: MAX_TIMER_MS, off: 'the default grace (20 s)', integer: true })
  if (value === undefined) {
    if (grace === undefined) return undefined
    throw envError('type', graceName, env[graceName],
      `set together with ${name} (the grace applies to a throughput floor; ${name} is not set)`)
  }
  if (OFF.has(value)) return false
  const floor = { ...AWS_MIN_THROUGHPUT }
  if (grace !== undefined && grace > 0) {
    if (grace < MIN_GRACE_MS) throw envError('range', graceName, env[graceName], `at least ${MIN_GRACE_MS} ms`)
    floor.grace = grace
  }
  if (ON.has(value) && value !== '1') return floor
  const match = RATE.exec(value.replace(/\s+/g, ''))
  if (match === null) throw envError('type', name, env[name], RATE_FORM)
  const rate = Number(match[1]) * RATE_UNITS[match[2] ?? 'b']!
  if (rate === 0) return false
  if (!Number.isFinite(rate) || rate > Number.MAX_SAFE_INTEGER) throw envError('range', name, env[name], RATE_FORM)
  return { ...floor, bytesPerSecond: rate }
}

/** STALLGUARD_SCOPE: http or tcp; undefined when unset. */
function scopeOf(env: Env, name: EnvVarName): Scope | undefined {
  const value = read(env, name)
  if (value === undefined) return undefined
  if (!(SCOPES as readonly string[]).includes(value)) {
    throw invalidType(name, env[name], 'http (every HTTP client: node:http and undici) or tcp (every outgoing TCP socket)')
  }
  return value as Scope
}

/** A catchable signal for the in-flight dump; undefined when unset, 0/off. */
function signalName(env: Env, name: EnvVarName): NodeJS.Signals | undefined {
  const value = read(env, name)
  if (value === undefined || OFF.has(value)) return undefined
  const upper = value.toUpperCase()
  const signal = upper.startsWith('SIG') ? upper : `SIG${upper}`
  // SIGUSR1 starts Node's inspector; SIGKILL and SIGSTOP cannot be caught.
  const refused = new Set(['SIGUSR1', 'SIGKILL', 'SIGSTOP'])
  if (!(signal in osConstants.signals) || refused.has(signal)) {
    throw envError('type', name, env[name], 'a signal name Node can listen for, e.g. SIGUSR2 (not SIGUSR1: it starts the inspector), or 0/off')
  }
  return signal as NodeJS.Signals
}

/**
 * STALLGUARD_ADDRESS_HEALTH (on/off) and its cool-downs
 * STALLGUARD_ADDRESS_COOL_DOWN / STALLGUARD_ADDRESS_MAX_COOL_DOWN (durations;
 * 0/off keeps the default): `false`, an object, or undefined when none is set.
 */
function addressHealthFromEnv(env: Env): AddressHealthOption {
  const on = flag(env, 'STALLGUARD_ADDRESS_HEALTH')
  const rule = { max: MAX_TIMER_MS, off: 'the default', integer: true }
  const coolDown = duration(env, 'STALLGUARD_ADDRESS_COOL_DOWN', rule)
  const maxCoolDown = duration(env, 'STALLGUARD_ADDRESS_MAX_COOL_DOWN', rule)
  if (on === false) return false
  const tuned: { coolDown?: number; maxCoolDown?: number } = {}
  if (coolDown) tuned.coolDown = coolDown
  if (maxCoolDown) tuned.maxCoolDown = maxCoolDown
  if (Object.keys(tuned).length > 0) {
    // Checked here so the message names the variables, not the option.
    if (tuned.maxCoolDown !== undefined && tuned.maxCoolDown < (tuned.coolDown ?? DEFAULT_COOL_DOWN_MS)) {
      throw outOfRange('STALLGUARD_ADDRESS_MAX_COOL_DOWN', env.STALLGUARD_ADDRESS_MAX_COOL_DOWN,
        `at least the cool-down (STALLGUARD_ADDRESS_COOL_DOWN, default ${DEFAULT_COOL_DOWN_MS} ms)`)
    }
    return tuned
  }
  return on
}

/** 0 for the TCP options means "leave the kernel's default", as `false` does in code. */
const orSystemDefault = (ms: number | undefined): number | false | undefined => (ms === 0 ? false : ms)

/** STALLGUARD_DISABLE holds a true value (1/true/yes/on). Any other value is read, and refused, with the rest. */
export function disabledByEnv(env: Env = process.env): boolean {
  const value = read(env, 'STALLGUARD_DISABLE')
  return value !== undefined && ON.has(value)
}

/** The other STALLGUARD_* variables set (typos included), which STALLGUARD_DISABLE makes stallguard ignore. */
export function ignoredWhenDisabled(env: Env = process.env): string[] {
  return Object.keys(env).filter((name) => {
    const upper = name.toUpperCase()
    return upper.startsWith(ENV_PREFIX) && !upper.startsWith(TEST_PREFIX) && name !== 'STALLGUARD_DISABLE' &&
      (env[name] ?? '').trim() !== ''
  })
}

/**
 * Read the `STALLGUARD_*` variables into {@link install} options. Only the
 * variables that are set appear in the result; unset or empty ones leave
 * the option to explicit code or the defaults. Throws on any bad value, and
 * on any STALLGUARD_* name it does not know (naming the closest known one).
 *
 * STALLGUARD_DISABLE=1 wins over everything: the result is `{ disable: true }`
 * and nothing else is read, so a typo or a bad value next to it cannot stop
 * the process. The operator sets it in an incident to get the service up.
 */
export function optionsFromEnv(env: Env = process.env): InstallOptions {
  return disabledByEnv(env) ? { disable: true } : readEnvOptions(env)
}

/**
 * Every variable, STALLGUARD_DISABLE as a plain flag: what install() reads
 * when code overrules the kill switch (`disable: false`).
 */
export function readEnvOptions(env: Env): InstallOptions {
  checkEnvNames(env)
  const options: InstallOptions = {}
  const tcp: TcpTimeouts = {}
  // The same floor as in code (TCP_FLOOR_MS says why); only code can go below it.
  const keepAlive = { min: TCP_FLOOR_MS, max: KEEPALIVE_MAX_SECONDS * 1000, off: 'the system default' }
  const entries: Array<[Exclude<keyof TcpTimeouts, 'allowShortTimeouts'>, number | false | undefined]> = [
    ['userTimeout', orSystemDefault(duration(env, 'STALLGUARD_TCP_USER_TIMEOUT',
      { min: TCP_FLOOR_MS, max: USER_TIMEOUT_MAX_MS, off: 'the system default', integer: true }))],
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

  const minThroughput = throughputFloor(env)
  if (minThroughput !== undefined) options.minThroughput = minThroughput

  const addressHealth = addressHealthFromEnv(env)
  if (addressHealth !== undefined) options.addressHealth = addressHealth

  const dumpSignal = signalName(env, 'STALLGUARD_DUMP_SIGNAL')
  if (dumpSignal !== undefined) options.dumpSignal = dumpSignal

  const scope = scopeOf(env, 'STALLGUARD_SCOPE')
  if (scope !== undefined) options.scope = scope

  const disable = flag(env, 'STALLGUARD_DISABLE')
  if (disable !== undefined) options.disable = disable
  return options
}
