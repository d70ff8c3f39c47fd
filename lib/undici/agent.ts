// StallGuardAgent: an undici Agent whose every socket carries kernel
// timeouts, with a per-request deadline and a safe retry for requests that
// died on a stale pooled connection. Usable wherever an undici Dispatcher
// is: undici.request/stream/pipeline, undici's fetch, setGlobalDispatcher
// (Node's built-in fetch), libraries that take a `dispatcher`.
import { Agent, type Dispatcher } from 'undici'
import { dispatchArgumentsError, reportDispatchError } from './dispatch-arguments'
import { guardedFactory } from './pool-factory'
import { watchInterceptor } from './watch-interceptor'
import type { Dispatch } from './forwarding-handler'
import { toCoreHandler } from './undici7-compat'
import { toHandlerApi } from './legacy-handler'
import { retryInterceptor } from './retry-interceptor'
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

    // Outermost first: the deadline spans every retry attempt. Whatever
    // reaches undici's core goes in the API that core speaks (undici7-compat).
    const base: Dispatch = (opts, handler) => super.dispatch(opts, toCoreHandler(handler))
    this.#health = health
    this.#dispatch = watchInterceptor({ deadline: deadlineMs, minThroughput, owner: this })(retryInterceptor({ retry: retries })(base))
  }

  override dispatch(opts: Agent.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    // Not an object: let undici raise its usual InvalidArgumentError.
    if (handler === null || typeof handler !== 'object') return super.dispatch(opts, handler)
    const invalid = dispatchArgumentsError(opts, handler)
    if (invalid !== undefined) return reportDispatchError(handler, invalid)
    return this.#dispatch(opts, toHandlerApi(handler))
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
