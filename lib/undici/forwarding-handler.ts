// The base of every handler stallguard puts between undici and the caller.
// It speaks undici's handler API (onRequestStart … onResponseError), the only
// one undici 8 accepts and one undici 7 accepts too, and forwards each
// callback to the next handler unchanged. Subclasses override what they
// watch. A class (not `{ ...handler }`) so that a class-instance handler keeps
// its prototype methods.
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'

export type DispatchHandler = Dispatcher.DispatchHandler
export type DispatchController = Dispatcher.DispatchController
export type ParsedHeaders = Parameters<NonNullable<DispatchHandler['onResponseStart']>>[2]
export type Dispatch = (opts: Dispatcher.DispatchOptions, handler: DispatchHandler) => boolean

/** undici 8 reports dispatch-time failures with a null controller. */
export type MaybeController = DispatchController | null

/**
 * Set to false by handlers that never read the parsed header objects (a
 * legacy caller reads the raw lists on the controller), so that the bridge
 * to undici 7's core can skip parsing them (see undici7-compat).
 */
export const kReadsParsedHeaders = Symbol('stallguard.readsParsedHeaders')

/** Whether `handler`, or any handler behind it, reads the parsed header objects. Unknown handlers do. */
export function readsParsedHeaders(handler: DispatchHandler): boolean {
  return (handler as { [kReadsParsedHeaders]?: boolean })[kReadsParsedHeaders] !== false
}

export class ForwardingHandler implements DispatchHandler {
  protected readonly handler: DispatchHandler

  constructor(handler: DispatchHandler) {
    this.handler = handler
  }

  /** Our own handlers never read headers: it depends on the one we forward to (asked once, by the bridge). */
  get [kReadsParsedHeaders](): boolean {
    return readsParsedHeaders(this.handler)
  }

  onRequestStart(controller: DispatchController, context: unknown): void {
    this.handler.onRequestStart?.(controller, context)
  }

  onRequestUpgrade(controller: DispatchController, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.handler.onRequestUpgrade?.(controller, statusCode, headers, socket)
  }

  onResponseStart(controller: DispatchController, statusCode: number, headers: ParsedHeaders, statusMessage?: string): void {
    this.handler.onResponseStart?.(controller, statusCode, headers, statusMessage)
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk)
  }

  onResponseEnd(controller: DispatchController, trailers: ParsedHeaders): void {
    this.handler.onResponseEnd?.(controller, trailers)
  }

  onResponseError(controller: MaybeController, err: Error): void {
    // Same contract as undici: a handler that cannot take an error makes the
    // dispatcher throw it rather than lose it.
    if (typeof this.handler.onResponseError !== 'function') throw err
    this.handler.onResponseError(controller as DispatchController, err)
  }

  // Hooks outside the handler API that undici still calls when present: the
  // first response byte (fetch records it for timing) and upload progress.
  onResponseStarted(): void {
    this.handler.onResponseStarted?.()
  }

  onBodySent(...args: unknown[]): void {
    ;(this.handler.onBodySent as ((...a: unknown[]) => void) | undefined)?.(...args)
  }

  onRequestSent(): void {
    ;(this.handler as { onRequestSent?: () => void }).onRequestSent?.()
  }
}
