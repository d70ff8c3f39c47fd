// Address health against the real kernel: servers on 127.0.0.2–5 inside a
// private namespace, one name resolving to all four (through the agents'
// `lookup`), nftables black-holing one address, or one connection by its
// source port. Input hook for the drops, as PacketFilter explains.
import { execFileSync } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import http from 'node:http'
import type net from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { AddressDownError, StallGuardAgent, StallGuardHttpAgent } from '../../lib/index'
import { SHORT_TCP } from '../fixtures/kernel-window'
import { enterNetns } from '../fixtures/netns'
import { now, since, sleep } from '../fixtures/timing'

const PORT = 18080
const ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']
/** "fails ≤ user timeout + 1.5 s after the cut" (issue 18). */
const BOUND = SHORT_TCP.userTimeout + 1500

const nft = (script: string): string => execFileSync('nft', ['-f', '-'], { input: script, encoding: 'utf8' })
const TABLE = 'inet stallguard_health'

function filterReset(): void {
  nft(`add table ${TABLE}\nflush table ${TABLE}\n` +
    `add chain ${TABLE} in { type filter hook input priority 0 ; policy accept ; }\n`)
}
/** Black-hole one address on PORT (both directions), counting the SYNs sent to it. */
function blackHole(address: string): void {
  nft(`add rule ${TABLE} in ip daddr ${address} tcp dport ${PORT} tcp flags & (syn | ack) == syn counter comment "syns"\n` +
    `add rule ${TABLE} in ip daddr ${address} tcp dport ${PORT} drop\n` +
    `add rule ${TABLE} in ip saddr ${address} tcp sport ${PORT} drop\n`)
}
/** Kill one connection: every packet of the client's source port. */
function killConnection(localPort: number): void {
  nft(`add rule ${TABLE} in tcp sport ${localPort} drop\nadd rule ${TABLE} in tcp dport ${localPort} drop\n`)
}
function synsCounted(): number {
  const listing = execFileSync('nft', ['list', 'chain', 'inet', 'stallguard_health', 'in'], { encoding: 'utf8' })
  const match = /packets (\d+) bytes \d+ comment "syns"/.exec(listing)
  return match ? Number(match[1]) : 0
}
function heal(): void {
  nft(`flush chain ${TABLE} in\n`)
}

interface Served { server: http.Server; hits: number }

/** A server per address; `delayMs` before each answer; every `closeEvery`th answer closes its connection (churn). */
async function serve(t: Test, addresses: string[], delayMs: number, closeEvery = 0): Promise<Map<string, Served>> {
  const served = new Map<string, Served>()
  for (const address of addresses) {
    const entry: Served = { server: undefined as unknown as http.Server, hits: 0 }
    let perSocket = new WeakMap<net.Socket, number>()
    entry.server = http.createServer((req, res) => {
      entry.hits++
      const n = (perSocket.get(req.socket) ?? 0) + 1
      perSocket.set(req.socket, n)
      if (closeEvery > 0 && n % closeEvery === 0) res.setHeader('connection', 'close')
      setTimeout(() => res.end('ok'), delayMs)
    })
    entry.server.keepAliveTimeout = 30_000
    await new Promise<void>((resolve) => entry.server.listen(PORT, address, resolve))
    served.set(address, entry)
    t.teardown(() => {
      perSocket = new WeakMap()
      entry.server.closeAllConnections()
      return new Promise<void>((resolve) => entry.server.close(() => resolve()))
    })
  }
  return served
}

/** A resolver for the test names: `multi.test` → all four, `single.test` → 127.0.0.4, `pair.test` → 127.0.0.2 then .4. */
function lookup(hostname: string, options: { all?: boolean }, cb: (...args: unknown[]) => void): void {
  const list = hostname === 'multi.test' ? ADDRESSES : hostname === 'single.test' ? ['127.0.0.4']
    : hostname === 'pair.test' ? ['127.0.0.2', '127.0.0.4'] : []
  const answers = list.map((address) => ({ address, family: 4 }))
  setImmediate(() => {
    if (answers.length === 0) cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }))
    else if (options.all) cb(null, answers)
    else cb(null, answers[0]!.address, 4)
  })
}

