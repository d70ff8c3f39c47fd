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
import { disabledByEnv } from '../global/env'
import { nodeSetsKeepAliveIntervalAndCount, oneLine as flatten, PREBUILT_PLATFORMS } from '../kernel/degraded'
import { capabilities, type Capabilities } from '../capabilities'
import { describeProcessHooks, type Scope } from '../global/process-hooks'
import type { ResolvedTcpTimeouts } from '../kernel/tcp-options'
import { resolveMinThroughput, resolveRetry, resolveTcp } from '../options'
import type { MinThroughput } from '../watch/throughput'
import { durationText, findRisks, verdict, type Risk, type VerdictKind } from './doctor-risks'
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
  /** The one line to read first: protected, partly protected, degraded, a dangerous setting, off, or an invalid configuration. */
  verdict: { kind: VerdictKind; text: string }
  stallguard: string
  node: string
  platform: string
  arch: string
  native: { loaded: boolean; file: string | undefined; reason: string | undefined }
  capabilities: Capabilities
  kernel: { release: string; synBoundedByUserTimeout: boolean; zeroWindowAbort: boolean }
  /** `net.ipv4.*` values as the kernel takes them (see `units`), and whether they were read or are the kernel's defaults. */
  sysctl: Record<string, number | string>
  /** undici is a peer dependency: without it, StallGuardAgent and the undici half of install() are unavailable. */
  undici: { installed: boolean; version: string | undefined }
  config: {
    /** STALLGUARD_* variables set in the environment. */
    env: Record<string, string>
    /** Why the configuration could not be read (a bad or unknown variable). */
    error: string | undefined
    disabled: boolean
    /** Kernel timeouts for every socket; false: left at the system defaults. */
    tcp: { userTimeoutMs: number; keepAliveIdleMs: number; keepAliveIntervalMs: number; keepAliveCount: number } | false
    /** Per-request deadline; 0 = none. */
    deadlineMs: number
    /** Throughput floor; false = off. */
    minThroughput: { bytesPerSecond: number; graceMs: number } | false
    /** undici only: retries of an idempotent request that died on a stale pooled connection; 0 = off. */
    retries: number
    /** undici only: its own timers as install() sets them (undici's defaults where unset); 0 = none. */
    undiciTimeouts: { connectMs: number; headersMs: number; bodyMs: number }
    /** Which clients install() reaches ('http': the global node:http(s) agents and undici's global dispatcher). */
    scope: string
    /** How the kernel timeouts reach sockets here. */
    via: 'native' | 'fallback' | 'none'
  }
  /** How install() reaches clients it did not build, for the configured scope (lines for people). */
  processHooks: { scope: Scope; lines: string[] }
  /** Seconds per kind of stall; null = never ends (no layer gives up). */
  worstCaseSeconds: { without: StallSeconds; with: StallSeconds }
  /** Settings that would end healthy connections or requests on a normal network. */
  risks: Risk[]
  /** What the numbers in this report count. */
  units: Record<string, string>
  notes: string[]
}

/** undici's own defaults for the timers install() can set (ms). */
const UNDICI_DEFAULTS = { connectMs: 10_000, headersMs: 300_000, bodyMs: 300_000 }

const UNITS = {
  'config.*Ms': 'milliseconds',
  'config.minThroughput.bytesPerSecond': 'bytes per second',
  'worstCaseSeconds.*': 'seconds; null = never ends',
  'sysctl.net.ipv4.tcp_keepalive_time, tcp_keepalive_intvl': 'seconds',
  'sysctl.net.ipv4.tcp_retries2, tcp_syn_retries, tcp_keepalive_probes, config.tcp.keepAliveCount': 'counts',
}

function undiciInfo(): DoctorReport['undici'] {
  try {
    return { installed: true, version: (require('undici/package.json') as { version: string }).version }
  } catch {
    return { installed: false, version: undefined }
  }
}

