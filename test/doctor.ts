// `stallguard doctor`, run as an operator would: the built bin (node
// dist/bin.js, and `npx stallguard doctor` in the repository, which resolves
// the package's own bin) in a child process with its own environment.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { DoctorReport } from '../lib/diagnostics/doctor'

const ROOT = join(__dirname, '..')
const BIN = join(ROOT, 'dist', 'bin.js')

/** The environment without any STALLGUARD_* variable of the test runner's own. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STALLGUARD_')))
  return { ...env, ...extra }
}

function doctor(args: string[], extra: Record<string, string> = {}, via: 'node' | 'npx' = 'node', bin = BIN) {
  const [cmd, argv] = via === 'node' ? [process.execPath, [bin, ...args]] : ['npx', ['--no-install', 'stallguard', ...args]]
  const run = spawnSync(cmd, argv as string[], { cwd: ROOT, env: cleanEnv(extra), encoding: 'utf8', timeout: 60_000 })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

const procValue = (name: string): number => Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim())

t.test('--json: every key, the sysctls as read, the worst case without and with the configuration', async (t) => {
  for (const via of ['node', 'npx'] as const) {
    const run = doctor(['doctor', '--json'], { STALLGUARD_TCP_USER_TIMEOUT: '3s' }, via)
    t.equal(run.status, 0, `${via}: exit 0 (native layer loaded) ${run.stderr}`)
    const r = JSON.parse(run.stdout) as DoctorReport
    for (const key of ['verdict', 'native', 'capabilities', 'kernel', 'sysctl', 'undici', 'config', 'worstCaseSeconds', 'risks', 'units']) t.ok(key in r, `${via}: key ${key}`)
    t.match(r.verdict, { kind: 'protected', text: /^PROTECTED: a connection to a dead or unreachable server fails within 6 s/ })
    t.match(r.undici, { installed: true, version: /^\d+\./ })
    t.match(r.native, { loaded: true, file: /stallguard\.node$/, reason: null }, `${via}: which binding loaded`)
    t.match(r.capabilities, { native: true, userTimeout: true, tcpInfo: true, userTimeoutOption: 'TCP_USER_TIMEOUT' })
    t.match(r.kernel, { release: /^\d+\.\d+/, synBoundedByUserTimeout: true, zeroWindowAbort: true }, `${via}: kernel ${r.kernel.release}`)
    const retries2 = procValue('tcp_retries2')
    t.equal(r.sysctl['net.ipv4.tcp_retries2'], retries2, `${via}: tcp_retries2 as in /proc (${retries2})`)
    t.equal(r.sysctl['net.ipv4.tcp_syn_retries'], procValue('tcp_syn_retries'))
    t.equal(r.sysctl['net.ipv4.tcp_keepalive_time'], procValue('tcp_keepalive_time'))
    if (retries2 === 15) {
      t.ok(Math.abs(r.worstCaseSeconds.without.deadPath! - 924.6) < 0.05, `${via}: tcp_retries2 = 15 → ${r.worstCaseSeconds.without.deadPath} s without`)
    }
    t.equal(r.worstCaseSeconds.without.zeroWindow, null, 'a peer that stops reading: never ends without a user timeout')
    t.same(r.config.env, { STALLGUARD_TCP_USER_TIMEOUT: '3s' })
    t.match(r.config, { via: 'native', deadlineMs: 0, retries: 1, minThroughput: false, scope: 'http', tcp: { userTimeoutMs: 3000, keepAliveIdleMs: 5000, keepAliveIntervalMs: 1000, keepAliveCount: 5 } })
    t.same(r.config.undiciTimeouts, { connectMs: 10_000, headersMs: 300_000, bodyMs: 300_000 }, "undici's defaults where unset")
    t.match(r.units, { 'worstCaseSeconds.*': /seconds; null = never ends/, 'config.*Ms': 'milliseconds' })
    t.same(r.worstCaseSeconds.with, { synUnanswered: 3, deadPath: 3, silentPeer: 6, zeroWindow: 3 },
      `${via}: STALLGUARD_TCP_USER_TIMEOUT=3s → 3 s; an idle peer at the first probe tick after 3 s (5 s idle + 1 s)`)
  }
})

t.test('defaults and a deadline: the configuration in effect drives "with"', async (t) => {
  const defaults = JSON.parse(doctor(['doctor', '--json']).stdout) as DoctorReport
  t.same(defaults.worstCaseSeconds.with, { synUnanswered: 10, deadPath: 10, silentPeer: 10, zeroWindow: 10 }, 'the defaults: 10 s everywhere')
  const capped = JSON.parse(doctor(['doctor', '--json'], { STALLGUARD_TCP_USER_TIMEOUT: 'off', STALLGUARD_DEADLINE: '30s' }).stdout) as DoctorReport
  t.same(capped.worstCaseSeconds.with, { synUnanswered: 30, deadPath: 30, silentPeer: 10, zeroWindow: 30 },
    'no user timeout: the kernel figures, capped by the 30 s deadline')
  const disabled = JSON.parse(doctor(['doctor', '--json'], { STALLGUARD_DISABLE: '1' }).stdout) as DoctorReport
  t.same(disabled.worstCaseSeconds.with, disabled.worstCaseSeconds.without, 'STALLGUARD_DISABLE=1: nothing changes')
})

t.test('plain text: the verdict first, plain words with the TCP term in brackets, the whole configuration', async (t) => {
  const run = doctor(['doctor'], { STALLGUARD_TCP_USER_TIMEOUT: '3s', STALLGUARD_DEADLINE: '1m', STALLGUARD_MIN_THROUGHPUT: 'on' })
  t.equal(run.status, 0)
  t.match(run.stdout, /^PROTECTED: a connection to a dead or unreachable server fails within 6 s \(without stallguard some never end\)\. Nothing to do\.\n/)
  t.match(run.stdout, /native layer\s+loaded from .*stallguard\.node/)
  t.match(run.stdout, /kernel settings \[sysctl, read from \/proc\]\s+tcp_retries2=\d+/)
  t.match(run.stdout, /set in the environment\s+STALLGUARD_TCP_USER_TIMEOUT=3s/)
  t.match(run.stdout, /network dies while data is being sent \[unacknowledged data\]\s+\d+(\.\d)? min\s+3 s/)
  t.match(run.stdout, /server stops reading what is sent \[zero window\]\s+never ends\s+3 s/)
  t.match(run.stdout, /dead-connection cut-off \[TCP_USER_TIMEOUT\]\s+3 s\n/)
  t.match(run.stdout, /time limit per request \[deadline\]\s+60 s\n/)
  t.match(run.stdout, /slowest accepted transfer \[throughput floor\]\s+1 bytes\/s averaged over 20 s\n/)
  t.match(run.stdout, /retry after a stale pooled connection \(undici\)\s+once, idempotent requests only\n/)
  t.match(run.stdout, /clients covered \[scope\]\s+http: /)
  t.notMatch(run.stdout, /synUnanswered|deadPath|silentPeer|zeroWindow|\(proc\)/, 'no JSON key names in the text')
})

t.test('the verdict names what is wrong and what to do', async (t) => {
  const cases: Array<[Record<string, string>, number, RegExp]> = [
    [{ STALLGUARD_DEADLINE: '500ms' }, 1, /^DANGEROUS SETTING: every request that takes longer than 500 ms fails, healthy slow ones included\. Raise STALLGUARD_DEADLINE to at least 1 s/],
    [{ STALLGUARD_CONNECT_TIMEOUT: '300ms', STALLGUARD_HEADERS_TIMEOUT: '200ms' }, 1, /^DANGEROUS SETTING: a connection attempt that loses one packet fails.*\(1 more below\)\.\n\nalso dangerous: a server that takes longer than 200 ms to start answering fails \(STALLGUARD_HEADERS_TIMEOUT\)/],
    [{ STALLGUARD_TCP_USER_TIMEOUT: 'off' }, 0, /^PARTLY PROTECTED: 3 of the 4 kinds of stuck connection below can still hang forever\. Unset the STALLGUARD_TCP_\* variables set to 0\/off/],
    [{ STALLGUARD_DISABLE: '1', STALLGUARD_TCP_USER_TIMOUT: '5s' }, 0, /^OFF: STALLGUARD_DISABLE is set, .* Unset it to turn protection back on\./],
    [{ STALLGUARD_TCP_USER_TIMEOUT: '10' }, 1, /^INVALID CONFIGURATION: the preload would stop the application at start-up \(exit 78\)\.[^]*ERROR\s+stallguard: STALLGUARD_TCP_USER_TIMEOUT must be a duration .*did you mean 10s\?/],
  ]
  for (const [env, status, verdict] of cases) {
    const run = doctor(['doctor'], env)
    t.equal(run.status, status, `${JSON.stringify(env)}: exit ${status}`)
    t.match(run.stdout, verdict, JSON.stringify(env))
  }
})

/**
 * The package without any binary: package.json and dist/ copied into a
 * scratch root (node-gyp-build looks for build/ and prebuilds/ there), with
 * the checkout's node_modules for the dependencies. Whether this checkout has
 * built prebuilds/ (CI does) must not matter.
 */
