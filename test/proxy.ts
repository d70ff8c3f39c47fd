// install() and the stallguard/register preload keep requests on the proxy
// the application (or Node) chose, and put the kernel timeouts on the
// sockets to the proxy. Real forward proxy (CONNECT and absolute-form), real
// servers, child processes (globals change).
import t, { type Test } from 'tap'
import { node24, runProxyApp, type AppReport, type KernelReading, type ProxyClient } from './fixtures/proxy-run'

const TCP = { userTimeout: 4000, keepAliveIdle: 3000, keepAliveInterval: 2000, keepAliveCount: 3 }
const EXPECTED: KernelReading = { keepAlive: true, keepAliveIdle: 3000, keepAliveInterval: 2000, keepAliveCount: 3, userTimeout: 4000 }
const ENV = {
  STALLGUARD_TCP_USER_TIMEOUT: '4s',
  STALLGUARD_TCP_KEEPALIVE_IDLE: '3s',
  STALLGUARD_TCP_KEEPALIVE_INTERVAL: '2s',
  STALLGUARD_TCP_KEEPALIVE_COUNT: '3',
}

function assertAllOk(t: Test, report: AppReport | undefined, clients: readonly ProxyClient[]): void {
  for (const client of clients) {
    const r = report?.warm.find((x) => x.client === client)
    t.equal(r?.outcome, 'ok', `${client}: answered ${JSON.stringify(r)}`)
  }
}

function assertKernel(t: Test, readings: KernelReading[] | undefined, what: string): void {
  t.ok(readings && readings.length > 0, `${what}: sockets to read`)
  for (const reading of readings ?? []) t.same(reading, EXPECTED, `${what}: the kernel holds our timeouts`)
}

const UNDICI_CLIENTS = ['fetch http', 'fetch https'] as const

t.test('an EnvHttpProxyAgent global dispatcher, then install(): requests stay on the proxy', async (t) => {
  const { report, proxy, ports, code, stderr } = await runProxyApp(t, {
    mode: 'env-proxy-agent', clients: [...UNDICI_CLIENTS], install: { tcp: TCP },
  })
  t.equal(code, 0, `the app exited cleanly ${stderr}`)
  t.equal(report?.globals.dispatcher, 'EnvHttpProxyAgent', 'install() kept the application\'s dispatcher')
  assertAllOk(t, report, UNDICI_CLIENTS)
  t.equal(proxy.relayed(), 2, 'the proxy relayed both requests')
  t.same(proxy.tunnels.filter((x) => x === `127.0.0.1:${ports.https}`).length, 1, 'https: a CONNECT tunnel')
  // undici 7 tunnels plain http too; undici 8 sends it in absolute form.
  t.ok(proxy.tunnels.includes(`127.0.0.1:${ports.http}`) || proxy.forwarded.includes(`GET http://127.0.0.1:${ports.http}/`),
    `http: through the proxy (${JSON.stringify([proxy.tunnels, proxy.forwarded])})`)
  assertKernel(t, report?.kernel.undici, 'sockets undici connected (proxy connections and tunnels)')
})

t.test('--import stallguard/register, then the application sets an EnvHttpProxyAgent: its proxy sockets are protected', async (t) => {
  const { report, proxy, code, stderr } = await runProxyApp(t, {
    mode: 'env-proxy-agent', clients: [...UNDICI_CLIENTS], execArgv: ['--import', 'stallguard/register'], env: ENV,
  })
  t.equal(code, 0, `the app exited cleanly ${stderr}`)
  t.equal(report?.globals.dispatcher, 'EnvHttpProxyAgent', 'the application\'s dispatcher is the global one')
  assertAllOk(t, report, UNDICI_CLIENTS)
  t.equal(proxy.relayed(), 2, 'the proxy relayed both requests')
  assertKernel(t, report?.kernel.undici, 'sockets undici connected (proxy connections and tunnels)')
})

