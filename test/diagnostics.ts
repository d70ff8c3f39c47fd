// Diagnostics without a fault: the socket:protected channel (native and
// fallback), the NODE_DEBUG helper other layers call, and TCP_INFO in words.
// The kernel-timeout side runs against the real kernel in
// test/integration/diagnostics.ts and the stall tests.
import { spawnSync } from 'node:child_process'
import diagnostics from 'node:diagnostics_channel'
import { once } from 'node:events'
import net from 'node:net'
import os from 'node:os'
import t, { type Test } from 'tap'
import type { SocketProtectedMessage } from '../lib/diagnostics/channels'
import { requestLine } from '../lib/diagnostics/debug'
import { formatBytes, summarizeTcpInfo, stallKind } from '../lib/diagnostics/tcp-info-summary'
import { KernelTimeoutError } from '../lib/errors'
import type { NativeTcpInfo } from '../lib/kernel/native'
import type * as SocketTimeouts from '../lib/kernel/socket-timeouts'
// Through the package's entry point: it wires the kernel layer's hooks to the channels.
import { applySocketTimeouts, tcpInfo } from '../lib/index'
import { resolveTcpTimeouts } from '../lib/kernel/tcp-options'

async function listener(t: Test): Promise<number> {
  const server = net.createServer((s) => s.on('error', () => {}))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return (server.address() as net.AddressInfo).port
}

function collect(t: Test, name: string): unknown[] {
  const seen: unknown[] = []
  const onMessage = (m: unknown): void => { seen.push(m) }
  diagnostics.subscribe(name, onMessage)
  t.teardown(() => diagnostics.unsubscribe(name, onMessage))
  return seen
}

t.test('stallguard:socket:protected: the socket, the timeouts written (ms) and how', async (t) => {
  const port = await listener(t)
  const seen = collect(t, 'stallguard:socket:protected') as SocketProtectedMessage[]
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  applySocketTimeouts(socket, { userTimeout: 2500, keepAliveIdle: 1500, keepAliveInterval: 2000, keepAliveCount: 3 })
  t.equal(seen.length, 0, 'nothing before the options reach the kernel')
  await once(socket, 'connect')
  t.equal(seen.length, 1, 'once, when they are written at connect')
  t.equal(seen[0]!.socket, socket)
  t.equal(seen[0]!.address, '127.0.0.1')
  t.equal(seen[0]!.port, port)
  t.same(seen[0]!.timeouts, { userTimeout: 2500, keepAliveIdle: 2000, keepAliveInterval: 2000, keepAliveCount: 3 },
    'in the kernel\'s units turned back into ms (idle rounded up to whole seconds)')
  t.equal(seen[0]!.via, 'native')
})

t.test('stallguard:socket:protected via fallback when the binding is missing', async (t) => {
  const api = t.mockRequire('../lib/kernel/socket-timeouts', {
    '../lib/kernel/native': { native: { binding: undefined, file: undefined, error: new Error('No native build was found') } },
    // The hooks the diagnostics layer registered on (the fresh copy would have none).
    '../lib/kernel/hooks': require('../lib/kernel/hooks'),
  }) as typeof SocketTimeouts
  const quiet = (): void => {}
  process.on('warning', quiet)
  t.teardown(() => process.off('warning', quiet))
  const port = await listener(t)
  const seen = collect(t, 'stallguard:socket:protected') as SocketProtectedMessage[]
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  api.applySocketTimeouts(socket, { userTimeout: 2500, keepAliveIdle: 1500, keepAliveInterval: 2000, keepAliveCount: 3 })
  await once(socket, 'connect')
  t.equal(seen.length, 1)
  const nodeSetsAll = net.Socket.prototype.setKeepAlive.length >= 4
  t.same(seen[0]!.timeouts, nodeSetsAll
    ? { userTimeout: 0, keepAliveIdle: 2000, keepAliveInterval: 2000, keepAliveCount: 3 }
    : { userTimeout: 0, keepAliveIdle: 2000, keepAliveInterval: 1000, keepAliveCount: 10 },
  `no user timeout without the binding; what Node ${process.version} sets for keepalive`)
  t.equal(seen[0]!.via, 'fallback')
})

t.test('NODE_DEBUG=stallguard: the helper other layers call prints one line per event', async (t) => {
  const script = `
    const { debug, debugEnabled } = require(${JSON.stringify(require.resolve('../lib/diagnostics/debug'))})
    process.stdout.write(String(debugEnabled()))
    debug('retry', 'GET http://127.0.0.1:9/key?… attempt 1 after read ETIMEDOUT')`
  const env = (debug: string | undefined): NodeJS.ProcessEnv => {
    const e = { ...process.env }
    if (debug === undefined) delete e.NODE_DEBUG
    else e.NODE_DEBUG = debug
    return e
  }
  const on = spawnSync(process.execPath, [...process.execArgv, '-e', script], { env: env('http,stallguard'), encoding: 'utf8' })
  t.equal(on.stdout, 'true', 'enabled')
  t.match(on.stderr, /^STALLGUARD \d+: retry GET http:\/\/127\.0\.0\.1:9\/key\?… attempt 1 after read ETIMEDOUT$/m)
  const off = spawnSync(process.execPath, [...process.execArgv, '-e', script], { env: env(undefined), encoding: 'utf8' })
  t.equal(off.stdout, 'false', 'disabled')
  t.equal(off.stderr, '', 'silent')
})

