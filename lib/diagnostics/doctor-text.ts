// The doctor's report as a person reads it: the verdict first, then how long
// each kind of stuck connection can hang, the configuration in effect, this
// machine, and notes. Plain words; the TCP term in brackets for searching.
import { STALL_NAMES, durationText } from './doctor-risks'
import { oneLine, type DoctorReport } from './doctor'
import type { StallSeconds } from './worst-case'

const yes = (b: boolean): string => (b ? 'yes' : 'no')
const ms = (value: number): string => durationText(value / 1000)

function rows(lines: string[], entries: Array<[string, string]>): void {
  const width = Math.max(...entries.map(([label]) => label.length))
  for (const [label, value] of entries) lines.push(`  ${label.padEnd(width)}  ${value}`)
}

function configuration(r: DoctorReport): Array<[string, string]> {
  const c = r.config
  const env = Object.entries(c.env)
  const entries: Array<[string, string]> = [
    ['set in the environment', env.length === 0 ? 'no STALLGUARD_* variables (defaults)' : env.map(([k, v]) => `${k}=${v}`).join(' ')],
  ]
  if (c.error !== undefined) return [...entries, ['ERROR', oneLine(c.error)]]
  if (c.disabled) return [...entries, ['switched off', 'STALLGUARD_DISABLE: nothing below applies, the other variables are ignored']]
  const tcp = c.tcp
  const via = c.via === 'native' ? '' : c.via === 'fallback' ? " (only Node's keepalive: the native layer is not loaded)" : ''
  entries.push(
    ['dead-connection cut-off [TCP_USER_TIMEOUT]', tcp === false || tcp.userTimeoutMs === 0 ? 'system default (about 15 min)' : `${ms(tcp.userTimeoutMs)}${via}`],
    ['idle-connection check [keepalive]', tcp === false ? 'system default' : [
      `first check after ${tcp.keepAliveIdleMs ? ms(tcp.keepAliveIdleMs) : 'the system default'} idle`,
      `then every ${tcp.keepAliveIntervalMs ? ms(tcp.keepAliveIntervalMs) : 'system default'}`,
      `give up after ${tcp.keepAliveCount || 'the system default number of'} unanswered`,
    ].join(', ')],
    ['time limit per request [deadline]', c.deadlineMs > 0 ? ms(c.deadlineMs) : 'none'],
    ['slowest accepted transfer [throughput floor]', c.minThroughput === false ? 'off'
      : `${c.minThroughput.bytesPerSecond} bytes/s averaged over ${ms(c.minThroughput.graceMs)}`],
    ['retry after a stale pooled connection (undici)', c.retries === 0 ? 'off' : `${c.retries === 1 ? 'once' : `up to ${c.retries} times`}, idempotent requests only`],
    ["undici's own timers", `connect ${ms(c.undiciTimeouts.connectMs)}, waiting for headers ${ms(c.undiciTimeouts.headersMs)}, between body chunks ${ms(c.undiciTimeouts.bodyMs)}`],
    ['clients covered [scope]', c.scope === 'tcp'
      ? 'tcp: every outgoing TCP connection of the process (HTTP clients, database and cache drivers)'
      : `http: every node:http(s) agent and undici dispatcher in the process, whoever built it${r.undici.installed ? '' : " (undici not installed: Node's fetch gets the kernel timeouts only)"}`],
  )
  return entries
}

function machine(r: DoctorReport): Array<[string, string]> {
  const c = r.capabilities
  const sysctl = Object.entries(r.sysctl).filter(([k]) => k !== 'source').map(([k, v]) => `${k.replace('net.ipv4.', '')}=${v}`).join(' ')
  return [
    ['native layer', r.native.loaded ? `loaded from ${r.native.file}` : `NOT LOADED: ${oneLine(r.native.reason)}`],
    ['socket options', `cut-off ${c.userTimeoutOption ? `yes [${c.userTimeoutOption}]` : 'no'}, idle check ${yes(c.keepAliveIdle)}/${yes(c.keepAliveInterval)}/${yes(c.keepAliveCount)} [keepalive idle/interval/count], connection stats ${yes(c.tcpInfo)} [TCP_INFO]`],
    ['kernel', `${r.platform} ${r.kernel.release}: cut-off also bounds connection attempts ${yes(r.kernel.synBoundedByUserTimeout)} [Linux >= 5.4], ` +
      `ends a server that stops reading ${yes(r.kernel.zeroWindowAbort)} [Linux >= 5.11]`],
    [`kernel settings [sysctl, ${r.sysctl.source === 'proc' ? 'read from /proc' : 'defaults assumed'}]`, sysctl],
    ['undici', r.undici.installed ? `${r.undici.version}` : 'not installed (a peer dependency: StallGuardAgent and the fetch half of install() need it)'],
  ]
}

export function formatDoctorReport(r: DoctorReport): string {
  const lines: string[] = [r.verdict.text, '']
  for (const risk of r.risks.slice(1)) lines.push(`also dangerous: ${risk.problem} (${risk.setting})`)
  if (r.risks.length > 1) lines.push('')
  lines.push(`stallguard ${r.stallguard} doctor, Node ${r.node}, ${r.platform} ${r.arch}`, '')

  const labels = Object.values(STALL_NAMES)
  const width = Math.max(...labels.map((l) => l.length))
  lines.push(`${'How long a stuck connection can hang'.padEnd(width + 2)}  without stallguard   with this configuration`)
  for (const key of Object.keys(STALL_NAMES) as Array<keyof StallSeconds>) {
    lines.push(`  ${STALL_NAMES[key].padEnd(width)}  ${durationText(r.worstCaseSeconds.without[key]).padStart(18)}   ${durationText(r.worstCaseSeconds.with[key]).padStart(23)}`)
  }
  lines.push('', 'Configuration in effect (STALLGUARD_* variables over the defaults)')
  rows(lines, configuration(r))
  lines.push('', 'This machine')
  rows(lines, machine(r))
  lines.push('', 'How clients stallguard did not build are reached')
  for (const line of r.processHooks.lines) lines.push(`  ${line}`)
  if (r.notes.length > 0) {
    lines.push('', 'Notes')
    for (const note of r.notes) lines.push(`  - ${oneLine(note)}`)
  }
  return lines.join('\n') + '\n'
}
