// undici 7 compatibility, in one place; with undici 8 nothing here runs.
//
// undici 7's core still runs on the legacy handler callbacks (onConnect,
// onHeaders, onData, onComplete, onError): its dispatch wraps every handler
// that speaks the new API in its own UnwrapHandler (not exported), which
// parses the response headers into an object on every request. Our
// interceptors speak the new API, so a legacy caller (undici 7's request and
// fetch, Node's fetch) would pay for a round trip legacy → new → legacy, and
// the parse, on every request: a large share of what StallGuardAgent costs
// per keep-alive request (figures in CHANGELOG / bench results).
//
// So on undici 7 we hand the core a bridge of our own: it parses headers
// only when some handler in the chain reads the parsed object (the legacy
// caller at the end of ours reads the raw list from the controller), and a
// caller's legacy handler that none of our interceptors wrapped goes to the
// core untouched. undici 8's core speaks the new API: nothing to bridge.
import type { Duplex } from 'node:stream'
import { util } from 'undici'
import {
  readsParsedHeaders,
  type DispatchController,
  type DispatchHandler,
  type ParsedHeaders,
} from './forwarding-handler'
import { kConnectionProbe, type ConnectionProbe } from './connection-reuse'
import { unwrapLegacy } from './legacy-handler'

type RawHeaders = Buffer[]

/** The undici major stallguard runs against decides whether the core needs the bridge. */
const undiciMajor = Number((require('undici/package.json') as { version: string }).version.split('.')[0])
export const coreSpeaksLegacy = undiciMajor < 8

/** Headers for a chain that never reads them: one shared, frozen empty object. */
const UNREAD = Object.freeze({}) as ParsedHeaders

/**
 * What to hand undici's core for `handler` (the outermost of our chain):
 * the caller's own legacy handler when nothing wrapped it, a bridge to the
 * legacy callbacks on undici 7, the handler itself on undici 8.
 */
export function toCoreHandler(handler: DispatchHandler): DispatchHandler {
  if (!coreSpeaksLegacy) return handler
  return (unwrapLegacy(handler) ?? new LegacyBridge(handler)) as DispatchHandler
}

/**
 * Legacy callbacks in front, our new-API chain behind. The bridge is also the
 * controller our chain sees (same contract as undici's own UnwrapController,
 * which undici does not export): one object per attempt instead of two.
 */
class LegacyBridge implements DispatchController {
  readonly #handler: DispatchHandler
  readonly #parse: boolean
  #started = false
  #paused = false
  #aborted = false
  #reason: Error | null = null
  #abortCore: ((reason?: Error) => void) | null = null
  /** The core's resume for the response being read (set with its headers). */
  #resumeCore: (() => void) | null = null
  rawHeaders: RawHeaders | null = null
  rawTrailers: RawHeaders | null = null

  constructor(handler: DispatchHandler) {
    this.#handler = handler
    this.#parse = readsParsedHeaders(handler)
  }

  get aborted(): boolean { return this.#aborted }
  get paused(): boolean { return this.#paused }
  get reason(): Error | null { return this.#reason }

  abort(reason: Error): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    this.#abortCore?.(reason)
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    this.#resumeCore?.()
  }

  /** undici 7's Request holds the bridge, not our handler behind it (see connection-reuse). */
  get [kConnectionProbe](): ConnectionProbe | undefined {
    return (this.#handler as { [kConnectionProbe]?: ConnectionProbe })[kConnectionProbe]
  }

  #headers(raw: RawHeaders | null | undefined): ParsedHeaders {
    return this.#parse ? util.parseHeaders(raw ?? []) as ParsedHeaders : UNREAD
  }

  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    // undici 7 calls onConnect once per Request, and a Request is never re-dispatched.
    this.#started = true
    this.#abortCore = abort
    this.#handler.onRequestStart?.(this, context)
  }

  onUpgrade(statusCode: number, rawHeaders: RawHeaders, socket: Duplex): void {
    this.rawHeaders = rawHeaders
    this.#handler.onRequestUpgrade?.(this, statusCode, this.#headers(rawHeaders), socket)
  }

  onHeaders(statusCode: number, rawHeaders: RawHeaders, resume: () => void, statusMessage: string): boolean {
    this.#resumeCore = resume
    this.rawHeaders = rawHeaders
    this.#handler.onResponseStart?.(this, statusCode, this.#headers(rawHeaders), statusMessage)
    return !this.#paused
  }

  onData(chunk: Buffer): boolean {
    this.#handler.onResponseData?.(this, chunk)
    return !this.#paused
  }

  onComplete(rawTrailers: RawHeaders | null): void {
    this.rawTrailers = rawTrailers
    this.#handler.onResponseEnd?.(this, this.#headers(rawTrailers))
  }

  onError(err: Error): void {
    // Same contract as undici: a handler that cannot take an error makes the
    // dispatcher throw it rather than lose it. The controller is null when
    // the core fails the request before it started (dispatch-time errors).
    if (typeof this.#handler.onResponseError !== 'function') throw err
    this.#handler.onResponseError((this.#started ? this : null) as DispatchController, err)
  }

  onResponseStarted(): void {
    this.#handler.onResponseStarted?.()
  }

  onBodySent(...args: unknown[]): void {
    ;(this.#handler.onBodySent as ((...a: unknown[]) => void) | undefined)?.(...args)
  }

  onRequestSent(): void {
    ;(this.#handler as { onRequestSent?: () => void }).onRequestSent?.()
  }
}
