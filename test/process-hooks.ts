// The process-wide hooks without fault injection: what capabilities() and
// doctor report, STALLGUARD_SCOPE, uninstall() leaving nothing behind, and no
// listener growth on sockets or requests over many pooled requests.
// install() changes globals: every case runs in a child process.
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { optionsFromEnv } from '../lib/global/env'
import { doctorReport } from '../lib/diagnostics/doctor'
import { applyResolvedTimeouts, readSocketTimeouts } from '../lib/kernel/socket-timeouts'
import { resolveTcpTimeouts } from '../lib/kernel/tcp-options'
import { install } from '../lib/index'

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
const earlyChannel = major > 22 || (major === 22 && minor >= 17)
const requestCreated = major > 23 || (major === 23 && minor >= 2) || (major === 22 && minor >= 14)

function child(scenario: string, env: Record<string, string> = {}): { json: any; stderr: string } {
  const r = spawnSync(process.execPath, [join(__dirname, 'fixtures', 'process-hooks-unit-child.js'), scenario], {
    cwd: join(__dirname, '..'),
    env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.status !== 0) throw new Error(`child ${scenario} failed: ${r.stderr}`)
  return { json: JSON.parse(r.stdout.trim().split('\n').pop()!), stderr: r.stderr }
}

t.test('STALLGUARD_SCOPE and install({ scope }): http or tcp, anything else named and refused', async (t) => {
  t.same(optionsFromEnv({ STALLGUARD_SCOPE: 'tcp' }), { scope: 'tcp' })
  t.same(optionsFromEnv({ STALLGUARD_SCOPE: ' HTTP ' }), { scope: 'http' })
  t.same(optionsFromEnv({ STALLGUARD_SCOPE: '' }), {})
  t.throws(() => optionsFromEnv({ STALLGUARD_SCOPE: 'udp' }), { code: 'ERR_INVALID_ARG_TYPE', message: /STALLGUARD_SCOPE must be http .* or tcp .*udp/ })
  t.throws(() => install({ scope: 'all' as 'tcp', env: false }), { code: 'ERR_INVALID_ARG_TYPE', message: /scope must be 'http' .* or 'tcp' .*received 'all'/ })
})

t.test('capabilities().processHooks says which mechanism reaches sockets on this Node', async (t) => {
  const { json } = child('env', { STALLGUARD_SCOPE: 'tcp' })
  t.equal(json.hooks.earlyChannel, earlyChannel, `net.client.socket for tls.connect/Socket#connect on Node ${process.version}`)
  t.equal(json.hooks.requestCreated, requestCreated)
  t.equal(json.hooks.mechanism, earlyChannel ? 'channels' : 'fallback', 'scope tcp: a patch only where Node has no early channel')
  t.equal(json.hooks.reaches.length, 3)
  t.match(json.hooks.reaches[2], /every outgoing TCP socket/)
})

t.test('NODE_DEBUG=stallguard says once at install what reaches sockets', async (t) => {
  const { stderr } = child('env', { NODE_DEBUG: 'stallguard' })
  const lines = stderr.split('\n').filter((l) => / install scope /.test(l))
  t.equal(lines.length, 1, stderr)
  t.match(lines[0], new RegExp(`scope http via channels \\(early net.client.socket: ${earlyChannel ? 'yes' : 'no'}\\)`))
})

t.test("doctor reports the process-wide hooks for the configured scope", async (t) => {
  const report = doctorReport({ STALLGUARD_SCOPE: 'tcp' })
  t.equal(report.processHooks.scope, 'tcp')
  t.match(report.processHooks.lines[0], earlyChannel ? /scope tcp, via diagnostics channels$/ : /net\.Socket\.prototype\.connect wrapped/)
  t.ok(report.notes.some((n) => /do not reach undici dispatchers the application built/.test(n)))
  t.equal(report.notes.some((n) => /connectTimeout/.test(n)), !earlyChannel, 'the connect-timeout bound is named where it applies')
})

t.test('uninstall() unsubscribes every channel and puts net.Socket.prototype.connect back', async (t) => {
  const { json } = child('uninstall')
  t.same(json.before, [])
  t.ok(json.during.subscribed.includes('net.client.socket'))
  t.ok(json.during.subscribed.includes(requestCreated ? 'http.client.request.created' : 'http.client.request.start'))
  t.equal(json.during.patched, !earlyChannel, 'patched only without the early channel')
  t.same(json.after.subscribed, [], 'no subscriber left')
  t.equal(json.after.restored, true, "Node's connect is back")
})

t.test('a process-wide deadline cannot reach an undici dispatcher the application built: said once', async (t) => {
  const { json } = child('unreached', { NODE_NO_WARNINGS: '' })
  t.same(json.warnings, ['SG_WARN_UNREACHED_DISPATCHER'], 'one warning for two dispatchers and six connections')
})

t.test('no listener growth: 300 pooled requests of a plain http.Agent under install()', async (t) => {
  const { json } = child('leak')
  t.ok(json.sameSocket, 'one pooled socket served them all')
  t.same(json.late, json.early, 'listeners on the socket after 310 requests = after 11')
  t.ok(json.socketListenersPerRequest <= 1, `at most one 'socket' listener per request (${json.socketListenersPerRequest})`)
  t.equal(json.inflight, 0, 'every watched request closed')
})

t.test("an owned socket (our agents') holds our keepalive against a client's setKeepAlive too", async (t) => {
  const server = net.createServer((s) => s.on('error', () => {}))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const port = (server.address() as net.AddressInfo).port
  const ours = { keepAlive: true, keepAliveIdle: 2000, keepAliveInterval: 2000, keepAliveCount: 3, userTimeout: 2500 }
  const socket = net.connect({ port, host: '127.0.0.1', keepAlive: false })
  t.teardown(() => socket.destroy())
  applyResolvedTimeouts(socket, resolveTcpTimeouts({ userTimeout: 2500, keepAliveIdle: 2000, keepAliveInterval: 2000, keepAliveCount: 3 }), { owned: true })
  // axios does this in the request's 'socket' handler, i.e. often while connecting.
  socket.setKeepAlive(true, 60_000)
  await once(socket, 'connect')
  t.same(readSocketTimeouts(socket), ours, "at 'connect', after Node re-applied the caller's keepalive")
  socket.setKeepAlive(true, 60_000)
  t.same(readSocketTimeouts(socket), ours, 'a longer idle asked for later changes nothing')
  socket.setKeepAlive(true, 1000)
  t.same(readSocketTimeouts(socket), { ...ours, keepAliveIdle: 1000 }, 'a shorter one is taken; interval and count stay ours')
  socket.setKeepAlive(false)
  t.equal(readSocketTimeouts(socket).keepAlive, false, 'setKeepAlive(false) is respected')
  t.equal(readSocketTimeouts(socket).userTimeout, 2500, 'the user timeout stays')
  socket.setKeepAlive(true, 60_000)
  t.same(readSocketTimeouts(socket), { ...ours, keepAliveIdle: 1000 }, 'turned back on: ours, at the shortest idle asked for')
})
