// Handler compatibility: callers that use undici's legacy handler API (what
// Node 20's built-in fetch and undici 7's fetch send), class-instance
// handlers, compose(), upgrades; the deadline and retry layers must be
// invisible to all of them.
import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import t, { type Test } from 'tap'
import { request, upgrade, type Dispatcher } from 'undici'
import { DeadlineExceededError, StallGuardAgent, type StallGuardAgentOptions } from '../lib/index'
import { coreSpeaksLegacy, toCoreHandler } from '../lib/undici/undici7-compat'
import { toHandlerApi } from '../lib/undici/legacy-handler'
import { kConnectionProbe } from '../lib/undici/connection-reuse'
import { startServer } from './fixtures/http'
import { sleep } from './fixtures/timing'

async function server(t: Test) {
  const s = await startServer(t, 'http', (req, res) => {
    if (req.url === '/hang') return
    res.setHeader('Set-Cookie', ['a=1', 'b=2'])
    res.setHeader('X-Mixed-Case', 'yes')
    res.end('x'.repeat(100_000))
  })
  return `http://127.0.0.1:${s.port}`
}

function agent(t: Test, options: StallGuardAgentOptions = {}): StallGuardAgent {
  const a = new StallGuardAgent(options)
  t.teardown(() => a.destroy())
  return a
}

interface LegacyResult {
  status: number
  rawHeaders: string[]
  bytes: number
  paused: boolean
  error: Error | undefined
}

/** Dispatch with a legacy handler (onConnect … onComplete/onError) and collect what it saw. */
function legacyDispatch(
  dispatcher: Dispatcher, origin: string, path: string, method: Dispatcher.HttpMethod = 'GET',
): Promise<LegacyResult> {
  return new Promise((resolve) => {
    const result: LegacyResult = { status: 0, rawHeaders: [], bytes: 0, paused: false, error: undefined }
    let resume: () => void = () => {}
    dispatcher.dispatch({ origin, path, method }, {
      onConnect() {},
      onHeaders(status: number, rawHeaders: Buffer[], resumeFn: () => void) {
        result.status = status
        result.rawHeaders = rawHeaders.map((b) => b.toString('latin1'))
        resume = resumeFn
        return true
      },
      onData(chunk: Buffer) {
        result.bytes += chunk.length
        if (result.paused) return true
        // Back-pressure once: undici must stop until resume() is called.
        result.paused = true
        setTimeout(() => resume(), 50)
        return false
      },
      onComplete() { resolve(result) },
      onError(err: Error) { result.error = err; resolve(result) },
    } as Dispatcher.DispatchHandler)
  })
}

