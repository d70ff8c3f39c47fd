// One shared clock for every open request's deadline and throughput floor.
//
// A real timer, not a check made when someone polls the request: a request
// whose I/O is stuck never gets polled, and that is exactly how a hang goes
// unnoticed for 900 s. One timer for the whole process instead of one per
// request: arming and clearing a timer per request is a visible share of a
// keep-alive request's cost.
//
// When it wakes: at the earliest deadline of the requests it watches (so a
// deadline fires on time, whatever its length), and every `sampleEvery` ms
// while some request has a throughput floor. Adding a request re-arms the
// timer only when that request needs it earlier than it is set; a request
// that ends touches no timer (the clock finds it gone when it wakes, and
// stops when nothing is left). It never sleeps longer than MAX_SLEEP_MS, so
// it stops within that long after the last request ended, like undici's own
// timer tick, instead of staying armed for the longest deadline of requests
// long gone. The timer is unref'd: it never keeps the process alive by
// itself (the sockets it guards do).
import { performance } from 'node:perf_hooks'
import { List, type Entry } from './list'

export interface Watched {
  /** performance.now() at which the deadline expires; Infinity for none. */
  readonly expiresAt: number
  /** How often this request wants `sample` (ms); 0 when it has no floor. */
  readonly sampleEvery: number
  /** The deadline passed: fail the request. */
  expire(): void
  /** Measure progress; fail the request when it moves too slowly. */
  sample(now: number): void
}

/**
 * Timers can wake a little early by performance.now() (libuv arms them
 * against a loop clock cached once per iteration): a deadline this close is
 * due, rather than worth another timer.
 */
const DUE_WITHIN_MS = 1

/** The longest the timer sleeps: one wake-up a second while requests are open costs nothing measurable. */
const MAX_SLEEP_MS = 1000

export class SharedClock {
  private readonly watched = new List<Watched>()
  private timer: NodeJS.Timeout | undefined = undefined
  /** When the timer is set to wake; Infinity when it is not set. */
  private wakeAt = Infinity
  private readonly tick = (): void => this.wake()

  /** How many requests are watched (for tests and the in-flight dump). */
  get size(): number {
    return this.watched.size
  }

  /** Whether the timer is set: the clock stops once nothing is watched. */
  get running(): boolean {
    return this.timer !== undefined
  }

  /** Returns the handle unwatch() takes. */
  watch(item: Watched): Entry<Watched> {
    const entry = this.watched.add(item)
    const due = item.sampleEvery > 0 ? Math.min(item.expiresAt, performance.now() + item.sampleEvery) : item.expiresAt
    if (due < this.wakeAt) this.arm(due)
    return entry
  }

  /** The request ended. No timer work: the clock stops by itself once idle. */
  unwatch(entry: Entry<Watched>): void {
    this.watched.remove(entry)
  }

  private arm(due: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    const now = performance.now()
    const at = Math.min(due, now + MAX_SLEEP_MS)
    this.wakeAt = at
    this.timer = setTimeout(this.tick, Math.max(0, Math.ceil(at - now)))
    this.timer.unref()
  }

  private wake(): void {
    this.timer = undefined
    this.wakeAt = Infinity
    let next = Infinity
    for (const item of this.watched) {
      const now = performance.now()
      if (item.expiresAt - now <= DUE_WITHIN_MS) {
        // expire() takes the request off the clock.
        item.expire()
        continue
      }
      if (item.sampleEvery > 0) {
        // A request that fails here leaves the clock; it no longer matters when it would be sampled next.
        item.sample(now)
        next = Math.min(next, now + item.sampleEvery)
      }
      next = Math.min(next, item.expiresAt)
    }
    // A request added during the loop may already have armed the timer.
    if (next < this.wakeAt) this.arm(next)
  }
}

/** The process's clock: every agent shares it, so there is one timer however many agents exist. */
export const clock = new SharedClock()
