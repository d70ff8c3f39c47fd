// Per-request deadlines on real timers. A deadline is armed once when the
// request starts and fires on its own: nothing has to poll it, so it fires
// even while the I/O it guards is stuck in the kernel.
import { DeadlineExceededError } from './errors'
import { checkNumber, MAX_TIMER_MS } from './validate'

/** Validate a deadline option (ms). Returns 0 for "no deadline". */
export function resolveDeadline(value: unknown, name = 'deadline'): number {
  if (value === undefined || value === null) return 0
  return checkNumber(name, value, {
    min: 1, max: MAX_TIMER_MS, integer: true, unit: 'ms', zeroMeans: 'no deadline',
  })
}

/**
 * Arm a deadline of `ms` (> 0). `onExpire` runs once with a
 * DeadlineExceededError unless the returned disarm function ran first.
 * `describe` names the request for the error message; it runs only on
 * expiry, so the happy path builds no string.
 * The timer is unref'd: a pending deadline never keeps the process alive by
 * itself (the socket it guards does).
 */
export function armDeadline(
  ms: number,
  onExpire: (err: DeadlineExceededError) => void,
  describe?: () => string,
): () => void {
  const timer = setTimeout(() => onExpire(new DeadlineExceededError(ms, describe?.())), ms)
  timer.unref()
  return () => clearTimeout(timer)
}
