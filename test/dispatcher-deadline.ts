// Stall matrix, scenario 8, against live (slow) loopback servers: the
// `deadline` fires on time wherever the request is, destroys its socket and
// request body, leaves the agent usable, and composes with a caller's
// AbortSignal (the earlier one wins and says so).
import type net from 'node:net'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { DeadlineExceededError, StallGuardAgent, type StallGuardAgentOptions } from '../lib/index'
import { PROTOCOLS, startServer, type Protocol } from './fixtures/http'
import { assertFailed, assertSucceeded, FaultClock, settle, type Expected } from './fixtures/outcome'
import { closedWithin, sleep } from './fixtures/timing'
import { callerFor, TRUST_TEST_CA, VIAS, type Via } from './fixtures/undici-callers'

/** '/quick' answers at once; '/late' after 1 s; '/trickle' sends headers, then 100 bytes every 100 ms forever. */
async function slowServer(t: Test, protocol: Protocol) {
  const trickled: net.Socket[] = []
  const server = await startServer(t, protocol, (req, res) => {
    req.resume()
    if (req.url === '/quick') return res.end('quick')
    if (req.url === '/late') return setTimeout(() => res.end('late'), 1000)
    if (req.url === '/upload') return req.on('end', () => res.end('uploaded'))
    trickled.push(req.socket)
    res.writeHead(200, { 'content-type': 'text/plain' })
    const timer = setInterval(() => res.write('x'.repeat(100)), 100)
    res.on('close', () => clearInterval(timer))
  })
  return { ...server, url: `${protocol}://127.0.0.1:${server.port}`, trickled }
}

function agent(t: Test, options: StallGuardAgentOptions = {}): StallGuardAgent {
  const a = new StallGuardAgent({ ...TRUST_TEST_CA, ...options })
  t.teardown(() => a.destroy())
  return a
}

// libuv arms timers against its loop clock, cached once per loop iteration:
// under load a timer started late in a long iteration fires up to a few tens
// of ms early by performance.now(). Seen in CI: 794 ms for 800.
const deadline = (ms: number): Expected => ({
  name: 'DeadlineExceededError', code: 'SG_ERR_DEADLINE_EXCEEDED', type: DeadlineExceededError, window: { min: ms - 30, max: ms + 400 },
})

const combos = PROTOCOLS.flatMap((protocol) => VIAS.map((via) => ({ protocol, via })))
const name = (protocol: Protocol, via: Via) => `${protocol}, ${via}`

