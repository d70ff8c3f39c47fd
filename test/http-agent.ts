// StallGuardHttpAgent / StallGuardHttpsAgent on loopback without faults:
// options, the kernel options every socket carries (also after the pool
// re-applied Node's keepalive), and what happens when setup fails.
import http from 'node:http'
import https from 'node:https'
import { Duplex } from 'node:stream'
import t, { type Test } from 'tap'
import { capabilities, readSocketTimeouts } from '../lib/index'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../lib/http/agents'
import { fetchBody, PROTOCOLS, responseOf, send, signal, startServer, type Protocol } from './fixtures/http'
import { sleep } from './fixtures/timing'
import { TCP_AND_DEADLINE_ERRORS } from './fixtures/option-errors'

const agentFor = (protocol: Protocol, options: ConstructorParameters<typeof StallGuardHttpAgent>[0]) =>
  protocol === 'https' ? new StallGuardHttpsAgent(options) : new StallGuardHttpAgent(options)

/** Agent fields Node sets but @types/node does not declare. */
const fields = (agent: http.Agent) => agent as unknown as { keepAlive: boolean; keepAliveMsecs: number; options: object; totalSocketCount: number }

t.test('subclasses of Node agents, keep-alive on by default', async (t) => {
  const plain = new StallGuardHttpAgent()
  const secure = new StallGuardHttpsAgent({ maxSockets: 4 })
  t.teardown(() => { plain.destroy(); secure.destroy() })
  t.type(plain, http.Agent)
  t.type(secure, https.Agent)
  t.equal(fields(plain).keepAlive, true)
  t.equal(fields(secure).keepAlive, true)
  t.equal(secure.maxSockets, 4)
  t.equal(fields(new StallGuardHttpAgent({ keepAlive: false })).keepAlive, false)
  // Node's own keepalive idle follows ours unless the caller sets it.
  t.equal(fields(new StallGuardHttpAgent({ tcp: { keepAliveIdle: 3000 } })).keepAliveMsecs, 3000)
  t.equal(fields(new StallGuardHttpAgent({ tcp: { keepAliveIdle: 3000 }, keepAliveMsecs: 700 })).keepAliveMsecs, 700)
  t.notOk('tcp' in fields(plain).options || 'deadline' in fields(plain).options, 'our options do not leak into socket options')
})

t.test('bad options fail at construction and name the option', async (t) => {
  const cases: Array<[unknown, RegExp, string]> = [
    ['fast', /options must be an object of agent options; received 'fast'/, 'ERR_INVALID_ARG_TYPE'],
    [null, /options must be an object/, 'ERR_INVALID_ARG_TYPE'],
    ...TCP_AND_DEADLINE_ERRORS,
  ]
  for (const [options, message, code] of cases) {
    for (const Agent of [StallGuardHttpAgent, StallGuardHttpsAgent]) {
      t.throws(() => new Agent(options as never), { message, code }, `${Agent.name} ${JSON.stringify(options)}`)
    }
  }
})

t.test('a bad per-request deadline throws from http.request() before any socket opens', async (t) => {
  const agent = new StallGuardHttpAgent()
  t.teardown(() => agent.destroy())
  t.throws(() => http.request({ host: '127.0.0.1', port: 9, agent, deadline: 'soon' } as unknown as http.RequestOptions),
    { code: 'ERR_INVALID_ARG_TYPE', message: /options\.deadline must be an integer .*received 'soon'/ })
  t.equal(fields(agent).totalSocketCount, 0)
})

