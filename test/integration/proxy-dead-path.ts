// Behind a proxy the path that can die is the path to the proxy. Real
// kernel, private namespace: requests warm pooled connections through a real
// forward proxy, nftables then drops everything the proxy sends back, and the
// next request on each pooled connection has to fail within the user timeout
// (+1 s) with KernelTimeoutError — on the proxy dispatcher install() kept,
// and on Node 24's NODE_USE_ENV_PROXY clients under the preload.
import t, { type Test } from 'tap'
import { SHORT_TCP } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { node24, runProxyApp, type AppReport, type ClientResult, type ProxyClient } from '../fixtures/proxy-run'

/** From the cut to the error: the user timeout, plus at most a second. */
const WINDOW = { min: SHORT_TCP.userTimeout - 200, max: SHORT_TCP.userTimeout + 1000 }

/** fetch wraps the error in TypeError('fetch failed', { cause }). */
const errorOf = (r: ClientResult) => (r.client.startsWith('fetch') ? r.cause : r) ?? {}

function assertDeadPath(t: Test, report: AppReport | undefined, clients: readonly ProxyClient[]): void {
  for (const client of clients) {
    t.equal(report?.warm.find((x) => x.client === client)?.outcome, 'ok', `${client}: warmed through the proxy`)
    const r = report?.results?.find((x) => x.client === client)
    t.match(errorOf(r!), { name: 'KernelTimeoutError', code: 'ETIMEDOUT' }, `${client}: KernelTimeoutError ETIMEDOUT (${JSON.stringify(r)})`)
    t.ok(r!.elapsed >= WINDOW.min && r!.elapsed <= WINDOW.max,
      `${client}: failed after ${r!.elapsed} ms (window ${WINDOW.min}–${WINDOW.max})`)
  }
}

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  t.test('install() over an EnvHttpProxyAgent: a dead path to the proxy fails in seconds', async (t) => {
    const clients = ['fetch http', 'fetch https'] as const
    const { report, relayedBeforeCut, code, stderr } = await runProxyApp(t, {
      mode: 'env-proxy-agent', clients: [...clients], install: { tcp: SHORT_TCP }, deadPath: filter,
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    t.equal(relayedBeforeCut, 2, 'the warm-up went through the proxy')
    assertDeadPath(t, report, clients)
  })

  const node = node24()
  t.test('Node 24, NODE_USE_ENV_PROXY=1, --import stallguard/register: a dead path to the proxy fails in seconds',
    { skip: 'skip' in node ? node.skip : false }, async (t) => {
      if ('skip' in node) return
      const clients = ['fetch http', 'fetch https', 'http.get', 'https.get'] as const
      const { report, relayedBeforeCut, code, stderr } = await runProxyApp(t, {
        mode: 'node-env',
        clients: [...clients],
        node: node.path,
        execArgv: ['--import', 'stallguard/register'],
        env: {
          NODE_USE_ENV_PROXY: '1',
          STALLGUARD_TCP_USER_TIMEOUT: `${SHORT_TCP.userTimeout}ms`,
          STALLGUARD_TCP_KEEPALIVE_IDLE: `${SHORT_TCP.keepAliveIdle}ms`,
          STALLGUARD_TCP_KEEPALIVE_INTERVAL: `${SHORT_TCP.keepAliveInterval}ms`,
          STALLGUARD_TCP_KEEPALIVE_COUNT: `${SHORT_TCP.keepAliveCount}`,
        },
        deadPath: filter,
      })
      t.equal(code, 0, `the app exited cleanly ${stderr}`)
      t.equal(relayedBeforeCut, 4, 'the warm-up went through the proxy')
      assertDeadPath(t, report, clients)
    })
}
