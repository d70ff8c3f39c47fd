// How StallGuardAgent gives every pool its connector. undici's Agent hands
// its options to a `factory` once per pool: per origin, and (undici 8) a
// second HTTP/1.1-only pool for requests with `allowH2: false`, whose
// options say `allowH2: false`. Building the connector there, from the
// options that pool gets, is what undici's Pool and Client do themselves
// when `connect` is not a function: ALPN, h2c (`h2Options.useH2c`), TLS,
// socketPath and the connect timeout all follow the pool, and each pool
// keeps its own TLS session cache, as with undici.Agent.
import { Client, errors, Pool, type Agent, type Dispatcher } from 'undici'
import { guardConnector, guardedUndiciConnector, type Connector, type GuardOptions } from './connector'

type Factory = NonNullable<Agent.Options['factory']>
/** The pool options undici's Agent passes (its own options, `connect` and `tls` copied). */
type PoolOptions = Parameters<Factory>[1] & {
  connect?: unknown
  connections?: number | null
  tls?: Record<string, unknown> | null
  useH2c?: boolean
  h2Options?: { useH2c?: boolean } | null
  maxCachedSessions?: number | null
  socketPath?: string | null
  connectTimeout?: number | null
  allowH2?: boolean
  autoSelectFamily?: boolean
  autoSelectFamilyAttemptTimeout?: number
}

/** undici's own default: one Client when `connections: 1`, else a Pool. */
function undiciFactory(origin: string | URL, opts: PoolOptions): Dispatcher {
  return opts.connections === 1 ? new Client(origin, opts as Client.Options) : new Pool(origin, opts as Pool.Options)
}

/** The connector undici's Pool/Client would build from these options, guarded; or the caller's function, guarded. */
function connectorFor(opts: PoolOptions, guard: GuardOptions): Connector {
  if (typeof opts.connect === 'function') {
    const own = opts.connect as Connector
    return guardConnector(() => own, guard)
  }
  const { autoSelectFamily, autoSelectFamilyAttemptTimeout } = opts
  return guardedUndiciConnector({
    ...opts.tls,
    maxCachedSessions: opts.maxCachedSessions,
    allowH2: opts.allowH2,
    useH2c: opts.h2Options?.useH2c ?? opts.useH2c,
    socketPath: opts.socketPath,
    timeout: opts.connectTimeout,
    ...(typeof autoSelectFamily === 'boolean' ? { autoSelectFamily, autoSelectFamilyAttemptTimeout } : undefined),
    ...(opts.connect as Record<string, unknown> | null | undefined),
  } as Parameters<typeof guardedUndiciConnector>[0], guard)
}

/**
 * The `factory` for undici's Agent: the caller's (or undici's default),
 * handed options whose `connect` is our guarded connector. undici's own
 * checks of `factory` and `connect` are repeated here because undici never
 * sees the caller's values.
 */
export function guardedFactory(factory: unknown, connect: unknown, guard: GuardOptions): Factory {
  if (factory !== undefined && typeof factory !== 'function') {
    throw new errors.InvalidArgumentError('factory must be a function.')
  }
  if (connect != null && typeof connect !== 'function' && typeof connect !== 'object') {
    throw new errors.InvalidArgumentError('connect must be a function or an object')
  }
  const make = (factory ?? undiciFactory) as (origin: string | URL, opts: PoolOptions) => Dispatcher
  return ((origin: string | URL, opts: PoolOptions) =>
    make(origin, { ...opts, connect: connectorFor(opts, guard) })) as unknown as Factory
}
