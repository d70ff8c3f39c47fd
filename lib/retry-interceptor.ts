// Retry a request that died on a stale pooled connection — the rule Go's
// net/http and curl use: the method is idempotent, the body can be sent
// again, the connection had carried a request before, and not one byte of
// the response arrived. A pooled connection that the peer (or a NAT, a load
// balancer, a reboot) silently dropped fails exactly that way; whether or not
// the request reached the server, an idempotent one is safe to send again.
//
// Built on undici's RetryHandler (its `retry` callback decides); the retry
// goes out at once on the next connection the pool offers (the dead one is
// gone, so normally a new one): there is no overloaded server to back off
// from.
import { RetryHandler, type Dispatcher } from 'undici'
import { armProbe, ConnectionProbe } from './connection-reuse'
import { ForwardingHandler, type Dispatch, type DispatchController, type DispatchHandler } from './forwarding-handler'
import { checkNumber, invalidType } from './validate'

/** GET, HEAD, OPTIONS, PUT, DELETE: RFC 9110 §9.2.2 idempotent methods (TRACE left out, as Go does for bodies). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/**
 * Errors that say "the connection broke" (as opposed to the server
 * answering, or a timer or the caller giving up). ETIMEDOUT is the kernel's
 * TCP_USER_TIMEOUT / keepalive verdict, which undici's default list lacks.
 */
const CONNECTION_ERRORS = new Set([
  'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ECONNABORTED',
  'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EHOSTDOWN',
  'UND_ERR_SOCKET',
])

export const MAX_RETRIES = 10

/** `retry` option → number of retries (0 = off). */
export function resolveRetry(value: unknown, name = 'retry'): number {
  if (value === undefined || value === true) return 1
  if (value === false) return 0
  if (typeof value !== 'number') {
    throw invalidType(name, value, `a boolean or an integer from 0 to ${MAX_RETRIES} (number of retries)`)
  }
  return checkNumber(name, value, { min: 1, max: MAX_RETRIES, integer: true, zeroMeans: 'no retries' })
}

/** Bodies undici can send twice: none, a string, bytes. Streams and iterables are consumed by the first attempt. */
function replayable(body: unknown): boolean {
  return body === undefined || body === null || typeof body === 'string' ||
    ArrayBuffer.isView(body) || body instanceof ArrayBuffer
}

function eligible(opts: Dispatcher.DispatchOptions): boolean {
  return IDEMPOTENT.has(opts.method) && opts.idempotent !== false && !opts.upgrade && replayable(opts.body)
}

/** What happened to the attempts of one request. */
class Attempts {
  count = 0
  last: { probe: ConnectionProbe; heardBack: boolean } | undefined
}

/** Innermost handler of one attempt: learns its connection and whether the server answered at all. */
class AttemptHandler extends ForwardingHandler {
  readonly #attempt: { probe: ConnectionProbe; heardBack: boolean }

  constructor(handler: DispatchHandler, attempts: Attempts) {
    super(handler)
    attempts.count += 1
    this.#attempt = { probe: new ConnectionProbe(), heardBack: false }
    attempts.last = this.#attempt
  }

  override onRequestStart(controller: DispatchController, context: unknown): void {
    super.onRequestStart(controller, context)
    // Armed last, so only this request's sendHeaders can answer (see connection-reuse).
    if (!controller.aborted) armProbe(this.#attempt.probe)
  }

  // undici calls this when the parser sees the first byte of the response.
  override onResponseStarted(): void {
    this.#attempt.heardBack = true
    super.onResponseStarted()
  }

  override onResponseStart(...args: Parameters<ForwardingHandler['onResponseStart']>): void {
    this.#attempt.heardBack = true
    super.onResponseStart(...args)
  }
}

export interface RetryInterceptorOptions {
  /** Retries per request (default 1); false/0 = off. */
  retry?: boolean | number | undefined
}

export function retryInterceptor(options: RetryInterceptorOptions = {}): (dispatch: Dispatch) => Dispatch {
  const retries = resolveRetry(options.retry)
  return (dispatch) => {
    if (retries === 0) return dispatch
    return function stallguardRetry(opts, handler) {
      if (!eligible(opts)) return dispatch(opts, handler)
      const attempts = new Attempts()
      const attempt: Dispatch = (attemptOpts, attemptHandler) =>
        dispatch(attemptOpts, new AttemptHandler(attemptHandler, attempts))
      const decide: RetryHandler.RetryCallback = (err, _context, done) => {
        const last = attempts.last
        const retry = attempts.count <= retries && last !== undefined &&
          last.probe.reused === true && !last.heardBack &&
          CONNECTION_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')
        if (!retry) {
          done(err)
          return
        }
        // After the failing connection's teardown has run (we are inside
        // its error path): then the retry takes a clean slot in the pool.
        queueMicrotask(() => done(null))
      }
      const retryHandler = new RetryHandler(
        {
          ...opts,
          retryOptions: {
            retry: decide,
            maxRetries: retries,
            // Responses are answers, never retried: pass every status through.
            statusCodes: [],
          },
        },
        { dispatch: attempt, handler },
      )
      return attempt(opts, retryHandler as DispatchHandler)
    }
  }
}
