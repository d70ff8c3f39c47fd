// `npx stallguard doctor`: what protects this process's connections, and how
// long each kind of stall could hang without stallguard and with the
// configuration in effect (STALLGUARD_* and the defaults). Plain text for a
// person, --json for a script. Prints no request, so nothing to redact; the
// binding's path and the environment's STALLGUARD_* values are all it shows.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { ENV_PREFIX, ENV_VARS } from '../global/env-vars'
import { effectiveOptions } from '../global/install'
import { nodeSetsKeepAliveIntervalAndCount, oneLine as flatten } from '../kernel/degraded'
import { capabilities, type Capabilities } from '../capabilities'
import { describeProcessHooks } from '../global/process-hooks'
import { describeTcpTimeouts, resolveTcpTimeouts } from '../kernel/tcp-options'
import {
  kernelFeatures,
  worstCaseWith,
  worstCaseWithout,
  type KeepAliveRun,
  type StallSeconds,
  type TcpSysctls,
} from './worst-case'

/** The kernel's defaults, used where /proc/sys cannot be read (not Linux, a sandbox). */
const KERNEL_DEFAULTS: TcpSysctls = {
  tcp_retries2: 15,
  tcp_syn_retries: 6,
  tcp_keepalive_time: 7200,
  tcp_keepalive_intvl: 75,
  tcp_keepalive_probes: 9,
}
const SYSCTL_NAMES = Object.keys(KERNEL_DEFAULTS) as Array<keyof TcpSysctls>

export interface DoctorReport {
  stallguard: string
  node: string
  platform: string
  arch: string
  native: { loaded: boolean; file: string | undefined; reason: string | undefined }
  capabilities: Capabilities
  kernel: { release: string; synBoundedByUserTimeout: boolean; zeroWindowAbort: boolean }
  /** `net.ipv4.*` values, and whether they were read or are the kernel's defaults. */
  sysctl: Record<string, number | string>
  config: {
    /** STALLGUARD_* variables set in the environment. */
    env: Record<string, string>
    /** Why the configuration could not be read (a bad or unknown variable). */
    error: string | undefined
    disabled: boolean
    /** Kernel timeouts for every socket (ms, count); false: left at the system defaults. */
    tcp: { userTimeout: number; keepAliveIdle: number; keepAliveInterval: number; keepAliveCount: number } | false
    /** Per-request deadline, ms; 0 = none. */
    deadline: number
    /** How the kernel timeouts reach sockets here. */
    via: 'native' | 'fallback' | 'none'
  }
  /** How install() reaches clients it did not build, for the configured scope (lines for people). */
  processHooks: { scope: 'http' | 'tcp'; lines: string[] }
  /** Seconds per kind of stall; null = never ends. */
  worstCase: { without: StallSeconds; with: StallSeconds }
  notes: string[]
}