interface Outcome { ok: boolean; err: unknown; endedAt: number; elapsed: number }

function watchChannel(t: Test, name: string): unknown[] {
  const seen: unknown[] = []
  const listener = (message: unknown): void => { seen.push(message) }
  diagnostics.subscribe(name, listener)
  t.teardown(() => diagnostics.unsubscribe(name, listener))
  return seen
}

if (enterNetns(t, __filename)) {
  filterReset()
  t.afterEach(() => heal())

  t.test('undici: 1000 requests queued on a single address whose path dies all fail within user timeout + 1.5 s', async (t) => {
    await serve(t, ['127.0.0.5'], 400)
    const agent = new StallGuardAgent({ connections: 64, tcp: SHORT_TCP, addressHealth: { coolDown: 30_000 } })
    t.teardown(() => agent.destroy())
    const downs = watchChannel(t, 'stallguard:address:down')
    // Warm the pool: 64 live connections.
    await Promise.all(Array.from({ length: 64 }, () =>
      request('http://127.0.0.5:18080/warm', { dispatcher: agent }).then((r) => r.body.text())))
    let cut = 0
    const outcomes = Array.from({ length: 1000 }, async (_, i): Promise<Outcome> => {
      const start = now()
      try {
        const res = await request(`http://127.0.0.5:18080/item/${i}?secret=s3cr3t`, { dispatcher: agent })
        await res.body.text()
        return { ok: true, err: undefined, endedAt: now(), elapsed: since(start) }
      } catch (err) {
        return { ok: false, err, endedAt: now(), elapsed: since(start) }
      }
    })
    await sleep(100)
    blackHole('127.0.0.5')
    cut = now()
    const results = await Promise.all(outcomes)
    const failed = results.filter((o) => !o.ok)
    const worst = Math.max(...failed.map((o) => o.endedAt - cut))
    t.ok(failed.length > 800, `most requests were still queued or in flight at the cut (${failed.length} failed)`)
    t.ok(worst <= BOUND, `the last one failed ${Math.round(worst)} ms after the cut (bound ${BOUND} ms)`)
    t.ok(failed.every((o) => (o.err as { code?: string }).code === 'ETIMEDOUT'), 'every failure is ETIMEDOUT')
    const refused = failed.filter((o) => o.err instanceof AddressDownError)
    t.ok(refused.length > 500, `queued requests were refused at once (${refused.length} AddressDownError)`)
    const sample = refused[0]!.err as AddressDownError
    t.match(sample.message, /127\.0\.0\.5:18080 is down since .*Z \(\d+\.\d s ago\)/, 'the message says which address and since when')
    t.notMatch(sample.message, /s3cr3t/, 'no query string in the message')
    t.equal(sample.address, '127.0.0.5')
    t.equal(downs.length, 1, 'stallguard:address:down published once')
    t.match(downs[0], { address: '127.0.0.5', port: PORT, reason: /kernel/ })
    t.match(agent.downAddresses(), [{ address: '127.0.0.5', port: PORT, state: 'down' }], 'agent.downAddresses() lists it')
  })

  t.test('node:http: a black-holed single-address name: the first wave pays one SYN timeout, the rest fail at once', async (t) => {
    await serve(t, ['127.0.0.4'], 0)
    const agent = new StallGuardHttpAgent({ maxSockets: 16, tcp: SHORT_TCP, lookup } as ConstructorParameters<typeof StallGuardHttpAgent>[0])
    t.teardown(() => agent.destroy())
    blackHole('127.0.0.4')
    const cut = now()
    const results = await Promise.all(Array.from({ length: 200 }, () => new Promise<Outcome>((resolve) => {
      const start = now()
      http.get('http://single.test:18080/x?token=abc', { agent }, (res) => {
        res.resume()
        res.on('end', () => resolve({ ok: true, err: undefined, endedAt: now(), elapsed: since(start) }))
      }).on('error', (err) => resolve({ ok: false, err, endedAt: now(), elapsed: since(start) }))
    })))
    const worst = Math.max(...results.map((o) => o.endedAt - cut))
    t.ok(results.every((o) => !o.ok && (o.err as { code?: string }).code === 'ETIMEDOUT'), 'all 200 failed with ETIMEDOUT')
    t.ok(worst <= BOUND, `the last one failed ${Math.round(worst)} ms after the cut (bound ${BOUND} ms)`)
    const refused = results.filter((o) => o.err instanceof AddressDownError).length
    t.ok(refused >= 200 - 16, `requests behind the first wave were refused without a SYN (${refused})`)
    t.ok(synsCounted() <= 16 * 2, `SYNs sent to the dark address: ${synsCounted()} (16 connections, retransmissions counted)`)
    t.equal(agent.downAddresses().length, 1, 'agent.downAddresses() lists it')
  })

  t.test('happy eyeballs: an address whose attempt timed out is tried last from then on', async (t) => {
    // Node reports such an attempt only through 'connectionAttemptTimeout'
    // (the socket then connects to the next address): the book must hear
    // it, or the dark address keeps leading every other connection.
    await serve(t, ['127.0.0.4'], 0, 1)
    const agent = new StallGuardHttpAgent({
      maxSockets: 1, tcp: SHORT_TCP, lookup, autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 100,
    } as ConstructorParameters<typeof StallGuardHttpAgent>[0])
    t.teardown(() => agent.destroy())
    blackHole('127.0.0.2')
    const sockets = new Set<net.Socket>()
    for (let i = 0; i < 12; i++) {
      await new Promise<void>((resolve, reject) => {
        http.get('http://pair.test:18080/x', { agent }, (res) => {
          sockets.add(res.socket)
          res.resume()
          res.on('end', resolve)
        }).on('error', reject)
      })
    }
    t.equal(sockets.size, 12, 'every request had a new connection (the server closes each)')
    // The rotation may put 127.0.0.2 first once more before its first
    // timeout is in the book; without the book hearing it, half of the 12
    // connections would lead with it.
    t.ok(synsCounted() <= 2, `SYNs to the dark address: ${synsCounted()} (12 connections)`)
    t.same(agent.downAddresses(), [], 'one unanswered attempt demotes the address, it does not condemn it')
  })

  t.test('undici: four addresses, one black-holed mid-run: ≥ 99 % succeed, few probe SYNs, back after the cool-down', async (t) => {
    const served = await serve(t, ADDRESSES, 20, 8)
    const agent = new StallGuardAgent({
      connections: 64, tcp: SHORT_TCP, connect: { lookup }, addressHealth: { coolDown: 500, maxCoolDown: 1000 },
    } as ConstructorParameters<typeof StallGuardAgent>[0])
    t.teardown(() => agent.destroy())
    const downs = watchChannel(t, 'stallguard:address:down')
    const ups = watchChannel(t, 'stallguard:address:up')
    // SYNs counted when the address first went down: those before are the
    // price of learning it (connections opened while it was dark but not yet
    // condemned, each leaving it after happy eyeballs' 250 ms).
    let synsAtDown: number | undefined
    const onFirstDown = (): void => { synsAtDown ??= synsCounted() }
    diagnostics.subscribe('stallguard:address:down', onFirstDown)
    t.teardown(() => diagnostics.unsubscribe('stallguard:address:down', onFirstDown))
    let sent = 0
    const results: Outcome[] = []
    const worker = async (): Promise<void> => {
      while (sent < 2000) {
        const i = sent++
        const start = now()
        try {
          const res = await request(`http://multi.test:18080/item/${i}`, { dispatcher: agent })
          await res.body.text()
          results.push({ ok: true, err: undefined, endedAt: now(), elapsed: since(start) })
        } catch (err) {
          results.push({ ok: false, err, endedAt: now(), elapsed: since(start) })
        }
      }
    }
    const run = Promise.all(Array.from({ length: 64 }, worker))
    await sleep(300)
    blackHole('127.0.0.3')
    await run
    const ok = results.filter((o) => o.ok).length
    const worst = Math.max(...results.map((o) => o.elapsed))
    const syns = synsCounted()
    t.ok(ok >= 1980, `${ok}/2000 succeeded`)
    t.ok(worst <= BOUND, `the slowest request took ${Math.round(worst)} ms (bound ${BOUND} ms)`)
    t.ok(downs.length >= 1 && synsAtDown !== undefined, '127.0.0.3 went down')
    const probeSyns = syns - (synsAtDown ?? 0)
    // One probe per cool-down (0.5–1 s here) over the ~2 s left of the run.
    t.ok(probeSyns <= 6, `SYNs to the dark address once it was down: ${probeSyns} (probes; ${downs.length - 1} failed)`)
    t.comment(`ok ${ok}, worst ${Math.round(worst)} ms, SYNs to the dark address ${synsAtDown} before it went down, ${probeSyns} after`)

    heal()
    const before = served.get('127.0.0.3')!.hits
    const healedAt = now()
    let back = 0
    while (since(healedAt) < 4000 && back === 0) {
      await Promise.all(Array.from({ length: 64 }, (_, i) =>
        request(`http://multi.test:18080/after/${i}`, { dispatcher: agent }).then((r) => r.body.text())))
      back = served.get('127.0.0.3')!.hits - before
    }
    t.ok(back > 0, `127.0.0.3 carries traffic again ${Math.round(since(healedAt))} ms after the rule went (max cool-down 1000 ms)`)
    t.ok(ups.length >= 1, 'stallguard:address:up published')
    t.same(agent.downAddresses(), [], 'nothing down any more')
  })

  t.test('one connection killed by its source port: no other request fails, the address stays up', async (t) => {
    await serve(t, ['127.0.0.2'], 0)
    const agent = new StallGuardAgent({ connections: 8, tcp: SHORT_TCP, retry: false })
    t.teardown(() => agent.destroy())
    const downs = watchChannel(t, 'stallguard:address:down')
    const sockets: net.Socket[] = []
    const onConnected = (m: unknown): void => { sockets.push((m as { socket: net.Socket }).socket) }
    diagnostics.subscribe('undici:client:connected', onConnected)
    t.teardown(() => diagnostics.unsubscribe('undici:client:connected', onConnected))
    await Promise.all(Array.from({ length: 8 }, () =>
      request('http://127.0.0.2:18080/warm', { dispatcher: agent }).then((r) => r.body.text())))
    killConnection(sockets[0]!.localPort!)
    const results: Outcome[] = []
    const started = now()
    while (since(started) < SHORT_TCP.userTimeout + 2000) {
      results.push(...await Promise.all(Array.from({ length: 8 }, async () => {
        const start = now()
        try {
          const res = await request('http://127.0.0.2:18080/x', { dispatcher: agent })
          await res.body.text()
          return { ok: true, err: undefined, endedAt: now(), elapsed: since(start) }
        } catch (err) {
          return { ok: false, err, endedAt: now(), elapsed: since(start) }
        }
      })))
    }
    const failed = results.filter((o) => !o.ok)
    t.ok(failed.length <= 1, `only a request on the killed connection may fail (${failed.length} of ${results.length})`)
    t.ok(failed.every((o) => (o.err as { code?: string }).code === 'ETIMEDOUT' && !(o.err instanceof AddressDownError)),
      'it failed with the kernel timeout, not a refusal')
    t.equal(downs.length, 0, 'the address never went down')
    t.same(agent.downAddresses(), [])
  })
}
