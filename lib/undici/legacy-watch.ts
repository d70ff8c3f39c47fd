// StallGuardAgent's handler for the commonest request on undici 7: a caller
// that speaks the legacy handler API (undici 7's request/stream/fetch, Node's
// built-in fetch) going to a core that speaks it too. The watch and the
// retry (watched-request.ts) sit between the two in the same API, so the
// request needs no adapter and no bridge: one object, and the core's own
// abort, resume and raw header lists go to the caller untouched, as they do
// through a plain undici Agent. With undici 8, or a caller on the new API,
// the agent uses watch-interceptor.ts instead.
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Legacy } from './legacy-handler'
import { WatchedRequest, type WatchSettings } from './watched-request'

type RawHeaders = Buffer[]
type Abort = (err?: Error) => void

export class LegacyWatch extends WatchedRequest {
  private readonly caller: Legacy
  /** Hands this handler to undici's core again, for a retry. */
  private readonly dispatchToCore: (opts: Dispatcher.DispatchOptions, handler: LegacyWatch) => boolean
  /** The running attempt's abort, until it ends. */
  private abortCore: Abort | null = null
  /** The core's resume for the response being read; and whether our caller asked for a pause. */
  private resumeCore: (() => void) | null = null
  private callerPaused = false
  /** The resume our caller gets when a floor watches this request (made on first use). */
  private callerResume: (() => void) | null = null

  constructor(caller: Legacy, opts: Dispatcher.DispatchOptions, settings: WatchSettings,
    dispatchToCore: (opts: Dispatcher.DispatchOptions, handler: LegacyWatch) => boolean) {
    super(opts, settings)
    this.caller = caller
    this.dispatchToCore = dispatchToCore
  }

  protected downloadPaused(): boolean {
    return this.callerPaused
  }

  protected abortAttempt(err: Error): void {
    this.abortCore?.(err)
  }

  protected reportError(err: Error): void {
    // Same contract as undici: a handler that cannot take an error makes the
    // dispatcher throw it rather than lose it.
    if (typeof this.caller.onError !== 'function') throw err
    this.caller.onError(err)
  }

  protected redispatch(): void {
    this.dispatchToCore(this.opts, this)
  }

  onConnect(abort: Abort, context?: unknown): void {
    const start = this.startAttempt()
    if (start !== true) {
      if (start !== false) abort(start)
      return
    }
    this.abortCore = abort
    this.callerPaused = false
    this.caller.onConnect?.(abort, context)
  }

  onBodySent(chunk: unknown, ...rest: unknown[]): void {
    this.countSent(chunk)
    this.caller.onBodySent?.(chunk, ...rest)
  }

  onRequestSent(): void {
    this.requestWritten()
    this.caller.onRequestSent?.()
  }

  // The parser saw the first byte of the response.
  onResponseStarted(): void {
    this.heardBack = true
    this.caller.onResponseStarted?.()
  }

  onUpgrade(statusCode: number, rawHeaders: RawHeaders, socket: Duplex): void {
    this.heardBack = true
    this.abortCore = null
    if (this.settled) return
    // The connection now belongs to the caller; the budget covered getting it.
    this.settle()
    this.caller.onUpgrade?.(statusCode, rawHeaders, socket)
  }

  onHeaders(statusCode: number, rawHeaders: RawHeaders, resume: () => void, statusText: string): boolean {
    this.heardBack = true
    if (this.settled) return true
    this.currentPhase = 'receiving body'
    this.resumeCore = resume
    // With a floor, the caller resumes through us: the floor must know when
    // the caller stopped holding the body. Without one, the core's own resume.
    const callerResume = this.tracker.floor === undefined ? resume : (this.callerResume ??= () => {
      this.callerPaused = false
      this.resumeCore?.()
    })
    return this.passOn(this.caller.onHeaders?.(statusCode, rawHeaders, callerResume, statusText))
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return true
    this.received += chunk.length
    return this.passOn(this.caller.onData?.(chunk))
  }

  /** The caller's answer to a callback that hands it body: false pauses the core until it calls resume. */
  private passOn(wantsMore: boolean | undefined): boolean {
    if (wantsMore !== false) return true
    this.callerPaused = true
    return false
  }

  onComplete(rawTrailers: string[] | null): void {
    this.abortCore = null
    if (this.settled) return
    this.settle()
    this.caller.onComplete?.(rawTrailers)
  }

  onError(err: Error): void {
    this.abortCore = null
    if (!this.attemptFailed(err)) this.reportError(err)
  }
}