t.test('requestLine: how debug lines name a request, never with its query or userinfo', async (t) => {
  t.equal(requestLine('PUT', 'https://AKIA:secret@bucket.s3.example.com:443', '/key?X-Amz-Signature=abc&X-Amz-Credential=def'),
    'PUT https://bucket.s3.example.com/key?…')
  t.equal(requestLine('GET', new URL('http://127.0.0.1:8080'), '/a/b#frag'), 'GET http://127.0.0.1:8080/a/b')
  t.equal(requestLine(undefined, 'http://h', undefined), 'GET http://h')
})

const base: NativeTcpInfo = {
  state: 7, caState: 4, retransmits: 6, probes: 0, backoff: 6, rto: 3_200_000, rtt: 40, rttVar: 20, sndCwnd: 1,
  unacked: 0, lost: 0, totalRetrans: 6, lastDataSent: 3100, lastDataRecv: 3200, lastAckRecv: 3000, sndMss: 1448,
  bytesAcked: 1 + 4096, bytesReceived: 512, notSentBytes: 0, bytesSent: 4096 + 49_152 + 6 * 1448, bytesRetrans: 6 * 1448, sndWnd: 65_535,
}

t.test('TCP_INFO in words', async (t) => {
  t.equal(summarizeTcpInfo(base),
    'no acknowledgement for 3.0 s, 6 retransmissions, 48 KiB unacknowledged, last data received 3.2 s ago')
  t.equal(stallKind(base, false), 'the peer stopped acknowledging data')
  const idle = { ...base, retransmits: 0, totalRetrans: 0, probes: 2, bytesSent: 4096, bytesRetrans: 0 }
  t.equal(stallKind(idle, false), 'the peer stopped answering keepalive probes')
  t.equal(summarizeTcpInfo(idle), 'no acknowledgement for 3.0 s, 2 keepalive probes unanswered, last data received 3.2 s ago')
  const reading = { ...idle, probes: 0, sndWnd: 0, notSentBytes: 3 * 1024 * 1024, lastAckRecv: 700 }
  t.equal(stallKind(reading, false), 'the peer stopped reading (its receive window stayed closed)')
  t.equal(summarizeTcpInfo(reading),
    "window probes acknowledged, the last 0.7 s ago, 3.0 MiB not yet sent, the peer's receive window is 0, last data received 3.2 s ago")
  const deadWhileClosed = { ...reading, probes: 3 }
  t.equal(stallKind(deadWhileClosed, false), 'the peer stopped answering zero-window probes')
  const old = { ...base, unacked: 3 } as NativeTcpInfo
  for (const key of ['bytesAcked', 'bytesReceived', 'notSentBytes', 'bytesSent', 'bytesRetrans', 'sndWnd'] as const) delete old[key]
  t.match(summarizeTcpInfo(old), /up to 4 KiB unacknowledged/, 'an older kernel: segments × MSS, said to be an upper bound')
  t.equal(summarizeTcpInfo({ ...base, state: 2, retransmits: 3, totalRetrans: 3 }), 'no SYN-ACK after 3 SYN retransmissions')
  t.equal(summarizeTcpInfo(base, true), 'no SYN-ACK after 6 SYN retransmissions')
  t.same([formatBytes(1), formatBytes(1023), formatBytes(1024), formatBytes(1536 * 1024)], ['1 byte', '1023 bytes', '1 KiB', '1.5 MiB'])
})

t.test('KernelTimeoutError: fields, and the message with and without a snapshot', async (t) => {
  const cause = Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT', errno: -110, syscall: 'read' })
  const timeouts = resolveTcpTimeouts({ userTimeout: 3000 })
  const err = new KernelTimeoutError(cause, timeouts, { address: '::1', port: 443 }, base)
  t.match(err, { name: 'KernelTimeoutError', code: 'ETIMEDOUT', errno: -110, syscall: 'read', address: '::1', port: 443, userTimeout: 3000, layer: 'kernel' })
  t.equal(err.tcpInfo, base)
  t.equal(err.cause, cause)
  t.equal(err.message, 'read ETIMEDOUT: the kernel aborted the connection to [::1]:443: the peer stopped acknowledging data: ' +
    'no acknowledgement for 3.0 s, 6 retransmissions, 48 KiB unacknowledged, last data received 3.2 s ago ' +
    '(TCP_USER_TIMEOUT 3000 ms; keepalive idle 5 s, interval 1 s, count 5)')
  const bare = new KernelTimeoutError(cause, timeouts, {})
  t.equal(bare.tcpInfo, undefined)
  t.match(bare.message, /^read ETIMEDOUT: the kernel aborted the connection: the peer stopped acknowledging data or keepalive probes \(/)
})

const [major = 0, minor = 0] = os.release().split('.').map(Number)
const byteCounters = process.platform === 'linux' && (major > 5 || (major === 5 && minor >= 4))

t.test('tcpInfo() has the byte counters and the window', {
  skip: byteCounters ? false : `needs Linux >= 5.4 (this is ${process.platform} ${os.release()})`,
}, async (t) => {
  const port = await listener(t)
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  socket.write(Buffer.alloc(1000))
  await new Promise((resolve) => setTimeout(resolve, 50))
  const info = tcpInfo(socket)!
  t.match(info, { bytesSent: 1000, bytesRetrans: 0, bytesAcked: 1001, bytesReceived: 0, notSentBytes: 0, sndWnd: Number, sndMss: Number },
    'bytes sent and acknowledged (the SYN counts one), the window')
})
