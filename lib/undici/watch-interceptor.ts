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
import { resolveMinThroughput, type MinThroughput, type MinThroughputOption } from '../watch/throughput'
import {
  kReadsParsedHeaders,
  readsParsedHeaders,
  type Dispatch,
  type DispatchController,
  type DispatchHandler,
  type ParsedHeaders,
  type MaybeController,
} from './forwarding-handler'
import { watchConnectionReuse } from './connection-reuse'
import { retryEligible } from './retry-interceptor'
import { WatchedRequest, type WatchSettings } from './watched-request'

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
  /**
   * Retries (resolved, see lib/options.ts) for a request that died on a
   * stale pooled connection, done by this same handler: StallGuardAgent
   * merges its retry layer in here (one handler per request, not two).
   */
  retry?: number | undefined
}

/** The request's one handler on undici's handler API (undici 8, and new-API callers on undici 7 through the bridge). */
class WatchHandler extends WatchedRequest {
  private readonly caller: DispatchHandler
  /** Dispatches the next attempt (the layer below ours). */
  private readonly dispatchNext: Dispatch
  private attemptController: DispatchController | null = null

  constructor(handler: DispatchHandler, opts: Dispatcher.DispatchOptions, settings: WatchSettings, dispatch: Dispatch) {
    super(opts, settings)
    this.caller = handler
    this.dispatchNext = dispatch
  }

  /** Our handler never reads headers: it depends on the caller's (asked once, by the undici 7 bridge). */
  get [kReadsParsedHeaders](): boolean {
    return readsParsedHeaders(this.caller)
  }

  protected downloadPaused(): boolean {
    return this.attemptController?.paused === true
  }

  protected abortAttempt(err: Error): void {
    const controller = this.attemptController
    if (controller !== null && !controller.aborted) controller.abort(err)
  }

  protected reportError(err: Error): void {
    this.forwardError(this.attemptController, err)
  }

  private forwardError(controller: MaybeController, err: Error): void {
    // Same contract as undici: a handler that cannot take an error makes the
    // dispatcher throw it rather than lose it.
    if (typeof this.caller.onResponseError !== 'function') throw err
    this.caller.onResponseError(controller as DispatchController, err)
  }

  protected redispatch(): void {
    this.dispatchNext(this.opts, this)
  }

  onRequestStart(controller: DispatchController, context: unknown): void {
    const start = this.startAttempt()
    if (start !== true) {
      if (start !== false) controller.abort(start)
      return
    }
    this.attemptController = controller
    this.caller.onRequestStart?.(controller, context)
  }

  onBodySent(chunk: unknown, ...rest: unknown[]): void {
    this.countSent(chunk)
    ;(this.caller.onBodySent as ((...a: unknown[]) => void) | undefined)?.(chunk, ...rest)
  }

  onRequestSent(): void {
    this.requestWritten()
    ;(this.caller as { onRequestSent?: () => void }).onRequestSent?.()
  }

  // undici calls this when the parser sees the first byte of the response.
  onResponseStarted(): void {
    this.heardBack = true
    this.caller.onResponseStarted?.()
  }

  onRequestUpgrade(controller: DispatchController, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.heardBack = true
    if (this.settled) return
    // The connection now belongs to the caller; the budget covered getting it.
    this.settle()
    this.caller.onRequestUpgrade?.(controller, statusCode, headers, socket)
  }

  onResponseStart(controller: DispatchController, statusCode: number, headers: ParsedHeaders, statusMessage?: string): void {
    this.heardBack = true
    if (this.settled) return
    this.currentPhase = 'receiving body'
    this.caller.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (this.settled) return
    this.received += chunk.length
    this.caller.onResponseData?.(controller, chunk)
  }

  onResponseEnd(controller: DispatchController, trailers: ParsedHeaders): void {
    if (this.settled) return
    this.settle()
    this.caller.onResponseEnd?.(controller, trailers)
  }

  onResponseError(controller: MaybeController, err: Error): void {
    if (!this.attemptFailed(err)) this.forwardError(controller, err)
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
 * Each request's watch settings: these defaults, overridden by the request's
 * own `deadline` / `minThroughput` dispatch option (0 / false turn it off for
 * that request). Throws for a bad request option.
 */
export function watchSettings(options: WatchInterceptorOptions): (opts: Dispatcher.DispatchOptions) => WatchSettings {
  const fallbackDeadline = resolveDeadline(options.deadline, 'deadline')
  const fallbackFloor = resolveMinThroughput(options.minThroughput, 'minThroughput')
  const owner = options.owner ?? standalone
  const only = options.only
  const retries = options.retry ?? 0
  if (retries > 0) watchConnectionReuse()
  const deadline = only === 'minThroughput' ? 0 : fallbackDeadline
  const floor = only === 'deadline' ? undefined : fallbackFloor
  // Most requests carry no option of their own: they share one of these two
  // objects (read-only by type) instead of allocating settings per request.
  const plain: WatchSettings = { deadline, floor, owner, retries: 0 }
  const retried: WatchSettings = { deadline, floor, owner, retries }
  return (opts) => {
    const retriesHere = retries > 0 && retryEligible(opts) ? retries : 0
    if (opts.deadline === undefined && opts.minThroughput === undefined) return retriesHere > 0 ? retried : plain
    return {
      deadline: only === 'minThroughput' || opts.deadline === undefined ? deadline
        : resolveDeadline(opts.deadline, 'the request option deadline'),
      floor: only === 'deadline' || opts.minThroughput === undefined ? floor
        : resolveMinThroughput(opts.minThroughput, 'the request option minThroughput'),
      owner,
      retries: retriesHere,
    }
  }
}

/**
 * Deadline, throughput floor and in-flight listing (and, for the agent, the
 * stale-connection retry) in one handler per request.
 */
export function watchInterceptor(options: WatchInterceptorOptions = {}): (dispatch: Dispatch) => Dispatch {
  return watchWith(watchSettings(options))
}

/** watchInterceptor for settings already resolved (the agent resolves them once for both of its handler faces). */
export function watchWith(settingsFor: (opts: Dispatcher.DispatchOptions) => WatchSettings): (dispatch: Dispatch) => Dispatch {
  return (dispatch) => function stallguardWatch(opts, handler) {
    let settings: WatchSettings
    try {
      settings = settingsFor(opts)
    } catch (err) {
      return reject(handler, err)
    }
    const watched = new WatchHandler(handler, opts, settings, dispatch)
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
