// StallGuardAgent: an undici Agent whose every socket carries kernel
// timeouts, with a per-request deadline and a safe retry for requests that
// died on a stale pooled connection. Usable wherever an undici Dispatcher
// is: undici.request/stream/pipeline, undici's fetch, setGlobalDispatcher
// (Node's built-in fetch), libraries that take a `dispatcher`.
import { Agent, type Dispatcher } from 'undici'
import { dispatchArgumentsError, reportDispatchError } from './dispatch-arguments'
import { guardedFactory } from './pool-factory'
import { watchSettings, watchWith } from './watch-interceptor'
import type { Dispatch } from './forwarding-handler'
import { coreSpeaksLegacy, toCoreHandler } from './undici7-compat'
import { toHandlerApi, type Legacy } from './legacy-handler'
import { LegacyWatch } from './legacy-watch'
import type { WatchSettings } from './watched-request'
import { splitOptions, UNDICI_AGENT_KEYS, type StallGuardOptions } from '../options'
import { listInflight, type InflightRequest } from '../watch/inflight'
import { AddressBook, type DownAddress } from '../health/address-book'

declare module 'undici' {
  namespace Dispatcher {
    interface DispatchOptions {
      /**
       * stallguard: total budget for this request in ms, from dispatch to the
       * end of the response body; 0 turns the agent's deadline off for it.
       * Honoured by StallGuardAgent, ignored by other dispatchers.
       */
      deadline?: number | undefined
    }
  }
}

/** undici's Agent options plus ours: `tcp`, `deadline`, `retry`, `minThroughput`, `addressHealth` (see StallGuardOptions). */
export interface StallGuardAgentOptions extends Agent.Options, StallGuardOptions {}

export class StallGuardAgent extends Agent {
  readonly #dispatch: Dispatch
  readonly #settingsFor: (opts: Agent.DispatchOptions) => WatchSettings
  /** undici's own dispatch (the Agent's): pools, connections, the core. */
  readonly #core: (opts: Agent.DispatchOptions, handler: Dispatcher.DispatchHandler) => boolean
  readonly #health: AddressBook | undefined

  constructor(options: StallGuardAgentOptions = {}) {
    // Ours are checked and resolved here, once, before any request: a typo
    // fails at startup (lib/options.ts). undici checks its own in super().
    const { resolved, rest: agentOptions } = splitOptions<Agent.Options>(options, UNDICI_AGENT_KEYS,
      'an object of undici Agent options plus tcp, deadline, retry and minThroughput', "undici's Agent")
    const { tcp: timeouts, deadline: deadlineMs, retry: retries, minThroughput, addressHealth } = resolved
    // One book for every pool: an address is down for the whole agent.
    const health = addressHealth === undefined ? undefined : new AddressBook(addressHealth)
    const guard = { timeouts, health }
    // The connector is built per pool, from the options undici gives that
    // pool (pool-factory.ts); undici's Agent keeps `connect` and the rest as usual.
    super({ ...agentOptions, factory: guardedFactory(agentOptions.factory, agentOptions.connect, guard) })

    // One handler per request does the watch and the retry (watched-request.ts),
    // so the deadline spans every attempt. Whatever reaches undici's core goes
    // in the API that core speaks (undici7-compat); a legacy caller on undici
    // 7 gets the handler that speaks legacy on both sides (legacy-watch.ts).
    const watch = { deadline: deadlineMs, minThroughput, owner: this, retry: retries }
    const core = (opts: Agent.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean => super.dispatch(opts, handler)
    this.#health = health
    this.#settingsFor = watchSettings(watch)
    this.#dispatch = watchWith(this.#settingsFor)((opts, handler) => core(opts, toCoreHandler(handler)))
    this.#core = core
  }

  override dispatch(opts: Agent.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    // Not an object: let undici raise its usual InvalidArgumentError.
    if (handler === null || typeof handler !== 'object') return super.dispatch(opts, handler)
    const invalid = dispatchArgumentsError(opts, handler)
    if (invalid !== undefined) return reportDispatchError(handler, invalid)
    if (coreSpeaksLegacy && typeof (handler as { onRequestStart?: unknown }).onRequestStart !== 'function') {
      return this.#dispatchLegacy(opts, handler as Legacy)
    }
    return this.#dispatch(opts, toHandlerApi(handler))
  }

  #dispatchLegacy(opts: Agent.DispatchOptions, caller: Legacy): boolean {
    let settings: WatchSettings
    try {
      settings = this.#settingsFor(opts)
    } catch (err) {
      return reportDispatchError(caller, err as Error)
    }
    const watched = new LegacyWatch(caller, opts, settings, this.#core as (opts: Agent.DispatchOptions, handler: LegacyWatch) => boolean)
    try {
      return this.#core(opts, watched as unknown as Dispatcher.DispatchHandler)
    } catch (err) {
      watched.settle()
      throw err
    }
  }

  /** This agent's open requests: phase, age, bytes sent and received (redacted). */
  inflight(): InflightRequest[] {
    return listInflight(this)
  }

  /** Addresses this agent currently sends no new connections to (address health), with since when and why. */
  downAddresses(): DownAddress[] {
    return this.#health?.down() ?? []
  }
}