function packageVersion(): string {
  try {
    // lib/diagnostics and dist/diagnostics: the package root is two up from both.
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

function readSysctls(): { values: TcpSysctls; source: 'proc' | 'kernel defaults' } {
  const values = { ...KERNEL_DEFAULTS }
  try {
    for (const name of SYSCTL_NAMES) {
      const value = Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim())
      if (!Number.isInteger(value)) throw new Error(`unreadable ${name}`)
      values[name] = value
    }
    return { values, source: 'proc' }
  } catch {
    return { values: { ...KERNEL_DEFAULTS }, source: 'kernel defaults' }
  }
}

export function doctorReport(env: Record<string, string | undefined> = process.env): DoctorReport {
  const caps = capabilities()
  const release = os.release()
  const features = kernelFeatures(process.platform, release)
  const { values: sysctl, source } = readSysctls()
  const notes: string[] = []

  const setVars: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (name.toUpperCase().startsWith(ENV_PREFIX) && value !== undefined && name in ENV_VARS) setVars[name] = value
  }
  let error: string | undefined
  let options: ReturnType<typeof effectiveOptions> = {}
  try {
    options = effectiveOptions({ env })
  } catch (err) {
    error = (err as Error).message
    notes.push('the configuration could not be read: the preload would stop the process (see config.error)')
  }
  const disabled = options.disable === true
  const resolved = options.tcp === false || disabled || error !== undefined ? undefined : resolveTcpTimeouts(options.tcp)
  const deadline = disabled ? 0 : options.deadline ?? 0
  const via = resolved === undefined ? 'none' : caps.native ? 'native' : 'fallback'

  // Keepalive as the kernel will run it: our values, the sysctl where ours are 0 (system default).
  // Where stallguard leaves keepalive alone, the same assumption as "without": the client turned it on.
  let keepAlive: KeepAliveRun = {
    idle: sysctl.tcp_keepalive_time, interval: sysctl.tcp_keepalive_intvl, count: sysctl.tcp_keepalive_probes,
  }
  if (resolved?.keepAlive) {
    const fallbackKeepsLibuv = via === 'fallback' && !nodeSetsKeepAliveIntervalAndCount
    keepAlive = {
      idle: resolved.keepAliveIdleSeconds || sysctl.tcp_keepalive_time,
      interval: fallbackKeepsLibuv ? 1 : resolved.keepAliveIntervalSeconds || sysctl.tcp_keepalive_intvl,
      count: fallbackKeepsLibuv ? 10 : resolved.keepAliveCount || sysctl.tcp_keepalive_probes,
    }
    if (fallbackKeepsLibuv) notes.push(`Node ${process.version} sets only the keepalive idle time without the native layer (interval 1 s, count 10)`)
  }
  const userTimeoutMs = via === 'native' && caps.userTimeout && resolved ? resolved.userTimeoutMs : 0

  if (!caps.native) notes.push(`native layer unavailable: ${caps.reason ?? 'unknown reason'}; no TCP_USER_TIMEOUT`)
  if (source !== 'proc') notes.push('sysctls unreadable: the kernel defaults are assumed')
  notes.push('"without": a client that turned SO_KEEPALIVE on (Node\'s http agents, undici) for silentPeer; without keepalive it never ends')
  notes.push('deadPath and synUnanswered use the minimum RTO: lower bounds; a real path adds its round-trip time')
  if (userTimeoutMs > 0 && !features.synBoundedByUserTimeout) notes.push('kernel < 5.4: the user timeout does not bound SYN retries')
  if (userTimeoutMs > 0 && !features.zeroWindowAbort) notes.push('kernel < 5.11: a peer that stops reading is never aborted by the kernel; use a deadline')
  if (deadline > 0) notes.push(`"with" is capped by the ${deadline} ms deadline`)

  const scope = options.scope ?? 'http'
  const reach = describeProcessHooks(scope)
  if (!disabled && error === undefined) notes.push(...reach.notes)

  const sysctlOut: Record<string, number | string> = {}
  for (const name of SYSCTL_NAMES) sysctlOut[`net.ipv4.${name}`] = sysctl[name]
  sysctlOut.source = source

  return {
    stallguard: packageVersion(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    native: { loaded: caps.native, file: caps.binding, reason: caps.reason },
    capabilities: caps,
    kernel: { release, ...features },
    sysctl: sysctlOut,
    config: {
      env: setVars,
      error,
      disabled,
      tcp: resolved === undefined
        ? false
        : {
            userTimeout: resolved.userTimeoutMs,
            keepAliveIdle: resolved.keepAliveIdleSeconds * 1000,
            keepAliveInterval: resolved.keepAliveIntervalSeconds * 1000,
            keepAliveCount: resolved.keepAliveCount,
          },
      deadline,
      via,
    },
    processHooks: { scope, lines: reach.lines },
    worstCase: {
      without: worstCaseWithout(sysctl),
      with: worstCaseWith(sysctl, { ...features, userTimeoutMs, keepAlive, deadlineMs: deadline }),
    },
    notes,
  }
}

/** The process should exit non-zero: no native layer, or a configuration the preload would refuse. */
export function doctorFailed(report: DoctorReport): boolean {
  return !report.native.loaded || report.config.error !== undefined
}

const STALL_LABELS: Record<keyof StallSeconds, string> = {
  synUnanswered: 'SYN never answered',
  deadPath: 'dead path, data in flight',
  silentPeer: 'silent peer, idle connection',
  zeroWindow: 'peer stops reading (zero window)',
}

function secondsText(value: number | null): string {
  if (value === null) return 'never ends'
  return `${value.toFixed(1)} s`
}

const yes = (b: boolean): string => (b ? 'yes' : 'no')
const oneLine = (text: string | undefined): string => flatten(text ?? 'unknown reason')

export function formatDoctorReport(r: DoctorReport): string {
  const c = r.capabilities
  const lines: string[] = []
  lines.push(`stallguard ${r.stallguard} doctor — Node ${r.node}, ${r.platform} ${r.arch}`)
  lines.push('')
  lines.push(`native layer   ${r.native.loaded ? `loaded from ${r.native.file}` : `UNAVAILABLE: ${oneLine(r.native.reason)}`}`)
  lines.push(`capabilities   user timeout ${c.userTimeoutOption ?? 'no'}, keepalive idle ${yes(c.keepAliveIdle)}, ` +
    `interval ${yes(c.keepAliveInterval)}, count ${yes(c.keepAliveCount)}, TCP_INFO ${yes(c.tcpInfo)}`)
  lines.push(`kernel         ${r.platform} ${r.kernel.release}`)
  lines.push(`  SYN retries bounded by the user timeout (Linux >= 5.4): ${yes(r.kernel.synBoundedByUserTimeout)}`)
  lines.push(`  zero-window connections aborted (Linux >= 5.11):       ${yes(r.kernel.zeroWindowAbort)}`)
  lines.push(`sysctl         (${r.sysctl.source})`)
  for (const [name, value] of Object.entries(r.sysctl)) if (name !== 'source') lines.push(`  ${name} = ${value}`)
  lines.push('config')
  const env = Object.entries(r.config.env)
  lines.push(`  environment  ${env.length === 0 ? 'no STALLGUARD_* variables set (defaults)' : env.map(([k, v]) => `${k}=${v}`).join(' ')}`)
  if (r.config.error !== undefined) lines.push(`  ERROR        ${oneLine(r.config.error)}`)
  if (r.config.disabled) lines.push('  disabled     STALLGUARD_DISABLE: the global override is off')
  const tcp = r.config.tcp
  lines.push(`  sockets      ${tcp === false ? 'left at the system defaults' : describeTcpTimeouts(resolveTcpTimeouts(tcp))} (via ${r.config.via})`)
  lines.push(`  deadline     ${r.config.deadline > 0 ? `${r.config.deadline} ms` : 'none'}`)
  lines.push('process-wide')
  for (const line of r.processHooks.lines) lines.push(`  ${line}`)
  lines.push('')
  const width = Math.max(...Object.values(STALL_LABELS).map((l) => l.length))
  lines.push(`worst-case hang${' '.repeat(width - 13)}without stallguard   with stallguard`)
  for (const key of Object.keys(STALL_LABELS) as Array<keyof StallSeconds>) {
    lines.push(`  ${STALL_LABELS[key].padEnd(width)}  ${secondsText(r.worstCase.without[key]).padStart(18)}   ${secondsText(r.worstCase.with[key]).padStart(15)}`)
  }
  if (r.notes.length > 0) {
    lines.push('')
    for (const note of r.notes) lines.push(`note: ${oneLine(note)}`)
  }
  return lines.join('\n') + '\n'
}
