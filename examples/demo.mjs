#!/usr/bin/env node
// stallguard demo: the same dead connection, seen through plain undici and
// through StallGuardAgent.
//
// In a private network namespace (so nothing on this machine is touched) it
// starts an HTTP server, makes a first request through each agent so both
// hold a pooled keep-alive connection, then cuts the path with nftables and
// sends the next request on each. StallGuardAgent fails after about its
// TCP_USER_TIMEOUT (3 s here) with a typed error; plain undici is still
// waiting when the demo stops looking (its headers timeout is 300 s; Node's
// http module would wait ~940 s for the kernel's tcp_retries2).
//
// Run: npm run demo   (Linux, util-linux `unshare`, iproute2 `ip`, nftables `nft`)
import { execFileSync, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import { KernelTimeoutError, StallGuardAgent } from 'stallguard'

const MARKER = 'SG_DEMO_NETNS'
const USER_TIMEOUT_MS = 3000
const GIVE_UP_MS = 20_000
const TABLE = 'stallguard_demo'

const hasCommand = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0

const TOOLS = [['unshare', 'util-linux'], ['ip', 'iproute2'], ['nft', 'nftables']]

/**
 * `npm ci && npm run demo` is the one command a fresh clone needs: as root on
 * a Debian-like system, install the missing tools (said out loud); anyone
 * else is told the command to run.
 */
function installMissingTools() {
  const packages = TOOLS.filter(([cmd]) => !hasCommand(cmd)).map(([, pkg]) => pkg)
  if (packages.length === 0 || process.getuid?.() !== 0 || !hasCommand('apt-get')) return
  console.error(`stallguard demo: installing ${packages.join(', ')} with apt-get (the demo cuts a path with them)`)
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', ...packages],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0
  if (install()) return
  // A fresh image has no package lists yet: update once, then try again.
  spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'] })
  install()
}

/** Why the demo cannot run here, or undefined. */
function unavailable() {
  if (process.platform !== 'linux') return 'it needs Linux network namespaces'
  installMissingTools()
  for (const [cmd, pkg] of TOOLS) {
    if (!hasCommand(cmd)) return `\`${cmd}\` is not installed (Debian/Ubuntu: sudo apt-get install ${pkg})`
  }
  const probe = spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up && nft add table inet probe'], { encoding: 'utf8' })
  if (probe.status !== 0) {
    return 'cannot create a private network namespace with nftables ' +
      `(${probe.stderr.trim() || `exit ${probe.status}`}); unprivileged user namespaces may be disabled ` +
      '(sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)'
  }
  return undefined
}

if (process.env[MARKER] !== '1') {
  const reason = unavailable()
  if (reason !== undefined) {
    console.error(`stallguard demo: cannot run: ${reason}.`)
    process.exit(2)
  }
  // Re-run this file inside its own network namespace (root inside it, nobody outside).
  const child = spawnSync('unshare', ['-rn', process.execPath, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, [MARKER]: '1' },
  })
  process.exit(child.status ?? 1)
}

// ---- inside the namespace ------------------------------------------------

const nft = (script) => execFileSync('nft', ['-f', '-'], { input: script })
execFileSync('ip', ['link', 'set', 'lo', 'up'])
// The input hook: packets leave the sender and vanish on arrival, in both
// directions, as on a path that went dead (the sender retransmits for real).
nft(`add table inet ${TABLE}\nadd chain inet ${TABLE} in { type filter hook input priority 0 ; policy accept ; }\n`)

const server = http.createServer((req, res) => {
  req.resume()
  res.end('hello\n')
})
server.keepAliveTimeout = 600_000
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const { port } = server.address()
const url = `http://127.0.0.1:${port}/`

