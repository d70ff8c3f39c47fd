// Every option stallguard adds to a front door, what it means, and how it is
// checked: once, when the agent (or install(), an interceptor, a connector)
// is built, into one frozen object the layers read. A typo fails at start-up
// with the option's name, the value and what is accepted; nothing is parsed
// again per request except a request's own override.
//
// Options that belong to undici or Node (connectTimeout, keepAlive, tls, …)
// are not ours: they go to undici/Node untouched and fail with their errors.
import { resolveTcpTimeouts, type ResolvedTcpTimeouts, type TcpTimeouts } from './kernel/tcp-options'
import { typoOf, unknownKeyHint } from './suggest'
import { checkNumber, invalidType, MAX_TIMER_MS } from './validate'
import { resolveMinThroughput, type MinThroughput, type MinThroughputOption } from './watch/throughput'
import { resolveAddressHealth, type AddressHealthOption, type ResolvedAddressHealth } from './health/options'

/** The options, documented once. Each front door takes the ones it names. */
export interface StallGuardOptions {
  /**
   * Kernel timeouts for every socket (milliseconds; missing keys take
   * `DEFAULT_TCP_TIMEOUTS`): `TCP_USER_TIMEOUT` ends a connection whose sent
   * data stays unacknowledged, keepalive probes end a silent idle one.
   * `false` leaves sockets exactly as undici/Node make them.
   */
  tcp?: TcpTimeouts | false | undefined
  /**
   * Total budget per request in ms, from dispatch (or `http.request()`) to
   * the end of the response body: queueing, connect, upload, response.
   * 0/absent = none. A request's own `deadline` option wins (0 turns it off
   * for that request).
   */
  deadline?: number | undefined
  /**
   * undici only. Retry an idempotent request with a replayable body that
   * failed on a reused connection before any response byte arrived. `true`
   * (default) = once, a number = that many retries, `false`/0 = never.
   */
  retry?: boolean | number | undefined
  /**
   * Smallest average rate of a request or response body while it moves
   * ("stalled stream protection"): `{ bytesPerSecond, grace }` (grace in ms,
   * default 20 000), `true` = 1 byte/s over 20 s (the AWS SDKs' values),
   * `false`/absent = off (the default: an SSE or long-poll response may go
   * quiet for minutes). Time the caller holds the body (a paused consumer, an
   * upload not yet produced) does not count. A request's own
   * `minThroughput` wins. See docs/watch.md.
   */
  minThroughput?: MinThroughputOption
  /**
   * Address health (docs/address-health.md), on by default: an address whose
   * connect the kernel timed out (or whose connections keep timing out) gets
   * no new connections until a probe after a cool-down succeeds; requests
   * that can only go there fail at once with the condemning error. `false` =
   * off; `{ coolDown, maxCoolDown }` in ms (defaults 1000 and 30 000).
   */
  addressHealth?: AddressHealthOption
}

/** What the layers read. Frozen: built once per front door, shared by every socket and request. */
export interface ResolvedOptions {
  /** Kernel timeouts in kernel units; undefined for `tcp: false` (sockets left as made). */
  readonly tcp: ResolvedTcpTimeouts | undefined
  /** Default budget per request in ms; 0 = none. */
  readonly deadline: number
  /** Retries per request on a stale pooled connection; 0 = off. */
  readonly retry: number
  /** The throughput floor; undefined = off. */
  readonly minThroughput: MinThroughput | undefined
  /** The cool-down rule; undefined = address health off. */
  readonly addressHealth: ResolvedAddressHealth | undefined
}

export const MAX_RETRIES = 10

/** `tcp` → kernel units, or undefined for `false`. */
export function resolveTcp(value: unknown, name = 'tcp'): ResolvedTcpTimeouts | undefined {
  if (value === false) return undefined
  if (value !== undefined && (value === null || typeof value !== 'object')) {
    throw invalidType(name, value, 'an object of TCP timeouts or false')
  }
  return resolveTcpTimeouts(value as TcpTimeouts | undefined, name)
}

/** `retry` → number of retries (0 = off). */
export function resolveRetry(value: unknown, name = 'retry'): number {
  if (value === undefined || value === true) return 1
  if (value === false) return 0
  if (typeof value !== 'number') {
    throw invalidType(name, value, `a boolean or an integer from 0 to ${MAX_RETRIES} (number of retries)`)
  }
  return checkNumber(name, value, { min: 1, max: MAX_RETRIES, integer: true, zeroMeans: 'no retries' })
}

export { resolveMinThroughput }

/** Validate a deadline (ms). Returns 0 for "no deadline". */
export function resolveDeadline(value: unknown, name = 'deadline'): number {
  if (value === undefined || value === null) return 0
  return checkNumber(name, value, {
    min: 1, max: MAX_TIMER_MS, integer: true, unit: 'ms', zeroMeans: 'no deadline',
  })
}

/** A request's own `minThroughput` over the front door's default. */
export function requestMinThroughput(value: unknown, fallback: MinThroughput | undefined, name = 'the request option minThroughput'): MinThroughput | undefined {
  return value === undefined ? fallback : resolveMinThroughput(value, name)
}

/**
 * A request's own `deadline` (dispatch option or `http.request()` option)
 * over the front door's default. `name` is how the caller wrote it.
 */
export function requestDeadline(value: unknown, fallback: number, name = 'the request option deadline'): number {
  return value === undefined ? fallback : resolveDeadline(value, name)
}

