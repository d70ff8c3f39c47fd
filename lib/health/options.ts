// The `addressHealth` option: on by default; `false` turns it off; an object
// tunes the cool-down before a down address gets its probe connection.
import { checkNumber, invalidType, MAX_TIMER_MS } from '../validate'

export interface AddressHealthOptions {
  /** First cool-down after an address goes down, ms (default 1000). Doubles per failed probe. */
  coolDown?: number | undefined
  /** Longest cool-down, ms (default 30 000). */
  maxCoolDown?: number | undefined
}

export type AddressHealthOption = boolean | AddressHealthOptions | undefined

export interface ResolvedAddressHealth {
  readonly coolDownMs: number
  readonly maxCoolDownMs: number
}

export const DEFAULT_COOL_DOWN_MS = 1000
export const DEFAULT_MAX_COOL_DOWN_MS = 30_000

/** `addressHealth` → the cool-down rule, or undefined for `false` (off). */
export function resolveAddressHealth(value: unknown, name = 'addressHealth'): ResolvedAddressHealth | undefined {
  if (value === false) return undefined
  if (value === undefined || value === true) {
    return Object.freeze({ coolDownMs: DEFAULT_COOL_DOWN_MS, maxCoolDownMs: DEFAULT_MAX_COOL_DOWN_MS })
  }
  if (value === null || typeof value !== 'object') {
    throw invalidType(name, value, 'a boolean or an object { coolDown, maxCoolDown } (ms)')
  }
  const { coolDown, maxCoolDown, ...unknown } = value as AddressHealthOptions
  const extra = Object.keys(unknown)[0]
  if (extra !== undefined) {
    throw invalidType(`${name}.${extra}`, (unknown as Record<string, unknown>)[extra], 'one of coolDown, maxCoolDown (unknown option)')
  }
  const rule = { min: 1, max: MAX_TIMER_MS, integer: true, unit: 'ms' }
  const coolDownMs = coolDown === undefined ? DEFAULT_COOL_DOWN_MS : checkNumber(`${name}.coolDown`, coolDown, rule)
  const maxCoolDownMs = maxCoolDown === undefined
    ? Math.max(coolDownMs, DEFAULT_MAX_COOL_DOWN_MS)
    : checkNumber(`${name}.maxCoolDown`, maxCoolDown, { ...rule, min: coolDownMs })
  return Object.freeze({ coolDownMs, maxCoolDownMs })
}