const tcp = { userTimeout: 4000, keepAliveIdle: 3000, keepAliveInterval: 2000, keepAliveCount: 3 }
const expected = { keepAlive: true, keepAliveIdle: 3000, keepAliveInterval: 2000, keepAliveCount: 3, userTimeout: 4000 }

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: the kernel holds our options during a request and after the socket went back to the pool`,
    { skip: capabilities().native ? false : `native layer unavailable: ${capabilities().reason}` }, async (t) => {
      const server = await startServer(t, protocol, (_req, res) => res.end('ok'))
      // keepAliveMsecs 1000: every pool return calls setKeepAlive(true, 1000),
      // which on its own leaves idle 1 s, interval 1 s, count 10 in the kernel.
      const agent = agentFor(protocol, { tcp, keepAliveMsecs: 1000 })
      t.teardown(() => agent.destroy())
      const req = send(protocol, { port: server.port, agent })
      const res = await responseOf(req)
      t.same(readSocketTimeouts(req.socket!), expected, 'while the request runs')
      res.resume()
      await new Promise((resolve) => res.on('end', resolve))
      await sleep(20)
      const pooled = Object.values(agent.freeSockets).flat()
      t.equal(pooled.length, 1, 'the socket is back in the pool')
      t.same(readSocketTimeouts(pooled[0]!), expected, 'after keepSocketAlive re-applied Node\'s keepalive')
      const again = await fetchBody(protocol, { port: server.port, agent })
      t.equal(again.reused, true, 'the pooled socket is reused')
      t.same(readSocketTimeouts(again.socket), expected)
    })

  t.test(`${protocol}: tcp: false leaves the kernel defaults`,
    { skip: capabilities().native ? false : 'native layer unavailable' }, async (t) => {
      const server = await startServer(t, protocol, (_req, res) => res.end('ok'))
      const agent = agentFor(protocol, { tcp: false })
      t.teardown(() => agent.destroy())
      const req = send(protocol, { port: server.port, agent })
      await responseOf(req)
      t.equal(readSocketTimeouts(req.socket!).userTimeout, 0, 'no TCP_USER_TIMEOUT')
    })
}

// Node's factory one level up stands in for what a tunnel or test double might return.
type Factory = (options: object, cb?: (err: Error | null, s: Duplex) => void) => Duplex | undefined
function replaceNodeFactory(t: Test, make: (original: Factory) => Factory): void {
  const proto = http.Agent.prototype as unknown as { createConnection: Factory }
  const original = proto.createConnection
  proto.createConnection = make(original)
  t.teardown(() => { proto.createConnection = original })
}

t.test('a stream that is not a socket is left alone', async (t) => {
  const written = signal<string>()
  // A peer that takes the request and never answers.
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, cb) { written.resolve(chunk.toString()); cb() },
  })
  replaceNodeFactory(t, () => () => stream)
  const agent = new StallGuardHttpAgent()
  const req = http.get({ host: '127.0.0.1', port: 9, agent })
  req.on('error', () => {})
  t.match(await written.promise, /^GET \/ HTTP\/1\.1/, 'the request was written to it')
  t.equal(stream.destroyed, false, 'and it is still open')
  req.destroy()
})

t.test('when the options cannot be put on a socket, it is destroyed and the request fails with why', async (t) => {
  const failure = Object.assign(new Error('setsockopt EINVAL'), { code: 'EINVAL' })
  const { StallGuardHttpAgent: Mocked } = t.mockRequire('../lib/http/agents', {
    '../lib/kernel/socket-timeouts': {
      ...require('../lib/kernel/socket-timeouts'),
      applyResolvedTimeouts: () => { throw failure },
    },
  }) as typeof import('../lib/http/agents')
  let socket: Duplex | undefined
  replaceNodeFactory(t, (original) => function (this: unknown, options, cb) {
    return (socket = original.call(this, options, cb))
  })
  const agent = new Mocked()
  const req = http.get({ host: '127.0.0.1', port: 9, agent })
  const err = await responseOf(req).catch((e: unknown) => e)
  t.equal(err, failure, 'the request fails with the setup error')
  t.equal(socket?.destroyed, true, 'the socket was destroyed')
  t.equal(fields(agent).totalSocketCount, 0, 'nothing left in the pool')
})

t.test('a socket handed over later through the callback is guarded too',
  { skip: capabilities().native ? false : 'native layer unavailable' }, async (t) => {
    const server = await startServer(t, 'http', (_req, res) => res.end('ok'))
    replaceNodeFactory(t, (original) => function (this: unknown, options, cb) {
      const socket = original.call(this, options) as Duplex
      setImmediate(() => cb?.(null, socket))
      return undefined
    })
    const agent = new StallGuardHttpAgent({ tcp })
    t.teardown(() => agent.destroy())
    const req = send('http', { port: server.port, agent })
    await responseOf(req)
    t.same(readSocketTimeouts(req.socket!), expected)
  })

// Where our kernel layer writes keepalive, a socket is created with Node's
// keepalive off. The options object node:http builds for one socket is
// changed in place (copying it cost ~5 µs per connection); an object a
// caller hands createConnection directly is copied, never changed.
t.test('new connections are made without Node\'s keepalive; a caller\'s own options object is left as it was',
  { skip: capabilities().native ? false : 'native layer unavailable' }, async (t) => {
    const server = await startServer(t, 'http', (_req, res) => res.end('ok'))
    const seen: Array<Record<string, unknown>> = []
    replaceNodeFactory(t, (original) => function (this: unknown, options, cb) {
      seen.push({ ...options })
      return original.call(this, options, cb)
    })
    const agent = new StallGuardHttpAgent({ tcp })
    t.teardown(() => agent.destroy())

    const req = send('http', { port: server.port, agent })
    await responseOf(req)
    t.equal(seen[0]?.keepAlive, false, 'node:http\'s per-socket options: keepalive off')
    t.same(readSocketTimeouts(req.socket!), expected, 'and the kernel holds ours')

    for (const host of ['127.0.0.1', 'localhost']) {
      const mine = { host, port: server.port, keepAlive: true, keepAliveInitialDelay: 1000 }
      const before = { ...mine }
      const socket = agent.createConnection(mine) as import('node:net').Socket
      t.teardown(() => socket.destroy())
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
      t.same(mine, before, `${host}: the caller's object is unchanged (no keepAlive change, no lookup added)`)
      t.equal(seen.at(-1)?.keepAlive, false, `${host}: Node got a copy with keepalive off`)
      t.same(readSocketTimeouts(socket), expected, `${host}: the kernel holds ours`)
    }
  })