/** Which of our options a front door takes; the others keep their "off" value. */
type Key = keyof StallGuardOptions

function resolve(options: StallGuardOptions, keys: readonly Key[]): ResolvedOptions {
  return Object.freeze({
    tcp: keys.includes('tcp') ? resolveTcp(options.tcp) : undefined,
    deadline: keys.includes('deadline') ? resolveDeadline(options.deadline, 'deadline') : 0,
    retry: keys.includes('retry') ? resolveRetry(options.retry) : 0,
    minThroughput: keys.includes('minThroughput') ? resolveMinThroughput(options.minThroughput) : undefined,
    addressHealth: keys.includes('addressHealth') ? resolveAddressHealth(options.addressHealth) : undefined,
  })
}

/**
 * Refuse a key that is not ours but close to one of ours (`deadlin`): passed
 * on, undici and Node would ignore it, and the request would run without
 * the deadline the caller wrote.
 */
function refuseTypos(options: object, keys: readonly Key[], passedTo: string): void {
  for (const key of Object.keys(options)) {
    const meant = typoOf(key, keys)
    if (meant === undefined) continue
    const err = new TypeError(`stallguard: options.${key} is not an option: did you mean ${meant}? ` +
      `(stallguard's options here are ${keys.join(', ')}; other names go to ${passedTo} unchanged)`) as TypeError & { code: string }
    err.code = 'SG_ERR_UNKNOWN_OPTION'
    throw err
  }
}

/**
 * Split a front door's options into ours (resolved) and the rest (for
 * undici/Node). `accepted` completes "options must be …" when `options` is
 * not an object.
 */
export function splitOptions<T extends object>(
  options: unknown,
  keys: readonly Key[],
  accepted: string,
  passedTo: string,
): { resolved: ResolvedOptions; rest: T } {
  if (options === undefined) return { resolved: resolve({}, keys), rest: {} as T }
  if (options === null || typeof options !== 'object') throw invalidType('options', options, accepted)
  refuseTypos(options, keys, passedTo)
  const rest: Record<string, unknown> = { ...options }
  for (const key of keys) delete rest[key]
  return { resolved: resolve(options as StallGuardOptions, keys), rest: rest as T }
}

/** StallGuardAgent: tcp, deadline, retry, minThroughput; the rest are undici Agent options. */
export const UNDICI_AGENT_KEYS: readonly Key[] = ['tcp', 'deadline', 'retry', 'minThroughput', 'addressHealth']
/** StallGuardHttpAgent / StallGuardHttpsAgent: tcp, deadline, minThroughput; the rest are Node's. */
export const HTTP_AGENT_KEYS: readonly Key[] = ['tcp', 'deadline', 'minThroughput', 'addressHealth']

/** install() options (the interface lives with install()). */
export const INSTALL_KEYS = ['tcp', 'deadline', 'retry', 'connectTimeout', 'headersTimeout', 'bodyTimeout', 'minThroughput', 'addressHealth', 'dumpSignal', 'disable', 'env', 'scope'] as const
type InstallKey = (typeof INSTALL_KEYS)[number]
type InstallShape = { [K in InstallKey]?: unknown } & { tcp?: TcpTimeouts | false | undefined }

/** install() accepts only its own keys: an unknown one is a typo, not an option to pass on. */
export function checkInstallOptions<T extends InstallShape>(options: unknown): T {
  if (options === undefined) return {} as T
  if (options === null || typeof options !== 'object') {
    throw invalidType('options', options, 'an object of install options')
  }
  for (const key of Object.keys(options)) {
    if (!(INSTALL_KEYS as readonly string[]).includes(key)) {
      throw invalidType(`options.${key}`, (options as Record<string, unknown>)[key],
        `one of ${INSTALL_KEYS.join(', ')} (unknown option${unknownKeyHint(key, INSTALL_KEYS)})`)
    }
  }
  return options as T
}

/** Explicit install() options beat env vars, key by key; inside `tcp` too, unless code says `tcp: false`. */
export function mergeInstallOptions<T extends InstallShape>(fromEnv: T, explicit: T): T {
  const merged: T = { ...fromEnv }
  for (const key of INSTALL_KEYS) {
    if (explicit[key] !== undefined) (merged as Record<string, unknown>)[key] = explicit[key]
  }
  if (explicit.tcp !== undefined && explicit.tcp !== false && fromEnv.tcp) {
    const defined = Object.entries(explicit.tcp).filter(([, v]) => v !== undefined)
    merged.tcp = { ...fromEnv.tcp, ...Object.fromEntries(defined) }
  }
  return merged
}

/**
 * An interceptor's options: an object (or nothing) with only the keys it
 * takes, so `{ deadlin: 800 }` fails instead of meaning "no deadline".
 */
export function checkInterceptorOptions(options: unknown, keys: readonly Key[], what: string): StallGuardOptions {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') {
    throw invalidType('options', options, `an object of ${what} options (${keys.join(', ')})`)
  }
  for (const key of Object.keys(options)) {
    if (!(keys as readonly string[]).includes(key)) {
      throw invalidType(`options.${key}`, (options as Record<string, unknown>)[key],
        `one of ${keys.join(', ')} (unknown option${unknownKeyHint(key, keys)})`)
    }
  }
  return options as StallGuardOptions
}
