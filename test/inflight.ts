// Seeing a stall from inside: the deadline error names origin:port, method,
// phase and bytes; `stallguard:deadline` fires with { error, phase };
// agent.inflight() and the process-wide inflight() show a stalled request
// with its phase and no query string; the dump signal prints to stderr.
import { spawn } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import http from 'node:http'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { DeadlineExceededError, inflight, StallGuardAgent, StallGuardHttpAgent, StallGuardHttpsAgent } from '../lib/index'
import type { DeadlineMessage } from '../lib/diagnostics/channels'
import { sleep } from './fixtures/timing'
import { ca } from './fixtures/tls'
import { startTrickleServer } from './fixtures/trickle'

const SECRET = 'X-Amz-Signature=abc123secret'

function subscribeDeadline(t: Test): DeadlineMessage[] {
  const seen: DeadlineMessage[] = []
  const listener = (m: unknown) => seen.push(m as DeadlineMessage)
  diagnostics.subscribe('stallguard:deadline', listener)
  t.teardown(() => diagnostics.unsubscribe('stallguard:deadline', listener))
  return seen
}

t.test('StallGuardAgent: deadline error says origin:port, method, phase, bytes; channel; inflight()', async (t) => {
  const server = await startTrickleServer(t, 'https')
  const seen = subscribeDeadline(t)
  const agent = new StallGuardAgent({ connect: { ca } })
  t.teardown(() => agent.destroy())
  const thinking = request(`${server.url}/think?${SECRET}`, { dispatcher: agent, method: 'POST', body: 'twelve bytes', deadline: 600 })
  const trickling = request(`${server.url}/trickle?rate=20&${SECRET}`, { dispatcher: agent, deadline: 900 }).then((r) => r.body.text())
  await sleep(300)
  const list = agent.inflight()
  t.equal(list.length, 2, 'both requests listed')
  const think = list.find((r) => r.path.startsWith('/think'))
  t.match(think, { method: 'POST', origin: `https://127.0.0.1:${server.port}`, path: '/think?…', phase: 'waiting for headers', bytesSent: 12, deadline: 600 })
  t.ok(think!.age >= 250 && think!.age < 1000, `age ${think!.age} ms`)
  t.match(list.find((r) => r.path.startsWith('/trickle')), { phase: 'receiving body', bytesReceived: Number })
  t.same(inflight().length, 2, 'the process-wide list has them too')
  t.notMatch(JSON.stringify(list), /abc123secret/, 'no query string anywhere in the listing')

  const err = await thinking.catch((e: unknown) => e) as DeadlineExceededError
  t.type(err, DeadlineExceededError)
  t.match(err, { code: 'SG_ERR_DEADLINE_EXCEEDED', phase: 'waiting for headers', method: 'POST', bytesSent: 12, bytesReceived: 0, origin: `https://127.0.0.1:${server.port}` })
  t.match(err.message, new RegExp(`^POST https://127\\.0\\.0\\.1:${server.port}/think\\?… exceeded its deadline of 600 ms while waiting for headers \\(12 bytes sent, 0 bytes received\\)`), err.message)
  const body = await trickling.catch((e: unknown) => e) as DeadlineExceededError
  t.match(body, { phase: 'receiving body' })
  t.ok(body.bytesReceived! > 0, `bytes received: ${body.message}`)
  t.same(seen.map((m) => [m.error.phase, m.phase, m.error instanceof DeadlineExceededError]), [['waiting for headers', 'waiting for headers', true], ['receiving body', 'receiving body', true]], 'stallguard:deadline fired for each, with its phase')
  t.notMatch(seen.map((m) => m.error.message).join('\n'), /abc123secret/, 'no query string in channel payloads')
  t.same(agent.inflight(), [], 'nothing left in flight')
})

t.test('StallGuardAgent: a request queued behind a busy connection is "queued"', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const agent = new StallGuardAgent({ connections: 1 })
  t.teardown(() => agent.destroy())
  const first = request(`${server.url}/think`, { dispatcher: agent, deadline: 800 }).catch((e: unknown) => e)
  const second = request(`${server.url}/think`, { dispatcher: agent, deadline: 400 }).catch((e: unknown) => e)
  const err = await second as DeadlineExceededError
  t.match(err, { phase: 'queued', code: 'SG_ERR_DEADLINE_EXCEEDED' }, err.message)
  await first
})

