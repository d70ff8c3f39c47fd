// Per-request watch for undici dispatchers: a total time budget
// (`deadline`, from dispatch to the end of the response body) and a
// throughput floor (`minThroughput`) for the request and response bodies,
// both checked by the one shared clock (lib/watch/clock.ts), and the
// in-flight listing. undici only has gap timers (headersTimeout,
// bodyTimeout) that a slow trickle or a paused consumer keeps resetting.
//
// On a firing the attempt is aborted through its controller. For HTTP/1.1
// undici's abort destroys the socket (a half-read connection never goes back
// to the pool) and the request body stream; for HTTP/2 it resets the stream
// and the session carries on. The caller gets a DeadlineExceededError or a
// StalledStreamError. A caller's AbortSignal needs nothing from us:
// whichever fires first ends the request with its own error, and the later
// one finds nothing to do.
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { resolveDeadline } from '../options'
import type { RequestPhase } from '../diagnostics/channels'
import type { StreamDirection } from '../errors'
import { RequestTracker, type RequestProbe } from '../watch/request-tracker'
import { resolveMinThroughput, type MinThroughput, type MinThroughputOption } from '../watch/throughput'
import {
  ForwardingHandler,
  type Dispatch,
  type DispatchController,
  type DispatchHandler,
  type ParsedHeaders,
  type MaybeController,
} from './forwarding-handler'

declare module 'undici' {
  namespace Dispatcher {
    interface DispatchOptions {
      /**
       * stallguard: smallest average body rate for this request
       * (`{ bytesPerSecond, grace }`, `true` = 1 byte/s over 20 s, `false` =
       * off). Honoured by StallGuardAgent and the minThroughput interceptor.
       */
      minThroughput?: MinThroughputOption
    }
  }
}

export interface DeadlineInterceptorOptions {
  /** Default budget in ms for every request; 0/undefined = none. A request's own `deadline` wins. */
  deadline?: number | undefined
}

export interface MinThroughputInterceptorOptions {
  /** Default floor for every request; a request's own `minThroughput` wins (`false` turns it off). */
  minThroughput?: MinThroughputOption
}

export interface WatchInterceptorOptions extends DeadlineInterceptorOptions, MinThroughputInterceptorOptions {
  /** Whose requests these are, for `agent.inflight()`. */
  owner?: object | undefined
  /** Enforce only this one (the single-purpose interceptors); both when absent. */
  only?: 'deadline' | 'minThroughput' | undefined
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

interface ReadableState {
  readableLength?: number
  readableFlowing?: boolean | null
  readableEnded?: boolean
  isPaused?: () => boolean
  on?: unknown
}

/**
 * Whether a request body is waiting on our caller (nothing buffered for
 * undici to write). undici pauses a stream body while the socket is full, so
 * a paused stream or buffered bytes mean the network is the bottleneck.
 * Buffers and strings are always ready; for an async iterable nobody can
 * tell, and the network is assumed to be the one waiting.
 */
function bodyWaitsForCaller(body: unknown): boolean {
  const stream = body as ReadableState | null | undefined
  if (stream === null || stream === undefined || typeof stream !== 'object' || typeof stream.on !== 'function') return false
  if (typeof stream.readableLength !== 'number') return false
  return stream.readableLength === 0 && stream.readableFlowing === true && stream.readableEnded !== true
}

class WatchHandler extends ForwardingHandler implements RequestProbe {
  #controller: DispatchController | null = null
  #expired: Error | undefined
  /** True once the caller has received its final callback. */
  #settled = false
  #phase: RequestPhase = 'queued'
  #sent = 0
  #received = 0
  /** undici reported upload progress for this attempt (it does not for HTTP/2 stream bodies). */
  #uploadReported = false
  readonly #body: unknown
  readonly tracker: RequestTracker

  constructor(handler: DispatchHandler, opts: Dispatcher.DispatchOptions, deadline: number, floor: MinThroughput | undefined, owner: object) {
    super(handler)
    this.#body = opts.body
    // The dispatch options name the target (method, origin, path): no copy per request.
    this.tracker = new RequestTracker(this, opts, { deadline, floor, owner })
    this.tracker.open()
  }

