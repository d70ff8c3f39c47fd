// minThroughput on StallGuardAgent against live servers (HTTP/1.1 over http
// and https, HTTP/2), through undici.request and undici's fetch: a trickle
// below the floor fails within grace + 1 s, the same trickle above it
// passes, a paused consumer and a large fast body are left alone, a
// crawling upload fails and its body stream is destroyed.
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import { DeadlineExceededError, interceptors, StallGuardAgent, StalledStreamError, type StallGuardAgentOptions } from '../lib/index'
import { assertFailed, assertSucceeded, FaultClock, settle, type Expected } from './fixtures/outcome'
import { closedWithin, sleep } from './fixtures/timing'
import { startTrickleServer, type Wire } from './fixtures/trickle'
import { callerFor, TRUST_TEST_CA, VIAS } from './fixtures/undici-callers'

const WIRES: readonly Wire[] = ['http', 'https', 'h2']
const GRACE = 1000
const floor = (bytesPerSecond: number) => ({ bytesPerSecond, grace: GRACE })

function agent(t: Test, wire: Wire, options: StallGuardAgentOptions = {}): StallGuardAgent {
  const a = new StallGuardAgent({ ...TRUST_TEST_CA, allowH2: wire === 'h2', ...options })
  t.teardown(() => a.destroy())
  return a
}

const stalled: Expected = {
  name: 'StalledStreamError', code: 'SG_ERR_STALLED_STREAM', type: StalledStreamError, window: { min: GRACE - 30, max: GRACE + 1000 },
}

for (const wire of WIRES) {
  for (const via of VIAS) {
    t.test(`${wire}, ${via}: 10 B/s trickle fails at a 100 B/s floor, passes at 5 B/s`, async (t) => {
      const server = await startTrickleServer(t, wire)
      const strict = callerFor(via, agent(t, wire, { minThroughput: floor(100) }))
      const o = await settle('100 B/s floor', via, strict(`${server.url}/trickle?rate=10&X-Amz-Signature=secret`), new FaultClock('dispatch'), 4000)
      assertFailed(t, o, stalled)
      const link = o.chain.find((l) => l.name === 'StalledStreamError')
      t.match(link, { layer: 'throughput', message: /^GET https?:\/\/127\.0\.0\.1:\d+\/trickle\?…: download stalled at [\d.]+ B\/s over the last 1\.\d s, below the minimum of 100 B\/s \(\d+ bytes received so far\)/ },
        `the error names the request (no query string), direction, rate, floor and bytes: ${link?.message}`)
      t.notMatch(link?.message ?? '', /secret/, 'no query string in the message')
      if (wire !== 'h2') {
        const serverSide = server.sockets[0]!
        await closedWithin(serverSide, 1000)
        t.equal(serverSide.destroyed, true, 'the half-read connection was closed, not pooled')
      }
      const lenient = callerFor(via, agent(t, wire, { minThroughput: floor(5) }))
      const ok = await settle('5 B/s floor', via, lenient(`${server.url}/trickle?rate=10&total=25`), new FaultClock('dispatch'), 6000)
      assertSucceeded(t, ok, 25)
    })
  }

  t.test(`${wire}: a slow body above the floor, a paused consumer and a 64 MiB body all succeed`, async (t) => {
    const server = await startTrickleServer(t, wire)
    const dispatcher = agent(t, wire, { minThroughput: floor(100) })
    const slow = await settle('1 KiB/s against 100 B/s', 'request', callerFor('request', dispatcher)(`${server.url}/trickle?rate=1000&total=2500`), new FaultClock('dispatch'), 8000)
    assertSucceeded(t, slow, 2500)

    // A consumer that reads nothing for 3 × grace: the body stops because of
    // us (back-pressure), which is not a stall.
    const res = await request(`${server.url}/fast?n=${8 * 1024 * 1024}`, { dispatcher })
    await sleep(3 * GRACE)
    let got = 0
    for await (const chunk of res.body) got += (chunk as Buffer).length
    t.equal(got, 8 * 1024 * 1024, 'the paused consumer read the whole body afterwards')

    // 64 MiB over HTTP/1.1 and HTTP/2 (TLS adds nothing to measure here, only run time).
    if (wire === 'https') return
    const big = await request(`${server.url}/fast?n=${64 * 1024 * 1024}`, { dispatcher })
    let bytes = 0
    for await (const chunk of big.body) bytes += (chunk as Buffer).length
    t.equal(bytes, 64 * 1024 * 1024, '64 MiB at full speed')
  })

  // undici reports no upload progress for an HTTP/2 stream body (its
  // onBodySent listens on the wrong side of the pipe): such an upload is
  // left to the deadline, see the next test.
  if (wire !== 'h2') t.test(`${wire}: a crawling upload fails; its body stream is destroyed`, async (t) => {
    const server = await startTrickleServer(t, wire)
    const dispatcher = agent(t, wire, { minThroughput: floor(64 * 1024) })
    let produced = 0
    const body = new Readable({
      read() {
        produced += 64 * 1024
        this.push(produced > 512 * 1024 * 1024 ? null : Buffer.alloc(64 * 1024, 'u'))
      },
    })
    body.on('error', () => {})
    const o = await settle('crawl', 'request', callerFor('request', dispatcher)(`${server.url}/crawl?rate=100`, { method: 'PUT', body }), new FaultClock('dispatch'), 5000)
    assertFailed(t, o, { ...stalled, window: { min: GRACE - 30, max: GRACE + 1500 } })
    t.match(o.chain[0], { message: /PUT .*\/crawl\?…: upload stalled/ }, `${o.chain[0]?.message}`)
    t.equal(body.destroyed, true, 'the request body stream was destroyed')
  })
}

