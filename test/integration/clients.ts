// Zero-code protection through widely used clients that build their own
// agent or dispatcher, real servers, real kernel (private namespace,
// nftables): each client runs in an app started as
// `node --import stallguard/register app.js` with STALLGUARD_* env vars only
// (test/fixtures/clients-app.js). A dead pooled connection fails in the user
// timeout + 1.5 s; a body whose path dies fails in the keepalive bound + 1.5 s
// (axios included, which calls setKeepAlive(true, 60000) on every request).
// Without the preload the same apps are still waiting well past the bound.
// Also: `agent: false` (node-fetch) gets the STALLGUARD_* values, and an
// event stream quiet for 3x the keepalive window from a live server is never
// cut, in scope http and tcp.
import t, { type Test } from 'tap'
import { BOUND, type ErrorChain, kernelErrorIn, runClientApp, SHORT_ENV } from '../fixtures/clients-run'
import { IDLE_WINDOW, SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns } from '../fixtures/netns'
import { startTrickleServer, type Wire } from '../fixtures/trickle'

/** Each client, and the wire its users would point it at (the Azure-style SDK talks https). */
const CLIENTS: ReadonlyArray<[string, Wire]> = [
  ['got', 'http'],
  ['axios', 'http'],
  ['agentkeepalive', 'http'],
  ['node-fetch', 'http'],
  ['azure-style-sdk', 'https'],
  ['undici.Agent', 'http'],
  ['undici.Pool', 'https'],
]

/**
 * What each client hands its caller when the kernel aborts the connection.
 * Most pass our KernelTimeoutError on (itself or as `cause`). node-fetch 2
 * copies its code and message into a FetchError without a cause when the
 * request fails (its body stream passes ours on as it is). got reads a
 * body through the response's 'aborted' event, which Node emits for any
 * connection lost mid-body: its ReadError says ECONNRESET whatever the
 * reason (the timing is what shows the kernel acted).
 */
function expectedError(client: string, scenario: string): (e: ErrorChain | undefined) => boolean {
  if (client === 'node-fetch') {
    return (e) => kernelErrorIn(e) ||
      (e?.name === 'FetchError' && e.code === 'ETIMEDOUT' && /the kernel aborted the connection/.test(e.message ?? ''))
  }
  if (client === 'got' && scenario === 'midBody') return (e) => e?.name === 'ReadError' && e.code === 'ECONNRESET'
  return kernelErrorIn
}

const SCENARIOS = [
  ['pooled', 'a dead pooled connection', WRITE_WINDOW.min, BOUND.write],
  ['midBody', 'a body whose path dies', IDLE_WINDOW.min, BOUND.idle],
] as const

/** How far past the bound an app without the preload must still be waiting. */
const HANGS_PAST = 5000
/** What STALLGUARD_* configures, as readSocketTimeouts() reports it. */
const OURS = { keepAlive: true, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 1, userTimeout: 2000 }
const QUIET_MS = 3 * Math.max(SHORT_TCP.keepAliveIdle + SHORT_TCP.keepAliveInterval * SHORT_TCP.keepAliveCount, SHORT_TCP.userTimeout)

if (enterNetns(t, __filename)) {
  // Each run has its own server, port and nftables table: they can overlap
  // (most of a run is waiting on the kernel or a quiet server, not CPU).
  t.jobs = 6
  for (const [client, wire] of CLIENTS) {
    for (const [scenario, what, min, max] of SCENARIOS) {
      t.test(`${client}: ${what} fails within ${max} ms under the preload`, async (t: Test) => {
        const server = await startTrickleServer(t, wire)
        const { result: r, code, stderr } = await runClientApp(t, 'clients-app.js',
          { client, scenario, url: server.url, limit: max + 5000 }, { preload: true, env: SHORT_ENV })
        t.equal(code, 0, `the app exited cleanly ${stderr}`)
        t.equal(r?.globalAgent, 'StallGuardHttpAgent', 'the preload ran')
        t.equal(r?.outcome, 'error', `${client} failed (${JSON.stringify(r)})`)
        t.ok(expectedError(client, scenario)(r?.error), `${client}'s rendering of the kernel's ETIMEDOUT: ${JSON.stringify(r?.error)}`)
        // A mid-body run counts its floor from the last byte read (see clients-app.js).
        const floor = r?.sinceLastData ?? r?.elapsed
        t.ok(r !== undefined && floor >= min && r.elapsed <= max,
          `failed ${r?.elapsed} ms after the cut (≤ ${max})${r?.sinceLastData === undefined ? '' : `, ${r.sinceLastData} ms after the last byte`} (≥ ${min})`)
      })
    }
  }

  // The control: the same apps without the preload are still waiting 5 s
  // past the bound (their pooled connection would take ~940 s to fail),
  // except agentkeepalive, whose own socket timeout ends it at 8 s.
  for (const [client, wire] of CLIENTS) {
    t.test(`${client} without the preload: a dead pooled connection is still waiting ${BOUND.write + HANGS_PAST} ms later`, async (t: Test) => {
      const server = await startTrickleServer(t, wire)
      const { result: r, code, stderr } = await runClientApp(t, 'clients-app.js',
        { client, scenario: 'pooled', url: server.url, limit: BOUND.write + HANGS_PAST }, { preload: false, env: SHORT_ENV })
      t.equal(code, 0, `the app exited cleanly ${stderr}`)
      t.equal(r?.globalAgent, 'Agent', 'nothing was installed')
      if (client === 'agentkeepalive') {
        // agentkeepalive's own inactivity timeout (2x freeSocketTimeout = 8 s by default) ends it first.
        t.match(r, { outcome: 'error', error: { code: 'ERR_SOCKET_TIMEOUT' } }, `agentkeepalive's socket timeout (${JSON.stringify(r?.error)})`)
        t.ok(r?.elapsed >= 8000, `only after its own 8 s (${r?.elapsed} ms), where the preload fails it in the user timeout`)
      } else {
        t.equal(r?.outcome, 'pending', `still pending after ${r?.elapsed} ms (${JSON.stringify(r?.error)})`)
      }
    })
  }

  t.test('node-fetch with agent: false: the agent node:http builds gets the configured values', async (t) => {
    const server = await startTrickleServer(t, 'http')
    const { result: r, code, stderr } = await runClientApp(t, 'clients-app.js',
      { client: 'node-fetch agent:false', scenario: 'timeouts', url: server.url, limit: 5000 }, { preload: true, env: SHORT_ENV })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    t.same(r?.seen, [OURS], 'one socket, protected with the STALLGUARD_* values (read back from the kernel)')
  })

  for (const scope of ['http', 'tcp'] as const) {
    for (const client of ['axios', 'undici.Agent']) {
      t.test(`scope ${scope}: ${client}: an event stream silent for ${QUIET_MS} ms (3x the keepalive window) from a live server is never cut`, async (t) => {
        const server = await startTrickleServer(t, 'http')
        const { result: r, code, stderr } = await runClientApp(t, 'clients-app.js',
          { client, scenario: 'quiet', url: server.url, quietMs: QUIET_MS },
          { preload: true, env: { ...SHORT_ENV, STALLGUARD_SCOPE: scope } })
        t.equal(code, 0, `the app exited cleanly ${stderr}`)
        t.equal(r?.outcome, 'ok', `the stream ended normally after ${r?.elapsed} ms (${JSON.stringify(r?.error)})`)
        t.ok(r?.elapsed >= QUIET_MS, 'it was quiet for the whole spell')
      })
    }
  }
}
