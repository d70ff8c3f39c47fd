// Retry a request that died on a stale pooled connection — the rule Go's
// net/http and curl use: the method is idempotent, the body can be sent
// again, the connection had carried a request before, and not one byte of
// the response arrived. A pooled connection that the peer (or a NAT, a load
// balancer, a reboot) silently dropped fails exactly that way; whether or not
// the request reached the server, an idempotent one is safe to send again.
//
// The retry goes out at once on the next connection the pool offers (the
// dead one is gone, so normally a new one): there is no overloaded server to
// back off from.
import type { Dispatcher } from 'undici'
import type { Duplex } from 'node:stream'
import { kConnectionProbe, watchConnectionReuse, type ConnectionProbe } from './connection-reuse'
import {
  ForwardingHandler,
  type Dispatch,
  type DispatchController,
  type DispatchHandler,
  type MaybeController,
  type ParsedHeaders,
} from './forwarding-handler'
import { resolveRetry } from '../options'

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

// The option's rule lives with every other option (lib/options.ts).
export { MAX_RETRIES, resolveRetry } from '../options'

/** Bodies undici can send twice: none, a string, bytes. Streams and iterables are consumed by the first attempt. */
function replayable(body: unknown): boolean {
  return body === undefined || body === null || typeof body === 'string' ||
    ArrayBuffer.isView(body) || body instanceof ArrayBuffer
}

/** Whether a request may be sent again at all: idempotent, not an upgrade, a body that can be replayed. */
export function retryEligible(opts: Dispatcher.DispatchOptions): boolean {
  return IDEMPOTENT.has(opts.method) && opts.idempotent !== false && !opts.upgrade && replayable(opts.body)
}

/** The rule for one failed attempt of an eligible request: a reused connection broke before any response byte. */
export function retriesAfter(reused: boolean | undefined, heardBack: boolean, err: Error): boolean {
  return reused === true && !heardBack && CONNECTION_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')
}

/**
 * One attempt of a retry-eligible request, for `interceptors.retry()`
 * (StallGuardAgent applies the same rule inside its one handler per request,
 * watched-request.ts). It learns which connection it ran on and whether the
 * server answered at all; when the attempt dies on a reused connection
 * before any response byte, it starts the next attempt instead of reporting
 * the error, handing the same caller handler over.
 *
 * Why not undici's RetryHandler: our rule retries at once (there is no
 * backoff to write), only before the caller has seen any response, and only
 * replayable bodies, so a retry is just "dispatch the same options again".
 * RetryHandler does much more on every request (copies the options, wraps
 * the body, tracks ranges and headers for resuming mid-body) and cost ~7 µs
 * of client CPU per keep-alive request, about a fifth of the whole request,
 * to serve a retry that almost never happens (measured with bench/profile.ts).
 */
class StaleConnectionRetry extends ForwardingHandler implements ConnectionProbe {
  /** Set by connection-reuse when undici writes this attempt (the handler is its own probe: one object less per request). */
  reused: boolean | undefined = undefined
  #heardBack = false
  readonly #dispatch: Dispatch
  readonly #opts: Dispatcher.DispatchOptions
  readonly #retriesLeft: number

  constructor(handler: DispatchHandler, dispatch: Dispatch, opts: Dispatcher.DispatchOptions, retriesLeft: number) {
    super(handler)
    this.#dispatch = dispatch
    this.#opts = opts
    this.#retriesLeft = retriesLeft
  }

  /** undici's Request holds this handler: its sendHeaders event finds the probe here (see connection-reuse). */
  get [kConnectionProbe](): ConnectionProbe {
    return this
  }

  // undici calls this when the parser sees the first byte of the response.
  override onResponseStarted(): void {
    this.#heardBack = true
    super.onResponseStarted()
  }

  override onResponseStart(controller: DispatchController, statusCode: number, headers: ParsedHeaders, statusMessage?: string): void {
    this.#heardBack = true
    super.onResponseStart(controller, statusCode, headers, statusMessage)
  }

  override onRequestUpgrade(controller: DispatchController, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.#heardBack = true
    super.onRequestUpgrade(controller, statusCode, headers, socket)
  }

  override onResponseError(controller: MaybeController, err: Error): void {
    if (this.#retriesLeft === 0 || !retriesAfter(this.reused, this.#heardBack, err)) {
      super.onResponseError(controller, err)
      return
    }
    // After the failing connection's teardown has run (we are inside its
    // error path): then the retry takes a clean slot in the pool. A caller
    // that aborted meanwhile (signal, deadline) aborts the next attempt as
    // soon as it starts.
    queueMicrotask(() => {
      const next = new StaleConnectionRetry(this.handler, this.#dispatch, this.#opts, this.#retriesLeft - 1)
      try {
        this.#dispatch(this.#opts, next)
      } catch (dispatchErr) {
        next.onResponseError(null, dispatchErr as Error)
      }
    })
  }
}

export interface RetryInterceptorOptions {
  /** Retries per request (default 1); false/0 = off. */
  retry?: boolean | number | undefined
}

export function retryInterceptor(options: RetryInterceptorOptions = {}): (dispatch: Dispatch) => Dispatch {
  const retries = resolveRetry(options.retry)
  if (retries > 0) watchConnectionReuse()
  return (dispatch) => {
    if (retries === 0) return dispatch
    return function stallguardRetry(opts, handler) {
      if (!retryEligible(opts)) return dispatch(opts, handler)
      return dispatch(opts, new StaleConnectionRetry(handler, dispatch, opts, retries))
    }
  }
}
