// One call that protects every HTTP client in the process that uses the
// defaults: undici's global dispatcher (Node's built-in fetch, and
// undici.request & co. from any undici copy, without a dispatcher) and
// node:http(s)'s global agents (http.get, https.request, and the libraries
// built on them).
import http from 'node:http'
import https from 'node:https'
import { syncBuiltinESMExports } from 'node:module'
import { getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici'
import { StallGuardAgent, type StallGuardAgentOptions } from '../undici/agent'
import { optionsFromEnv } from './env'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../http/agents'
import type { TcpTimeouts } from '../kernel/tcp-options'
import { checkInstallOptions, mergeInstallOptions } from '../options'
import { dumpInflightOn } from '../watch/inflight'
import type { MinThroughputOption } from '../watch/throughput'

export interface InstallOptions {
  /** Kernel timeouts for every socket (both layers); `false` leaves the system defaults. */
  tcp?: TcpTimeouts | false
  /** Total budget per request in ms, 0 = none (both layers). */
  deadline?: number
  /** undici only: retry once on a stale pooled connection (true), n times, or never (false). */
  retry?: boolean | number
  /** undici only: TCP + TLS connect budget in ms (undici's default 10 s; 0 = none). */
  connectTimeout?: number
  /** undici only: wait for response headers, ms (undici's default 300 s; 0 = none). */
  headersTimeout?: number
  /** undici only: longest gap between body chunks, ms (undici's default 300 s; 0 = none). */
  bodyTimeout?: number
  /**
   * Smallest average body rate, both layers; off by default (an SSE or
   * long-poll response may rightly go quiet for minutes). `true` = 1 byte/s
   * over 20 s.
   */
  minThroughput?: MinThroughputOption
  /** Print the requests in flight to stderr on this signal (`STALLGUARD_DUMP_SIGNAL=SIGUSR2`). */
  dumpSignal?: NodeJS.Signals | undefined
  /** Do nothing (and undo an earlier install): the operator's switch, `STALLGUARD_DISABLE=1`. */
  disable?: boolean
  /** Where STALLGUARD_* variables are read (default `process.env`); `false` ignores them. */
  env?: Record<string, string | undefined> | false
}

/** Restores what install() replaced and closes what it created. Safe to call more than once. */
export type Uninstall = () => Promise<void>

/**
 * The active install, shared through a global symbol so that a second copy
 * of stallguard (a preload resolved from elsewhere, say) replaces it too.
 */
const kActive = Symbol.for('stallguard.install.v1')
type Holder = { [kActive]?: Uninstall }
const holder = globalThis as Holder

/** Explicit options beat env vars, key by key (lib/options.ts has the rule). */
const merge = mergeInstallOptions<InstallOptions>
const checkOptions = checkInstallOptions<InstallOptions>

/** Only the keys that are set: undici treats an explicit undefined differently from an absent key in places. */
function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

/**
 * Retire a global http agent without cutting requests in flight: idle
 * sockets close now, busy ones when their response ends (an agent with
 * keep-alive off destroys sockets instead of pooling them).
 */
function retire(agent: http.Agent): void {
  ;(agent as unknown as { keepAlive: boolean }).keepAlive = false
  for (const sockets of Object.values(agent.freeSockets)) {
    for (const socket of sockets ?? []) socket.destroy()
  }
}

/**
 * The options install() would use: explicit ones over `STALLGUARD_*` env
 * vars; anything absent takes the agents' defaults. Throws on a bad value.
 */
export function effectiveOptions(options?: InstallOptions): Omit<InstallOptions, 'env'> {
  const explicit = checkOptions(options)
  const env = explicit.env ?? process.env
  const { env: _ignored, ...merged } = merge(env === false ? {} : optionsFromEnv(env), explicit)
  return merged
}

/** Undo the active install, if any; its dispatcher finishes closing in the background. */
function replaceActive(): void {
  // A failed close of an agent nobody uses any more is not worth an unhandled rejection.
  holder[kActive]?.().catch(() => {})
}

/**
 * Protect the process's default HTTP clients: undici's global dispatcher
 * becomes a {@link StallGuardAgent}; `http.globalAgent` and
 * `https.globalAgent` become {@link StallGuardHttpAgent} /
 * {@link StallGuardHttpsAgent} with Node's global-agent settings
 * (keep-alive, LIFO, 5 s idle-socket timeout). Options not given are read
 * from `STALLGUARD_*` env vars; a bad value throws before anything changes.
 * A later install() replaces this one.
 */
export function install(options?: InstallOptions): Uninstall {
  const merged = effectiveOptions(options)
  const { tcp, deadline, retry, connectTimeout, headersTimeout, bodyTimeout, minThroughput, dumpSignal } = merged

  if (merged.disable) {
    replaceActive()
    return async () => {}
  }

  // Build (and so validate) everything before a single global changes.
  const agentOptions: StallGuardAgentOptions = defined({ tcp, deadline, retry, connectTimeout, headersTimeout, bodyTimeout, minThroughput })
  const dispatcher = new StallGuardAgent(agentOptions)
  const nodeDefaults = { keepAlive: true, scheduling: 'lifo' as const, timeout: 5000 }
  const httpAgent = new StallGuardHttpAgent({ ...nodeDefaults, ...defined({ tcp, deadline, minThroughput }) })
  const httpsAgent = new StallGuardHttpsAgent({ ...nodeDefaults, ...defined({ tcp, deadline, minThroughput }) })

  replaceActive()

  const previous = {
    dispatcher: getGlobalDispatcher() as Dispatcher,
    http: http.globalAgent,
    https: https.globalAgent,
  }
  setGlobalDispatcher(dispatcher)
  dumpInflightOn(dumpSignal)
  http.globalAgent = httpAgent
  https.globalAgent = httpsAgent
  // `import { globalAgent } from 'node:https'` sees the new agents too.
  syncBuiltinESMExports()

  let closing: Promise<void> | undefined
  const uninstall: Uninstall = () => {
    if (closing) return closing
    if (holder[kActive] === uninstall) delete holder[kActive]
    // Put back only what is still ours: whatever the application set after
    // install() (its own agent, a proxy dispatcher) stays.
    if (getGlobalDispatcher() === dispatcher) setGlobalDispatcher(previous.dispatcher)
    dumpInflightOn(undefined)
    if (http.globalAgent === httpAgent) http.globalAgent = previous.http
    if (https.globalAgent === httpsAgent) https.globalAgent = previous.https
    syncBuiltinESMExports()
    retire(httpAgent)
    retire(httpsAgent)
    // undici's close() lets requests in flight finish.
    closing = dispatcher.close()
    return closing
  }
  holder[kActive] = uninstall
  return uninstall
}
