// HTTP/2 (undici 8's default, opt-in on undici 7 with allowH2): the kernel
// options go on the one socket under the session; a deadline resets only
// its own stream and the session carries the other streams on.
import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import http2 from 'node:http2'
import type net from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { DeadlineExceededError, readSocketTimeouts, StallGuardAgent } from '../lib/index'
import { ca, cert, key } from './fixtures/tls'

t.test('h2: one socket with our options; a deadline resets its stream, not the session', async (t) => {
  const server = http2.createSecureServer({ key, cert }, (req, res) => {
    if (req.url === '/trickle') {
      res.writeHead(200)
      const timer = setInterval(() => res.write('x'), 50)
      res.on('close', () => clearInterval(timer))
      return
    }
    res.end(`h${req.httpVersion}`)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => sessions.add(s))
  t.teardown(() => { for (const s of sessions) s.destroy(); server.close() })

  const sockets: net.Socket[] = []
  const onConnected = (m: unknown) => sockets.push((m as { socket: net.Socket }).socket)
  diagnostics.subscribe('undici:client:connected', onConnected)
  t.teardown(() => diagnostics.unsubscribe('undici:client:connected', onConnected))

  const agent = new StallGuardAgent({
    allowH2: true,
    // One session per origin, so every stream below shares it.
    connections: 1,
    connect: { ca },
    tcp: { userTimeout: 3000, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 2 },
  })
  t.teardown(() => agent.destroy())
  const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`

  const first = await request(`${url}/`, { dispatcher: agent })
  t.equal(await first.body.text(), 'h2.0', 'spoke HTTP/2')
  t.equal(sockets.length, 1, 'one connection')
  t.match(readSocketTimeouts(sockets[0]!), { userTimeout: 3000, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 2 })

  const slow = request(`${url}/trickle`, { dispatcher: agent, deadline: 300 }).then((r) => r.body.text())
  const meanwhile = request(`${url}/`, { dispatcher: agent }).then((r) => r.body.text())
  await t.rejects(slow, DeadlineExceededError, 'the slow stream hit its deadline')
  t.equal(await meanwhile, 'h2.0', 'another stream on the session completed')
  t.equal(sockets[0]!.destroyed, false, 'the session socket survived the reset stream')
  const after = await request(`${url}/`, { dispatcher: agent })
  t.equal(await after.body.text(), 'h2.0')
  t.equal(sockets.length, 1, 'still the same single connection')
})
