// StallGuardAgent without faults: it is an undici Agent, rejects bad options
// at construction naming them, puts the kernel timeouts on every socket it
// opens (http/https, IPv4/IPv6, the happy-eyeballs winner, custom
// connectors), and closes like undici's agents do.
import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import t, { type Test } from 'tap'
import { Agent, buildConnector, errors, request } from 'undici'
import * as stallguard from '../lib/index'
import { readSocketTimeouts, StallGuardAgent, type StallGuardAgentOptions } from '../lib/index'
import { PROTOCOLS, startServer } from './fixtures/http'
import { TCP_AND_DEADLINE_ERRORS, type OptionErrorCase } from './fixtures/option-errors'
import { SHORT_TCP } from './fixtures/kernel-window'
import { ca, cert, key } from './fixtures/tls'

const ASKED = { userTimeout: 2500, keepAliveIdle: 1500, keepAliveInterval: 2000, keepAliveCount: 3 }
// Keepalive durations come back rounded up to whole seconds.
const HELD = { keepAlive: true, userTimeout: 2500, keepAliveIdle: 2000, keepAliveInterval: 2000, keepAliveCount: 3 }

/** Sockets undici connected while `fn` ran. */
async function connectedDuring(fn: () => Promise<unknown>): Promise<net.Socket[]> {
  const sockets: net.Socket[] = []
  const onConnected = (message: unknown) => sockets.push((message as { socket: net.Socket }).socket)
  diagnostics.subscribe('undici:client:connected', onConnected)
  try {
    await fn()
  } finally {
    diagnostics.unsubscribe('undici:client:connected', onConnected)
  }
  return sockets
}

async function get(agent: StallGuardAgent, url: string): Promise<string> {
  const res = await request(url, { dispatcher: agent })
  return res.body.text()
}

function newAgent(t: Test, options: StallGuardAgentOptions): StallGuardAgent {
  const agent = new StallGuardAgent(options)
  t.teardown(() => agent.destroy())
  return agent
}

t.test('a drop-in undici Agent, exported from the package main', async (t) => {
  t.equal(stallguard.StallGuardAgent, StallGuardAgent)
  const agent = newAgent(t, {})
  t.type(agent, Agent)
  t.equal(typeof agent.compose, 'function')
})

t.test('bad options fail at construction and name the option', async (t) => {
  const cases: OptionErrorCase[] = [
    ['fast', /options must be an object of undici Agent options plus tcp, deadline, retry and minThroughput; received 'fast'/, 'ERR_INVALID_ARG_TYPE'],
    [null, /options must be an object/, 'ERR_INVALID_ARG_TYPE'],
    ...TCP_AND_DEADLINE_ERRORS,
    [{ retry: 'yes' }, /retry must be a boolean or an integer from 0 to 10 \(number of retries\); received 'yes'/, 'ERR_INVALID_ARG_TYPE'],
    [{ retry: -1 }, /retry must be an integer from 1 to 10 \(or 0\/false for no retries\); received -1/, 'ERR_OUT_OF_RANGE'],
    [{ retry: 1.5 }, /retry .*received 1\.5/, 'ERR_OUT_OF_RANGE'],
    [{ retry: 11 }, /retry .*received 11/, 'ERR_OUT_OF_RANGE'],
  ]
  for (const [options, message, code] of cases) {
    t.throws(() => new StallGuardAgent(options as never), { message, code }, JSON.stringify(options))
  }
  // undici's own options fail as they do with undici.Agent, even those we wrap (connect, factory).
  for (const bad of [{ connect: 5 }, { connect: false }, { factory: 'pool' }]) {
    const expected = t.throws(() => new Agent(bad as never)) as Error
    t.throws(() => new StallGuardAgent(bad as never),
      { constructor: errors.InvalidArgumentError, code: 'UND_ERR_INVALID_ARG', message: expected.message }, JSON.stringify(bad))
  }
  // undici's own options keep undici's checks.
  t.throws(() => new StallGuardAgent({ maxOrigins: 0 }), errors.InvalidArgumentError)
})

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: every socket carries the kernel timeouts (IPv4, IPv6, happy eyeballs)`, async (t) => {
    const agent = newAgent(t, { tcp: ASKED, connect: { ca } })
    const v4 = await startServer(t, protocol, (_req, res) => res.end('v4'))
    const sockets = await connectedDuring(async () => {
      t.equal(await get(agent, `${protocol}://127.0.0.1:${v4.port}/`), 'v4')
      // 'localhost' is ::1 and 127.0.0.1; the server only listens on the
      // latter, so the ::1 attempt loses and the IPv4 one wins.
      t.equal(await get(agent, `${protocol}://localhost:${v4.port}/`), 'v4')
    })
    t.equal(sockets.length, 2, 'two connections')
    for (const socket of sockets) t.same(readSocketTimeouts(socket), HELD, `${socket.remoteFamily} ${socket.remoteAddress}`)

    const v6server = (protocol === 'https' ? https.createServer({ key, cert }) : http.createServer())
      .on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('v6'))
    v6server.listen(0, '::1')
    await once(v6server, 'listening')
    t.teardown(() => { v6server.closeAllConnections(); v6server.close() })
    const [v6] = await connectedDuring(async () => {
      t.equal(await get(agent, `${protocol}://[::1]:${(v6server.address() as net.AddressInfo).port}/`), 'v6')
    })
    t.equal(v6?.remoteFamily, 'IPv6')
    t.same(readSocketTimeouts(v6!), HELD, 'IPv6 socket')
  })
}

