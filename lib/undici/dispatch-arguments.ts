// StallGuardAgent's interceptors run before undici's dispatcher sees a
// request, and they always hand undici a complete handler of their own. So
// the checks undici makes on the caller's arguments are made here, first,
// with undici's error classes and messages, and reported the way undici's
// dispatch reports them: thrown when the handler cannot take an error,
// otherwise through the handler.
import { Agent, errors, type Dispatcher } from 'undici'

type Handler = Record<string, unknown>

const isFunction = (value: unknown): boolean => typeof value === 'function'

/** An optional callback that is there but not a function. */
const invalidOptional = (value: unknown): boolean => value !== undefined && !isFunction(value)

// The checks read each callback by name, in undici's order, with no array
// of names: a loop of `handler[name]` reads made V8's keyed-load site
// megamorphic (each caller's handler class has a map of its own), ~1.8 k
// instructions per request on Node 24 (callgrind, keep-alive).

/** The first callback of the new handler API (undici 8's rule) that is missing or wrong. */
function newApiProblem(h: Handler, upgrade: boolean): string | undefined {
  if (!isFunction(h.onResponseError)) return 'onResponseError'
  if (invalidOptional(h.onBodySent)) return 'onBodySent'
  if (invalidOptional(h.onRequestSent)) return 'onRequestSent'
  if (upgrade) return isFunction(h.onRequestUpgrade) ? undefined : 'onRequestUpgrade'
  if (!isFunction(h.onResponseStart)) return 'onResponseStart'
  if (!isFunction(h.onResponseData)) return 'onResponseData'
  if (!isFunction(h.onResponseEnd)) return 'onResponseEnd'
  return undefined
}

/** The first callback of the legacy handler API (undici 7's rule) that is missing or wrong. */
function legacyProblem(h: Handler, upgrade: boolean): string | undefined {
  if (!isFunction(h.onConnect)) return 'onConnect'
  if (!isFunction(h.onError)) return 'onError'
  if (invalidOptional(h.onBodySent)) return 'onBodySent'
  if (upgrade) return isFunction(h.onUpgrade) ? undefined : 'onUpgrade'
  if (!isFunction(h.onHeaders)) return 'onHeaders'
  if (!isFunction(h.onData)) return 'onData'
  if (!isFunction(h.onComplete)) return 'onComplete'
  return undefined
}

/** undici's handler check (its util.assertRequestHandler), for both handler APIs. */
function handlerProblem(h: Handler, opts: Dispatcher.DispatchOptions): string | undefined {
  const upgrade = Boolean(opts.upgrade) || opts.method === 'CONNECT'
  // The new API: undici 7 checks nothing more for it and fails later,
  // mid-response, when it calls a callback that is not there. The legacy
  // API: undici 8 accepts only the new one; we keep taking both (Node's
  // built-in fetch on Node 20/22 speaks the legacy one).
  const missing = isFunction(h.onRequestStart) ? newApiProblem(h, upgrade) : legacyProblem(h, upgrade)
  return missing === undefined ? undefined : `invalid ${missing} method`
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
