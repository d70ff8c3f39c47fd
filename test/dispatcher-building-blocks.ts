// The building blocks on undici's own dispatchers: connector() as the
// `connect` of a Pool, Client and ProxyAgent puts our values in the kernel;
// interceptors.deadline()/retry() in compose() end a trickling response and
// retry a stale pooled connection; options fail up front.
import diagnostics from 'node:diagnostics_channel'
import type net from 'node:net'
import t, { type Test } from 'tap'
import { Client, EnvHttpProxyAgent, errors, Pool, ProxyAgent, request, type Dispatcher } from 'undici'
import { connector, DeadlineExceededError, interceptors, readSocketTimeouts, type Connector } from '../lib/index'
import { startForwardProxy } from './fixtures/forward-proxy'
import { PROTOCOLS, startServer, type Protocol } from './fixtures/http'
import { now, since } from './fixtures/timing'
import { ca } from './fixtures/tls'

const TCP = { userTimeout: 4000, keepAliveIdle: 2000, keepAliveInterval: 1000, keepAliveCount: 3 } as const
const IN_KERNEL = { keepAlive: true, keepAliveIdle: 2000, keepAliveInterval: 1000, keepAliveCount: 3, userTimeout: 4000 }

/** Client-side sockets undici connected while `fn` ran (undici:client:connected). */
async function connectedDuring<T>(fn: () => Promise<T>): Promise<{ result: T; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = []
  const onConnected = (message: unknown): void => { sockets.push((message as { socket: net.Socket }).socket) }
  diagnostics.subscribe('undici:client:connected', onConnected)
  try {
    return { result: await fn(), sockets }
  } finally {
    diagnostics.unsubscribe('undici:client:connected', onConnected)
  }
}

function close(t: Test, dispatcher: Dispatcher): void {
  t.teardown(() => dispatcher.destroy())
}

/** Headers at once, then one byte every 100 ms for 5 s: alive, but slow. */
async function trickleServer(t: Test, protocol: Protocol) {
  return startServer(t, protocol, (req, res) => {
    if (req.url === '/fast') return res.end('fast')
    res.writeHead(200, { 'content-length': '50' })
    let sent = 0
    const timer = setInterval(() => {
      res.write('x')
      if (++sent === 50) { clearInterval(timer); res.end() }
    }, 100)
    res.on('close', () => clearInterval(timer))
  })
}

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: Pool + connector({ tcp }) + interceptors.deadline({ deadline: 800 })`, async (t) => {
    const server = await trickleServer(t, protocol)
    const origin = `${protocol}://127.0.0.1:${server.port}`
    const pool = new Pool(origin, { connect: connector({ tcp: TCP, ca }) })
    close(t, pool)
    const dispatcher = pool.compose(interceptors.deadline({ deadline: 800 }))

    const { result, sockets } = await connectedDuring(async () => {
      const res = await request(`${origin}/fast`, { dispatcher })
      return res.body.text()
    })
    t.equal(result, 'fast')
    t.equal(sockets.length, 1, 'one connection')
    t.same(readSocketTimeouts(sockets[0]!), IN_KERNEL, 'our values are in the kernel')

    const start = now()
    const err = await request(`${origin}/trickle`, { dispatcher }).then((res) => res.body.text()).then(
      () => undefined, (e: unknown) => e as Error)
    const elapsed = since(start)
    t.type(err, DeadlineExceededError)
    t.equal((err as DeadlineExceededError | undefined)?.code, 'SG_ERR_DEADLINE_EXCEEDED')
    t.ok(elapsed >= 780 && elapsed < 1300, `ended at ${elapsed} ms (window 780–1300)`)

    // A request's own deadline wins; 0 turns it off for that request.
    const own = await request(`${origin}/trickle`, { dispatcher, deadline: 300 } as never)
      .then((res) => res.body.text()).then(() => undefined, (e: unknown) => e as Error)
    t.equal((own as DeadlineExceededError | undefined)?.deadline, 300)
  })
}

t.test('Client + connector: the values are written while the SYN is in flight, once', async (t) => {
  const server = await startServer(t, 'http', (_req, res) => res.end('ok'))
  const client = new Client(`http://127.0.0.1:${server.port}`, { connect: connector({ tcp: TCP }) })
  close(t, client)
  const { sockets } = await connectedDuring(async () => (await client.request({ path: '/', method: 'GET' })).body.text())
  t.same(readSocketTimeouts(sockets[0]!), IN_KERNEL)
  // undici was told to leave keepalive alone: Node holds no keepalive of its own to re-apply.
  const nodeKeepAlive = Object.getOwnPropertySymbols(sockets[0]!)
    .find((s) => s.description === 'kSetKeepAlive')
  if (nodeKeepAlive) t.notOk((sockets[0] as unknown as Record<symbol, unknown>)[nodeKeepAlive], 'Node keepalive off')
})