t.test('h2: an upload whose progress undici does not report is not failed as stalled', async (t) => {
  const server = await startTrickleServer(t, 'h2')
  const dispatcher = agent(t, 'h2', { minThroughput: floor(1024) })
  const body = Readable.from((async function* () {
    for (let i = 0; i < 40; i++) { yield Buffer.alloc(16 * 1024, 'u'); await sleep(50) }
  })())
  const o = await settle('2 s fast upload', 'request', callerFor('request', dispatcher)(`${server.url}/upload`, { method: 'PUT', body }), new FaultClock('dispatch'), 6000)
  assertSucceeded(t, o)
})

t.test('per-request minThroughput overrides the agent (false turns it off); a bad one is reported', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const dispatcher = agent(t, 'http', { minThroughput: floor(100) })
  const off = await request(`${server.url}/trickle?rate=10&total=20`, { dispatcher, minThroughput: false })
  t.equal((await off.body.text()).length, 20, 'minThroughput: false let a 10 B/s body finish')
  const plain = agent(t, 'http')
  const o = await settle('per-request floor', 'request',
    request(`${server.url}/trickle?rate=10`, { dispatcher: plain, minThroughput: floor(100) }).then(async (r) => ({ status: r.statusCode, body: Buffer.from(await r.body.arrayBuffer()) })),
    new FaultClock('dispatch'), 4000)
  assertFailed(t, o, stalled)
  await t.rejects(request(`${server.url}/trickle`, { dispatcher, minThroughput: { bytesPerSecond: -1, grace: 1000 } }), {
    code: 'ERR_OUT_OF_RANGE', message: /the request option minThroughput\.bytesPerSecond must be/,
  })
  t.throws(() => new StallGuardAgent({ minThroughput: { bytesPerSecond: 1, grace: 10 } }), {
    code: 'ERR_OUT_OF_RANGE', message: /minThroughput\.grace must be an integer from 100 to 2147483647 ms; received 10/,
  })
  t.throws(() => new StallGuardAgent({ minThroughput: 'fast' as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /minThroughput must be true/ })
})

t.test('defaults are off: a server-sent-events stream quiet for longer than a grace is untouched', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const dispatcher = agent(t, 'http')
  const pending = request(`${server.url}/quiet?ms=2500`, { dispatcher })
  const res = await pending
  t.same(dispatcher.inflight().map((r) => r.minThroughput), [undefined], 'no floor on a request of a default agent')
  t.equal(await res.body.text(), 'data: first\n\ndata: second\n\n', '2.5 s of silence, then the stream ended normally')
  // The same silence fails with a floor, so the test above could have failed.
  const guarded = agent(t, 'http', { minThroughput: floor(1) })
  const o = await settle('with a floor', 'request', callerFor('request', guarded)(`${server.url}/quiet?ms=2500`), new FaultClock('dispatch'), 4000)
  assertFailed(t, o, stalled)
})

t.test('deadline and minThroughput compose: whichever is due first fires', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const dispatcher = agent(t, 'http', { minThroughput: floor(100), deadline: 600 })
  const o = await settle('deadline first', 'request', callerFor('request', dispatcher)(`${server.url}/trickle?rate=10`), new FaultClock('dispatch'), 3000)
  assertFailed(t, o, { name: 'DeadlineExceededError', code: 'SG_ERR_DEADLINE_EXCEEDED', type: DeadlineExceededError, window: { min: 570, max: 1000 } })
  const signal = await settle('signal first', 'request', callerFor('request', dispatcher)(`${server.url}/trickle?rate=10`, { signal: AbortSignal.timeout(200), deadline: 0 }), new FaultClock('dispatch'), 3000)
  t.ok(signal.chain.some((l) => l.name === 'TimeoutError') && !signal.chain.some((l) => l.name === 'StalledStreamError'), 'the signal won')
  const floorFirst = await settle('floor first', 'request', callerFor('request', dispatcher)(`${server.url}/trickle?rate=10`, { deadline: 5000 }), new FaultClock('dispatch'), 4000)
  assertFailed(t, floorFirst, stalled)
})

t.test('interceptors.minThroughput on a plain undici Agent', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const plain = new Agent()
  t.teardown(() => plain.destroy())
  const dispatcher = plain.compose(interceptors.minThroughput({ minThroughput: floor(100) }))
  const o = await settle('composed', 'request', callerFor('request', dispatcher)(`${server.url}/trickle?rate=10`), new FaultClock('dispatch'), 4000)
  assertFailed(t, o, stalled)
})