t.test('a kept proxy dispatcher gets install()\'s deadline, and stays on the proxy', async (t) => {
  const { report, proxy, code, stderr } = await runProxyApp(t, {
    mode: 'env-proxy-agent', clients: ['fetch trickle'], install: { tcp: TCP, deadline: 600 },
  })
  t.equal(code, 0, `the app exited cleanly ${stderr}`)
  t.equal(report?.globals.dispatcher, 'EnvHttpProxyAgent', 'the application\'s dispatcher, composed')
  const r = report?.warm[0]
  t.match(r?.cause, { name: 'DeadlineExceededError', code: 'SG_ERR_DEADLINE_EXCEEDED' }, `fetch failed with the deadline (${JSON.stringify(r)})`)
  t.ok(r && r.elapsed >= 570 && r.elapsed <= 1100, `after ${r?.elapsed} ms (window 570–1100)`)
  t.equal(proxy.tunnels.length, 1, 'through the proxy')
  t.same(report?.warnings, [], 'no warning: everything asked for applies')
})

t.test('install() says what it cannot apply to a kept dispatcher: the stale-connection retry', async (t) => {
  const { report, proxy, code, stderr } = await runProxyApp(t, {
    mode: 'proxy-agent', clients: ['fetch https'], install: { tcp: TCP, retry: true },
  })
  t.equal(code, 0, `the app exited cleanly ${stderr}`)
  assertAllOk(t, report, ['fetch https'])
  t.equal(proxy.tunnels.length, 1)
  t.match(report?.warnings, [{
    name: 'StallGuardWarning',
    code: 'SG_WARN_KEPT_CLIENT',
    message: /the global dispatcher \(ProxyAgent\) \(kept: kernel timeouts on its connections; retry not applied to it\)/,
  }])
})

t.test('a ProxyAgent global dispatcher, then install(): CONNECT for https, kernel timeouts on the tunnel', async (t) => {
  const { report, proxy, code, stderr } = await runProxyApp(t, {
    mode: 'proxy-agent', clients: ['fetch https'], install: { tcp: TCP },
  })
  t.equal(code, 0, `the app exited cleanly ${stderr}`)
  t.equal(report?.globals.dispatcher, 'ProxyAgent')
  assertAllOk(t, report, ['fetch https'])
  t.equal(proxy.tunnels.length, 1, 'https went through a CONNECT tunnel')
  t.equal(proxy.forwarded.length, 0)
  assertKernel(t, report?.kernel.undici, 'proxy connection and the TLS socket inside the tunnel')
})

t.test('a ProxyAgent with proxyTunnel: false, then install(): absolute-form for http', async (t) => {
  const { report, proxy, code, stderr } = await runProxyApp(t, {
    mode: 'proxy-agent-absolute', clients: ['fetch http'], install: { tcp: TCP },
  })
  t.equal(code, 0, `the app exited cleanly ${stderr}`)
  assertAllOk(t, report, ['fetch http'])
  t.equal(proxy.tunnels.length, 0)
  t.match(proxy.forwarded, [/^GET http:\/\/127\.0\.0\.1:\d+\/$/], 'the proxy forwarded the absolute-form request')
  assertKernel(t, report?.kernel.undici, 'the connection to the proxy')
})

const ALL = ['fetch http', 'fetch https', 'http.get', 'https.get'] as const

