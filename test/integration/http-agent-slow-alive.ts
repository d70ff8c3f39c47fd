// node:http(s) through the stallguard agents, real kernel: a server that is
// slow but alive (10 s think time, then a body trickled over 4 s) answers
// keepalive probes, so the kernel layer must leave it alone.
import t, { type Test } from 'tap'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../../lib/http/agents'
import { fetchBody, PROTOCOLS, startServer, type Protocol } from '../fixtures/http'
import { SHORT_TCP } from '../fixtures/kernel-window'
import { enterNetns } from '../fixtures/netns'
import { now, since } from '../fixtures/timing'

const THINK_MS = 10_000
const CHUNKS = 5
const CHUNK_GAP_MS = 1000

async function slowButAlive(t: Test, protocol: Protocol): Promise<void> {
  const server = await startServer(t, protocol, (_req, res) => {
    setTimeout(() => {
      res.writeHead(200)
      let sent = 0
      const timer = setInterval(() => {
        res.write(`chunk ${++sent}\n`)
        if (sent === CHUNKS) {
          clearInterval(timer)
          res.end()
        }
      }, CHUNK_GAP_MS)
      res.on('close', () => clearInterval(timer))
    }, THINK_MS)
  })
  const agent = protocol === 'https'
    ? new StallGuardHttpsAgent({ tcp: SHORT_TCP })
    : new StallGuardHttpAgent({ tcp: SHORT_TCP })
  t.teardown(() => agent.destroy())
  const start = now()
  const { status, body } = await fetchBody(protocol, { port: server.port, agent })
  const elapsed = since(start)
  t.equal(status, 200, `${protocol}: succeeded after ${elapsed} ms`)
  t.equal(body.toString().split('\n').filter(Boolean).length, CHUNKS, `${protocol}: the whole trickled body arrived`)
  t.ok(elapsed >= THINK_MS + (CHUNKS - 1) * CHUNK_GAP_MS, `${protocol}: it really was slow`)
}

if (enterNetns(t, __filename)) {
  t.test('slow but alive server succeeds over http and https (user timeout 2 s, keepalive 1 s/1 s/1)', async (t) => {
    // Both at once: each takes ~15 s of wall time.
    await Promise.all(PROTOCOLS.map((protocol) => slowButAlive(t, protocol)))
  })
}