// GET: wrapped by the retry layer; with a deadline: by both; POST without a
// deadline: by none, so on undici 7 the caller's handler reaches the core as is.
for (const [label, options, method] of [
  ['retry-eligible GET', {}, 'GET'],
  ['GET with a deadline', { deadline: 5000 }, 'GET'],
  ['POST, nothing wraps it', {}, 'POST'],
] as const) {
  t.test(`legacy handlers (${label}): raw headers kept, back-pressure honoured, whole body`, async (t) => {
    const origin = await server(t)
    const r = await legacyDispatch(agent(t, options), origin, '/', method)
    t.equal(r.error, undefined)
    t.equal(r.status, 200)
    t.equal(r.bytes, 100_000, 'whole body after a pause/resume')
    t.ok(r.paused, 'the handler paused once')
    t.match(r.rawHeaders, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Mixed-Case', 'yes'] as never, 'case and repeated fields kept')
  })
}

t.test('new-API handlers get parsed headers and trailers through our layers', async (t) => {
  const s = await startServer(t, 'http', (_req, res) => {
    res.setHeader('Set-Cookie', ['a=1', 'b=2'])
    res.setHeader('X-Mixed-Case', 'yes')
    res.setHeader('Trailer', 'X-Checksum')
    res.write('body')
    res.addTrailers({ 'X-Checksum': 'abc' })
    res.end()
  })
  for (const options of [{}, { deadline: 5000 }, { retry: false }]) {
    const seen = await new Promise<{ headers: unknown; trailers: unknown; body: string }>((resolve, reject) => {
      let headers: unknown
      let body = ''
      agent(t, options).dispatch({ origin: `http://127.0.0.1:${s.port}`, path: '/', method: 'GET' }, {
        onRequestStart() {},
        onResponseStart(_c, _status, h) { headers = h },
        onResponseData(_c, chunk) { body += chunk.toString() },
        onResponseEnd(_c, trailers) { resolve({ headers, trailers, body }) },
        onResponseError(_c, err) { reject(err) },
      })
    })
    t.match(seen.headers, { 'set-cookie': ['a=1', 'b=2'], 'x-mixed-case': 'yes' }, `headers, ${JSON.stringify(options)}`)
    t.same(seen.trailers, { 'x-checksum': 'abc' }, 'trailers')
    t.equal(seen.body, 'body')
  }
})

t.test('what reaches undici\'s core is in the API that core speaks', async (t) => {
  const legacy = { onConnect() {}, onHeaders: () => true, onData: () => true, onComplete() {}, onError() {} }
  const newApi: Dispatcher.DispatchHandler = { onRequestStart() {}, onResponseError() {} }
  if (coreSpeaksLegacy) {
    t.equal(toCoreHandler(toHandlerApi(legacy as Dispatcher.DispatchHandler)), legacy,
      'undici 7: a legacy handler nothing wrapped goes back as it came')
    const bridged = toCoreHandler(newApi) as Record<string, unknown>
    t.equal(typeof bridged.onRequestStart, 'undefined', 'undici 7: a new-API chain is bridged to legacy callbacks')
    for (const m of ['onConnect', 'onHeaders', 'onData', 'onComplete', 'onError', 'onUpgrade']) t.type(bridged[m], 'function', m)
  } else {
    t.equal(toCoreHandler(newApi), newApi, 'undici 8: handed over as is')
  }
})

t.test('legacy handlers get our errors through onError', async (t) => {
  const origin = await server(t)
  const r = await legacyDispatch(agent(t, { deadline: 200 }), origin, '/hang')
  t.type(r.error, DeadlineExceededError)
  t.equal(r.error && (r.error as DeadlineExceededError).code, 'SG_ERR_DEADLINE_EXCEEDED')
  const bad = await legacyDispatch(agent(t), '', '/')
  t.match(bad.error, { code: 'UND_ERR_INVALID_ARG' }, "undici's own dispatch errors too")
})

t.test('without undici\'s parsed raw headers, the legacy adapter rebuilds them one pair per value', async (t) => {
  let raw: Buffer[] = []
  const adapted = toHandlerApi({ onHeaders(_s: number, h: Buffer[]) { raw = h; return true } } as Dispatcher.DispatchHandler)
  const controller = { pause() {}, resume() {}, abort() {}, aborted: false, paused: false, reason: null }
  adapted.onResponseStart!(controller, 200, { 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' }, 'OK')
  t.same(raw.map((b) => b.toString()), ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-type', 'text/plain'])
})

t.test('a class-instance handler keeps its prototype methods', async (t) => {
  const origin = await server(t)
  class Collector implements Dispatcher.DispatchHandler {
    #resolve!: (status: number) => void
    #status = 0
    bytes = 0
    done = new Promise<number>((resolve) => { this.#resolve = resolve })
    onRequestStart(): void {}
    onResponseStart(_c: Dispatcher.DispatchController, status: number): void { this.#status = status }
    onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void { this.bytes += chunk.length }
    onResponseEnd(): void { this.#resolve(this.#status) }
    onResponseError(_c: Dispatcher.DispatchController, err: Error): void { throw err }
  }
  const handler = new Collector()
  agent(t, { deadline: 5000 }).dispatch({ origin, path: '/', method: 'GET' }, handler)
  t.equal(await handler.done, 200)
  t.equal(handler.bytes, 100_000)
})

t.test('compose() adds interceptors in front of ours', async (t) => {
  const s = await startServer(t, 'http', (req, res) => res.end(String(req.headers['x-composed'])))
  const composed = agent(t).compose((dispatch) => (opts, handler) =>
    dispatch({ ...opts, headers: { ...(opts.headers as Record<string, string>), 'x-composed': 'yes' } }, handler))
  const res = await request(`http://127.0.0.1:${s.port}/`, { dispatcher: composed })
  t.equal(await res.body.text(), 'yes')
})

t.test('an upgraded connection belongs to the caller: the deadline stops at the upgrade', async (t) => {
  const echo = createServer().on('upgrade', (_req, socket: Duplex) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n')
    socket.pipe(socket)
  })
  echo.listen(0, '127.0.0.1')
  await once(echo, 'listening')
  t.teardown(() => { echo.closeAllConnections(); echo.close() })
  const port = (echo.address() as AddressInfo).port
  const { socket } = await upgrade(`http://127.0.0.1:${port}/`, { dispatcher: agent(t, { deadline: 200 }), protocol: 'echo' })
  await sleep(400)
  t.equal(socket.destroyed, false, 'still open after the deadline would have fired')
  socket.write('ping')
  const [reply] = await once(socket, 'data') as [Buffer]
  t.equal(reply.toString(), 'ping', 'and usable')
  socket.destroy()
})

t.test('one stallguard handler per request: the handler undici holds is the watch and the retry', async (t) => {
  const origin = await server(t)
  const held: Array<Record<PropertyKey, unknown>> = []
  const onCreate = (message: unknown): void => {
    const req = (message as { request: Record<PropertyKey, unknown> }).request
    const key = Object.getOwnPropertySymbols(req).find((s) => s.description === 'handler')
    if (key !== undefined && req.origin === origin) held.push(req[key] as Record<PropertyKey, unknown>)
  }
  diagnostics.subscribe('undici:request:create', onCreate)
  t.teardown(() => diagnostics.unsubscribe('undici:request:create', onCreate))
  const dispatcher = agent(t, { deadline: 5000 })
  // undici's request(): legacy callbacks on undici 7, the new API on undici 8.
  const res = await request(origin, { dispatcher })
  await res.body.dump()
  t.equal(held.length, 1, 'one request reached the core')
  const handler = held[0]!
  t.equal(handler[kConnectionProbe], handler, 'it answers for its own connection (the retry), with no wrapper in front')
  t.equal((handler.tracker as { isOpen: boolean } | undefined)?.isOpen, false, 'it carries the watch (its tracker, closed at the end)')
  if (coreSpeaksLegacy) {
    t.equal(typeof handler.onRequestStart, 'undefined', 'undici 7: it speaks the legacy callbacks itself (no bridge, no adapter)')
  }
})
