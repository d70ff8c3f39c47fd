// The node:http pool hook: every time a socket goes back to the pool,
// Node's http.Agent#keepSocketAlive calls socket.setKeepAlive(true,
// keepAliveMsecs), and libuv then rewrites TCP_KEEPINTVL=1 and
// TCP_KEEPCNT=10. Our agents override that documented hook so the kernel
// keeps our values over many pooled requests, with Node's own setKeepAlive
// in place (no per-socket patch), and nothing accumulates per request.
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { capabilities, readSocketTimeouts } from '../lib/index'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../lib/http/agents'
import { bodyOf, fetchBody, PROTOCOLS, responseOf, send, startServer } from './fixtures/http'

const tcp = { userTimeout: 4000, keepAliveIdle: 3000, keepAliveInterval: 2000, keepAliveCount: 3 }
const expected = { keepAlive: true, keepAliveIdle: 3000, keepAliveInterval: 2000, keepAliveCount: 3, userTimeout: 4000 }
const REQUESTS = 8

const listenerCounts = (emitter: NodeJS.EventEmitter) =>
  Object.fromEntries(emitter.eventNames().map((name) => [String(name), emitter.listenerCount(name)]))
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: ${REQUESTS} requests on one pooled socket, Node's own setKeepAlive on every return`,
    { skip: capabilities().native ? false : `native layer unavailable: ${capabilities().reason}` }, async (t) => {
      const server = await startServer(t, protocol, (_req, res) => res.end('ok'))
      // keepAliveMsecs differs from our idle on purpose: Node's call on the
      // first return does reach the kernel, with Node's values.
      const options = { tcp, keepAliveMsecs: 1000, maxSockets: 1 }
      const agent = protocol === 'https' ? new StallGuardHttpsAgent(options) : new StallGuardHttpAgent(options)
      t.teardown(() => agent.destroy())

      // The first request: before its socket first goes back to the pool,
      // take away whatever socket-level wrapper the kernel layer may add
      // (Node's setKeepAlive skips a call that repeats its last one, so the
      // first return is the one that reaches the kernel).
      const first = send(protocol, { port: server.port, agent })
      first.once('socket', (s) => {
        if (Object.hasOwn(s, 'setKeepAlive')) delete (s as Partial<net.Socket>).setKeepAlive
      })
      const firstRes = await responseOf(first)
      await bodyOf(firstRes)
      const socket = first.socket as net.Socket
      t.equal(socket.setKeepAlive, net.Socket.prototype.setKeepAlive, 'Node\'s own setKeepAlive on the socket')

      const baseline: { socket?: object; agent?: object; timers?: number } = {}
      for (let i = 1; i <= REQUESTS; i++) {
        if (i > 1) {
          const res = await fetchBody(protocol, { port: server.port, agent })
          t.equal(res.status, 200)
          t.equal(res.socket, socket, `request ${i} reused the pooled socket`)
        }
        // The socket is back in the pool (keepSocketAlive ran) once 'free' has been handled.
        await new Promise((resolve) => setImmediate(resolve))
        t.same(readSocketTimeouts(socket), expected, `after request ${i}: the kernel holds our values`)
        if (i === 2) {
          baseline.socket = listenerCounts(socket)
          baseline.agent = listenerCounts(agent)
          baseline.timers = timers()
        }
      }
      t.same(listenerCounts(socket), baseline.socket, 'no listener added to the socket per request')
      t.same(listenerCounts(agent), baseline.agent, 'no listener added to the agent per request')
      t.equal(timers(), baseline.timers, 'no timer left behind per request')
    })
}

// What the pool hook does besides keepalive must match Node's own agent:
// unref, the agent's idle-socket timeout, and the server's Keep-Alive hint.
t.test('pool hook parity with Node\'s http.Agent: idle timeout, Keep-Alive hint, unref', async (t) => {
  const cases: Array<[string, number]> = [
    ['server hint far above the agent timeout (timeout=120)', 120_000],
    ['server hint below the agent timeout (timeout=4)', 4_000],
    ['server hint too short to reuse safely (timeout=1)', 1_000],
  ]
  for (const [what, keepAliveTimeout] of cases) {
    const server = http.createServer((_req, res) => res.end('ok'))
    server.keepAliveTimeout = keepAliveTimeout
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as net.AddressInfo).port
    const outcome = async (agent: http.Agent) => {
      const req = http.get({ host: '127.0.0.1', port, agent })
      const res = await responseOf(req)
      await bodyOf(res)
      await new Promise((resolve) => setImmediate(resolve))
      const socket = req.socket as net.Socket & { timeout?: number }
      const pooled = Object.values(agent.freeSockets).flat().length
      // An unref'd pooled socket does not count among the handles that keep the process alive.
      const refHandles = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length
      agent.destroy()
      return { hint: res.headers['keep-alive'], pooled, timeout: pooled ? socket.timeout : undefined, refHandles }
    }
    const node = await outcome(new http.Agent({ keepAlive: true, timeout: 5000 }))
    const ours = await outcome(new StallGuardHttpAgent({ keepAlive: true, timeout: 5000, tcp }))
    t.same(ours, node, `${what}: ${JSON.stringify(node)}`)
    server.closeAllConnections()
    server.close()
  }
})
