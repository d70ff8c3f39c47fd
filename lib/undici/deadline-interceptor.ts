// A total time budget per request, from dispatch to the end of the response
// body, on one real timer. undici only has gap timers (headersTimeout,
// bodyTimeout) that a slow trickle or a paused consumer keeps resetting; a
// deadline fires on its own, whatever the I/O is doing.
//
// On expiry the attempt is aborted through its controller. For HTTP/1.1
// undici's abort destroys the socket (a half-read connection never goes back
// to the pool) and the request body stream; for HTTP/2 it resets the stream
// and the session carries on. The caller gets a DeadlineExceededError. A
// caller's AbortSignal needs nothing from us: whichever fires first ends the
// request with its own error, and the later one finds nothing to do.
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { armDeadline, resolveDeadline } from '../deadline'
import type { DeadlineExceededError } from '../errors'
import {
  ForwardingHandler,
  type Dispatch,
  type DispatchController,
  type DispatchHandler,
  type ParsedHeaders,
  type MaybeController,
} from './forwarding-handler'

export interface DeadlineInterceptorOptions {
  /** Default budget in ms for every request; 0/undefined = none. A request's own `deadline` wins. */
  deadline?: number | undefined
}

function describe(opts: Dispatcher.DispatchOptions): string {
  return `${opts.method} ${String(opts.origin ?? '')}${opts.path}`
}

/** Destroy a request body stream that never reached a connection (undici destroys the others). */
function destroyBody(body: unknown): void {
  const stream = body as { destroy?: unknown; destroyed?: boolean } | null | undefined
  // No error argument: the stream may have no 'error' listener yet (still
  // queued in a pool), and an unhandled 'error' would crash the process.
  if (stream && typeof stream.destroy === 'function' && stream.destroyed !== true) {
    (stream.destroy as () => void)()
  }
}

class DeadlineHandler extends ForwardingHandler {
  #controller: DispatchController | null = null
  #disarm: (() => void) | undefined
  #expired: DeadlineExceededError | undefined
  /** True once the caller has received its final callback. */
  #settled = false
  readonly #body: unknown

  constructor(handler: DispatchHandler, ms: number, opts: Dispatcher.DispatchOptions) {
    super(handler)
    this.#body = opts.body
    this.#disarm = armDeadline(ms, (err) => this.#expire(err), () => describe(opts))
  }

  /** Stop the timer; the request is over (or could not be dispatched). */
  settle(): void {
    this.#settled = true
    this.#disarm?.()
    this.#disarm = undefined
  }

  #expire(err: DeadlineExceededError): void {
    this.#disarm = undefined
    if (this.#settled) return
    this.#expired = err
    const controller = this.#controller
    // Normally undici answers the abort synchronously with onResponseError(err).
    if (controller !== null && !controller.aborted) controller.abort(err)
    if (this.#settled) return
    // Nothing to abort yet (queued or connecting), or between two retry
    // attempts: end it for the caller now; onRequestStart aborts whatever
    // attempt starts later.
    destroyBody(this.#body)
    this.settle()
    super.onResponseError(controller, err)
  }

  override onRequestStart(controller: DispatchController, context: unknown): void {
    if (this.#expired !== undefined) {
      controller.abort(this.#expired)
      return
    }
    if (this.#settled) return
    this.#controller = controller
    super.onRequestStart(controller, context)
  }

  override onRequestUpgrade(controller: DispatchController, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    if (this.#settled) return
    // The connection now belongs to the caller; the budget covered getting it.
    this.settle()
    super.onRequestUpgrade(controller, statusCode, headers, socket)
  }

  override onResponseStart(controller: DispatchController, statusCode: number, headers: ParsedHeaders, statusMessage?: string): void {
    if (!this.#settled) super.onResponseStart(controller, statusCode, headers, statusMessage)
  }

  override onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (!this.#settled) super.onResponseData(controller, chunk)
  }

  override onResponseEnd(controller: DispatchController, trailers: ParsedHeaders): void {
    if (this.#settled) return
    this.settle()
    super.onResponseEnd(controller, trailers)
  }

  override onResponseError(controller: MaybeController, err: Error): void {
    if (this.#settled) return
    this.settle()
    super.onResponseError(controller, err)
  }
}

/**
 * Interceptor factory: `deadline` is the default budget; a request overrides
 * it with its own `deadline` dispatch option (0 turns it off for that request).
 */
export function deadlineInterceptor(options: DeadlineInterceptorOptions = {}): (dispatch: Dispatch) => Dispatch {
  const fallback = resolveDeadline(options.deadline, 'deadline')
  return (dispatch) => function stallguardDeadline(opts, handler) {
    let ms: number
    try {
      ms = opts.deadline === undefined ? fallback : resolveDeadline(opts.deadline, 'the request option deadline')
    } catch (err) {
      // Like undici's dispatchers: a bad request is reported, not thrown.
      if (typeof handler.onResponseError !== 'function') throw err
      handler.onResponseError(null as unknown as DispatchController, err as Error)
      return false
    }
    if (ms === 0) return dispatch(opts, handler)
    const guarded = new DeadlineHandler(handler, ms, opts)
    try {
      return dispatch(opts, guarded)
    } catch (err) {
      guarded.settle()
      throw err
    }
  }
}