function packageWithoutBinaries(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'stallguard-nobinary-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true })
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  return join(dir, 'dist', 'bin.js')
}

t.test('degraded: without the native layer the doctor says why and exits non-zero', async (t) => {
  const bin = packageWithoutBinaries(t)
  for (const args of [['doctor'], ['doctor', '--json']]) {
    const run = doctor(args, {}, 'node', bin)
    t.equal(run.status, 1, `${args.join(' ')}: exit 1`)
    if (args.includes('--json')) {
      const r = JSON.parse(run.stdout) as DoctorReport
      t.match(r.native, { loaded: false, file: null, reason: /No native build was found/ })
      t.equal(r.config.via, 'fallback')
      t.match(r.verdict, { kind: 'degraded', text: /^DEGRADED: the native layer is not loaded, .* Fix: install a C\+\+ toolchain/ })
      t.equal(r.worstCaseSeconds.with.zeroWindow, null, 'no user timeout: a peer that stops reading is never aborted')
    } else {
      t.match(run.stdout, /^DEGRADED: /)
      t.match(run.stdout, /native layer\s+NOT LOADED: binding not loaded: No native build was found/)
    }
  }
})

t.test('a misspelled variable: the doctor shows the error and exits non-zero', async (t) => {
  const run = doctor(['doctor', '--json'], { STALLGUARD_USER_TIMEOUT: '3s' })
  t.equal(run.status, 1)
  const r = JSON.parse(run.stdout) as DoctorReport
  t.match(r.config.error, /unknown environment variable STALLGUARD_USER_TIMEOUT \(did you mean STALLGUARD_TCP_USER_TIMEOUT\?\)/)
})

