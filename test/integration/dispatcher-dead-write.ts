// Stall matrix, scenario 1: a pooled keep-alive connection is dead and the
// next request is written into the void. TCP_USER_TIMEOUT ends it; with
// retry on, an idempotent request then goes out again on a fresh connection.
import type net from 'node:net'
import t from 'tap'
import { KernelTimeoutError } from '../../lib/index'
import { startServer } from '../fixtures/http'
import { SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { matrix, runAll } from '../fixtures/matrix'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { assertFailed, assertSucceeded, FaultClock, settle } from '../fixtures/outcome'
import { deadPooledConnection, stalePooledConnection } from '../fixtures/stall-scenarios'
import { sleep } from '../fixtures/timing'

const KERNEL = { name: 'KernelTimeoutError', code: 'ETIMEDOUT', type: KernelTimeoutError, window: WRITE_WINDOW, shows: 'retransmissions' } as const
// One keep-alive connection per origin, so "the next request" deterministically
// goes onto the pooled connection (undici's Pool alternates between two
// connections for back-to-back requests) and a retry has to open a fresh one.
const ONE = { connections: 1 }

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  t.test('dead pooled connection: ETIMEDOUT from TCP_USER_TIMEOUT (retry off)', async (t) => {
    const outcomes = await runAll(matrix(t, filter, { ...ONE, retry: false }), deadPooledConnection)
    for (const o of outcomes) assertFailed(t, o, KERNEL)
  })

  t.test('retry: the stale connection times out, the GET succeeds on a fresh one', async (t) => {
    const outcomes = await runAll(matrix(t, filter, ONE), (ctx) => stalePooledConnection(ctx))
    for (const o of outcomes) {
      assertSucceeded(t, o)
      t.equal(o.connections, 2, `${o.label}: answered on a second connection`)
      t.ok(o.elapsed >= WRITE_WINDOW.min && o.elapsed <= WRITE_WINDOW.max + 1000,
        `${o.label}: retried after the kernel gave up on the stale one (${o.elapsed} ms)`)
    }
  })

  t.test('retry never replays a POST: it fails with ETIMEDOUT', async (t) => {
    const outcomes = await runAll(matrix(t, filter, ONE), (ctx) => stalePooledConnection(ctx, 'POST'))
    for (const o of outcomes) {
      assertFailed(t, o, KERNEL)
      t.equal(o.connections, 1, `${o.label}: no second connection`)
    }
  })

  t.test('retry: the server forgot the connection while the path was down; healed before the user timeout', async (t) => {
    // Everything is cut, the server drops its side silently (a restart), the
    // request goes into the void; 500 ms later the path is back and the
    // server answers the retransmission with a reset. The GET is retried on
    // a fresh connection long before the 2 s user timeout.
    const clock = new FaultClock()
    const runs = await Promise.all(matrix(t, filter, ONE).map(async (ctx) => {
      const carriers = new Set<net.Socket>()
      const server = await startServer(t, ctx.protocol, (req, res) => {
        carriers.add(req.socket)
        res.end('ok')
      })
      const url = `${ctx.protocol}://127.0.0.1:${server.port}`
      t.equal((await ctx.call(`${url}/first`)).status, 200, 'pooled')
      return { ctx, server, url, carriers }
    }))
    for (const { server } of runs) {
      filter.drop(server.port, 'both')
      for (const socket of server.connections) socket.destroy()
    }
    clock.mark()
    const calls = runs.map(({ ctx, url }) =>
      settle(`server forgot the connection (${ctx.protocol}, ${ctx.via})`, ctx.via, ctx.call(`${url}/next`), clock, 5000))
    await sleep(500)
    filter.heal()
    const outcomes = await Promise.all(calls)
    outcomes.forEach((o, i) => {
      assertSucceeded(t, o)
      t.equal(runs[i]!.carriers.size, 2, `${o.label}: answered on a fresh connection`)
      t.ok(o.elapsed < SHORT_TCP.userTimeout, `${o.label}: done in ${o.elapsed} ms, before the user timeout`)
    })
  })

  t.test('without retry the same reset reaches the caller', async (t) => {
    const server = await startServer(t, 'http', (_req, res) => res.end('ok'))
    const [ctx] = matrix(t, filter, { ...ONE, retry: false })
    const url = `http://127.0.0.1:${server.port}`
    await ctx!.call(`${url}/first`)
    filter.drop(server.port, 'both')
    for (const socket of server.connections) socket.destroy()
    const clock = new FaultClock()
    const call = settle('server forgot the connection, retry off', 'request', ctx!.call(`${url}/next`), clock, 5000)
    await sleep(500)
    filter.heal()
    const o = await call
    t.equal(o.ok, false, 'failed')
    t.match(o.chain[0]?.code ?? '', /^(ECONNRESET|UND_ERR_SOCKET)$/, `connection error reached the caller (${o.chain[0]?.code})`)
  })
}
