// minThroughput on the node:http(s) agents against live servers: a trickle
// below the floor fails within grace + 1 s with the socket destroyed, the
// same trickle passes above it, a paused consumer and a 64 MiB body are
// left alone, a crawling upload fails, an SSE stream is untouched by
// default; and the AWS SDK's GetObject body trickled by a server we control.
import http from 'node:http'
import https from 'node:https'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import t, { type Test } from 'tap'
import { StallGuardHttpAgent, StallGuardHttpsAgent, StalledStreamError, type MinThroughputOption } from '../lib/index'
import { findCause } from './fixtures/outcome'
import { now, since, sleep } from './fixtures/timing'
import { ca } from './fixtures/tls'
import { startTrickleServer } from './fixtures/trickle'
import type { Protocol } from './fixtures/http'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

const PROTOCOLS: readonly Protocol[] = ['http', 'https']
const GRACE = 1000
const floor = (bytesPerSecond: number) => ({ bytesPerSecond, grace: GRACE })

function agentFor(t: Test, protocol: Protocol, minThroughput?: MinThroughputOption): http.Agent {
  const agent = protocol === 'https' ? new StallGuardHttpsAgent({ minThroughput }) : new StallGuardHttpAgent({ minThroughput })
  t.teardown(() => agent.destroy())
  return agent
}

interface Got { res: http.IncomingMessage; req: http.ClientRequest }

function get(protocol: Protocol, port: number, agent: http.Agent, path: string, extra: Record<string, unknown> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path, agent, ...(protocol === 'https' ? { ca } : {}), ...extra }
    const req = (protocol === 'https' ? https : http).request(options)
    req.on('error', reject)
    req.on('response', (res) => resolve({ res, req }))
    req.end()
  })
}

async function readAll(res: http.IncomingMessage): Promise<number> {
  let n = 0
  for await (const chunk of res) n += (chunk as Buffer).length
  return n
}

function assertStalled(t: Test, err: unknown, elapsed: number, what: string, direction = 'download'): void {
  t.type(findCause(err, StalledStreamError), StalledStreamError, `${what}: StalledStreamError`)
  t.match(err, { code: 'SG_ERR_STALLED_STREAM', layer: 'throughput', direction }, `${what}: code, layer, direction`)
  t.ok(elapsed >= GRACE - 30 && elapsed <= GRACE + 1000, `${what}: failed after ${elapsed} ms (window ${GRACE - 30}–${GRACE + 1000})`)
}

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: 10 B/s trickle fails at a 100 B/s floor, passes at 5 B/s`, async (t) => {
    const server = await startTrickleServer(t, protocol)
    const agent = agentFor(t, protocol, floor(100))
    const start = now()
    const { res, req } = await get(protocol, server.port, agent, '/trickle?rate=10&X-Amz-Signature=secret')
    const err = await readAll(res).catch((e: unknown) => e)
    assertStalled(t, err, since(start), 'body stream')
    t.match((err as Error).message, new RegExp(`^GET ${protocol}://127\\.0\\.0\\.1:${server.port}/trickle\\?…: download stalled at`), (err as Error).message)
    t.notMatch((err as Error).message, /secret/, 'no query string')
    t.equal(req.socket?.destroyed, true, 'the half-read socket was destroyed')
    await sleep(20)
    t.same(Object.keys(agent.freeSockets), [], 'nothing went back to the pool')

    const lenient = agentFor(t, protocol, floor(5))
    const ok = await get(protocol, server.port, lenient, '/trickle?rate=10&total=25')
    t.equal(await readAll(ok.res), 25, 'the same trickle passes at 5 B/s')
  })

  t.test(`${protocol}: a slow body above the floor, a paused consumer and a 64 MiB body all succeed`, async (t) => {
    const server = await startTrickleServer(t, protocol)
    const agent = agentFor(t, protocol, floor(100))
    const slow = await get(protocol, server.port, agent, '/trickle?rate=1000&total=2500')
    t.equal(await readAll(slow.res), 2500, '1 KiB/s against a 100 B/s floor')
    const paused = await get(protocol, server.port, agent, `/fast?n=${8 * 1024 * 1024}`)
    await sleep(3 * GRACE)
    t.equal(await readAll(paused.res), 8 * 1024 * 1024, 'a consumer that read nothing for 3 × grace got the whole body')
    const big = await get(protocol, server.port, agent, `/fast?n=${64 * 1024 * 1024}`)
    t.equal(await readAll(big.res), 64 * 1024 * 1024, '64 MiB at full speed')
  })

  t.test(`${protocol}: a crawling upload fails`, async (t) => {
    const server = await startTrickleServer(t, protocol)
    const agent = agentFor(t, protocol, floor(64 * 1024))
    let produced = 0
    const body = new Readable({
      read() {
        produced += 64 * 1024
        this.push(produced > 512 * 1024 * 1024 ? null : Buffer.alloc(64 * 1024, 'u'))
      },
    })
    const start = now()
    const req = (protocol === 'https' ? https : http).request({ host: '127.0.0.1', port: server.port, path: '/crawl?rate=100', method: 'PUT', agent, ...(protocol === 'https' ? { ca } : {}) })
    const err = await pipeline(body, req).catch((e: unknown) => e)
    assertStalled(t, err, since(start), 'upload', 'upload')
    t.match((err as Error).message, /PUT .*\/crawl\?…: upload stalled/, (err as Error).message)
    t.equal(body.destroyed, true, 'the body stream piped with stream.pipeline was destroyed')
    t.equal(req.socket?.destroyed ?? true, true, 'the socket was destroyed')
  })
}

