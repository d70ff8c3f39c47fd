// The retry rule without kernel faults: a server that kills a keep-alive
// connection when its next request arrives (what a stale pooled connection
// looks like to the client) and variations that must not be retried.
import type net from 'node:net'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { StallGuardAgent, type StallGuardAgentOptions } from '../lib/index'
import { PROTOCOLS, startServer, type Protocol } from './fixtures/http'
import { assertSucceeded, FaultClock, settle, type Outcome } from './fixtures/outcome'
import { callerFor, TRUST_TEST_CA, VIAS, type CallInit, type Via } from './fixtures/undici-callers'

/**
 * '/first' answers; '/stale' destroys the connection without a byte when it
 * had carried a request before, answers otherwise; '/half' does the same
 * after sending the start of a status line; '/die' always destroys.
 */
async function flakyServer(t: Test, protocol: Protocol) {
  const served = new WeakMap<net.Socket, number>()
  let connections = 0
  let bodies: string[] = []
  const server = await startServer(t, protocol, (req, res) => {
    const before = served.get(req.socket) ?? 0
    if (before === 0) connections++
    served.set(req.socket, before + 1)
    let body = ''
    req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk })
    req.on('end', () => {
      bodies.push(body)
      const reused = before > 0
      if (req.url === '/die' || (reused && req.url === '/stale')) return req.socket.destroy()
      if (reused && req.url === '/half') {
        req.socket.write('HTTP/1.1 200 OK\r\n')
        setTimeout(() => req.socket.destroy(), 50)
        return
      }
      res.end('ok')
    })
  })
  return {
    url: `${protocol}://127.0.0.1:${server.port}`,
    connections: () => connections,
    takeBodies: () => { const b = bodies; bodies = []; return b },
  }
}

async function pooledThen(t: Test, protocol: Protocol, via: Via, path: string, init: CallInit, options: StallGuardAgentOptions = {}) {
  const server = await flakyServer(t, protocol)
  // One connection per origin: the second request is on the pooled one.
  const agent = new StallGuardAgent({ ...TRUST_TEST_CA, connections: 1, ...options })
  t.teardown(() => agent.destroy())
  const call = callerFor(via, agent)
  t.equal((await call(`${server.url}/first`)).status, 200, 'pooled a connection')
  server.takeBodies()
  const outcome: Outcome = await settle(`${path} ${init.method ?? 'GET'}`, via, call(`${server.url}${path}`, init), new FaultClock(), 5000)
  return { outcome, connections: server.connections(), bodies: server.takeBodies() }
}

function assertNotRetried(t: Test, r: { outcome: Outcome; connections: number }): void {
  t.equal(r.outcome.ok, false, `${r.outcome.label}: failed`)
  t.equal(r.outcome.pending, false, `${r.outcome.label}: settled`)
  t.ok(r.outcome.chain.some((l) => l.code === 'UND_ERR_SOCKET' || l.code === 'ECONNRESET'),
    `${r.outcome.label}: the connection error reached the caller [${r.outcome.chain.map((l) => l.code).join(' ← ')}]`)
  t.equal(r.connections, 1, `${r.outcome.label}: no second connection`)
}

for (const protocol of PROTOCOLS) {
  for (const via of VIAS) {
    t.test(`${protocol}, ${via}: GET on a stale pooled connection is retried on a fresh one`, async (t) => {
      const r = await pooledThen(t, protocol, via, '/stale', {})
      assertSucceeded(t, r.outcome, 2)
      t.equal(r.connections, 2, 'answered on a second connection')
    })

    t.test(`${protocol}, ${via}: PUT with a string body`, async (t) => {
      const r = await pooledThen(t, protocol, via, '/stale', { method: 'PUT', body: 'payload' })
      if (via === 'fetch') {
        // fetch hands every request body to the dispatcher as a one-shot
        // async iterator, whatever the caller passed: nothing to replay.
        assertNotRetried(t, r)
        return
      }
      assertSucceeded(t, r.outcome, 2)
      t.same(r.bodies, ['payload', 'payload'], 'replayed: the server got the same body twice')
    })

    t.test(`${protocol}, ${via}: never retried: POST, streamed body, retry off`, async (t) => {
      assertNotRetried(t, await pooledThen(t, protocol, via, '/stale', { method: 'POST', body: 'x' }))
      assertNotRetried(t, await pooledThen(t, protocol, via, '/stale', { method: 'PUT', body: Readable.from(['streamed']) }))
      assertNotRetried(t, await pooledThen(t, protocol, via, '/stale', {}, { retry: false }))
      assertNotRetried(t, await pooledThen(t, protocol, via, '/stale', {}, { retry: 0 }))
    })
  }

  t.test(`${protocol}: not retried once a response byte arrived, nor on a fresh connection`, async (t) => {
    const half = await pooledThen(t, protocol, 'request', '/half', {})
    t.equal(half.outcome.ok, false, 'the half-answered request failed')
    t.equal(half.connections, 1, 'and was not retried')

    const server = await flakyServer(t, protocol)
    const agent = new StallGuardAgent({ ...TRUST_TEST_CA, connections: 1 })
    t.teardown(() => agent.destroy())
    const fresh = await settle('fresh', 'request', callerFor('request', agent)(`${server.url}/die`), new FaultClock(), 5000)
    assertNotRetried(t, { outcome: fresh, connections: server.connections() })
  })

  t.test(`${protocol}: retry: 3 still stops after the fresh connection fails`, async (t) => {
    // The retry opens a fresh connection; a failure there is not retried,
    // however many retries are allowed.
    const r = await pooledThen(t, protocol, 'request', '/die', {}, { retry: 3 })
    t.equal(r.outcome.ok, false, 'failed')
    t.equal(r.connections, 2, 'one retry, on a fresh connection, then the error')
  })
}
