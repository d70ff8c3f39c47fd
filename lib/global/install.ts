// One call that protects every HTTP client in the process: undici's global
// dispatcher (Node's built-in fetch, and undici.request & co. from any undici
// copy, without a dispatcher) and node:http(s)'s global agents are replaced;
// agents and dispatchers the application or its SDKs built themselves are
// reached through process-wide hooks (process-hooks.ts), and with scope 'tcp'
// every outgoing TCP socket.
import http from 'node:http'
import https from 'node:https'
import { syncBuiltinESMExports } from 'node:module'
import { isMainThread } from 'node:worker_threads'
import type { Dispatcher } from 'undici'
import type { StallGuardAgentOptions } from '../undici/agent'
import { loadUndiciSide, type UndiciSide } from './undici-side'
import { disabledByEnv, ignoredWhenDisabled, optionsFromEnv, readEnvOptions } from './env'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../http/agents'
import type { TcpTimeouts } from '../kernel/tcp-options'
import { checkInstallOptions, mergeInstallOptions, resolveDeadline, resolveMinThroughput, resolveRetry, resolveTcp } from '../options'
import { inheritedOptions, isDefaultDispatcher, isNodeAgent } from './defaults'
import { installProcessHooks, SCOPES, type Scope } from './process-hooks'
import type { AddressHealthOption } from '../health/options'
import { invalidType } from '../validate'
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
  /**
   * What the override reaches besides the global clients (`STALLGUARD_SCOPE`):
   * 'http' (default) every HTTP client in the process, whoever built its agent
   * or dispatcher; 'tcp' every outgoing TCP socket (database and cache
   * drivers too). See docs/global.md.
   */
  scope?: Scope
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
  // Code that says `disable: false` overrules the kill switch: then every variable counts.
  const fromEnv = env === false ? {} : explicit.disable === false ? readEnvOptions(env) : optionsFromEnv(env)
  const { env: _ignored, ...merged } = merge(fromEnv, explicit)
  return merged
}

/** One warning when the environment switched stallguard off, naming what it ignored. */
function warnDisabled(options: InstallOptions | undefined): void {
  const env = options?.env ?? process.env
  // Once per process: a loader's hooks thread (tsx, a test runner) runs --require preloads again.
  if (!isMainThread || env === false || options?.disable !== undefined || !disabledByEnv(env)) return
  const ignored = ignoredWhenDisabled(env)
  process.emitWarning(`stallguard is off (STALLGUARD_DISABLE=${env.STALLGUARD_DISABLE}): no socket, request or global ` +
    `HTTP client is changed. ${ignored.length === 0 ? 'No other STALLGUARD_* variable is set.' : `Ignored: ${ignored.join(', ')}.`}`,
  { type: 'StallGuardWarning', code: 'SG_WARN_DISABLED' })
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
 * connection included), see process-hooks.ts. Options not given are
 * read from `STALLGUARD_*` env vars; a bad value throws before anything
 * changes. A later install() replaces this one.
 */
