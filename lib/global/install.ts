// One call that protects every HTTP client in the process that uses the
// defaults: undici's global dispatcher (Node's built-in fetch, and
// undici.request & co. from any undici copy, without a dispatcher) and
// node:http(s)'s global agents (http.get, https.request, and the libraries
// built on them).
import type { AddressHealthOption } from '../health/options'
import http from 'node:http'
import https from 'node:https'
import { syncBuiltinESMExports } from 'node:module'
import { getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici'
import { StallGuardAgent, type StallGuardAgentOptions } from '../undici/agent'
import { optionsFromEnv } from './env'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../http/agents'
import type { TcpTimeouts } from '../kernel/tcp-options'
import { checkInstallOptions, mergeInstallOptions, resolveDeadline, resolveMinThroughput, resolveTcp } from '../options'
import { inheritedOptions, isDefaultDispatcher, isNodeAgent } from './defaults'
import { protectUndiciConnections } from './undici-connections'
import { watchInterceptor } from '../undici/watch-interceptor'
import { dumpInflightOn } from '../watch/inflight'
import type { MinThroughput, MinThroughputOption } from '../watch/throughput'

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
  /**
   * Address health for both layers' agents (docs/address-health.md): on by
   * default, `false` = off, `{ coolDown, maxCoolDown }` in ms.
   */
  addressHealth?: AddressHealthOption
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

/** A replacement for one global client, or the reason it was kept. */
type Plan<T> = { replace: T } | { keep: string }

function describeKept(what: string, value: unknown): string {
  const name = (value as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof value
  return `${what} (${name})`
}

/**
 * Protect the process's HTTP clients without changing where their requests
 * go. undici's default global dispatcher becomes a {@link StallGuardAgent};
 * Node's plain `http.globalAgent` / `https.globalAgent` become
 * {@link StallGuardHttpAgent} / {@link StallGuardHttpsAgent} with the
 * replaced agent's options (Node's global-agent settings, Node 24's
 * `proxyEnv`, TLS options set on it). A global dispatcher or agent the
 * application or Node configured (a ProxyAgent, an EnvHttpProxyAgent from
 * NODE_USE_ENV_PROXY, a proxy agent from a package) is kept: undici
 * dispatchers get the kernel timeouts on their connections (the proxy
 * connection included), see undici-connections.ts. Options not given are
 * read from `STALLGUARD_*` env vars; a bad value throws before anything
 * changes. A later install() replaces this one.
 */
export function install(options?: InstallOptions): Uninstall {
  const merged = effectiveOptions(options)
  const { tcp, deadline, retry, connectTimeout, headersTimeout, bodyTimeout, minThroughput, addressHealth, dumpSignal } = merged

  if (merged.disable) {
    replaceActive()
    return async () => {}
  }

  // Validate everything before a single global changes: the undici agent
  // checks every option (it is closed again if a kept dispatcher makes it
  // unnecessary); the node:http agents take only tcp, deadline and minThroughput.
  const timeouts = resolveTcp(tcp)
  const deadlineMs = resolveDeadline(deadline, 'deadline')
  const floor = resolveMinThroughput(minThroughput, 'minThroughput')
  const agentOptions: StallGuardAgentOptions = defined({ tcp, deadline, retry, connectTimeout, headersTimeout, bodyTimeout, minThroughput, addressHealth })
  const candidate = new StallGuardAgent(agentOptions)
  const nodeDefaults = { keepAlive: true, scheduling: 'lifo' as const, timeout: 5000 }

  // What is in place once an earlier install is undone decides what we replace.
  replaceActive()
  const previous = {
    dispatcher: getGlobalDispatcher() as Dispatcher,
    http: http.globalAgent,
    https: https.globalAgent,
  }
  const ours = defined({ tcp, deadline, minThroughput, addressHealth })
  const plan = {
    dispatcher: isDefaultDispatcher(previous.dispatcher)
      ? { replace: candidate }
      : { keep: describeKept('the global dispatcher', previous.dispatcher) },
    http: isNodeAgent(previous.http, 'http')
      ? { replace: new StallGuardHttpAgent({ ...nodeDefaults, ...inheritedOptions(previous.http), ...ours }) }
      : { keep: describeKept('http.globalAgent', previous.http) },
    https: isNodeAgent(previous.https, 'https')
      ? { replace: new StallGuardHttpsAgent({ ...nodeDefaults, ...inheritedOptions(previous.https), ...ours }) }
      : { keep: describeKept('https.globalAgent', previous.https) },
  } satisfies Record<string, Plan<object>>

  const dispatcher = 'replace' in plan.dispatcher ? plan.dispatcher.replace : undefined
  // Never used, never connected: nothing to wait for.
  if (!dispatcher) candidate.destroy().catch(() => {})
  const httpAgent = 'replace' in plan.http ? plan.http.replace : undefined
  const httpsAgent = 'replace' in plan.https ? plan.https.replace : undefined
  if (dispatcher) setGlobalDispatcher(dispatcher)
  if (httpAgent) http.globalAgent = httpAgent
  dumpInflightOn(dumpSignal)
  if (httpsAgent) https.globalAgent = httpsAgent
  // `import { globalAgent } from 'node:https'` sees the new agents too.
  syncBuiltinESMExports()
  // A kept undici dispatcher (a proxy, say) keeps routing; its connections
  // get the kernel timeouts, and its requests the deadline through undici's
  // own compose() (the same dispatcher underneath, so the same route). The
  // connection hook stays on when we did replace the default: a dispatcher
  // the application sets later (a ProxyAgent after the preload ran) is
  // covered too; our own agents' sockets are already protected and skipped.
  const stopProtecting = timeouts ? protectUndiciConnections(timeouts) : undefined
  const composed = dispatcher ? undefined : withDeadline(previous.dispatcher, deadlineMs, floor)
  if (composed) setGlobalDispatcher(composed)
  warnKept(plan, merged, composed !== undefined)

  let closing: Promise<void> | undefined
  const uninstall: Uninstall = () => {
    if (closing) return closing
    if (holder[kActive] === uninstall) delete holder[kActive]
    stopProtecting?.()
    // Put back only what is still ours: whatever the application set after
    // install() (its own agent, a proxy dispatcher) stays.
    if (dispatcher && getGlobalDispatcher() === dispatcher) setGlobalDispatcher(previous.dispatcher)
    if (composed && getGlobalDispatcher() === composed) setGlobalDispatcher(previous.dispatcher)
    if (httpAgent && http.globalAgent === httpAgent) http.globalAgent = previous.http
    if (httpsAgent && https.globalAgent === httpsAgent) https.globalAgent = previous.https
    dumpInflightOn(undefined)
    syncBuiltinESMExports()
    if (httpAgent) retire(httpAgent)
    if (httpsAgent) retire(httpsAgent)
    // undici's close() lets requests in flight finish.
    closing = dispatcher ? dispatcher.close() : Promise.resolve()
    return closing
  }
  holder[kActive] = uninstall
  return uninstall
}

/**
 * The kept dispatcher with the deadline (and throughput floor) in front, or
 * undefined when there is neither or the dispatcher has no compose().
 * compose() hands our interceptor handlers in the API undici 7 and 8 speak.
 */
function withDeadline(kept: Dispatcher, ms: number, floor: MinThroughput | undefined): Dispatcher | undefined {
  if ((ms <= 0 && floor === undefined) || typeof kept.compose !== 'function' || !speaksOurHandlerApi(kept)) return undefined
  return kept.compose(watchInterceptor({ deadline: ms, minThroughput: floor }) as unknown as Dispatcher.DispatcherComposeInterceptor)
}

/**
 * undici keeps the global dispatcher in two slots: `.1` (read by undici <= 7
 * and Node's bundled fetch) and `.2` (written by undici >= 7, read by 8).
 * Our interceptor speaks the handler API of undici 7 and 8, so compose only
 * over a dispatcher that slot `.2` holds too: one set by undici 6 (Node 22's
 * bundled copy, say) is only in `.1` and takes only the older API; and when
 * the application's undici is newer than ours, what we read from `.1` is
 * undici 8's legacy wrapper, not the dispatcher itself.
 */
function speaksOurHandlerApi(dispatcher: Dispatcher): boolean {
  return (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.2')] === dispatcher
}

/**
 * Say what install() left in place and what that means, once per install:
 * a kept node:http agent gets no kernel timeouts (nothing reaches its
 * sockets without patching it); a kept undici dispatcher gets the kernel
 * layer and the deadline, not the stale-connection retry (it needs to count
 * requests per connection, which only StallGuardAgent's connector does).
 */
function warnKept(plan: Record<string, Plan<object>>, options: Omit<InstallOptions, 'env'>, composed: boolean): void {
  const notes: string[] = []
  for (const [key, entry] of Object.entries(plan)) {
    if (!('keep' in entry)) continue
    if (key === 'dispatcher') {
      const missed: string[] = []
      if ((options.deadline ?? 0) > 0 && !composed) missed.push('deadline')
      if (options.minThroughput !== undefined && options.minThroughput !== false && !composed) missed.push('minThroughput')
      if (options.retry !== undefined && options.retry !== false && options.retry !== 0) missed.push('retry')
      if (missed.length > 0) {
        notes.push(`${entry.keep} (kept: kernel timeouts on its connections; ${missed.join(' and ')} not applied to it)`)
      }
    } else {
      notes.push(`${entry.keep} (kept as the application set it: its sockets get no kernel timeouts)`)
    }
  }
  if (notes.length === 0) return
  process.emitWarning(`stallguard: install() kept what the application configured, so its requests go where they went: ${notes.join('; ')}`,
    { type: 'StallGuardWarning', code: 'SG_WARN_KEPT_CLIENT' })
}