for (const protocol of ['http', 'https'] as const) {
  t.test(`${protocol} agent: deadline error names the port and phase; inflight() shows the stalled request`, async (t) => {
    const server = await startTrickleServer(t, protocol)
    const seen = subscribeDeadline(t)
    const agent = protocol === 'https' ? new StallGuardHttpsAgent({ deadline: 700 }) : new StallGuardHttpAgent({ deadline: 700 })
    t.teardown(() => agent.destroy())
    const req = (protocol === 'https' ? (await import('node:https')).request : http.request)({
      host: '127.0.0.1', port: server.port, path: `/think?${SECRET}`, method: 'PUT', agent, ...(protocol === 'https' ? { ca } : {}),
    })
    const failed = once(req, 'error').then(([e]) => e as DeadlineExceededError)
    req.end('0123456789')
    await sleep(300)
    const list = agent.inflight()
    t.equal(list.length, 1)
    t.match(list[0], { method: 'PUT', origin: `${protocol}://127.0.0.1:${server.port}`, path: '/think?…', phase: 'waiting for headers', deadline: 700 })
    t.equal(list[0]!.bytesSent, 10, 'request body bytes, as StallGuardAgent counts them (headers not included)')
    t.ok(list[0]!.tcpInfo === undefined || typeof list[0]!.tcpInfo.unacked === 'number', 'tcpInfo summary where the platform has it')
    t.notMatch(JSON.stringify(list), /abc123secret/)
    const err = await failed
    t.type(err, DeadlineExceededError)
    t.match(err.message, new RegExp(`^PUT ${protocol}://127\\.0\\.0\\.1:${server.port}/think\\?… exceeded its deadline of 700 ms while waiting for headers \\(10 bytes sent, 0 bytes received\\)`), err.message)
    t.match(seen[0], { phase: 'waiting for headers' })
    t.same(agent.inflight(), [])
  })
}

t.test('the dump signal prints the in-flight requests to stderr (child process)', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'inflight-child.ts'), server.url], {
    env: { ...process.env, STALLGUARD_DUMP_SIGNAL: 'SIGUSR2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { child.kill() })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d })
  const [ready] = await once(child.stdout, 'data') as [Buffer]
  t.match(ready.toString(), /ready/)
  await sleep(200)
  child.kill('SIGUSR2')
  for (let i = 0; i < 50 && !stderr.includes('in flight'); i++) await sleep(50)
  t.match(stderr, /stallguard: 2 requests in flight \(pid \d+\)/, stderr)
  t.match(stderr, new RegExp(`GET http://127\\.0\\.0\\.1:${server.port}/think\\?… waiting for headers for \\d+\\.\\d s: \\d+ bytes sent, 0 bytes received`))
  t.match(stderr, /GET http:\/\/127\.0\.0\.1:\d+\/trickle\?… receiving body/)
  t.notMatch(stderr, /abc123secret/, 'no query string in the dump')
  t.equal(child.exitCode, null, 'the signal did not kill the process')
})

t.test('bytesSent is request body bytes on both agents: 0 for a GET, the body for a POST', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const undiciAgent = new StallGuardAgent({ deadline: 300 })
  const httpAgent = new StallGuardHttpAgent({ deadline: 300 })
  t.teardown(() => undiciAgent.destroy())
  t.teardown(() => httpAgent.destroy())
  for (const [method, body] of [['GET', undefined], ['POST', 'seventeen bytes!!']] as const) {
    const viaUndici = await request(`${server.url}/think`, { dispatcher: undiciAgent, method, body }).catch((e: unknown) => e) as DeadlineExceededError
    const req = http.request(`${server.url}/think`, { agent: httpAgent, method })
    const failed = once(req, 'error').then(([e]) => e as DeadlineExceededError)
    req.end(body)
    const viaHttp = await failed
    const expected = body === undefined ? 0 : Buffer.byteLength(body)
    t.equal(viaUndici.bytesSent, expected, `${method} through StallGuardAgent: ${expected}`)
    t.equal(viaHttp.bytesSent, expected, `${method} through StallGuardHttpAgent: ${expected}`)
  }
})

t.test('bytesReceived is response body bytes on both agents: the header block is not counted', async (t) => {
  // Headers, then exactly 1000 of the 5000 promised body bytes, then nothing: the deadline reads the count.
  const server = http.createServer((req, res) => {
    if (req.url === '/full') return res.end('a whole response first')
    res.writeHead(200, { 'content-length': '5000', 'x-padding': 'p'.repeat(300) })
    res.write(Buffer.alloc(1000, 'b'))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/partial`
  const undiciAgent = new StallGuardAgent({ deadline: 400 })
  const httpAgent = new StallGuardHttpAgent({ deadline: 400 })
  t.teardown(() => undiciAgent.destroy())
  t.teardown(() => httpAgent.destroy())
  const origin = url.replace('/partial', '')
  // Round 2 runs on a kept-alive socket whose counters carry a whole earlier response.
  for (const round of [1, 2]) {
    if (round === 2) {
      await request(`${origin}/full`, { dispatcher: undiciAgent }).then((res) => res.body.text())
      await new Promise((resolve) => http.get(`${origin}/full`, { agent: httpAgent }, (res) => res.resume().on('end', resolve)))
    }
    const viaUndici = await request(url, { dispatcher: undiciAgent }).then((res) => res.body.text()).catch((e: unknown) => e) as DeadlineExceededError
    const viaHttp = await new Promise<DeadlineExceededError>((resolve) => {
      http.get(url, { agent: httpAgent }, (res) => {
        res.on('data', () => {})
        res.on('error', resolve)
      }).on('error', resolve)
    })
    t.match(viaUndici, { name: 'DeadlineExceededError', phase: 'receiving body', bytesReceived: 1000 }, `round ${round}: StallGuardAgent counts 1000`)
    t.match(viaHttp, { name: 'DeadlineExceededError', phase: 'receiving body', bytesReceived: 1000 }, `round ${round}: StallGuardHttpAgent counts 1000`)
  }
})