export function install(options?: InstallOptions): Uninstall {
  const merged = effectiveOptions(options)
  const { tcp, deadline, retry, connectTimeout, headersTimeout, bodyTimeout, minThroughput, addressHealth, dumpSignal } = merged
  const scope = merged.scope ?? 'http'

  if (merged.disable) {
    warnDisabled(options)
    replaceActive()
    return async () => {}
  }

  // Validate everything before a single global changes: the undici agent
  // checks every option (it is closed again if a kept dispatcher makes it
  // unnecessary); the node:http agents take only tcp, deadline and minThroughput.
  const timeouts = resolveTcp(tcp)
  const deadlineMs = resolveDeadline(deadline, 'deadline')
  const floor = resolveMinThroughput(minThroughput, 'minThroughput')
  if (!SCOPES.includes(scope)) throw invalidType('scope', scope, "'http' (every HTTP client) or 'tcp' (every outgoing TCP socket)")
  const agentOptions: StallGuardAgentOptions = defined({ tcp, deadline, retry, connectTimeout, headersTimeout, bodyTimeout, minThroughput, addressHealth })
  // undici is a peer dependency: without it, the undici half is skipped (and said so once).
  const undici = loadUndiciSide()
  if (!undici) resolveRetry(retry)
  const candidate = undici ? new undici.StallGuardAgent(agentOptions) : undefined
  const nodeDefaults = { keepAlive: true, scheduling: 'lifo' as const, timeout: 5000 }

  // What is in place once an earlier install is undone decides what we replace.
  replaceActive()
  const previous = {
    dispatcher: undici?.getGlobalDispatcher(),
    http: http.globalAgent,
    https: https.globalAgent,
  }
  const ours = defined({ tcp, deadline, minThroughput, addressHealth })
  const plan = {
    dispatcher: candidate === undefined ? { keep: NO_UNDICI }
      : isDefaultDispatcher(previous.dispatcher)
        ? { replace: candidate }
        : { keep: describeKept('the global dispatcher', previous.dispatcher) },
    http: isNodeAgent(previous.http, 'http')
      ? { replace: new (installedHttpAgent(ours))({ ...nodeDefaults, ...inheritedOptions(previous.http), ...ours }) }
      : { keep: describeKept('http.globalAgent', previous.http) },
    https: isNodeAgent(previous.https, 'https')
      ? { replace: new (installedHttpsAgent(ours))({ ...nodeDefaults, ...inheritedOptions(previous.https), ...ours }) }
      : { keep: describeKept('https.globalAgent', previous.https) },
  } satisfies Record<string, Plan<object>>

  const dispatcher = 'replace' in plan.dispatcher ? plan.dispatcher.replace : undefined
  // Never used, never connected: nothing to wait for.
  if (!dispatcher) candidate?.destroy().catch(() => {})
  const httpAgent = 'replace' in plan.http ? plan.http.replace : undefined
  const httpsAgent = 'replace' in plan.https ? plan.https.replace : undefined
  if (dispatcher) undici?.setGlobalDispatcher(dispatcher)
  if (httpAgent) http.globalAgent = httpAgent
  dumpInflightOn(dumpSignal)
  if (httpsAgent) https.globalAgent = httpsAgent
  // `import { globalAgent } from 'node:https'` sees the new agents too.
  syncBuiltinESMExports()
  // Clients we did not build — a kept global agent or dispatcher (a proxy,
  // say: it keeps routing), an agent an SDK built, a dispatcher the
  // application sets or uses later — get the kernel timeouts on their
  // connections, and node:http requests the deadline and floor, through the
  // process-wide hooks (diagnostics channels: they reach Node's bundled
  // undici even when no undici is installed); our own agents' sockets are
  // protected already and skipped. A kept undici dispatcher gets the
  // deadline through undici's own compose() (the same dispatcher
  // underneath, so the same route).
  const stopProtecting = installProcessHooks({ scope, timeouts, deadline: deadlineMs, floor, warnUnreached: dispatcher !== undefined })
  const composed = dispatcher || !undici ? undefined : withDeadline(previous.dispatcher!, deadlineMs, floor)
  if (composed) undici?.setGlobalDispatcher(composed)
  if (undici) warnKept(plan, merged, composed !== undefined)
  else warnNoUndici()

  let closing: Promise<void> | undefined
  const uninstall: Uninstall = () => {
    if (closing) return closing
    if (holder[kActive] === uninstall) delete holder[kActive]
    stopProtecting()
    // Put back only what is still ours: whatever the application set after
    // install() (its own agent, a proxy dispatcher) stays.
    restoreDispatcher(undici, previous.dispatcher, [dispatcher, composed])
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

/** Put `previous` back as the global dispatcher if it is still one of `ours`. */
function restoreDispatcher(undici: UndiciSide | undefined, previous: Dispatcher | undefined, ours: Array<Dispatcher | undefined>): void {
  if (!undici || !previous) return
  const current = undici.getGlobalDispatcher()
  if (ours.some((d) => d !== undefined && d === current)) undici.setGlobalDispatcher(previous)
}

const NO_UNDICI = 'undici is not installed'
const kWarnedNoUndici = Symbol.for('stallguard.warned.noUndici')

/**
 * Without undici, say once per process what install() does not cover: there
 * is no StallGuardAgent to make the global dispatcher, so Node's built-in
 * fetch keeps its own and gets only the kernel timeouts on its connections
 * (through undici's connection channel, which Node's bundled copy publishes).
 */
function warnNoUndici(): void {
  const flags = globalThis as Record<symbol, unknown>
  if (flags[kWarnedNoUndici] || !isMainThread) return
  flags[kWarnedNoUndici] = true
  process.emitWarning('stallguard: undici is not installed, so install() protects node:http(s) clients fully and gives ' +
    "Node's built-in fetch the kernel timeouts once a connection is up; fetch gets no deadline, retry or throughput floor " +
    'and its connect is bounded by its own 10 s timeout. npm install undici to cover fetch too.',
  { type: 'StallGuardWarning', code: 'SG_WARN_NO_UNDICI' })
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
 * a kept node:http agent gets everything through the process-wide hooks,
 * so it needs no note; a kept undici dispatcher gets the kernel
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
    }
    // A kept node:http agent is reached by the process-wide hooks like any other.
  }
  if (notes.length === 0) return
  process.emitWarning(`stallguard: install() kept what the application configured, so its requests go where they went: ${notes.join('; ')}`,
    { type: 'StallGuardWarning', code: 'SG_WARN_KEPT_CLIENT' })
}

type Ours = Pick<InstallOptions, 'tcp' | 'deadline' | 'minThroughput'>

/**
 * The global agents' class for this install (named like its parent, so
 * `globalAgent.constructor.name` reads as before). node:http answers
 * `agent: false` with `new globalAgent.constructor()`: without arguments that
 * is an agent with the installed configuration and Node's own default for
 * such an agent (no keep-alive); with options, the installed configuration
 * under them.
 */
function installedHttpAgent(ours: Ours): typeof StallGuardHttpAgent {
  const Base = StallGuardHttpAgent
  return class StallGuardHttpAgent extends Base {
    constructor(options?: ConstructorParameters<typeof Base>[0]) {
      super(options === undefined ? { keepAlive: false, ...ours } : { ...ours, ...options })
    }
  }
}

function installedHttpsAgent(ours: Ours): typeof StallGuardHttpsAgent {
  const Base = StallGuardHttpsAgent
  return class StallGuardHttpsAgent extends Base {
    constructor(options?: ConstructorParameters<typeof Base>[0]) {
      super(options === undefined ? { keepAlive: false, ...ours } : { ...ours, ...options })
    }
  }
}