t.test('bad usage: what is wrong (with a suggestion), the usage, exit 2', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /^stallguard: no command given\n/],
    [['doctr'], /^stallguard: unknown command doctr \(did you mean doctor\?\)\n/],
    [['hlep'], /^stallguard: unknown command hlep \(did you mean help\?\)\n/],
    [['doctor', '--jsn'], /^stallguard: unknown option --jsn \(did you mean --json\?\)\n/],
    [['--verison'], /^stallguard: unknown option --verison \(did you mean --version\?\)\n/],
    [['--colour'], /^stallguard: unknown option --colour\n/],
    [['doctor', 'extra'], /^stallguard: doctor takes no arguments; received extra\n/],
    [['--json'], /^stallguard: no command given\n/],
  ]
  for (const [args, message] of cases) {
    const run = doctor(args)
    t.equal(run.status, 2, `${JSON.stringify(args)}: exit 2`)
    t.match(run.stderr, message, `${JSON.stringify(args)}: says what is wrong`)
    t.match(run.stderr, /\n\nusage: stallguard doctor \[--json\]/, 'then the usage')
    t.equal(run.stdout, '')
  }
})

t.test('help and version', async (t) => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const help = doctor(args)
    t.equal(help.status, 0, `${args[0]}: exit 0`)
    t.match(help.stdout, /^usage: stallguard doctor \[--json\][^]*Exit status:\n {2}0 [^]*\n {2}1 [^]*\n {2}2 +bad usage/)
  }
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string
  for (const args of [['--version'], ['-v']]) {
    const run = doctor(args)
    t.equal(run.status, 0)
    t.equal(run.stdout, `${version}\n`, `${args[0]} prints the version`)
  }
})

t.test('secrets stay out: proxy userinfo and presigned URLs in the environment never reach the output', async (t) => {
  const secrets = {
    HTTPS_PROXY: 'http://proxyuser:PROXY-SECRET-7f3a@127.0.0.1:3128',
    S3_URL: 'https://bucket.s3.amazonaws.com/key?X-Amz-Signature=SIG-SECRET-91c2&X-Amz-Credential=CRED-SECRET-44d0',
  }
  for (const args of [['doctor'], ['doctor', '--json']]) {
    const run = doctor(args, secrets)
    for (const secret of ['PROXY-SECRET-7f3a', 'SIG-SECRET-91c2', 'CRED-SECRET-44d0', 'X-Amz-']) {
      t.notOk(run.stdout.includes(secret) || run.stderr.includes(secret), `${args.join(' ')}: no ${secret}`)
    }
  }
})
