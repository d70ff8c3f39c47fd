// Argument validation shared by every front door. Errors name the option (or
// env var), show the value received and say what is accepted, and carry the
// same codes Node uses for bad arguments.
import { inspect } from 'node:util'

export type OptionError = (TypeError | RangeError) & { code: string }

const show = (value: unknown): string =>
  inspect(value, { depth: 1, breakLength: Infinity })

export function invalidType(name: string, value: unknown, expected: string): OptionError {
  const err = new TypeError(
    `stallguard: ${name} must be ${expected}; received ${show(value)}`,
  ) as OptionError
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

export function outOfRange(name: string, value: unknown, accepted: string): OptionError {
  const err = new RangeError(
    `stallguard: ${name} must be ${accepted}; received ${show(value)}`,
  ) as OptionError
  err.code = 'ERR_OUT_OF_RANGE'
  return err
}

export interface NumberRule {
  /** smallest accepted non-zero value */
  min: number
  /** largest accepted value */
  max: number
  integer?: boolean
  /** unit shown in messages, e.g. 'ms' */
  unit?: string
  /** whether 0 / false are accepted as "off / system default" */
  zeroMeans?: string
}

/**
 * Validate a numeric option. Returns 0 for `false`/`0` when the rule allows
 * "off", otherwise the number itself.
 */
export function checkNumber(name: string, value: unknown, rule: NumberRule): number {
  const unit = rule.unit ? ` ${rule.unit}` : ''
  const kind = rule.integer ? 'an integer' : 'a number'
  const off = rule.zeroMeans ? ` (or 0/false for ${rule.zeroMeans})` : ''
  const accepted = `${kind} from ${rule.min} to ${rule.max}${unit}${off}`
  if (value === false || value === 0) {
    if (rule.zeroMeans) return 0
    throw outOfRange(name, value, accepted)
  }
  if (typeof value !== 'number') throw invalidType(name, value, accepted)
  if (Number.isNaN(value)) throw outOfRange(name, value, accepted)
  if (rule.integer && !Number.isInteger(value)) throw outOfRange(name, value, accepted)
  if (value < rule.min || value > rule.max) throw outOfRange(name, value, accepted)
  return value
}

/** Largest delay a Node timer can hold (setTimeout clamps anything above to 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1
