// Per-request deadlines. A deadline is set once when the request starts and
// fires on its own, on the shared clock (lib/watch/clock.ts): nothing has to
// poll the request, so it fires even while the I/O it guards is stuck in
// the kernel.
import { checkNumber, MAX_TIMER_MS } from './validate'

/** Validate a deadline option (ms). Returns 0 for "no deadline". */
export function resolveDeadline(value: unknown, name = 'deadline'): number {
  if (value === undefined || value === null) return 0
  return checkNumber(name, value, {
    min: 1, max: MAX_TIMER_MS, integer: true, unit: 'ms', zeroMeans: 'no deadline',
  })
}