t.test('compose(interceptors.retry(), interceptors.deadline()): a stale pooled connection is retried', async (t) => {
  const served = new WeakMap<net.Socket, number>()
  let connections = 0
  const server = await startServer(t, 'http', (req, res) => {
    const before = served.get(req.socket) ?? 0
    if (before === 0) connections++
    served.set(req.socket, before + 1)
    if (req.url === '/stale' && before > 0) return req.socket.destroy()
    res.end('ok')
  })
  const origin = `http://127.0.0.1:${server.port}`
  const pool = new Pool(origin, { connections: 1, connect: connector({ tcp: TCP }) })
  close(t, pool)
  // compose() puts the first interceptor next to the pool: retry inside, the deadline spanning every attempt.
  const retrying = pool.compose(interceptors.retry(), interceptors.deadline({ deadline: 3000 }))
  t.equal(await (await request(`${origin}/first`, { dispatcher: retrying })).body.text(), 'ok')
  t.equal(await (await request(`${origin}/stale`, { dispatcher: retrying })).body.text(), 'ok', 'retried on a fresh connection')
  t.equal(connections, 2)

  const plain = new Pool(origin, { connections: 1, connect: connector({ tcp: TCP }) })
  close(t, plain)
  const once = plain.compose(interceptors.retry({ retry: false }))
  await (await request(`${origin}/first`, { dispatcher: once })).body.text()
  const err = await request(`${origin}/stale`, { dispatcher: once }).then(() => undefined, (e: unknown) => e as Error)
  t.ok(err, 'retry: false lets the stale connection error through')
})

for (const protocol of PROTOCOLS) {
  // ProxyAgent builds the proxy connection's connector itself (from
  // proxyTls) and hands it to `clientFactory` (CONNECT tunnels) or
  // `factory` (undici 8's absolute-form requests for http targets); its
  // `connect` option is not used for the proxy connection. Protect the
  // connector it hands over. EnvHttpProxyAgent passes the same options on to
  // the ProxyAgents it builds (and to the Agent for no_proxy hosts).
  const protect = (origin: string | URL, opts: object): Dispatcher => new Pool(origin, {
    ...opts, connect: connector({ tcp: TCP, connect: (opts as { connect?: Connector }).connect }),
  })
  const proxies: Array<[string, (uri: string) => Dispatcher]> = [
    ['ProxyAgent', (uri) => new ProxyAgent({ uri, clientFactory: protect, factory: protect, requestTls: { ca } })],
    ['EnvHttpProxyAgent', (uri) => new EnvHttpProxyAgent({
      httpProxy: uri, httpsProxy: uri, noProxy: '', clientFactory: protect, factory: protect, requestTls: { ca },
    } as EnvHttpProxyAgent.Options)],
  ]
  for (const [kind, make] of proxies) {
    t.test(`${kind}, ${protocol} target: the connector protects the connection to the proxy`, async (t) => {
      const proxy = await startForwardProxy(t)
      const server = await startServer(t, protocol, (_req, res) => res.end('via proxy'))
      const agent = make(proxy.url)
      close(t, agent)
      const { result, sockets } = await connectedDuring(async () =>
        (await request(`${protocol}://127.0.0.1:${server.port}/`, { dispatcher: agent })).body.text())
      t.equal(result, 'via proxy')
      t.equal(proxy.relayed(), 1, 'the proxy relayed the request')
      const toProxy = sockets.filter((s) => s.remotePort === proxy.port)
      t.ok(toProxy.length >= 1, 'a connection to the proxy')
      for (const socket of toProxy) t.same(readSocketTimeouts(socket), IN_KERNEL, 'the proxy connection carries our values')
    })
  }
}

t.test('options fail up front, naming the option', async (t) => {
  t.throws(() => interceptors.deadline({ deadline: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /deadline .*received -1/ })
  t.throws(() => interceptors.deadline({ deadlin: 800 } as never),
    { code: 'ERR_INVALID_ARG_TYPE', message: /options\.deadlin must be one of deadline \(unknown option; did you mean deadline\?\)/ })
  t.throws(() => interceptors.deadline('800' as never), { code: 'ERR_INVALID_ARG_TYPE', message: /options must be an object/ })
  t.throws(() => interceptors.retry({ retry: 11 }), { code: 'ERR_OUT_OF_RANGE', message: /retry .*received 11/ })
  t.throws(() => connector({ tcp: true as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /tcp must be an object of TCP timeouts or false/ })
  t.throws(() => connector({ tcp: { userTimeout: -5 } }), { code: 'ERR_OUT_OF_RANGE', message: /tcp\.userTimeout/ })
  t.throws(() => connector({ connect: {} as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /connect must be an undici connector/ })
  // undici's own connector options keep undici's errors.
  t.throws(() => connector({ maxCachedSessions: -1 }), { constructor: errors.InvalidArgumentError, code: 'UND_ERR_INVALID_ARG' })
})
