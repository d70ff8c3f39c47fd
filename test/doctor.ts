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
    for (const key of ['native', 'capabilities', 'kernel', 'sysctl', 'config', 'worstCase']) t.ok(key in r, `${via}: key ${key}`)
    t.match(r.native, { loaded: true, file: /stallguard\.node$/, reason: null }, `${via}: which binding loaded`)
    t.match(r.capabilities, { native: true, userTimeout: true, tcpInfo: true, userTimeoutOption: 'TCP_USER_TIMEOUT' })
    t.match(r.kernel, { release: /^\d+\.\d+/, synBoundedByUserTimeout: true, zeroWindowAbort: true }, `${via}: kernel ${r.kernel.release}`)
    const retries2 = procValue('tcp_retries2')
    t.equal(r.sysctl['net.ipv4.tcp_retries2'], retries2, `${via}: tcp_retries2 as in /proc (${retries2})`)
    t.equal(r.sysctl['net.ipv4.tcp_syn_retries'], procValue('tcp_syn_retries'))
    t.equal(r.sysctl['net.ipv4.tcp_keepalive_time'], procValue('tcp_keepalive_time'))
    if (retries2 === 15) {
      t.ok(Math.abs(r.worstCase.without.deadPath! - 924.6) < 0.05, `${via}: tcp_retries2 = 15 → ${r.worstCase.without.deadPath} s without`)
    }
    t.equal(r.worstCase.without.zeroWindow, null, 'a peer that stops reading: never ends without a user timeout')
    t.same(r.config.env, { STALLGUARD_TCP_USER_TIMEOUT: '3s' })
    t.match(r.config, { via: 'native', deadline: 0, tcp: { userTimeout: 3000, keepAliveIdle: 5000, keepAliveInterval: 1000, keepAliveCount: 5 } })
    t.same(r.worstCase.with, { synUnanswered: 3, deadPath: 3, silentPeer: 6, zeroWindow: 3 },
      `${via}: STALLGUARD_TCP_USER_TIMEOUT=3s → 3 s; an idle peer at the first probe tick after 3 s (5 s idle + 1 s)`)
  }
})

t.test('defaults and a deadline: the configuration in effect drives "with"', async (t) => {
  const defaults = JSON.parse(doctor(['doctor', '--json']).stdout) as DoctorReport
  t.same(defaults.worstCase.with, { synUnanswered: 10, deadPath: 10, silentPeer: 10, zeroWindow: 10 }, 'the defaults: 10 s everywhere')
  const capped = JSON.parse(doctor(['doctor', '--json'], { STALLGUARD_TCP_USER_TIMEOUT: 'off', STALLGUARD_DEADLINE: '30s' }).stdout) as DoctorReport
  t.same(capped.worstCase.with, { synUnanswered: 30, deadPath: 30, silentPeer: 10, zeroWindow: 30 },
    'no user timeout: the kernel figures, capped by the 30 s deadline')
  const disabled = JSON.parse(doctor(['doctor', '--json'], { STALLGUARD_DISABLE: '1' }).stdout) as DoctorReport
  t.same(disabled.worstCase.with, disabled.worstCase.without, 'STALLGUARD_DISABLE=1: nothing changes')
})

t.test('plain text names the same figures', async (t) => {
  const run = doctor(['doctor'], { STALLGUARD_TCP_USER_TIMEOUT: '3s' })
  t.equal(run.status, 0)
  t.match(run.stdout, /native layer\s+loaded from .*stallguard\.node/)
  t.match(run.stdout, /net\.ipv4\.tcp_retries2 = \d+/)
  t.match(run.stdout, /environment\s+STALLGUARD_TCP_USER_TIMEOUT=3s/)
  t.match(run.stdout, /dead path, data in flight\s+\d+\.\d s\s+3\.0 s/)
  t.match(run.stdout, /peer stops reading \(zero window\)\s+never ends\s+3\.0 s/)
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
      t.equal(r.worstCase.with.zeroWindow, null, 'no user timeout: a peer that stops reading is never aborted')
    } else {
      t.match(run.stdout, /native layer\s+UNAVAILABLE: binding not loaded: No native build was found/)
    }
  }
})

t.test('a misspelled variable: the doctor shows the error and exits non-zero', async (t) => {
  const run = doctor(['doctor', '--json'], { STALLGUARD_USER_TIMEOUT: '3s' })
  t.equal(run.status, 1)
  const r = JSON.parse(run.stdout) as DoctorReport
  t.match(r.config.error, /unknown environment variable STALLGUARD_USER_TIMEOUT \(did you mean STALLGUARD_TCP_USER_TIMEOUT\?\)/)
})

t.test('bad usage: a usage message and exit 2', async (t) => {
  for (const args of [[], ['doctr'], ['doctor', '--jsn'], ['doctor', 'extra'], ['--json']]) {
    const run = doctor(args)
    t.equal(run.status, 2, `${JSON.stringify(args)}: exit 2`)
    t.match(run.stderr, /^stallguard: .*\n\nusage: stallguard doctor \[--json\]/, `${JSON.stringify(args)}: says what is wrong, then the usage`)
    t.equal(run.stdout, '')
  }
  const help = doctor(['--help'])
  t.equal(help.status, 0)
  t.match(help.stdout, /^usage: stallguard doctor \[--json\]/)
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