const node = node24()
t.test('Node 24, NODE_USE_ENV_PROXY=1', { skip: 'skip' in node ? node.skip : false }, async (t) => {
  if ('skip' in node) return
  const env = { NODE_USE_ENV_PROXY: '1', ...ENV }

  t.test('without stallguard: every client goes through the proxy', async (t) => {
    const { report, proxy, code, stderr } = await runProxyApp(t, { mode: 'node-env', clients: [...ALL], node: node.path, env })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    assertAllOk(t, report, ALL)
    t.equal(proxy.relayed(), 4, 'the proxy relayed all four requests')
  })

  t.test('--import stallguard/register: every client still goes through the proxy, on protected sockets', async (t) => {
    const { report, proxy, code, stderr } = await runProxyApp(t, {
      mode: 'node-env', clients: [...ALL], node: node.path, env, execArgv: ['--import', 'stallguard/register'],
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    t.same(report?.globals, { dispatcher: 'EnvHttpProxyAgent', http: 'StallGuardHttpAgent', https: 'StallGuardHttpsAgent' },
      'Node\'s proxy dispatcher kept; the global agents replaced by ours with Node\'s proxyEnv')
    assertAllOk(t, report, ALL)
    t.equal(proxy.relayed(), 4, 'the proxy relayed all four requests')
    // https always tunnels (CONNECT). Plain http: node:http sends absolute-form; Node's fetch tunnels on
    // Node 24 (bundled undici 7) and sends absolute-form on Node 26 (bundled undici 8).
    t.ok(proxy.forwarded.length >= 1, `http.get (and fetch http on newer Node): absolute-form through the proxy (${proxy.forwarded.length})`)
    t.ok(proxy.tunnels.length >= 2, `fetch https and https.get: CONNECT tunnels (${proxy.tunnels.length})`)
    t.equal(proxy.forwarded.length + proxy.tunnels.length, 4, 'each of the four requests took the proxy exactly once')
    assertKernel(t, report?.kernel.undici, 'fetch: proxy connections')
    assertKernel(t, report?.kernel.node, 'http.get/https.get: proxy connections')
  })

  t.test('http.setGlobalProxyFromEnv(), then install(): every client still goes through the proxy', async (t) => {
    const { report, proxy, code, stderr } = await runProxyApp(t, {
      mode: 'set-global-proxy', clients: [...ALL], node: node.path, install: { tcp: TCP },
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    t.same(report?.globals, { dispatcher: 'EnvHttpProxyAgent', http: 'StallGuardHttpAgent', https: 'StallGuardHttpsAgent' })
    assertAllOk(t, report, ALL)
    t.equal(proxy.relayed(), 4, 'the proxy relayed all four requests')
    assertKernel(t, report?.kernel.undici, 'fetch: proxy connections')
    assertKernel(t, report?.kernel.node, 'http.get/https.get: proxy connections')
  })

  t.test('StallGuardHttpAgent/StallGuardHttpsAgent keep Node\'s proxyEnv option', async (t) => {
    const clients = ['http.get', 'https.get'] as const
    const { report, proxy, code, stderr } = await runProxyApp(t, {
      mode: 'stallguard-agents', clients: [...clients], node: node.path, install: { tcp: TCP },
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    assertAllOk(t, report, clients)
    t.equal(proxy.forwarded.length, 1, 'http: absolute-form through the proxy')
    t.equal(proxy.tunnels.length, 1, 'https: a CONNECT tunnel')
    assertKernel(t, report?.kernel.node, 'the sockets to the proxy')
  })

  t.test('--import stallguard/register with STALLGUARD_DEADLINE: the deadline applies to fetch on the proxy', async (t) => {
    const { report, proxy, code, stderr } = await runProxyApp(t, {
      mode: 'node-env', clients: ['fetch trickle'], node: node.path,
      env: { ...env, STALLGUARD_DEADLINE: '600ms' }, execArgv: ['--import', 'stallguard/register'],
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    const r = report?.warm[0]
    t.match(r?.cause, { name: 'DeadlineExceededError', code: 'SG_ERR_DEADLINE_EXCEEDED' }, `fetch failed with the deadline (${JSON.stringify(r)})`)
    t.ok(r && r.elapsed >= 570 && r.elapsed <= 1100, `after ${r?.elapsed} ms (window 570–1100)`)
    t.equal(proxy.tunnels.length, 1, 'through the proxy')
    t.same(report?.warnings, [])
  })

  t.test('NODE_OPTIONS=--require=stallguard/register: the same', async (t) => {
    const { report, proxy, code, stderr } = await runProxyApp(t, {
      mode: 'node-env', clients: [...ALL], node: node.path, env: { ...env, NODE_OPTIONS: '--require=stallguard/register' },
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    assertAllOk(t, report, ALL)
    t.equal(proxy.relayed(), 4, 'the proxy relayed all four requests')
    assertKernel(t, report?.kernel.node, 'http.get/https.get: proxy connections')
  })
})
