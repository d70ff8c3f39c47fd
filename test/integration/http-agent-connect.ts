// node:http(s) through the stallguard agents, real kernel: a SYN nobody
// answers. node:http has no connect timeout; the kernel retries the SYN for
// ~130 s. The agents put TCP_USER_TIMEOUT on the socket as soon as the
// connect call has created it, and Linux (>= 5.4) bounds SYN retries by it.
import t from 'tap'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../../lib/http/agents'
import { PROTOCOLS, responseOf, send, startServer } from '../fixtures/http'
import { assertKernelTimeout, SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { now, since } from '../fixtures/timing'

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  for (const protocol of PROTOCOLS) {
    t.test(`${protocol}: unanswered SYN fails within the user timeout`, async (t) => {
      const server = await startServer(t, protocol, (_req, res) => res.end('ok'))
      const agent = protocol === 'https'
        ? new StallGuardHttpsAgent({ tcp: SHORT_TCP })
        : new StallGuardHttpAgent({ tcp: SHORT_TCP })
      t.teardown(() => agent.destroy())
      filter.drop(server.port, 'to-server')
      const start = now()
      const err = await responseOf(send(protocol, { port: server.port, agent })).catch((e: unknown) => e)
      assertKernelTimeout(t, err, since(start), WRITE_WINDOW, 'connect to a peer that never answers',
        'retransmissions', server.port)
      t.match(err, { syscall: 'connect', message: /the peer never answered the handshake/ })
    })
  }
}
