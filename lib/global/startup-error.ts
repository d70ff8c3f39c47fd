// What the preload prints when the STALLGUARD_* configuration is refused:
// one paragraph for the operator (which variable, its value, what is
// accepted, how to get going), no stack trace — a trace into dist/ reads
// like a crash of the library, when the fix is a variable.
import { closestEnvVar, type UnknownEnvError } from './env-vars'
import type { EnvValueError } from './env'

/**
 * Exit status of a process whose preload refused the configuration:
 * EX_CONFIG from sysexits.h, apart from 1 (an application's own failure).
 */
export const CONFIG_EXIT_CODE = 78

const FIX = 'or set STALLGUARD_DISABLE=1 to start without stallguard. `npx stallguard doctor` checks a configuration without starting the application.'

/** The paragraph for a configuration error, or undefined when `err` is not one (a real failure keeps its stack). */
export function describeStartupError(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined
  const e = err as Partial<EnvValueError & UnknownEnvError>
  if (e.code === 'SG_ERR_UNKNOWN_ENV' && Array.isArray(e.names)) {
    const lines = e.names.map((name) => {
      const meant = closestEnvVar(name)
      return `  ${name}${meant === undefined ? ': not a stallguard variable' : `: did you mean ${meant}?`}`
    })
    return [
      `stallguard: configuration refused, the application was not started. Unknown variable${e.names.length > 1 ? 's' : ''}:`,
      ...lines,
      `  fix: rename or unset ${e.names.length > 1 ? 'them' : 'it'} (the variables are listed in stallguard's docs/global.md), ${FIX}`,
      '',
    ].join('\n')
  }
  if (typeof e.variable === 'string' && typeof e.accepted === 'string') {
    return [
      `stallguard: configuration refused, the application was not started. ${e.variable}=${JSON.stringify(e.value)} is not valid.`,
      `  accepted: ${e.accepted}`,
      ...(e.hint === undefined ? [] : [`  hint: ${e.hint}`]),
      `  fix: correct or unset ${e.variable}, ${FIX}`,
      '',
    ].join('\n')
  }
  return undefined
}