t.test('defaults are off: an SSE stream quiet for longer than a grace is untouched', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const agent = agentFor(t, 'http')
  const { res } = await get('http', server.port, agent, '/quiet?ms=2500')
  t.same((agent as StallGuardHttpAgent).inflight().map((r) => r.minThroughput), [undefined], 'no floor by default')
  t.equal(await readAll(res), 'data: first\n\ndata: second\n\n'.length, '2.5 s of silence, then a normal end')
  const guarded = agentFor(t, 'http', floor(1))
  const start = now()
  const quiet = await get('http', server.port, guarded, '/quiet?ms=2500')
  assertStalled(t, await readAll(quiet.res).catch((e: unknown) => e), since(start), 'the same silence with a floor')
})

t.test('per-request minThroughput overrides the agent; a bad one throws from http.request', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const agent = agentFor(t, 'http', floor(100))
  const off = await get('http', server.port, agent, '/trickle?rate=10&total=20', { minThroughput: false })
  t.equal(await readAll(off.res), 20, 'minThroughput: false let a 10 B/s body finish')
  t.throws(() => http.request({ host: '127.0.0.1', port: server.port, agent, minThroughput: { bytesPerSecond: 0 } } as http.RequestOptions), {
    code: 'ERR_OUT_OF_RANGE', message: /options\.minThroughput\.bytesPerSecond must be/,
  })
})

t.test('AWS SDK GetObject: a body trickled by the server fails with StalledStreamError', async (t) => {
  // A server that speaks enough S3 for GetObject: headers at once, then 10 B/s.
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100000', etag: '"x"', 'last-modified': new Date().toUTCString() })
    const timer = setInterval(() => res.write('s'), 100)
    res.on('close', () => clearInterval(timer))
    req.resume()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as { port: number }).port
  const agent = agentFor(t, 'http', floor(100))
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    requestHandler: new NodeHttpHandler({ httpAgent: agent }),
    maxAttempts: 1,
  })
  t.teardown(() => client.destroy())
  const start = now()
  const object = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'big/object' }))
  const err = await (object.Body as Readable).toArray().catch((e: unknown) => e)
  const elapsed = since(start)
  const stall = findCause(err, StalledStreamError) ?? (err instanceof StalledStreamError ? err : undefined)
  t.type(stall, StalledStreamError, `the body failed with StalledStreamError [${(err as Error)?.name}: ${(err as Error)?.message}]`)
  t.equal(stall?.code, 'SG_ERR_STALLED_STREAM')
  t.match(stall?.path, /^\/bucket\/big\/object/, 'names the object path')
  t.ok(elapsed <= GRACE + 1000, `within grace + 1 s (${elapsed} ms)`)
})
