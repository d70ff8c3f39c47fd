// The doctor computes today's worst case from the sysctls it reads, not from
// remembered defaults: inside a private network namespace (where these
// sysctls are per namespace) they are changed, and the figures follow.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { DoctorReport } from '../../lib/diagnostics/doctor'
import { enterNetns } from '../fixtures/netns'

if (enterNetns(t, __filename)) {
  t.test('worst case without stallguard follows tcp_retries2, tcp_syn_retries and keepalive', async (t) => {
    const set = { tcp_retries2: 8, tcp_syn_retries: 3, tcp_keepalive_time: 60, tcp_keepalive_intvl: 10, tcp_keepalive_probes: 3 }
    for (const [name, value] of Object.entries(set)) writeFileSync(`/proc/sys/net/ipv4/${name}`, String(value))
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STALLGUARD_')))
    const run = spawnSync(process.execPath, [join(__dirname, '..', '..', 'dist', 'bin.js'), 'doctor', '--json'], {
      env: { ...env, STALLGUARD_TCP_USER_TIMEOUT: '0', STALLGUARD_TCP_KEEPALIVE_IDLE: 'off', STALLGUARD_TCP_KEEPALIVE_INTERVAL: '20s' },
      encoding: 'utf8',
    })
    t.equal(run.status, 0, run.stderr)
    const r = JSON.parse(run.stdout) as DoctorReport
    for (const [name, value] of Object.entries(set)) t.equal(r.sysctl[`net.ipv4.${name}`], value, `${name} = ${value}`)
    // RTO 200 ms doubling: 0.2 × (2^9 − 1) = 102.2 s; SYN RTO 1 s: 1 × (2^4 − 1) = 15 s.
    t.same(r.worstCaseSeconds.without, { synUnanswered: 15, deadPath: 102.2, silentPeer: 90, zeroWindow: null },
      'tcp_retries2 = 8 → 102.2 s, tcp_syn_retries = 3 → 15 s, keepalive 60 s + 3 × 10 s = 90 s')
    // No user timeout; keepalive idle from the sysctl (60 s), our interval 20 s, our default count 5.
    t.same(r.worstCaseSeconds.with, { synUnanswered: 15, deadPath: 102.2, silentPeer: 160, zeroWindow: null },
      'with stallguard: system default user timeout, keepalive 60 s (sysctl) + 5 × 20 s (ours)')
  })
}
