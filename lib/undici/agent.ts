// StallGuardAgent: an undici Agent whose every socket carries kernel
// timeouts, with a per-request deadline and a safe retry for requests that
// died on a stale pooled connection. Usable wherever an undici Dispatcher
// is: undici.request/stream/pipeline, undici's fetch, setGlobalDispatcher
// (Node's built-in fetch), libraries that take a `dispatcher`.
import { Agent, type Dispatcher } from 'undici'
import { countRequestsOn } from './connection-reuse'
import { guardedConnector } from './connector'
import { resolveDeadline } from '../deadline'
import { watchInterceptor } from './deadline-interceptor'
import type { Dispatch } from './forwarding-handler'
import { toCoreHandler } from './legacy-bridge'
import { toHandlerApi } from './legacy-handler'
import { resolveRetry, retryInterceptor } from './retry-interceptor'
import { resolveTcpTimeouts, type TcpTimeouts } from '../kernel/tcp-options'
import { invalidType } from '../validate'
import { listInflight, type InflightRequest } from '../watch/inflight'
import { resolveMinThroughput, type MinThroughputOption } from '../watch/throughput'

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

export interface StallGuardAgentOptions extends Agent.Options {
  /**
   * Kernel timeouts for every socket the agent opens (ms; missing keys take
   * DEFAULT_TCP_TIMEOUTS). `false` leaves sockets exactly as undici makes them.
   */
  tcp?: TcpTimeouts | false | undefined
  /** Default total budget per request in ms (0 = none). A request's own `deadline` wins. */
  deadline?: number | undefined
  /**
   * Retry an idempotent request with a replayable body that failed on a
   * reused connection before any response byte arrived. `true` (default) =
   * once, a number = that many retries, `false`/0 = never.
   */
  retry?: boolean | number | undefined
  /**
   * Smallest average body rate (upload and download), off by default:
   * `{ bytesPerSecond, grace }`, `true` = 1 byte/s over 20 s (AWS's stalled
   * stream protection). A request's own `minThroughput` wins.
   */
  minThroughput?: MinThroughputOption
}

export class StallGuardAgent extends Agent {
  readonly #dispatch: Dispatch

  constructor(options: StallGuardAgentOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw invalidType('options', options, 'an object of undici Agent options plus tcp, deadline and retry')
    }
    const { tcp, deadline, retry, minThroughput, ...agentOptions } = options
    // All of ours are checked here, before any request: a typo fails at startup.
    if (tcp !== false && tcp !== undefined && (tcp === null || typeof tcp !== 'object')) {
      throw invalidType('tcp', tcp, 'an object of TCP timeouts or false')
    }
    const { connect } = agentOptions
    if (connect !== undefined && connect !== null && typeof connect !== 'function' && typeof connect !== 'object') {
      throw invalidType('connect', connect, 'a function or an object of connect options')
    }
    const timeouts = tcp === false ? undefined : resolveTcpTimeouts(tcp, 'tcp')
    const deadlineMs = resolveDeadline(deadline, 'deadline')
    const retries = resolveRetry(retry, 'retry')
    const floor = resolveMinThroughput(minThroughput, 'minThroughput')

    super({
      ...agentOptions,
      connect: guardedConnector(agentOptions, {
        timeouts,
        // Only the retry rule needs to know whether a connection was reused.
        onSocket: retries > 0 ? countRequestsOn : undefined,
      }),
    })

    // Outermost first: the deadline spans every retry attempt. Whatever
    // reaches undici's core goes in the API that core speaks (legacy-bridge).
    const base: Dispatch = (opts, handler) => super.dispatch(opts, toCoreHandler(handler))
    this.#dispatch = watchInterceptor({ deadline: deadlineMs, minThroughput: floor, owner: this })(retryInterceptor({ retry: retries })(base))
  }

  override dispatch(opts: Agent.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    // Not an object: let undici raise its usual InvalidArgumentError.
    if (handler === null || typeof handler !== 'object') return super.dispatch(opts, handler)
    return this.#dispatch(opts, toHandlerApi(handler))
  }

  /** This agent's open requests: phase, age, bytes sent and received (redacted). */
  inflight(): InflightRequest[] {
    return listInflight(this)
  }
}
