// node:http(s) through the stallguard agents, real kernel: the request was
// delivered and acknowledged, then the path died — before the response
// headers, or in the middle of the body. Nothing is in flight from the
// client, so only keepalive can notice; the body stream must say why.
import type http from 'node:http'
import t, { type Test } from 'tap'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../../lib/http/agents'
import { bodyOf, PROTOCOLS, responseOf, send, signal, startServer, type Protocol } from '../fixtures/http'
import { assertKernelTimeout, IDLE_WINDOW, SHORT_TCP } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { now, since, sleep } from '../fixtures/timing'

const agentFor = (protocol: Protocol) => protocol === 'https'
  ? new StallGuardHttpsAgent({ tcp: SHORT_TCP })
  : new StallGuardHttpAgent({ tcp: SHORT_TCP })

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  for (const protocol of PROTOCOLS) {
    t.test(`${protocol}: path dies after the request was acknowledged, before any response`, async (t) => {
      const arrived = signal()
      const server = await startServer(t, protocol, () => arrived.resolve())
      const agent = agentFor(protocol)
      t.teardown(() => agent.destroy())
      const req = send(protocol, { port: server.port, agent })
      const response = responseOf(req).catch((e: unknown) => e)
      await arrived.promise
      await sleep(50)
      filter.drop(server.port)
      const start = now()
      assertKernelTimeout(t, await response, since(start), IDLE_WINDOW, 'waiting for the response', 'probes', server.port)
    })

    t.test(`${protocol}: path dies in the middle of the response body`, async (t) => {
      const { err, requestError } = await dieMidBody(t, filter, protocol, { 'content-length': String(1 << 20) })
      t.match(err, { message: /TCP_USER_TIMEOUT 2000 ms; keepalive idle 1 s, interval 1 s, count 1/ })
      t.equal(await requestError, err, 'the request reports the same error')
    })

    t.test(`${protocol}: path dies in a body that the connection's end delimits: it fails, never ends short`, async (t) => {
      // No content-length, no chunking: the body runs until the server closes.
      const { res, ended } = await dieMidBody(t, filter, protocol, { connection: 'close' })
      t.equal(res.headers['content-length'], undefined)
      t.equal(res.headers['transfer-encoding'], undefined)
      await sleep(50)
      t.equal(ended(), false, 'the truncated body never ended as if complete')
    })
  }
}

/**
 * The server sends `headers` and 64 KiB of body, then the path dies: the
 * body stream must fail with the kernel's verdict, in the window.
 */
async function dieMidBody(t: Test, filter: PacketFilter, protocol: Protocol, headers: http.OutgoingHttpHeaders) {
  const server = await startServer(t, protocol, (_req, res) => {
    if (headers['content-length'] === undefined) res.removeHeader('transfer-encoding')
    res.writeHead(200, headers)
    res.write(Buffer.alloc(64 * 1024))
  })
  const agent = agentFor(protocol)
  t.teardown(() => agent.destroy())
  const req = send(protocol, { port: server.port, agent })
  const requestError = new Promise((resolve) => req.on('error', resolve))
  const res: http.IncomingMessage = await responseOf(req)
  let ended = false
  res.on('end', () => { ended = true })
  const body = bodyOf(res).catch((e: unknown) => e)
  await sleep(100)
  filter.drop(server.port)
  const start = now()
  const err = await body
  assertKernelTimeout(t, err, since(start), IDLE_WINDOW, 'the response body stream', 'probes', server.port)
  return { err, res, requestError, ended: () => ended }
}
