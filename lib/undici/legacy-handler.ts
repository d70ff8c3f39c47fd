// Callers that still use undici's legacy handler API (onConnect, onHeaders,
// onData, onComplete, onError) reach StallGuardAgent directly: Node 20's
// built-in fetch (bundled undici 6) and undici 7's own fetch dispatch that
// way. undici 7's dispatcher would convert them itself, but our interceptors
// run before it and speak only the new API, so the conversion happens at our
// front door. (undici 8 converts in setGlobalDispatcher's wrapper.)
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import {
  kReadsParsedHeaders,
  type DispatchController,
  type DispatchHandler,
  type MaybeController,
  type ParsedHeaders,
} from './forwarding-handler'

/**
 * The legacy callbacks, declared here rather than taken from undici's types:
 * undici 8's types no longer have them, and this file must compile against
 * both majors (the peer range).
 */
export interface Legacy {
  onConnect?: (abort: (err?: Error) => void, context?: unknown) => void
  onUpgrade?: (statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex) => void
  onHeaders?: (statusCode: number, headers: Buffer[], resume: () => void, statusText: string) => boolean
  onData?: (chunk: Buffer) => boolean
  onComplete?: (trailers: string[] | null) => void
  onError?: (err: Error) => void
  onResponseStarted?: () => void
  onBodySent?: (...args: unknown[]) => void
  onRequestSent?: () => void
}
type RawHeaders = Buffer[]

/** The handler as the new API sees it: unchanged when it already speaks it. */
export function toHandlerApi(handler: Dispatcher.DispatchHandler): DispatchHandler {
  return typeof handler.onRequestStart === 'function' ? handler : new LegacyHandler(handler as Legacy)
}

/** The caller's legacy handler behind `handler`, if `handler` is our adapter for it. */
export function unwrapLegacy(handler: DispatchHandler): Legacy | undefined {
  return handler instanceof LegacyHandler ? handler.legacy : undefined
}

/**
 * Legacy callbacks take raw header lists. Prefer the ones the parser kept
 * (undici 7 exposes them on the controller): they keep case, order and
 * repeated fields. Otherwise rebuild them from the parsed object, one
 * name/value pair per value so repeated fields (set-cookie) stay separate.
 */
function rawHeaders(controller: MaybeController, which: 'rawHeaders' | 'rawTrailers', parsed: ParsedHeaders | undefined): RawHeaders {
  const kept = controller?.[which]
  if (Array.isArray(kept)) return kept as RawHeaders
  const raw: RawHeaders = []
  for (const [name, value] of Object.entries(parsed ?? {})) {
    if (value === undefined) continue
    for (const one of Array.isArray(value) ? value : [value]) {
      raw.push(Buffer.from(name, 'latin1'), Buffer.from(String(one), 'latin1'))
    }
  }
  return raw
}

class LegacyHandler implements DispatchHandler {
  readonly #legacy: Legacy

  constructor(legacy: Legacy) {
    this.#legacy = legacy
  }

  /** Legacy callbacks take raw header lists, from the controller where it has them. */
  get [kReadsParsedHeaders](): boolean {
    return false
  }

  get legacy(): Legacy {
    return this.#legacy
  }

  onRequestStart(controller: DispatchController, context: unknown): void {
    const onConnect = this.#legacy.onConnect as ((abort: (err?: Error) => void, context: unknown) => void) | undefined
    onConnect?.call(this.#legacy, (reason?: Error) => controller.abort(reason as Error), context)
  }

  onRequestUpgrade(controller: DispatchController, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.#legacy.onUpgrade?.(statusCode, rawHeaders(controller, 'rawHeaders', headers), socket)
  }

  onResponseStart(controller: DispatchController, statusCode: number, headers: ParsedHeaders, statusMessage?: string): void {
    const raw = rawHeaders(controller, 'rawHeaders', headers)
    if (this.#legacy.onHeaders?.(statusCode, raw, () => controller.resume(), statusMessage ?? '') === false) {
      controller.pause()
    }
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (this.#legacy.onData?.(chunk) === false) controller.pause()
  }

  onResponseEnd(controller: DispatchController, trailers: ParsedHeaders): void {
    this.#legacy.onComplete?.(rawHeaders(controller, 'rawTrailers', trailers) as unknown as string[])
  }

  onResponseError(_controller: MaybeController, err: Error): void {
    if (typeof this.#legacy.onError !== 'function') throw err
    this.#legacy.onError(err)
  }

  onResponseStarted(): void {
    this.#legacy.onResponseStarted?.()
  }

  onBodySent(...args: unknown[]): void {
    ;(this.#legacy.onBodySent as ((...a: unknown[]) => void) | undefined)?.(...args)
  }

  onRequestSent(): void {
    this.#legacy.onRequestSent?.()
  }
}
