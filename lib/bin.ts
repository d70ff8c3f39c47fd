#!/usr/bin/env node
// The `stallguard` command (package.json "bin"):
//   stallguard doctor [--json]   stallguard help   stallguard --version
import { parseArgs } from 'node:util'
import { doctorFailed, doctorReport, packageVersion } from './diagnostics/doctor'
import { formatDoctorReport } from './diagnostics/doctor-text'
import { closest } from './suggest'

const USAGE = `usage: stallguard doctor [--json]
       stallguard help | --help | -h
       stallguard --version | -v

  doctor     first line: whether this machine's connections are protected,
             and what to do if not; then how long each kind of stuck
             connection can hang without stallguard and with the
             configuration in effect (STALLGUARD_* variables over the
             defaults), that configuration, and this machine's details
  --json     the same report as JSON (the "units" field says what each number counts)
  --version  print stallguard's version

Exit status:
  0  doctor: protected, partly protected or switched off (read the first line); help, --version
  1  doctor: the native layer is not loaded, the configuration is invalid
     (the preload would stop the application), or a setting would end healthy
     connections
  2  bad usage (an unknown command or option)
`

const COMMANDS = ['doctor', 'help'] as const
const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const

function usageError(message: string): number {
  process.stderr.write(`stallguard: ${message}\n\n${USAGE}`)
  return 2
}

/** "did you mean …?" for a mistyped command or option, or ''. */
function suggestion(word: string, candidates: readonly string[]): string {
  const meant = closest(word, candidates, (c) => Math.max(1, Math.floor(c.length / 3)))
  return meant === undefined ? '' : ` (did you mean ${meant}?)`
}

function main(argv: string[]): number {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    // Node's message quotes the option unevenly ("Unknown option '--jsn'"); say it plainly.
    const option = argv.find((a) => a.startsWith('-') && !['--json', '--help', '-h', '--version', '-v'].includes(a))
    if (option === undefined) return usageError((err as Error).message)
    const name = option.replace(/^-+/, '').split('=')[0]!
    return usageError(`unknown option ${option}${suggestion(name, Object.keys(OPTIONS)).replace('mean ', 'mean --')}`)
  }
  const [command, ...extra] = parsed.positionals
  if (parsed.values.version) {
    process.stdout.write(`${packageVersion()}\n`)
    return 0
  }
  if (parsed.values.help || command === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  if (command === undefined) return usageError('no command given')
  if (command !== 'doctor') return usageError(`unknown command ${command}${suggestion(command, COMMANDS)}`)
  if (extra.length > 0) return usageError(`doctor takes no arguments; received ${extra.join(' ')}`)
  const report = doctorReport()
  // Absent values stay visible as null in JSON (a script checks `reason`, not whether it exists).
  const json = (): string => JSON.stringify(report, (_key, value: unknown) => (value === undefined ? null : value), 2)
  process.stdout.write(parsed.values.json ? `${json()}\n` : formatDoctorReport(report))
  return doctorFailed(report) ? 1 : 0
}

process.exitCode = main(process.argv.slice(2))
