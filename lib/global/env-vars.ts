// The one list of STALLGUARD_* variables: the env parser reads them, the
// doctor prints them, and anything else under the prefix is refused with the
// closest known name. A misspelled variable must never quietly leave the
// default in place.
import { closest } from '../suggest'

/** Every variable stallguard reads, with what it sets. */
export const ENV_VARS = Object.freeze({
  STALLGUARD_TCP_USER_TIMEOUT: 'TCP_USER_TIMEOUT for every socket (duration; 0/off: system default)',
  STALLGUARD_TCP_KEEPALIVE_IDLE: 'keepalive idle time before the first probe (duration; 0/off: system default)',
  STALLGUARD_TCP_KEEPALIVE_INTERVAL: 'time between keepalive probes (duration; 0/off: system default)',
  STALLGUARD_TCP_KEEPALIVE_COUNT: 'unanswered keepalive probes before the kernel gives up (0/off: system default)',
  STALLGUARD_CONNECT_TIMEOUT: "undici's connect timeout (duration; 0/off: none)",
  STALLGUARD_HEADERS_TIMEOUT: "undici's headers timeout (duration; 0/off: none)",
  STALLGUARD_BODY_TIMEOUT: "undici's body timeout (duration; 0/off: none)",
  STALLGUARD_DEADLINE: 'total time budget per request (duration; 0/off: none)',
  STALLGUARD_RETRY: 'retries of idempotent requests that died on a stale pooled connection (count, on/off)',
  STALLGUARD_MIN_THROUGHPUT: 'lowest acceptable transfer rate of a request body or response',
  STALLGUARD_MIN_THROUGHPUT_GRACE: 'time before the throughput floor applies',
  STALLGUARD_ADDRESS_HEALTH: 'address health: stop connecting to an address the kernel timed out (on/off; default on)',
  STALLGUARD_ADDRESS_COOL_DOWN: 'first cool-down before a down address is probed (duration; default 1 s, doubles per failed probe)',
  STALLGUARD_ADDRESS_MAX_COOL_DOWN: 'longest cool-down before a down address is probed (duration; default 30 s)',
  STALLGUARD_DUMP_SIGNAL: 'signal that prints the requests in flight to stderr (e.g. SIGUSR2)',
  STALLGUARD_SCOPE: "what the global override reaches: http (every HTTP client, the default) or tcp (every outgoing TCP socket)",
  STALLGUARD_DISABLE: 'switch the global override off (1/true/yes/on)',
} as const)

export type EnvVarName = keyof typeof ENV_VARS

export const ENV_PREFIX = 'STALLGUARD_'
/** Names under this prefix belong to stallguard's own test harness and are never read as configuration. */
export const TEST_PREFIX = 'STALLGUARD_TEST_'

const KNOWN: readonly string[] = Object.keys(ENV_VARS)

/**
 * The known variable an unknown name most likely meant, or undefined when
 * none is close: within half the length of what follows the prefix
 * (`STALLGUARD_USER_TIMEOUT` → `STALLGUARD_TCP_USER_TIMEOUT`, 4 edits).
 */
export function closestEnvVar(name: string): EnvVarName | undefined {
  const limit = Math.max(2, Math.floor((name.length - ENV_PREFIX.length) / 2))
  return closest(name, KNOWN as readonly EnvVarName[], () => limit)
}

export type UnknownEnvError = TypeError & { code: 'SG_ERR_UNKNOWN_ENV'; names: string[] }

/**
 * Refuse STALLGUARD_* names stallguard does not read (case-insensitive:
 * `stallguard_deadline` is a typo too). The value is not shown: only the
 * name is wrong.
 */
export function checkEnvNames(env: Record<string, string | undefined>): void {
  const unknown: string[] = []
  for (const name of Object.keys(env)) {
    const upper = name.toUpperCase()
    if (!upper.startsWith(ENV_PREFIX) || upper.startsWith(TEST_PREFIX)) continue
    if (name in ENV_VARS) continue
    unknown.push(name)
  }
  if (unknown.length === 0) return
  const described = unknown.map((name) => {
    const meant = closestEnvVar(name)
    return meant === undefined ? name : `${name} (did you mean ${meant}?)`
  })
  const err = new TypeError(
    `stallguard: unknown environment variable${unknown.length > 1 ? 's' : ''} ${described.join(', ')}; ` +
      `stallguard reads ${KNOWN.join(', ')}`,
  ) as UnknownEnvError
  err.code = 'SG_ERR_UNKNOWN_ENV'
  err.names = unknown
  throw err
}
