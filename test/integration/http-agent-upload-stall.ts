// node:http(s) through the stallguard agents, real kernel: a large upload
// stalls — the path dies mid-upload, or the server stops reading (zero
// window). Data is queued and unacknowledged, so keepalive cannot help:
// TCP_USER_TIMEOUT must (Linux ≥ 5.11 also for the zero window).
import { Readable } from 'node:stream'
import t from 'tap'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../../lib/http/agents'
import { PROTOCOLS, responseOf, send, signal, startServer, type Protocol } from '../fixtures/http'
import { assertKernelTimeout, SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { now, since } from '../fixtures/timing'

const MiB = 1 << 20
const agentFor = (protocol: Protocol) => protocol === 'https'
  ? new StallGuardHttpsAgent({ tcp: SHORT_TCP })
  : new StallGuardHttpAgent({ tcp: SHORT_TCP })

/** `size` bytes, made as they are read. */
function upload(size: number): Readable {
  let left = size
  const chunk = Buffer.alloc(256 * 1024, 0x61)
  return new Readable({
    read() {
      const n = Math.min(left, chunk.length)
      left -= n
      this.push(n > 0 ? chunk.subarray(0, n) : null)
    },
  })
}

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  for (const protocol of PROTOCOLS) {
    t.test(`${protocol}: path dies in the middle of a 48 MiB upload`, async (t) => {
      const midway = signal()
      const server = await startServer(t, protocol, (req) => {
        let received = 0
        req.on('data', (chunk: Buffer) => {
          received += chunk.length
          if (received >= 8 * MiB) midway.resolve()
        })
      })
      const agent = agentFor(protocol)
      t.teardown(() => agent.destroy())
      const body = upload(48 * MiB)
      t.teardown(() => body.destroy())
      const req = send(protocol, { port: server.port, agent, method: 'PUT', body })
      const response = responseOf(req).catch((e: unknown) => e)
      await midway.promise
      filter.drop(server.port, 'to-client')
      const start = now()
      assertKernelTimeout(t, await response, since(start), WRITE_WINDOW, 'upload into a dead path', 'retransmissions', server.port)
      t.ok(req.writableLength > 0 || !body.readableEnded, 'the upload had not finished')
    })

    t.test(`${protocol}: server stops reading a 64 MiB upload (zero window)`, async (t) => {
      const stopped = signal()
      const server = await startServer(t, protocol, (req) => {
        // The application stops reading: buffers fill, the window closes,
        // and the kernel keeps answering window probes.
        req.socket.pause()
        stopped.resolve()
      })
      const agent = agentFor(protocol)
      t.teardown(() => agent.destroy())
      const body = upload(64 * MiB)
      t.teardown(() => body.destroy())
      const start = now()
      const req = send(protocol, { port: server.port, agent, method: 'PUT', body })
      const response = responseOf(req).catch((e: unknown) => e)
      await stopped.promise
      const err = await response
      const elapsed = since(start)
      assertKernelTimeout(t, err, elapsed, { min: WRITE_WINDOW.min, max: WRITE_WINDOW.max + 1000 }, 'upload to a server that stopped reading',
        'zero-window', server.port)
      t.ok(!body.readableEnded, 'the upload never got through: the server really stopped reading')
    })
  }
}
