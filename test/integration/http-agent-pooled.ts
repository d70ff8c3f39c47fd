// node:http(s) through the stallguard agents, real kernel: a pooled
// keep-alive connection dies silently and the next request is written into
// the void. Without the agent this takes ~940 s (tcp_retries2).
import t from 'tap'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../../lib/http/agents'
import { fetchBody, PROTOCOLS, responseOf, send, startServer } from '../fixtures/http'
import { assertKernelTimeout, SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { now, since, sleep } from '../fixtures/timing'

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  for (const protocol of PROTOCOLS) {
    t.test(`${protocol}: pooled connection died → next request fails within the user timeout`, async (t) => {
      const server = await startServer(t, protocol, (_req, res) => res.end('ok'))
      const agent = protocol === 'https'
        ? new StallGuardHttpsAgent({ tcp: SHORT_TCP })
        : new StallGuardHttpAgent({ tcp: SHORT_TCP })
      t.teardown(() => agent.destroy())
      const first = await fetchBody(protocol, { port: server.port, agent })
      t.equal(first.body.toString(), 'ok')
      await sleep(20)
      // The server's packets vanish: our request leaves, its ACK never comes back.
      filter.drop(server.port, 'to-client')
      const start = now()
      const req = send(protocol, { port: server.port, agent })
      const err = await responseOf(req).catch((e: unknown) => e)
      t.equal(req.reusedSocket, true, 'the request went out on the pooled connection')
      assertKernelTimeout(t, err, since(start), WRITE_WINDOW, 'request on the dead pooled connection',
        'retransmissions', server.port)
      filter.heal()
      const after = await fetchBody(protocol, { port: server.port, agent })
      t.equal(after.body.toString(), 'ok', 'the agent recovers on a new connection once the path is back')
      t.equal(after.reused, false)
    })
  }
}