export function packageVersion(): string {
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
  const undici = undiciInfo()
  const notes: string[] = []

  const setVars: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (name.toUpperCase().startsWith(ENV_PREFIX) && value !== undefined && (name in ENV_VARS || disabledByEnv(env))) setVars[name] = value
  }
  let error: string | undefined
  let options: ReturnType<typeof effectiveOptions> = {}
  let resolved: ResolvedTcpTimeouts | undefined
  let floor: MinThroughput | undefined
  try {
    options = effectiveOptions({ env })
    resolved = options.tcp === false || options.disable ? undefined : resolveTcp(options.tcp)
    floor = options.disable ? undefined : resolveMinThroughput(options.minThroughput)
  } catch (err) {
    error = (err as Error).message
  }
  const disabled = options.disable === true
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
    if (fallbackKeepsLibuv) notes.push(`Node ${process.version} sets only the idle time of the idle-connection check [keepalive] without the native layer (then every 1 s, 10 tries)`)
  }
  const userTimeoutMs = via === 'native' && caps.userTimeout && resolved ? resolved.userTimeoutMs : 0

  if (!caps.native) notes.push(`the native layer is not loaded (${oneLine(caps.reason)}): no dead-connection cut-off [TCP_USER_TIMEOUT]`)
  if (!undici.installed) notes.push("undici is not installed: install() protects node:http(s) clients; Node's built-in fetch gets the kernel timeouts once connected, no deadline, retry or floor; StallGuardAgent needs `npm install undici`")
  if (source !== 'proc') notes.push('the kernel settings [sysctl] could not be read: the kernel defaults are assumed')
  notes.push('"without stallguard" assumes the client turned the idle-connection check [SO_KEEPALIVE] on, as Node\'s http agents and undici do; without it an idle dead connection never ends')
  notes.push('the first two rows are lower bounds [minimum RTO]: a real network adds its round-trip time to each retry')
  if (userTimeoutMs > 0 && !features.synBoundedByUserTimeout) notes.push('Linux < 5.4: the cut-off does not bound connection attempts [SYN retries]')
  if (userTimeoutMs > 0 && !features.zeroWindowAbort) notes.push('Linux < 5.11: a server that stops reading is never cut off by the kernel [zero window]; set a deadline')
  if (deadline > 0) notes.push(`"with this configuration" is capped by the ${durationText(deadline / 1000)} deadline`)

  const scope: Scope = options.scope ?? 'http'
  const reach = describeProcessHooks(scope)
  if (!disabled && error === undefined) notes.push(...reach.notes)

  const sysctlOut: Record<string, number | string> = {}
  for (const name of SYSCTL_NAMES) sysctlOut[`net.ipv4.${name}`] = sysctl[name]
  sysctlOut.source = source

  const tcp = resolved === undefined
    ? false as const
    : {
        userTimeoutMs: resolved.userTimeoutMs,
        keepAliveIdleMs: resolved.keepAliveIdleSeconds * 1000,
        keepAliveIntervalMs: resolved.keepAliveIntervalSeconds * 1000,
        keepAliveCount: resolved.keepAliveCount,
      }
  const undiciTimeouts = {
    connectMs: options.connectTimeout ?? UNDICI_DEFAULTS.connectMs,
    headersMs: options.headersTimeout ?? UNDICI_DEFAULTS.headersMs,
    bodyMs: options.bodyTimeout ?? UNDICI_DEFAULTS.bodyMs,
  }
  const risks = error !== undefined || disabled ? [] : findRisks({
    userTimeoutMs: tcp ? tcp.userTimeoutMs : 0,
    keepAliveIdleMs: tcp ? tcp.keepAliveIdleMs : 0,
    keepAliveIntervalMs: tcp ? tcp.keepAliveIntervalMs : 0,
    deadlineMs: deadline,
    connectTimeoutMs: options.connectTimeout,
    headersTimeoutMs: options.headersTimeout,
    bodyTimeoutMs: options.bodyTimeout,
    minThroughputGraceMs: floor?.grace,
  })
  const worstCaseSeconds = {
    without: worstCaseWithout(sysctl),
    with: worstCaseWith(sysctl, { ...features, userTimeoutMs, keepAlive, deadlineMs: deadline }),
  }
  const nativeRemedy = process.platform === 'win32'
    ? 'set deadlines; the kernel layer needs Linux, macOS or FreeBSD'
    : `install a C++ toolchain (python3, make, g++) and run \`npm rebuild stallguard\`, or use a platform with a prebuild (${PREBUILT_PLATFORMS})`

  return {
    verdict: verdict({ error, disabled, nativeLoaded: caps.native, nativeRemedy, risks, ...worstCaseSeconds }),
    stallguard: packageVersion(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    native: { loaded: caps.native, file: caps.binding, reason: caps.reason },
    capabilities: caps,
    kernel: { release, ...features },
    sysctl: sysctlOut,
    undici,
    config: {
      env: setVars,
      error,
      disabled,
      tcp,
      deadlineMs: deadline,
      minThroughput: floor === undefined ? false : { bytesPerSecond: floor.bytesPerSecond, graceMs: floor.grace },
      retries: disabled || error !== undefined ? 0 : resolveRetry(options.retry),
      undiciTimeouts,
      scope,
      via,
    },
    processHooks: { scope, lines: reach.lines },
    worstCaseSeconds,
    risks,
    units: UNITS,
    notes,
  }
}

/** The process should exit non-zero: no native layer, a configuration the preload would refuse, or a dangerous setting. */
export function doctorFailed(report: DoctorReport): boolean {
  return !report.native.loaded || report.config.error !== undefined || report.risks.length > 0
}

export const oneLine = (text: string | undefined): string => flatten(text ?? 'unknown reason')

