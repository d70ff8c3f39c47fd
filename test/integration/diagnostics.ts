// Diagnostics end to end, real kernel: both front doors send a request whose
// URL carries an S3 presigned query and userinfo into a dead pooled
// connection. The kernel gives up; subscribers see stallguard:socket:protected
// and stallguard:kernel-timeout fire, NODE_DEBUG=stallguard prints a line for
// each, and no error, debug line or channel message contains the secrets.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import type { ChildReport } from '../fixtures/diagnostics-child'
import { SECRETS } from '../fixtures/diagnostics-child'
import { enterNetns } from '../fixtures/netns'

const CHILD = join(__dirname, '..', 'fixtures', 'diagnostics-child.ts')
const FORBIDDEN = [...Object.values(SECRETS), 'X-Amz-', 'Signature', 'Credential', '@127.0.0.1']

function runChild(debug: boolean): { report: ChildReport; stderr: string; status: number | null } {
  const env = { ...process.env }
  if (debug) env.NODE_DEBUG = 'stallguard'
  else delete env.NODE_DEBUG
  const run = spawnSync(process.execPath, [...process.execArgv, CHILD], { env, encoding: 'utf8', timeout: 60_000 })
  let report = { doors: [], protectedMessages: [], kernelTimeoutMessages: [], socketsHanded: false, protectedFields: [], kernelTimeoutInfo: [] } as ChildReport
  try {
    report = JSON.parse(run.stdout) as ChildReport
  } catch {
    // The status assertion below reports it, with stderr.
  }
  return { report, stderr: run.stderr, status: run.status }
}

if (enterNetns(t, __filename)) {
  t.test('with NODE_DEBUG=stallguard and subscribers', async (t) => {
    const { report, stderr, status } = runChild(true)
    t.equal(status, 0, `the child ran both front doors ${stderr.slice(-2000)}`)
    t.equal(report.doors.length, 4, 'undici and node:http, over http and https')

    for (const door of report.doors) {
      const what = `${door.door} over ${door.protocol}`
      t.equal(door.name, 'KernelTimeoutError', `${what}: KernelTimeoutError`)
      t.equal(door.code, 'ETIMEDOUT', `${what}: code ETIMEDOUT`)
      t.ok(door.published, `${what}: stallguard:kernel-timeout carried this very error`)
      t.match(door.shown, new RegExp(`to 127\\.0\\.0\\.1:${door.port}: the peer stopped acknowledging data: no acknowledgement for`),
        `${what}: the error names the peer and what the kernel saw`)
      t.match(door.shown, /tcpInfo: \{/, `${what}: the error carries tcpInfo`)
    }

    t.ok(report.socketsHanded, 'every message hands subscribers the live socket')
    t.ok(report.protectedFields.length >= 4, `stallguard:socket:protected fired for every connection (${report.protectedFields.length})`)
    for (const fields of report.protectedFields) {
      t.match(fields, {
        remote: /^127\.0\.0\.1:\d+$/,
        timeouts: { userTimeout: 2000, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 1 },
        via: 'native',
      }, 'protected: the peer, the timeouts applied (ms), via native')
    }
    t.equal(report.kernelTimeoutInfo.length, 4, 'stallguard:kernel-timeout fired once per kernel abort')
    for (const info of report.kernelTimeoutInfo) {
      t.ok(info.totalRetrans > 0, `kernel-timeout: the tcpInfo snapshot (${info.totalRetrans} retransmissions)`)
      t.ok(info.sameAsError, 'kernel-timeout: the same snapshot as error.tcpInfo')
    }
    for (const printed of report.kernelTimeoutMessages) {
      t.match(printed, /error: KernelTimeoutError: read ETIMEDOUT: the kernel aborted the connection to 127\.0\.0\.1:\d+/,
        'kernel-timeout, printed by a logger: the error')
    }

    const lines = stderr.split('\n').filter((l) => /^STALLGUARD \d+:/.test(l))
    const protectedLines = lines.filter((l) => / protected 127\.0\.0\.1:\d+ \(native\): TCP_USER_TIMEOUT 2000 ms; keepalive idle 1 s, interval 1 s, count 1$/.test(l))
    const kernelLines = lines.filter((l) => / kernel-timeout read ETIMEDOUT: the kernel aborted the connection to 127\.0\.0\.1:\d+: .*retransmission/.test(l))
    t.ok(protectedLines.length >= 4, `NODE_DEBUG: one line per protected socket (${protectedLines.length})`)
    t.equal(kernelLines.length, 4, 'NODE_DEBUG: one line per kernel timeout')

    const everything = JSON.stringify(report) + stderr
    for (const secret of FORBIDDEN) {
      t.notOk(everything.includes(secret), `no ${secret} in any error, channel message or debug line`)
    }
  })

  t.test('without NODE_DEBUG: not a line on stderr', async (t) => {
    const { report, stderr, status } = runChild(false)
    t.equal(status, 0, stderr.slice(-2000))
    t.equal(report.doors.length, 4)
    t.notMatch(stderr, /STALLGUARD \d+:/, 'debug lines only when NODE_DEBUG names stallguard')
  })
}
