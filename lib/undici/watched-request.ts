// One request as StallGuardAgent carries it, whichever handler API it
// speaks: the watch (a tracker for the deadline, the throughput floor and
// the in-flight list, fed with the request's phase and body bytes) and the
// retry of an idempotent request that died on a reused connection.
//
// Why one object: a request used to pass through a handler per layer (watch,
// retry, and on undici 7 an adapter and a bridge between the handler APIs),
// four objects and four hops per callback. Each face of this class
// (watch-interceptor.ts for undici's handler API, legacy-watch.ts for undici
// 7's core with a legacy caller) is the only handler between undici and the
// caller. The retry rule itself lives in retry-interceptor.ts.
import type { Dispatcher } from 'undici'
import type { RequestPhase } from '../diagnostics/channels'
import type { StreamDirection } from '../errors'
import { RequestTracker, type RequestProbe } from '../watch/request-tracker'
import type { MinThroughput } from '../watch/throughput'
import { kConnectionProbe, type ConnectionProbe } from './connection-reuse'
import { retriesAfter } from './retry-interceptor'

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

/** How a request is watched and retried (resolved per request by its front door; shared between requests, never changed). */
export interface WatchSettings {
  /** Total budget, ms; 0 = none. */
  readonly deadline: number
  readonly floor: MinThroughput | undefined
  /** Whose request it is, for `agent.inflight()`. */
  readonly owner: object
  /** Retries left for a stale-connection failure (0 when the request is not eligible). */
  readonly retries: number
}

export abstract class WatchedRequest implements RequestProbe, ConnectionProbe {
  /** This attempt ran on a connection that had carried a request before (set by connection-reuse). */
  reused: boolean | undefined = undefined
  /** Some response byte of this attempt arrived: never retried then. */
  protected heardBack = false
  protected expired: Error | undefined = undefined
  /** True once the caller has received its final callback. */
  protected settled = false
  protected currentPhase: RequestPhase = 'queued'
  protected sent = 0
  protected received = 0
  /** undici reported upload progress for this attempt (it does not for HTTP/2 stream bodies). */
  protected uploadReported = false
  protected readonly opts: Dispatcher.DispatchOptions
  readonly tracker: RequestTracker
  private retriesLeft: number

  constructor(opts: Dispatcher.DispatchOptions, settings: WatchSettings) {
    this.opts = opts
    this.retriesLeft = settings.retries
    // The dispatch options name the target (method, origin, path): no copy per request.
    this.tracker = new RequestTracker(this, opts, settings)
    this.tracker.open()
  }

  /** undici's Request holds this handler: its sendHeaders event finds the probe here (connection-reuse). */
  get [kConnectionProbe](): ConnectionProbe | undefined {
    return this.retriesLeft > 0 ? this : undefined
  }

  /** Stop watching; the request is over (or could not be dispatched). */
  settle(): void {
    this.settled = true
    this.tracker.close()
  }

  // RequestProbe: what the shared clock and the in-flight dump read.
  phase(): RequestPhase { return this.currentPhase }
  bytesSent(): number { return this.sent }
  bytesReceived(): number { return this.received }
  socket(): undefined { return undefined }

  heldByCaller(direction: StreamDirection): boolean {
    if (direction === 'download') return this.downloadPaused()
    // Progress nobody reports cannot be measured: such an upload is left to
    // the deadline rather than failed for moving "0 bytes".
    return !this.uploadReported || bodyWaitsForCaller(this.opts.body)
  }

  fail(err: Error): void {
    if (this.settled) return
    this.expired = err
    // Normally undici answers the abort synchronously with the error callback.
    this.abortAttempt(err)
    if (this.settled) return
    // Nothing to abort yet (queued or connecting), or between two retry
    // attempts: end it for the caller now; the next attempt to start is
    // aborted at once (see startAttempt).
    destroyBody(this.opts.body)
    this.settle()
    this.reportError(err)
  }

  /**
   * Called as an attempt starts. Returns the error to abort it with when the
   * watch already failed the request, false when the request ended otherwise
   * (the attempt is ignored), true when it goes ahead. (A result, not an
   * abort callback: no closure per attempt.)
   */
  protected startAttempt(): Error | boolean {
    if (this.expired !== undefined) return this.expired
    if (this.settled) return false
    this.currentPhase = 'sending'
    this.uploadReported = false
    return true
  }

  protected countSent(chunk: unknown): void {
    this.uploadReported = true
    this.sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as { length?: number } | null)?.length ?? 0
  }

  protected requestWritten(): void {
    if (this.currentPhase === 'sending') this.currentPhase = 'waiting for headers'
  }

  /**
   * An attempt failed with `err`. True when the caller must not hear of it:
   * the request is retried on another connection (retry-interceptor's rule),
   * or it already ended. Otherwise the request is settled and the front door
   * reports the error.
   */
  protected attemptFailed(err: Error): boolean {
    if (this.retriesLeft > 0 && !this.settled && retriesAfter(this.reused, this.heardBack, err)) {
      this.retriesLeft--
      // After the failing connection's teardown has run (we are inside its
      // error path): then the retry takes a clean slot in the pool.
      queueMicrotask(() => this.retry())
      return true
    }
    if (this.settled) return true
    this.settle()
    return false
  }

  private retry(): void {
    // Ended meanwhile (the deadline fired between two attempts).
    if (this.settled) return
    this.reused = undefined
    this.heardBack = false
    try {
      this.redispatch()
    } catch (err) {
      if (!this.attemptFailed(err as Error)) this.reportError(err as Error)
    }
  }

  /** Whether our caller has paused the response body. */
  protected abstract downloadPaused(): boolean
  /** Abort the running attempt, if there is one that has not ended. */
  protected abstract abortAttempt(err: Error): void
  /** Hand `err` to the caller (the request is settled). */
  protected abstract reportError(err: Error): void
  /** Dispatch this request again, as the next attempt. */
  protected abstract redispatch(): void
}
