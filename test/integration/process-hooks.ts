// install()'s process-wide hooks against the real kernel, in a private
// namespace: clients the application built itself (a plain http.Agent, an
// https.Agent, undici Agent/Pool, a kept ProxyAgent, raw net/tls sockets
// under scope 'tcp') fail in the kernel's window on a dead path, a client's
// setKeepAlive(true, 60000) cannot stretch it, live quiet connections
// survive, and uninstall() leaves no subscriber behind. Each scenario is a
// child process (install() changes globals); see process-hooks-child.js.
import { once } from 'node:events'
import net from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import t, { type Test } from 'tap'
import { forkApp, relayPathRequests } from '../fixtures/fork-app'
import { startForwardProxy } from '../fixtures/forward-proxy'
import { IDLE_WINDOW, SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { cert, key } from '../fixtures/tls'
import { startTrickleServer } from '../fixtures/trickle'

interface Timed {
  outcome: 'ok' | 'error' | 'pending'
  elapsed: number
  error?: { name?: string; code?: string; message?: string; cause?: { name?: string; code?: string } }
}

/** undici's request() rejects with our error itself; nothing wraps it. */
const KERNEL = { name: 'KernelTimeoutError', code: 'ETIMEDOUT' }
const ENV = {
  STALLGUARD_TCP_USER_TIMEOUT: `${SHORT_TCP.userTimeout}ms`,
  STALLGUARD_TCP_KEEPALIVE_IDLE: `${SHORT_TCP.keepAliveIdle}ms`,
  STALLGUARD_TCP_KEEPALIVE_INTERVAL: `${SHORT_TCP.keepAliveInterval}ms`,
  STALLGUARD_TCP_KEEPALIVE_COUNT: `${SHORT_TCP.keepAliveCount}`,
}
const OURS = { keepAlive: true, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 1, userTimeout: 2000 }

/** Node >= 22.17 publishes net.client.socket for tls.connect and Socket#connect too. */
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
const earlyChannel = major > 22 || (major === 22 && minor >= 17)

async function echoServer(t: Test, secure: boolean): Promise<number> {
  const onSocket = (socket: net.Socket): void => {
    socket.on('error', () => {})
    socket.on('data', (chunk) => socket.write(chunk))
  }
  const server = secure ? tls.createServer({ key, cert }, onSocket) : net.createServer(onSocket)
  const sockets = new Set<net.Socket>()
  server.on(secure ? 'secureConnection' : 'connection', (s: net.Socket) => sockets.add(s))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return (server.address() as net.AddressInfo).port
}

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  async function run(t: Test, scenario: string, setup: Record<string, unknown>, options: {
    execArgv?: string[]
    env?: Record<string, string>
  } = {}): Promise<Record<string, any>> {
    const app = forkApp(t, join(__dirname, '..', 'fixtures', 'process-hooks-child.js'), {
      execArgv: options.execArgv,
      env: { STALLGUARD_TEST_SCENARIO: scenario, STALLGUARD_TEST_SETUP: JSON.stringify(setup), ...options.env },
    })
    const { result, code } = await relayPathRequests(app, filter)
    t.equal(code, 0, `the ${scenario} app exited cleanly ${app.stderr()}`)
    return result ?? {}
  }

  const inWindow = (t: Test, r: Timed | undefined, window: { min: number; max: number }, what: string): void => {
    t.equal(r?.outcome, 'error', `${what}: failed (${JSON.stringify(r)})`)
    t.match(r?.error, KERNEL, `${what}: KernelTimeoutError ETIMEDOUT`)
    t.ok(r !== undefined && r.elapsed >= window.min && r.elapsed <= window.max,
      `${what}: failed after ${r?.elapsed} ms (window ${window.min}–${window.max})`)
  }

  t.test('install(): a dead pooled connection of an app-built http.Agent, https.Agent, undici Agent and Pool fails in the user timeout', async (t) => {
    const httpServer = await startTrickleServer(t, 'http')
    const httpsServer = await startTrickleServer(t, 'https')
    const r = await run(t, 'pooled', { ports: { http: httpServer.port, https: httpsServer.port }, install: { tcp: SHORT_TCP, env: false } })
    for (const client of ['http.Agent', 'https.Agent', 'undici.Agent', 'undici.Pool']) inWindow(t, r[client], WRITE_WINDOW, client)
    t.same(r.subscribedAfter, [], 'uninstall() left no channel subscriber')
  })

  for (const [label, ours, execArgv, install] of [
    ['StallGuardHttpAgent', true, [], null],
    ['a plain http.Agent under the preload', false, ['--require', 'stallguard/register'], null],
  ] as const) {
    t.test(`setKeepAlive(true, 60000) on every request cannot stretch the keepalive bound: ${label}`, async (t) => {
      const server = await startTrickleServer(t, 'http')
      const r = await run(t, 'midBody', { ports: { http: server.port }, ours, tcp: SHORT_TCP, install }, { execArgv: [...execArgv], env: ENV })
      t.same(r.held, OURS, 'the kernel holds our values after the client\'s setKeepAlive(true, 60000)')
      inWindow(t, r.result, IDLE_WINDOW, 'the body whose path died')
    })
  }

  t.test('agent: false gets the installed configuration (preload)', async (t) => {
    const server = await startTrickleServer(t, 'http')
    const r = await run(t, 'agentFalse', { ports: { http: server.port }, install: null }, { execArgv: ['--require', 'stallguard/register'], env: ENV })
    t.equal(r.globalClass, 'StallGuardHttpAgent')
    t.same(r.timeouts, OURS, 'the socket of the agent node:http built for agent: false carries the configured values')
  })

  t.test('a new connection whose SYN is never answered: bounded by the user timeout', async (t) => {
    const httpServer = await startTrickleServer(t, 'http')
    const httpsServer = await startTrickleServer(t, 'https')
    const r = await run(t, 'syn', { ports: { http: httpServer.port, https: httpsServer.port }, install: { tcp: SHORT_TCP, env: false } })
    for (const client of ['http.Agent 127.0.0.1', 'http.Agent localhost', 'https.Agent 127.0.0.1', 'undici.Agent http']) {
      inWindow(t, r[client], WRITE_WINDOW, client)
    }
    if (earlyChannel) {
      inWindow(t, r['undici.Agent https'], WRITE_WINDOW, 'undici.Agent https (early net.client.socket)')
    } else {
      // Documented bound without the early channel: undici's connectTimeout (10 s).
      t.match(r['undici.Agent https'], { outcome: 'error', error: { code: 'UND_ERR_CONNECT_TIMEOUT' } },
        `undici.Agent https on Node ${process.version}: undici's connect timeout (${JSON.stringify(r['undici.Agent https'])})`)
    }
    t.same(r.subscribedAfter, [], 'uninstall() left no channel subscriber')
  })

  t.test('a kept ProxyAgent: a new connection to a proxy whose path is dead fails in the user timeout', async (t) => {
    const server = await startTrickleServer(t, 'http')
    const proxy = await startForwardProxy(t)
    const r = await run(t, 'proxyNewConnection', { ports: { http: server.port, proxy: proxy.port }, install: { tcp: SHORT_TCP, env: false } })
    t.ok(r.kept, 'install() kept the application\'s ProxyAgent')
    inWindow(t, r.result, WRITE_WINDOW, 'the request needing a new proxy connection')
  })

  t.test("scope 'tcp': raw net/tls clients get the kernel options and fail in the user timeout; scope 'http' leaves them alone", async (t) => {
    const echo = await echoServer(t, false)
    const tlsEcho = await echoServer(t, true)
    const ports = { echo, tlsEcho }
    const tcp = await run(t, 'rawTcp', { ports, cut: true, install: { tcp: SHORT_TCP, scope: 'tcp', env: false } })
    t.equal(tcp.capabilities?.mechanism, earlyChannel ? 'channels' : 'fallback', `mechanism on Node ${process.version}`)
    for (const client of ['net.connect', 'net.Socket#connect', 'tls.connect']) {
      t.same(tcp.held?.[client], OURS, `${client}: our values`)
      inWindow(t, tcp.results?.[client], WRITE_WINDOW, client)
    }
    t.same(tcp.subscribedAfter, [], 'uninstall() left no channel subscriber')
    const viaEnv = await run(t, 'rawTcp', { ports, cut: false, install: null }, { execArgv: ['--require', 'stallguard/register'], env: { ...ENV, STALLGUARD_SCOPE: 'tcp' } })
    t.same(viaEnv.held?.['net.Socket#connect'], OURS, 'STALLGUARD_SCOPE=tcp under the preload')
    const httpScope = await run(t, 'rawTcp', { ports, cut: false, install: { tcp: SHORT_TCP, env: false } })
    for (const client of ['net.connect', 'net.Socket#connect', 'tls.connect']) {
      t.equal(httpScope.held?.[client]?.userTimeout, 0, `scope http: ${client} keeps the system defaults`)
    }
  })

  for (const scope of ['http', 'tcp'] as const) {
    t.test(`scope '${scope}': a live peer quiet for 3x the keepalive window is never cut`, async (t) => {
      const server = await startTrickleServer(t, 'http')
      const echo = await echoServer(t, false)
      const window = SHORT_TCP.keepAliveIdle + SHORT_TCP.keepAliveInterval * SHORT_TCP.keepAliveCount
      const r = await run(t, 'quiet', { ports: { http: server.port, echo }, quietMs: 3 * Math.max(window, SHORT_TCP.userTimeout), install: { tcp: SHORT_TCP, scope, env: false } })
      t.same(r.raw, { outcome: 'ok', echoed: 'still there\n' }, 'the raw connection still echoes')
      t.same(r.sse, { outcome: 'ok' }, 'the quiet event stream ended normally')
    })
  }

  t.test('the process-wide deadline reaches a request of an app-built http.Agent', async (t) => {
    const server = await startTrickleServer(t, 'http')
    const r = await run(t, 'deadline', { ports: { http: server.port }, install: { tcp: SHORT_TCP, deadline: 1000, env: false } })
    t.equal(r.outcome, 'error')
    t.match(r.error, { name: 'DeadlineExceededError', code: 'SG_ERR_DEADLINE_EXCEEDED' })
    // The port comes from the request's Host header, read only when the request is printed.
    t.match(r.error.message, `GET http://127.0.0.1:${server.port}/think exceeded its deadline`, 'the error names the origin with its port')
    t.ok(r.elapsed >= 900 && r.elapsed <= 2500, `the deadline fired after ${r.elapsed} ms (1000 ms deadline)`)
  })

  t.test('the process-wide throughput floor reaches a body an app-built http.Agent reads', async (t) => {
    const server = await startTrickleServer(t, 'http')
    const r = await run(t, 'floor', { ports: { http: server.port }, install: { tcp: SHORT_TCP, minThroughput: { bytesPerSecond: 100, grace: 1000 }, env: false } })
    t.equal(r.outcome, 'error', JSON.stringify(r))
    t.match(r.error, { name: 'StalledStreamError', code: 'SG_ERR_STALLED_STREAM' })
    t.ok(r.elapsed >= 900 && r.elapsed <= 3500, `the floor fired after ${r.elapsed} ms (100 B/s over 1 s, 2 B/s arriving)`)
  })
}
