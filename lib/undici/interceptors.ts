// stallguard's request layers as undici interceptors, for any dispatcher's
// compose(): `pool.compose(interceptors.deadline({ deadline: 5000 }),
// interceptors.retry())`. Each factory checks its options when it is called
// (a typo fails at start-up, not on the first request), like undici's own.
// They take handlers in either undici handler API, as undici 7's own
// interceptors do, and are the same layers StallGuardAgent is built from.
import type { Dispatcher } from 'undici'
import { deadlineInterceptor, minThroughputInterceptor } from './watch-interceptor'
import type { Dispatch } from './forwarding-handler'
import { toCoreHandler } from './undici7-compat'
import { toHandlerApi } from './legacy-handler'
import { retryInterceptor } from './retry-interceptor'
import { checkInterceptorOptions, resolveDeadline, resolveMinThroughput, resolveRetry } from '../options'
import type { MinThroughputOption } from '../watch/throughput'

/** What `dispatcher.compose()` takes. */
export type Interceptor = Dispatcher.DispatcherComposeInterceptor

export interface DeadlineOptions {
  /** Default budget per request in ms (see StallGuardOptions.deadline); a request's own `deadline` wins. */
  deadline?: number | undefined
}

export interface MinThroughputOptions {
  /** Default floor per request (see StallGuardOptions.minThroughput); a request's own `minThroughput` wins. */
  minThroughput?: MinThroughputOption
}

export interface RetryOptions {
  /** Retries on a stale pooled connection (see StallGuardOptions.retry); default once. */
  retry?: boolean | number | undefined
}

function asInterceptor(layer: (dispatch: Dispatch) => Dispatch, toNext: (handler: Dispatcher.DispatchHandler) => Dispatcher.DispatchHandler): Interceptor {
  return ((dispatch: Dispatcher.Dispatch) => {
    const next: Dispatch = (opts, handler) => dispatch(opts, toNext(handler))
    const layered = layer(next)
    return (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => layered(opts, toHandlerApi(handler))
  }) as Interceptor
}

/** A total budget per request: ends it with DeadlineExceededError (SG_ERR_DEADLINE_EXCEEDED). */
function deadline(options?: DeadlineOptions): Interceptor {
  const ms = resolveDeadline(checkInterceptorOptions(options, ['deadline'], 'deadline interceptor').deadline, 'deadline')
  return asInterceptor(deadlineInterceptor({ deadline: ms }), (handler) => handler)
}

/** A floor under the body's average rate: ends a crawling body with StalledStreamError (SG_ERR_STALLED_STREAM). */
function minThroughput(options?: MinThroughputOptions): Interceptor {
  const floor = resolveMinThroughput(checkInterceptorOptions(options, ['minThroughput'], 'minThroughput interceptor').minThroughput, 'minThroughput')
  return asInterceptor(minThroughputInterceptor({ minThroughput: floor }), (handler) => handler)
}

/**
 * Retry an idempotent request that failed on a reused connection before any
 * response byte. Put it after `deadline` in compose() so the deadline spans
 * every attempt.
 */
function retry(options?: RetryOptions): Interceptor {
  const retries = resolveRetry(checkInterceptorOptions(options, ['retry'], 'retry interceptor').retry, 'retry')
  // The handler undici's Request keeps must be ours for the reuse check to
  // find this attempt (connection-reuse.ts): on undici 7 that is the bridge.
  return asInterceptor(retryInterceptor({ retry: retries }), toCoreHandler)
}

export const interceptors: Readonly<{ deadline: typeof deadline; minThroughput: typeof minThroughput; retry: typeof retry }> =
  Object.freeze({ deadline, minThroughput, retry })
