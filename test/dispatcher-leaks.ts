// 1 000 requests with mixed outcomes (answered, deadline, caller abort,
// connection reset and retry, server error, uploads) through one agent, over
// http and https, request and fetch; after close() no socket, timer or
// handle of ours is left.
import { createHook } from 'node:async_hooks'
import diagnostics from 'node:diagnostics_channel'
import type net from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { StallGuardAgent } from '../lib/index'
import { startServer, type Protocol } from './fixtures/http'
import { SHORT_TCP } from './fixtures/kernel-window'
import { sleep } from './fixtures/timing'
import { callerFor, TRUST_TEST_CA, type CallInit, type Via } from './fixtures/undici-callers'

const TOTAL = 1000
const CONCURRENCY = 50

function countResources(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1)
  return counts
}

/**
 * Timers created from now on that are still armed. getActiveResourcesInfo()
 * does not list unref'd timers (deadline timers are unref'd), async_hooks does.
 */
function trackTimers(): { armed: () => number; stop: () => void } {
  const live = new Set<number>()
  const hook = createHook({
    init(id, type) { if (type === 'Timeout') live.add(id) },
    destroy(id) { live.delete(id) },
  }).enable()
  return { armed: () => live.size, stop: () => hook.disable() }
}

/** Resource types with more instances now than in `baseline`. */
function leftOver(baseline: Map<string, number>): string[] {
  return [...countResources()].filter(([type, n]) => n > (baseline.get(type) ?? 0)).map(([type, n]) => `${type} ×${n - (baseline.get(type) ?? 0)}`)
}

t.test(`${TOTAL} requests with mixed outcomes leave nothing behind`, async (t) => {
  // Let tap's own start-up settle before taking the baseline.
  await sleep(100)
  const baseline = countResources()
  const timers = trackTimers()
  t.teardown(() => timers.stop())

  const servers = new Map<Protocol, string>()
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    req.resume()
    const path = req.url ?? '/'
    if (path === '/slow') {
      res.writeHead(200)
      const timer = setInterval(() => res.write('.'), 20)
      res.on('close', () => clearInterval(timer))
      return
    }
    if (path === '/reset') return req.socket.destroy()
    req.on('end', () => {
      res.statusCode = path === '/error' ? 500 : 200
      res.end('done')
    })
  }
  // Servers are closed explicitly below, before counting.
  const closers: Array<() => void> = []
  const host = { teardown: (fn: () => void) => closers.push(fn) } as unknown as Parameters<typeof startServer>[0]
  for (const protocol of ['http', 'https'] as const) {
    const server = await startServer(host, protocol, handler)
    servers.set(protocol, `${protocol}://127.0.0.1:${server.port}`)
  }

  const sockets: net.Socket[] = []
  const onConnected = (m: unknown) => sockets.push((m as { socket: net.Socket }).socket)
  diagnostics.subscribe('undici:client:connected', onConnected)
  t.teardown(() => diagnostics.unsubscribe('undici:client:connected', onConnected))

  const agent = new StallGuardAgent({ tcp: SHORT_TCP, ...TRUST_TEST_CA, deadline: 5000 })
  const kinds: Array<{ name: string; path: string; init: () => CallInit }> = [
    { name: 'answered', path: '/ok', init: () => ({}) },
    { name: 'deadline', path: '/slow', init: () => ({ deadline: 60 }) },
    { name: 'aborted', path: '/slow', init: () => ({ signal: AbortSignal.timeout(30) }) },
    { name: 'reset', path: '/reset', init: () => ({}) },
    { name: 'server error', path: '/error', init: () => ({}) },
    { name: 'POST', path: '/ok', init: () => ({ method: 'POST', body: 'payload' }) },
    { name: 'streamed PUT', path: '/ok', init: () => ({ method: 'PUT', body: Readable.from(['a', 'b']) }) },
  ]
  const tally = new Map<string, number>()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < TOTAL) {
      const i = next++
      const kind = kinds[i % kinds.length]!
      const protocol: Protocol = i % 2 === 0 ? 'http' : 'https'
      // fetch has no per-request deadline: those go through undici.request.
      const via: Via = kind.name !== 'deadline' && i % 3 === 0 ? 'fetch' : 'request'
      const outcome = await callerFor(via, agent)(`${servers.get(protocol)}${kind.path}`, kind.init())
        .then((r) => `${r.status}`, (err: { name?: string; cause?: { name?: string } }) => err.cause?.name ?? err.name ?? 'error')
      tally.set(`${kind.name} → ${outcome}`, (tally.get(`${kind.name} → ${outcome}`) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  t.equal([...tally.values()].reduce((a, b) => a + b, 0), TOTAL, `all ${TOTAL} settled: ${JSON.stringify(Object.fromEntries(tally))}`)
  t.ok(tally.get('deadline → DeadlineExceededError'), 'deadlines fired')
  t.ok(tally.get('answered → 200'), 'requests were answered')

  await agent.close()
  for (const close of closers) close()
  t.ok(sockets.length > 0, `${sockets.length} connections were made`)
  t.equal(sockets.filter((s) => !s.destroyed).length, 0, 'every socket the agent opened is destroyed')

  // undici's shared fast-timer tick stops on its own within a second once idle.
  let rest = leftOver(baseline)
  for (let waited = 0; (rest.length > 0 || timers.armed() > 0) && waited < 3000; waited += 100) {
    await sleep(100)
    rest = leftOver(baseline)
  }
  t.same(rest, [], 'no handle or socket left after close()')
  // async_hooks reports destroyed timers in batches: let the last sleep's land.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(timers.armed(), 0, 'no timer (deadline or other) still armed')
})
