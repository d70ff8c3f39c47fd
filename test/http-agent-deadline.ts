// The agents' `deadline` against live (slow) loopback servers: it fires on
// time wherever the request is, the socket never returns to the pool
// half-read, and nothing stays armed after a request ends.
import { createHook } from 'node:async_hooks'
import type http from 'node:http'
import t, { type Test } from 'tap'
import { DeadlineExceededError } from '../lib/index'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../lib/http/agents'
import { bodyOf, fetchBody, PROTOCOLS, responseOf, send, startServer, type Protocol } from './fixtures/http'
import { now, since, sleep } from './fixtures/timing'
import { clock } from '../lib/watch/clock'

const agentFor = (protocol: Protocol, options: ConstructorParameters<typeof StallGuardHttpAgent>[0]) =>
  protocol === 'https' ? new StallGuardHttpsAgent(options) : new StallGuardHttpAgent(options)

/** '/quick' answers at once; '/trickle' sends headers, then a chunk every 100 ms forever; '/think' never answers. */
function slowServer(t: Parameters<typeof startServer>[0], protocol: Protocol) {
  return startServer(t, protocol, (req, res) => {
    if (req.url === '/quick') return res.end('quick')
    if (req.url === '/think') return
    if (req.url === '/late') return setTimeout(() => res.end('late'), 1000)
    res.writeHead(200, { 'content-type': 'text/plain' })
    const timer = setInterval(() => res.write('x'.repeat(100)), 100)
    res.on('close', () => clearInterval(timer))
  })
}

function assertDeadline(t: Test, err: unknown, ms: number, elapsed: number, what: string): void {
  t.type(err, DeadlineExceededError, `${what}: DeadlineExceededError`)
  t.match(err, { code: 'SG_ERR_DEADLINE_EXCEEDED', layer: 'deadline', deadline: ms }, `${what}: code and budget`)
  // Floor a little under the deadline: libuv's timer clock is cached per loop iteration (see dispatcher-deadline.ts).
  t.ok(elapsed >= ms - 30 && elapsed <= ms + 400, `${what}: after ${elapsed} ms (window ${ms - 30}–${ms + 400})`)
}

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: deadline fires mid-body; the socket is destroyed; the next request works`, async (t) => {
    const server = await slowServer(t, protocol)
    const agent = agentFor(protocol, { deadline: 1500 })
    t.teardown(() => agent.destroy())
    const start = now()
    const req = send(protocol, { port: server.port, agent, path: '/trickle' })
    const requestError = new Promise((resolve) => req.on('error', resolve))
    const res = await responseOf(req)
    const err = await bodyOf(res).catch((e: unknown) => e)
    const elapsed = since(start)
    assertDeadline(t, err, 1500, elapsed, 'body stream')
    t.type(await requestError, DeadlineExceededError, 'the request reports it too')
    t.equal(req.socket?.destroyed, true, 'the half-read socket was destroyed')
    await sleep(20)
    t.same(Object.keys(agent.freeSockets), [], 'nothing went back to the pool')
    const next = await fetchBody(protocol, { port: server.port, agent, path: '/quick' })
    t.equal(next.body.toString(), 'quick')
    t.equal(next.reused, false, 'on a fresh connection')
  })

  t.test(`${protocol}: deadline before any response`, async (t) => {
    const server = await slowServer(t, protocol)
    const agent = agentFor(protocol, { deadline: 800 })
    t.teardown(() => agent.destroy())
    const start = now()
    const err = await responseOf(send(protocol, { port: server.port, agent, path: '/think' })).catch((e: unknown) => e)
    assertDeadline(t, err, 800, since(start), 'request')
  })
}

t.test('per-request deadline overrides the agent\'s; 0 turns it off for that request', async (t) => {
  const server = await slowServer(t, 'http')
  const agent = new StallGuardHttpAgent({ deadline: 500 })
  t.teardown(() => agent.destroy())
  let start = now()
  const shorter = await responseOf(send('http', { port: server.port, agent, path: '/think', deadline: 300 })).catch((e: unknown) => e)
  assertDeadline(t, shorter, 300, since(start), 'shorter per-request deadline')
  start = now()
  const late = await fetchBody('http', { port: server.port, agent, path: '/late', deadline: 0 })
  t.equal(late.body.toString(), 'late', `deadline 0 let a 1 s response finish (${since(start)} ms)`)
  const plain = new StallGuardHttpAgent()
  t.teardown(() => plain.destroy())
  start = now()
  const own = await responseOf(send('http', { port: server.port, agent: plain, path: '/think', deadline: 400 })).catch((e: unknown) => e)
  assertDeadline(t, own, 400, since(start), 'per-request deadline on an agent without one')
})

t.test('a request queued for a socket (maxSockets reached) fails at its deadline, not when a socket frees', async (t) => {
  const server = await slowServer(t, 'http')
  const agent = new StallGuardHttpAgent({ maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const holder = send('http', { port: server.port, agent, path: '/think' })
  holder.on('error', () => {})
  await sleep(50)
  const start = now()
  const queued = send('http', { port: server.port, agent, path: '/quick', deadline: 400 })
  t.equal(Object.values(agent.requests).flat().length, 1, 'the second request waits in the agent queue')
  const err = await responseOf(queued).catch((e: unknown) => e)
  assertDeadline(t, err, 400, since(start), 'queued request')
  t.same(Object.keys(agent.requests), [], 'and left the queue')
  t.equal(holder.destroyed, false, 'the request holding the socket is untouched')
  holder.destroy()
})

t.test('a finished request leaves no timer and no listener behind', async (t) => {
  const server = await slowServer(t, 'http')
  const agent = new StallGuardHttpAgent({ deadline: 300, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  // Deadlines live on the shared clock: no timer per request, and the
  // clock's one timer stops once nothing is watched.
  const timers = new Set<number>()
  const hook = createHook({
    init(id, type) { if (type === 'Timeout') timers.add(id) },
    destroy(id) { timers.delete(id) },
  }).enable()
  t.teardown(() => { hook.disable() })
  let socket: http.ClientRequest['socket'] = null
  const listeners: Record<string, number> = {}
  const events = ['error', 'close', 'end', 'data', 'timeout', 'free', 'agentRemove'] as const
  for (let i = 0; i < 20; i++) {
    const { body, socket: s } = await fetchBody('http', { port: server.port, agent, path: '/quick' })
    t.equal(body.toString(), 'quick')
    socket = s
    if (i === 0) await new Promise((resolve) => setImmediate(resolve))
    if (i === 0) for (const e of events) listeners[e] = s!.listenerCount(e)
  }
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(clock.size, 0, 'every request left the clock when it ended')
  t.ok(timers.size <= 3, `no timer per request: ${timers.size} timers created for 20 requests (the clock's, the pool's idle ones)`)
  await sleep(400)
  t.equal(clock.running, false, 'the clock stopped once nothing was left to watch')
  t.equal(socket?.destroyed, false, 'the pooled socket survived past the deadline')
  // The pool's listeners plus stallguard's one per-socket error listener,
  // the same after 20 requests as after the first.
  t.equal(socket?.listenerCount('error'), 2, 'the pool\'s error listener and stallguard\'s')
  for (const e of events) t.equal(socket?.listenerCount(e), listeners[e], `no '${e}' listener piled up`)
})