// One connection per origin each, so "the next request" is certainly sent on
// the pooled connection. retry: false shows the kernel's verdict itself (with
// retry on, a GET would be re-sent once on a fresh connection, which here
// would fail too: the whole path is down).
const plain = new Agent({ connections: 1 })
const guarded = new StallGuardAgent({
  connections: 1,
  retry: false,
  tcp: { userTimeout: USER_TIMEOUT_MS, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 2 },
})
const lanes = [
  { name: 'undici.Agent (defaults)', agent: plain },
  { name: `StallGuardAgent (userTimeout ${USER_TIMEOUT_MS / 1000} s)`, agent: guarded },
]

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`
const width = Math.max(...lanes.map((l) => l.name.length))

console.log(`stallguard demo: local server on 127.0.0.1:${port}, private network namespace\n`)
for (const lane of lanes) {
  const res = await request(url, { dispatcher: lane.agent })
  console.log(`  ${lane.name.padEnd(width)}  first request: ${res.statusCode} ${(await res.body.text()).trim()}  (connection pooled)`)
}

nft(`add rule inet ${TABLE} in tcp dport ${port} drop\nadd rule inet ${TABLE} in tcp sport ${port} drop\n`)
console.log(`\n  path cut (nftables drops every packet to and from port ${port}); sending the next request on each agent\n`)

const start = performance.now()
for (const lane of lanes) {
  lane.result = undefined
  lane.done = request(url, { dispatcher: lane.agent })
    .then(async (res) => ({ ok: true, text: `${res.statusCode} ${(await res.body.text()).trim()}` }))
    .catch((error) => ({ ok: false, error }))
    .then((result) => { lane.result = { ...result, at: performance.now() - start } })
}

const tty = process.stdout.isTTY
const status = () => lanes.map((l) => {
  if (l.result === undefined) return `${l.name}: waiting…`
  return `${l.name}: ${l.result.ok ? 'answered' : `failed (${l.result.error.name})`} at ${seconds(l.result.at)}`
}).join('  |  ')
let lastPrinted = -Infinity
const ticker = setInterval(() => {
  const elapsed = performance.now() - start
  const line = `  ${seconds(elapsed).padStart(6)}  ${status()}`
  if (tty) {
    process.stdout.write(`\r\x1b[2K${line}`)
  } else if (elapsed - lastPrinted >= 2000) {
    lastPrinted = elapsed
    console.log(line)
  }
}, 100)

await Promise.race([
  Promise.all(lanes.map((l) => l.done)),
  new Promise((resolve) => setTimeout(resolve, GIVE_UP_MS)),
])
clearInterval(ticker)
const stoppedAt = performance.now() - start
if (tty) process.stdout.write('\n')

console.log('\nresult')
for (const lane of lanes) {
  const r = lane.result
  if (r === undefined) {
    console.log(`  ${lane.name.padEnd(width)}  still waiting when the demo stopped at ${seconds(stoppedAt)}`)
  } else if (r.ok) {
    console.log(`  ${lane.name.padEnd(width)}  answered ${r.text} at ${seconds(r.at)}`)
  } else {
    console.log(`  ${lane.name.padEnd(width)}  ${r.error.name} (${r.error.code}) at ${seconds(r.at)}`)
    console.log(`  ${''.padEnd(width)}  ${r.error.message}`)
  }
}
console.log('\n  Left alone, undici would give up at its headers timeout (300 s); node:http waits for the')
console.log('  kernel (tcp_retries2: ~940 s); Node\'s built-in fetch is undici too, with the same 300 s.')

const [plainLane, guardedLane] = lanes
const guardedOk = guardedLane.result?.ok === false && guardedLane.result.error instanceof KernelTimeoutError &&
  guardedLane.result.error.code === 'ETIMEDOUT'
const plainHung = plainLane.result === undefined

await Promise.all([plain.destroy(), guarded.destroy()])
server.closeAllConnections()
server.close()
if (!guardedOk || !plainHung) {
  console.error('\nstallguard demo: unexpected outcome (see above).')
  process.exit(1)
}
process.exit(0)
