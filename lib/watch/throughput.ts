// The throughput floor ("stalled stream protection"): a body that moves, but
// slower than `bytesPerSecond` averaged over the last `grace` ms, has
// stalled. The kernel cannot see this (the peer is alive and acknowledges),
// undici's bodyTimeout cannot (any byte resets it), and a deadline sized for
// the largest object is far too loose for a stalled one.
//
// Only time during which the body is ours to move counts: not the wait for
// response headers, not time during which the caller is not reading the
// response (a paused or slow consumer), not time during which the caller has
// not handed us upload bytes. A slow consumer is never a stalled stream.
import { unknownKeyHint } from '../suggest'
import { checkNumber, invalidType, MAX_TIMER_MS } from '../validate'

export interface MinThroughput {
  /** Smallest average rate, bytes per second. */
  bytesPerSecond: number
  /** Window the average is taken over, ms; also how long a body may move slowly before it fails. */
  grace: number
}

/** The option as written: `true` (AWS's values), `false`/0 (off) or a floor (grace defaults to 20 s). */
export type MinThroughputOption = boolean | { bytesPerSecond: number; grace?: number | undefined } | undefined

/** What `minThroughput: true` means: the AWS SDKs' stalled-stream protection (1 byte/s over 20 s). */
export const AWS_MIN_THROUGHPUT: Readonly<MinThroughput> = Object.freeze({ bytesPerSecond: 1, grace: 20_000 })

/** The smallest grace: shorter windows measure scheduling noise, not a stream. */
export const MIN_GRACE_MS = 100

export const MIN_THROUGHPUT_FORM =
  'true (1 byte/s over 20 s), false/0 (off), or { bytesPerSecond, grace } ' +
  `with bytesPerSecond > 0 and grace from ${MIN_GRACE_MS} to ${MAX_TIMER_MS} ms`

/** Validate a `minThroughput` option. Returns undefined for "off". */
export function resolveMinThroughput(value: unknown, name = 'minThroughput'): MinThroughput | undefined {
  if (value === undefined || value === null || value === false || value === 0) return undefined
  if (value === true) return AWS_MIN_THROUGHPUT
  if (typeof value !== 'object') throw invalidType(name, value, MIN_THROUGHPUT_FORM)
  const { bytesPerSecond, grace, ...rest } = value as Record<string, unknown>
  const unknown = Object.keys(rest)[0]
  if (unknown !== undefined) throw invalidType(`${name}.${unknown}`, rest[unknown], `absent: ${name} takes bytesPerSecond and grace${unknownKeyHint(unknown, ['bytesPerSecond', 'grace'])}`)
  const rate = checkNumber(`${name}.bytesPerSecond`, bytesPerSecond, {
    min: Number.MIN_VALUE, max: Number.MAX_SAFE_INTEGER, unit: 'bytes/s',
  })
  const window = grace === undefined
    ? AWS_MIN_THROUGHPUT.grace
    : checkNumber(`${name}.grace`, grace, { min: MIN_GRACE_MS, max: MAX_TIMER_MS, integer: true, unit: 'ms' })
  return Object.freeze({ bytesPerSecond: rate, grace: window })
}

/**
 * How often a request with this floor is measured: often enough that a
 * stall fails within a quarter of the grace after it is due, never more than
 * once a second (a 20 s grace needs no finer clock).
 */
export function sampleInterval(floor: MinThroughput): number {
  return Math.min(1000, Math.max(25, Math.floor(floor.grace / 4)))
}

/**
 * The rate of one body over its last `grace` ms of counted time, from
 * samples the shared clock takes: nothing is done per chunk but adding to a
 * byte counter the caller owns.
 */
export class ThroughputWindow {
  readonly floor: MinThroughput
  #lastAt: number
  #lastBytes: number
  #lastHeld: boolean
  /** Counted intervals, oldest first: their length (ms) and the bytes moved in them. */
  readonly #spans: number[] = []
  readonly #moved: number[] = []
  #countedMs = 0
  #countedBytes = 0

  constructor(floor: MinThroughput, now: number, bytes: number) {
    this.floor = floor
    this.#lastAt = now
    this.#lastBytes = bytes
    this.#lastHeld = false
  }

  /**
   * Record progress up to `now` (`bytes`: the body's byte count so far;
   * `held`: our caller is what holds the body right now). Returns the
   * observed rate (bytes/s) when it is below the floor over a full window,
   * otherwise -1.
   */
  sample(now: number, bytes: number, held: boolean): number {
    const span = now - this.#lastAt
    const moved = bytes - this.#lastBytes
    // An interval counts only when the caller held nothing at either end
    // of it: a consumer that paused and resumed in between is given the
    // benefit of the doubt. (A stalled stream is never held, so every one
    // of its intervals counts.)
    const counted = !held && !this.#lastHeld
    this.#lastAt = now
    this.#lastBytes = bytes
    this.#lastHeld = held
    if (!counted || span <= 0) return -1
    this.#spans.push(span)
    this.#moved.push(moved)
    this.#countedMs += span
    this.#countedBytes += moved
    const grace = this.floor.grace
    // Keep the newest intervals that cover the grace.
    while (this.#spans.length > 1 && this.#countedMs - this.#spans[0]! >= grace) {
      this.#countedMs -= this.#spans.shift()!
      this.#countedBytes -= this.#moved.shift()!
    }
    if (this.#countedMs < grace) return -1
    const rate = (this.#countedBytes * 1000) / this.#countedMs
    return rate < this.floor.bytesPerSecond ? rate : -1
  }

  /** Counted time in the window, ms: how long the rate was measured over. */
  get measuredMs(): number {
    return this.#countedMs
  }
}