  /** Stop watching; the request is over (or could not be dispatched). */
  settle(): void {
    this.#settled = true
    this.tracker.close()
  }

  // RequestProbe: what the shared clock and the in-flight dump read.
  phase(): RequestPhase { return this.#phase }
  bytesSent(): number { return this.#sent }
  bytesReceived(): number { return this.#received }
  socket(): undefined { return undefined }

  heldByCaller(direction: StreamDirection): boolean {
    if (direction === 'download') return this.#controller?.paused === true
    // Progress nobody reports cannot be measured: such an upload is left to
    // the deadline rather than failed for moving "0 bytes".
    return !this.#uploadReported || bodyWaitsForCaller(this.#body)
  }

  fail(err: Error): void {
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
    this.#phase = 'sending'
    this.#uploadReported = false
    super.onRequestStart(controller, context)
  }

  override onBodySent(chunk: unknown, ...rest: unknown[]): void {
    this.#uploadReported = true
    this.#sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as { length?: number } | null)?.length ?? 0
    super.onBodySent(chunk, ...rest)
  }

  override onRequestSent(): void {
    if (this.#phase === 'sending') this.#phase = 'waiting for headers'
    super.onRequestSent()
  }

  override onRequestUpgrade(controller: DispatchController, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    if (this.#settled) return
    // The connection now belongs to the caller; the budget covered getting it.
    this.settle()
    super.onRequestUpgrade(controller, statusCode, headers, socket)
  }

  override onResponseStart(controller: DispatchController, statusCode: number, headers: ParsedHeaders, statusMessage?: string): void {
    if (this.#settled) return
    this.#phase = 'receiving body'
    super.onResponseStart(controller, statusCode, headers, statusMessage)
  }

  override onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (this.#settled) return
    this.#received += chunk.length
    super.onResponseData(controller, chunk)
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

/** Report a bad request option to that request, like undici's dispatchers do. */
function reject(handler: DispatchHandler, err: unknown): false {
  if (typeof handler.onResponseError !== 'function') throw err
  handler.onResponseError(null as unknown as DispatchController, err as Error)
  return false
}

/** Requests of interceptors used on their own (not through an agent) are listed under this owner. */
const standalone = {}

/**
 * Deadline, throughput floor and in-flight listing in one handler per
 * request. The agent-wide values are defaults; a request overrides each with
 * its own `deadline` / `minThroughput` dispatch option (0 / false turn it
 * off for that request).
 */
export function watchInterceptor(options: WatchInterceptorOptions = {}): (dispatch: Dispatch) => Dispatch {
  const fallbackDeadline = resolveDeadline(options.deadline, 'deadline')
  const fallbackFloor = resolveMinThroughput(options.minThroughput, 'minThroughput')
  const owner = options.owner ?? standalone
  const only = options.only
  return (dispatch) => function stallguardWatch(opts, handler) {
    let deadline: number
    let floor: MinThroughput | undefined
    try {
      deadline = only === 'minThroughput' ? 0
        : opts.deadline === undefined ? fallbackDeadline : resolveDeadline(opts.deadline, 'the request option deadline')
      floor = only === 'deadline' ? undefined
        : opts.minThroughput === undefined ? fallbackFloor : resolveMinThroughput(opts.minThroughput, 'the request option minThroughput')
    } catch (err) {
      return reject(handler, err)
    }
    const watched = new WatchHandler(handler, opts, deadline, floor, owner)
    try {
      return dispatch(opts, watched)
    } catch (err) {
      watched.settle()
      throw err
    }
  }
}

/** The deadline alone, as an interceptor for `dispatcher.compose()`. */
export function deadlineInterceptor(options: DeadlineInterceptorOptions = {}): (dispatch: Dispatch) => Dispatch {
  return watchInterceptor({ deadline: options.deadline, only: 'deadline' })
}

/** The throughput floor alone, as an interceptor for `dispatcher.compose()` (`interceptors.minThroughput`). */
export function minThroughputInterceptor(options: MinThroughputInterceptorOptions = {}): (dispatch: Dispatch) => Dispatch {
  return watchInterceptor({ minThroughput: options.minThroughput, only: 'minThroughput' })
}
