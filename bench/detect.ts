// Time to detect each stall of the stall matrix, stallguard next to the agent
// it replaces. Runs inside a private network namespace (run.ts starts it
// under `unshare -rn`); packets are dropped with nftables. Every flow has its
// own server and port and all run at once, so the whole table takes about
// CAP_MS. Prints one JSON line.
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import { Agent } from 'undici'
import { StallGuardAgent, StallGuardHttpAgent } from 'stallguard'
import { PacketFilter } from '../test/fixtures/netns'
import { fromAgent, fromDispatcher, type StallClient } from './clients'

export const CAP_MS = 20_000
export const TCP = { userTimeout: 3000, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 2 }
const CONNECT_TIMEOUT = 3000

const filter = new PacketFilter()

interface Contender { name: string; make(): StallClient }
const contenders: Contender[] = [
  { name: 'undici.Agent (defaults)', make: () => fromDispatcher(new Agent()) },
  {
    name: 'StallGuardAgent',
    make: () => fromDispatcher(new StallGuardAgent({ tcp: TCP, retry: false, connectTimeout: CONNECT_TIMEOUT })),
  },
  { name: 'http.Agent (keepAlive)', make: () => fromAgent(new http.Agent({ keepAlive: true })) },
  { name: 'StallGuardHttpAgent', make: () => fromAgent(new StallGuardHttpAgent({ tcp: TCP })) },
]

/** A server whose handler decides, per scenario, when the path dies. */
async function serve(handler: http.RequestListener): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer(handler)
  server.on('connection', (s: Socket) => s.on('error', () => {}))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, server }
}

const MiB = 2 ** 20
function upload(total: number): Readable {
  let sent = 0
  const chunk = Buffer.alloc(64 * 1024)
  return new Readable({
    read() {
      if (sent >= total) return this.push(null)
      sent += chunk.length
      this.push(chunk)
    },
  })
}

interface Scenario {
  name: string
  /** Runs one flow; calls `fault()` at the moment the stall begins; resolves when the client has its answer. */
  run(client: StallClient, fault: (port: number) => void): Promise<void>
}

const scenarios: Scenario[] = [
  {
    name: 'pooled keep-alive connection dies, next request written into the void',
    async run(client, fault) {
      const { port } = await serve((_, res) => res.end('ok'))
      await (await client.request(port, { path: '/' })).done
      // Let the connection go back to the pool before the path dies.
      await new Promise((resolve) => setTimeout(resolve, 100))
      fault(port)
      await (await client.request(port, { path: '/' })).done
    },
  },
  {
    name: 'request sent and ACKed, then the path dies before any response',
    async run(client, fault) {
      let port = 0
      ;({ port } = await serve(() => fault(port)))
      await (await client.request(port, { path: '/' })).done
    },
  },
  {
    name: 'headers and part of the body received, then the path dies',
    async run(client, fault) {
      let port = 0
      ;({ port } = await serve((_, res) => {
        res.writeHead(200, { 'content-length': 10 * MiB })
        res.write(Buffer.alloc(MiB), () => setTimeout(() => fault(port), 200))
      }))
      await (await client.request(port, { path: '/' })).done
    },
  },
  {
    name: 'path dies in the middle of a 64 MiB upload',
    async run(client, fault) {
      let port = 0
      ;({ port } = await serve((req, res) => {
        let received = 0
        req.on('data', (c: Buffer) => {
          received += c.length
          if (received >= 8 * MiB && received - c.length < 8 * MiB) fault(port)
        })
        req.on('end', () => res.end('ok'))
      }))
      await (await client.request(port, { method: 'PUT', path: '/', body: upload(64 * MiB) })).done
    },
  },
  {
    name: 'server stops reading an upload (zero window)',
    async run(client, fault) {
      let port = 0
      ;({ port } = await serve((req) => {
        req.once('data', () => {
          req.pause()
          req.socket.pause()
          // The client fills both buffers within moments; the stall starts then.
          setTimeout(() => fault(-1), 500)
        })
      }))
      await (await client.request(port, { method: 'PUT', path: '/', body: upload(256 * MiB) })).done
    },
  },
  {
    name: 'SYN never answered',
    async run(client, fault) {
      const { port, server } = await serve((_, res) => res.end('ok'))
      server.close()
      fault(port)
      await (await client.request(port, { path: '/' })).done
    },
  },
]

interface Measurement { scenario: string; contender: string; ms: number | null; outcome: string }

async function flow(scenario: Scenario, contender: Contender): Promise<Measurement> {
  const client = contender.make()
  let faultAt: number | undefined
  const fault = (port: number): void => {
    if (faultAt !== undefined) return
    if (port > 0) filter.drop(port)
    faultAt = performance.now()
  }
  let timer: NodeJS.Timeout | undefined
  const capped = new Promise<'cap'>((resolve) => { timer = setTimeout(() => resolve('cap'), CAP_MS) })
  const outcome = await Promise.race([
    scenario.run(client, fault).then(() => 'completed', (err: NodeJS.ErrnoException) => {
      const cause = (err.cause ?? {}) as NodeJS.ErrnoException
      return `${err.name}${err.code ? ` ${err.code}` : cause.code ? ` (${cause.code})` : ''}`
    }),
    capped,
  ])
  clearTimeout(timer)
  const elapsed = faultAt === undefined ? null : Math.round(performance.now() - faultAt)
  client.close()
  if (outcome === 'cap') return { scenario: scenario.name, contender: contender.name, ms: null, outcome: `still waiting` }
  return { scenario: scenario.name, contender: contender.name, ms: elapsed, outcome }
}

async function main(): Promise<void> {
  execFileSync('ip', ['link', 'set', 'lo', 'up'])
  const runs = scenarios.flatMap((s) => contenders.map((c) => flow(s, c)))
  const results = await Promise.all(runs)
  process.stdout.write(JSON.stringify({ capMs: CAP_MS, tcp: TCP, connectTimeout: CONNECT_TIMEOUT, results }) + '\n')
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
