// StallGuardAgent's interceptors run before undici's dispatcher sees a
// request, and they always hand undici a complete handler of their own. So
// the checks undici makes on the caller's arguments are made here, first,
// with undici's error classes and messages, and reported the way undici's
// dispatch reports them: thrown when the handler cannot take an error,
// otherwise through the handler.
import { Agent, errors, type Dispatcher } from 'undici'

type Handler = Record<string, unknown>

const isFunction = (value: unknown): boolean => typeof value === 'function'

// The names each check requires, built once: this check runs on every request.
const NEW_API = ['onResponseError', 'onResponseStart', 'onResponseData', 'onResponseEnd']
const NEW_API_UPGRADE = ['onResponseError', 'onRequestUpgrade']
const NEW_API_OPTIONAL = ['onBodySent', 'onRequestSent']
const LEGACY = ['onConnect', 'onError', 'onHeaders', 'onData', 'onComplete']
const LEGACY_UPGRADE = ['onConnect', 'onError', 'onUpgrade']

/** undici's handler check (its util.assertRequestHandler), for both handler APIs. */
function handlerProblem(handler: Handler, opts: Dispatcher.DispatchOptions): string | undefined {
  const upgrade = Boolean(opts.upgrade) || opts.method === 'CONNECT'
  if (isFunction(handler.onRequestStart)) {
    // undici 8's rule; undici 7 checks nothing more for this API and fails
    // later, mid-response, when it calls a callback that is not there.
    const required = upgrade ? NEW_API_UPGRADE : NEW_API
    for (const name of required) if (!isFunction(handler[name])) return `invalid ${name} method`
    for (const name of NEW_API_OPTIONAL) {
      if (handler[name] !== undefined && !isFunction(handler[name])) return `invalid ${name} method`
    }
    return undefined
  }
  // The legacy API (undici 7's rule; undici 8 accepts only the new API, we
  // keep taking both: Node's built-in fetch on Node 20/22 speaks this one).
  const required = upgrade ? LEGACY_UPGRADE : LEGACY
  for (const name of required) if (!isFunction(handler[name])) return `invalid ${name} method`
  if (handler.onBodySent !== undefined && !isFunction(handler.onBodySent)) return 'invalid onBodySent method'
  return undefined
}

/**
 * undici's error for these dispatch arguments, or undefined when they are
 * fine. `handler` must already be an object (undici throws for the rest
 * before anything else, and the agent lets undici do that).
 */
export function dispatchArgumentsError(opts: unknown, handler: object): Error | undefined {
  if (opts === null || typeof opts !== 'object') return new errors.InvalidArgumentError('opts must be an object.')
  const problem = handlerProblem(handler as Handler, opts as Dispatcher.DispatchOptions)
  return problem === undefined ? undefined : new errors.InvalidArgumentError(problem)
}

/** Report a dispatch-time error as undici's dispatch does; returns what undici's dispatch returns. */
export function reportDispatchError(handler: object, err: Error): boolean {
  const h = handler as Handler
  if (isFunction(h.onResponseError)) {
    ;(h.onResponseError as (controller: null, err: Error) => void)(null, err)
  } else if (isFunction(h.onError)) {
    ;(h.onError as (err: Error) => void)(err)
  } else {
    throw err
  }
  return reportedFailureReturns
}

/**
 * What this undici's dispatch returns after it reported a failure through
 * the handler: false in undici 7 and early 8, true in later 8 (nothing was
 * queued, so no 'drain' will follow). Asked of undici itself, once: its
 * dispatch checks `opts` first, so a bare object with the Agent prototype
 * answers without a pool or a socket.
 */
const reportedFailureReturns: boolean = (() => {
  const probe = Object.create(Agent.prototype) as Dispatcher
  const silent = { onError() {}, onResponseError() {} }
  try {
    return probe.dispatch(null as never, silent as never)
  } catch {
    return false
  }
})()
