#!/usr/bin/env node
// The `stallguard` command (package.json "bin"). One subcommand today:
//   stallguard doctor [--json]
import { parseArgs } from 'node:util'
import { doctorFailed, doctorReport, formatDoctorReport } from './diagnostics/doctor'

const USAGE = `usage: stallguard doctor [--json]

  doctor    what protects this machine's connections, and the worst-case hang
            per kind of stall without stallguard and with the configuration
            in effect (STALLGUARD_* variables and the defaults)
  --json    the same report as JSON

Exit status: 0 ok, 1 the native layer is unavailable or the configuration is
invalid, 2 bad usage.
`

const OPTIONS = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const

function main(argv: string[]): number {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    process.stderr.write(`stallguard: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (parsed.values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const [command, ...extra] = parsed.positionals
  if (command !== 'doctor' || extra.length > 0) {
    const what = command === undefined ? 'no command given' : `unknown command: ${[command, ...extra].join(' ')}`
    process.stderr.write(`stallguard: ${what}\n\n${USAGE}`)
    return 2
  }
  const report = doctorReport()
  // Absent values stay visible as null in JSON (a script checks `reason`, not whether it exists).
  const json = (): string => JSON.stringify(report, (_key, value: unknown) => (value === undefined ? null : value), 2)
  process.stdout.write(parsed.values.json ? `${json()}\n` : formatDoctorReport(report))
  return doctorFailed(report) ? 1 : 0
}

process.exitCode = main(process.argv.slice(2))
