// The socket-level API against the real kernel: packets are dropped with
// nftables inside a private network namespace and we time how long the
// kernel takes to give up on the peer.
import net from 'node:net'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { applySocketTimeouts, KernelTimeoutError, tcpInfo } from '../../lib/index'
import { assertKernelSaw } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { now, since, sleep } from '../fixtures/timing'

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  // A TCP server that accepts and then does nothing: the client decides what happens.
  async function connectedPair(t: Test): Promise<{ client: net.Socket; server: net.Socket; port: number }> {
    const listener = net.createServer()
    listener.listen(0, '127.0.0.1')
    await once(listener, 'listening')
    const port = (listener.address() as net.AddressInfo).port
    const accepted = once(listener, 'connection')
    const client = net.connect(port, '127.0.0.1')
    await once(client, 'connect')
    const [server] = (await accepted) as [net.Socket]
    server.on('error', () => {})
    t.teardown(() => {
      client.destroy()
      server.destroy()
      listener.close()
    })
    return { client, server, port }
  }

  t.test('user timeout: data written into a dead path fails with ETIMEDOUT in ~1.5 s', async (t) => {
    const { client, port } = await connectedPair(t)
    applySocketTimeouts(client, { userTimeout: 1500, keepAliveIdle: false, keepAliveInterval: false, keepAliveCount: false })
    // Drop only the server's ACKs: the data reaches the server and is never
    // acknowledged, so TCP_INFO shows real unacked segments and RTO retransmits.
    filter.drop(port, 'to-client')
    const start = now()
    client.write(Buffer.alloc(1000))
    await sleep(800)
    const info = tcpInfo(client)!
    t.ok(info.unacked > 0, `unacked segments while the path is dead (${info.unacked})`)
    const firstRetransmits = info.retransmits
    t.ok(firstRetransmits >= 1, `retransmitting (${firstRetransmits})`)
    await sleep(400)
    t.ok(tcpInfo(client)!.totalRetrans > 0 && tcpInfo(client)!.retransmits >= firstRetransmits, 'retransmissions keep growing')
    const [err] = (await once(client, 'error').catch((e) => [e])) as [NodeJS.ErrnoException]
    const elapsed = since(start)
    t.type(err, KernelTimeoutError)
    t.equal(err.code, 'ETIMEDOUT')
    t.match(err.message, /TCP_USER_TIMEOUT 1500 ms/)
    assertKernelSaw(t, err as KernelTimeoutError, 'data into a dead path', 'retransmissions', port)
    t.match(err.message, /the peer stopped acknowledging data: no acknowledgement for \d+\.\d s, \d+ retransmissions?, 1000 bytes unacknowledged, last data received \d+\.\d s ago/,
      'the message says what the kernel saw, in words')
    t.ok(elapsed >= 1400 && elapsed <= 3000, `failed after ${elapsed} ms (window 1500–3000)`)
  })

  t.test('user timeout: also when the path drops both directions', async (t) => {
    const { client, port } = await connectedPair(t)
    applySocketTimeouts(client, { userTimeout: 1500 })
    filter.drop(port)
    const start = now()
    client.write(Buffer.alloc(1000))
    const [err] = (await once(client, 'error').catch((e) => [e])) as [NodeJS.ErrnoException]
    const elapsed = since(start)
    t.type(err, KernelTimeoutError)
    t.equal(err.code, 'ETIMEDOUT')
    assertKernelSaw(t, err as KernelTimeoutError, 'both directions dropped', 'retransmissions', port)
    t.ok(elapsed >= 1400 && elapsed <= 3000, `failed after ${elapsed} ms (window 1500–3000)`)
  })

  t.test('keepalive 1 s/1 s/2 ends an idle socket to a dead peer in ~3 s; unprotected stays open', async (t) => {
    const guarded = await connectedPair(t)
    const plain = await connectedPair(t)
    applySocketTimeouts(guarded.client, { userTimeout: false, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 2 })
    filter.drop(guarded.port)
    filter.drop(plain.port)
    const start = now()
    const [err] = (await once(guarded.client, 'error').catch((e) => [e])) as [NodeJS.ErrnoException]
    const elapsed = since(start)
    t.type(err, KernelTimeoutError)
    t.equal(err.code, 'ETIMEDOUT')
    t.ok(elapsed >= 2500 && elapsed <= 4500, `keepalive gave up after ${elapsed} ms (window 2500–4500)`)
    assertKernelSaw(t, err as KernelTimeoutError, 'idle dead peer', 'probes', guarded.port)
    t.match(err.message, /the peer stopped answering keepalive probes: .*2 keepalive probes unanswered/)
    await sleep(10_000 - since(start))
    t.equal(plain.client.destroyed, false, `the unprotected socket is still open after ${since(start)} ms`)
  })

  t.test('user timeout bounds the SYN retries of a connect nobody answers', async (t) => {
    const listener = net.createServer()
    listener.listen(0, '127.0.0.1')
    await once(listener, 'listening')
    const port = (listener.address() as net.AddressInfo).port
    listener.close()
    filter.drop(port, 'to-server')
    const start = now()
    const guarded = net.connect(port, '127.0.0.1')
    const plain = net.connect(port, '127.0.0.1')
    plain.on('error', () => {})
    t.teardown(() => plain.destroy())
    applySocketTimeouts(guarded, { userTimeout: 1500 })
    const [err] = (await once(guarded, 'error').catch((e) => [e])) as [KernelTimeoutError]
    const elapsed = since(start)
    t.type(err, KernelTimeoutError)
    t.match(err, { code: 'ETIMEDOUT', syscall: 'connect', address: '127.0.0.1', port, layer: 'kernel' })
    t.match(err.message, /connect ETIMEDOUT: the kernel aborted the connection to 127\.0\.0\.1:\d+: the peer never answered the handshake: no SYN-ACK after \d+ SYN retransmissions? \(TCP_USER_TIMEOUT 1500 ms/)
    assertKernelSaw(t, err, 'unanswered SYN', 'retransmissions', port)
    t.ok(elapsed >= 1400 && elapsed <= 3500, `connect gave up after ${elapsed} ms (window 1500–3500)`)
    await sleep(4000 - since(start))
    t.equal(plain.connecting, true, `without stallguard the SYN is still being retried after ${since(start)} ms`)
  })
}