for (const { protocol, via } of combos) {
  t.test(`${name(protocol, via)}: deadline fires mid-body; socket destroyed; the agent carries on`, async (t) => {
    const server = await slowServer(t, protocol)
    const call = callerFor(via, agent(t, { deadline: 800 }))
    const o = await settle('mid-body', via, call(`${server.url}/trickle`), new FaultClock('dispatch'), 3000)
    assertFailed(t, o, deadline(800))
    t.match(o.chain.find((l) => l.name === 'DeadlineExceededError'), { layer: 'deadline', message: /GET .*\/trickle exceeded its deadline of 800 ms/ },
      'the error names the request and the budget')
    const serverSide = server.trickled[0]!
    await closedWithin(serverSide, 1000)
    t.equal(serverSide.destroyed, true, 'the half-read connection was closed, not pooled')
    const next = await settle('next request', via, call(`${server.url}/quick`), new FaultClock('dispatch'), 3000)
    assertSucceeded(t, next, 5)
  })

  t.test(`${name(protocol, via)}: a caller's AbortSignal wins when it is earlier, the deadline when it is`, async (t) => {
    const server = await slowServer(t, protocol)
    const call = callerFor(via, agent(t, { deadline: 600 }))
    const early = settle('signal first', via, call(`${server.url}/trickle`, { signal: AbortSignal.timeout(200) }), new FaultClock('dispatch'), 3000)
    const late = settle('deadline first', via, call(`${server.url}/trickle`, { signal: AbortSignal.timeout(2000) }), new FaultClock('dispatch'), 3000)
    const [signalFirst, deadlineFirst] = await Promise.all([early, late])
    t.equal(signalFirst.ok, false, 'the signal aborted the request')
    t.notOk(signalFirst.chain.some((l) => l.name === 'DeadlineExceededError'), 'no deadline error when the signal fired first')
    t.ok(signalFirst.chain.some((l) => l.name === 'TimeoutError'),
      `the signal's reason reaches the caller [${signalFirst.chain.map((l) => l.name).join(' ← ')}]`)
    t.ok(signalFirst.elapsed < 600, `ended by the signal after ${signalFirst.elapsed} ms`)
    assertFailed(t, deadlineFirst, deadline(600))
  })
}

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: per-request deadline through undici.request`, async (t) => {
    const server = await slowServer(t, protocol)
    const dispatcher = agent(t, { deadline: 300 })
    const call = callerFor('request', dispatcher)
    const own = await settle('own deadline', 'request', call(`${server.url}/trickle`, { deadline: 500 }), new FaultClock('dispatch'), 3000)
    assertFailed(t, own, deadline(500))
    const off = await settle('deadline 0 turns it off', 'request', call(`${server.url}/late`, { deadline: 0 }), new FaultClock('dispatch'), 3000)
    assertSucceeded(t, off, 4)
    // The per-request option typechecks on undici.request itself (module augmentation).
    const res = await request(`${server.url}/quick`, { dispatcher, deadline: 1000 })
    t.equal(await res.body.text(), 'quick')
  })

  t.test(`${protocol}: deadline mid-upload destroys the request body stream`, async (t) => {
    const server = await slowServer(t, protocol)
    const call = callerFor('request', agent(t))
    let sent = 0
    const body = new Readable({
      read() {
        // 16 KiB every 50 ms, forever: the upload outlives the deadline.
        setTimeout(() => { sent += 16384; this.push(Buffer.alloc(16384)) }, 50)
      },
    })
    body.on('error', () => {})
    const o = await settle('mid-upload', 'request', call(`${server.url}/upload`, { method: 'PUT', body, deadline: 500 }), new FaultClock('dispatch'), 3000)
    assertFailed(t, o, deadline(500))
    t.ok(sent > 0, `the upload was under way (${sent} bytes)`)
    t.equal(body.destroyed, true, 'the request body stream was destroyed')
  })

  t.test(`${protocol}: deadline while the request waits for a connection`, async (t) => {
    const server = await slowServer(t, protocol)
    // One connection, no pipelining: the second request queues behind '/late'.
    const dispatcher = agent(t, { connections: 1, pipelining: 1 })
    const call = callerFor('request', dispatcher)
    const first = settle('first', 'request', call(`${server.url}/late`), new FaultClock('dispatch'), 3000)
    const body = Readable.from(['queued ', 'body'])
    body.on('error', () => {})
    const queued = await settle('queued', 'request', call(`${server.url}/upload`, { method: 'PUT', body, deadline: 200 }), new FaultClock('dispatch'), 3000)
    assertFailed(t, queued, deadline(200))
    t.equal(body.destroyed, true, 'its body stream was destroyed')
    assertSucceeded(t, await first, 4)
    assertSucceeded(t, await settle('after', 'request', call(`${server.url}/quick`), new FaultClock('dispatch'), 3000), 5)
  })
}

t.test('a bad per-request deadline is reported to that request, naming the option', async (t) => {
  const server = await slowServer(t, 'http')
  const call = callerFor('request', agent(t))
  await t.rejects(call(`${server.url}/quick`, { deadline: -5 }), {
    code: 'ERR_OUT_OF_RANGE',
    message: /the request option deadline must be an integer from 1 to 2147483647 ms \(or 0\/false for no deadline\); received -5/,
  })
  await t.rejects(call(`${server.url}/quick`, { deadline: '1s' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' })
})