t.test('tcp: false leaves sockets as undici makes them', async (t) => {
  const server = await startServer(t, 'http', (_req, res) => res.end('ok'))
  const agent = newAgent(t, { tcp: false })
  const [socket] = await connectedDuring(() => get(agent, `http://127.0.0.1:${server.port}/`))
  const held = readSocketTimeouts(socket!)
  t.equal(held.userTimeout, 0, 'no user timeout')
  t.equal(held.keepAliveIdle, 60_000, "undici's own keepalive (60 s)")
})

t.test('a caller-supplied connect function still works and gets the timeouts', async (t) => {
  const server = await startServer(t, 'http', (_req, res) => res.end('custom'))
  const base = buildConnector({})
  let calls = 0
  const agent = newAgent(t, {
    tcp: ASKED,
    connect(options, callback) {
      calls++
      return base(options, callback)
    },
  })
  const [socket] = await connectedDuring(async () => t.equal(await get(agent, `http://127.0.0.1:${server.port}/`), 'custom'))
  t.equal(calls, 1, 'our connect wraps theirs')
  t.same(readSocketTimeouts(socket!), HELD)
})

t.test('connect options (an object) still reach undici', async (t) => {
  const server = await startServer(t, 'https', (_req, res) => res.end('trusted'))
  const untrusting = newAgent(t, { tcp: SHORT_TCP })
  await t.rejects(get(untrusting, `https://127.0.0.1:${server.port}/`), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'without the ca')
  const trusting = newAgent(t, { tcp: SHORT_TCP, connect: { ca } })
  t.equal(await get(trusting, `https://127.0.0.1:${server.port}/`), 'trusted', 'with connect.ca')
})

t.test('a socket whose setup fails is destroyed and the error reaches the request', async (t) => {
  const failure = Object.assign(new Error('setsockopt failed'), { code: 'EINVAL' })
  const seen: net.Socket[] = []
  const { StallGuardAgent: Mocked } = t.mockRequire<typeof import('../lib/undici/agent')>('../lib/undici/agent', {
    '../lib/kernel/socket-timeouts': {
      ...(require('../lib/kernel/socket-timeouts') as object),
      applyResolvedTimeouts: (socket: net.Socket) => {
        seen.push(socket)
        // Fail only once the socket is connected (as a kernel refusal would).
        if (!socket.connecting) throw failure
      },
    },
  })
  const server = await startServer(t, 'http', (_req, res) => res.end('never'))
  const agent = new Mocked({})
  t.teardown(() => agent.destroy())
  const sockets = await connectedDuring(async () => {
    await t.rejects(request(`http://127.0.0.1:${server.port}/`, { dispatcher: agent }), failure)
  })
  t.same(sockets, [], 'undici never got the socket')
  t.ok(seen.length > 0 && seen.every((s) => s.destroyed), 'the socket was destroyed')
})

t.test('close() and destroy() like undici: callback and promise, no socket left', async (t) => {
  const server = await startServer(t, 'http', (_req, res) => res.end('ok'))
  const url = `http://127.0.0.1:${server.port}/`
  const a = new StallGuardAgent({})
  const [socket] = await connectedDuring(() => get(a, url))
  const closing = a.close()
  t.type(closing, Promise, 'close() returns a promise')
  await closing
  t.equal(socket!.destroyed, true, 'the pooled socket is closed')
  t.equal(a.closed, true)

  const b = new StallGuardAgent({})
  await get(b, url)
  await new Promise<void>((resolve, reject) => b.close((err?: Error | null) => (err ? reject(err) : resolve())))
  t.pass('close(callback) called back')

  const c = new StallGuardAgent({})
  const [cSocket] = await connectedDuring(() => get(c, url))
  await c.destroy()
  t.equal(cSocket!.destroyed, true, 'destroy() closes sockets')
  t.equal(c.destroyed, true)
  await t.rejects(get(c, url), errors.ClientDestroyedError, 'a destroyed agent refuses requests')

  const d = new StallGuardAgent({})
  await get(d, url)
  await new Promise<void>((resolve) => d.destroy(null, () => resolve()))
  t.pass('destroy(err, callback) called back')
})
