// Round trips through the real kernel: what applySocketTimeouts asks for is
// what getsockopt reads back, on TCP and TLS, IPv4 and IPv6, before and after
// connect, and after Node resets keepalive behind our back.
import { once } from 'node:events'
import { openSync, closeSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import t, { type Test } from 'tap'
import {
  applySocketTimeouts,
  capabilities,
  readSocketTimeouts,
  StallGuardError,
  tcpInfo,
} from '../lib/index'
import { native } from '../lib/kernel/native'
import { applyResolvedTimeouts } from '../lib/kernel/socket-timeouts'
import { resolveTcpTimeouts } from '../lib/kernel/tcp-options'
import * as certs from './fixtures/tls'

const ASKED = { userTimeout: 2500, keepAliveIdle: 1500, keepAliveInterval: 2000, keepAliveCount: 3 }
// Keepalive rounds up to whole seconds; the user timeout is kept in ms.
const EXPECTED = { keepAlive: true, keepAliveIdle: 2000, keepAliveInterval: 2000, keepAliveCount: 3, userTimeout: 2500 }

async function tcpServer(t: Test, host: string): Promise<number> {
  const server = net.createServer((s) => s.on('error', () => {}))
  server.listen(0, host)
  await once(server, 'listening')
  t.teardown(() => server.close())
  return (server.address() as net.AddressInfo).port
}

async function tlsServer(t: Test, host: string): Promise<number> {
  const server = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => s.on('error', () => {}))
  server.listen(0, host)
  await once(server, 'listening')
  t.teardown(() => server.close())
  return (server.address() as net.AddressInfo).port
}

function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer().once('error', () => resolve(false))
    probe.listen(0, '::1', () => probe.close(() => resolve(true)))
  })
}

t.test('capabilities tell the truth on this machine', async (t) => {
  const caps = capabilities()
  t.equal(caps.native, true, 'binding loaded')
  t.equal(caps.reason, undefined)
  // CI runs this file once more with PREBUILDS_ONLY=1 to test the shipped
  // prebuild, and on an arm64 Node under qemu: the binary for this process's
  // own platform and architecture must be the one that loaded.
  if (process.env.PREBUILDS_ONLY) {
    const dir = `${process.platform}-${process.arch}`
    t.match(caps.binding, new RegExp(`[\\\\/]prebuilds[\\\\/]${dir}[\\\\/][^\\\\/]+\\.node$`), `loaded the ${dir} prebuild`)
  } else {
    t.match(caps.binding, /\.node$/)
  }
  t.equal(caps.platform, process.platform)
  if (process.platform === 'linux') {
    t.match(caps, {
      userTimeout: true, keepAliveIdle: true, keepAliveInterval: true, keepAliveCount: true,
      tcpInfo: true, userTimeoutOption: 'TCP_USER_TIMEOUT',
    })
  }
})

for (const host of ['127.0.0.1', '::1']) {
  t.test(`TCP over ${host}`, async (t) => {
    if (host === '::1' && !(await ipv6Loopback())) return t.plan(0, 'no IPv6 loopback on this machine')
    const port = await tcpServer(t, host)

    t.test('applied before connect (the fd does not exist yet)', async (t) => {
      const socket = net.connect(port, host)
      t.teardown(() => socket.destroy())
      t.equal(socket.connecting, true)
      applySocketTimeouts(socket, ASKED)
      await once(socket, 'connect')
      t.same(readSocketTimeouts(socket), EXPECTED)
    })

    t.test('a socket that connects again after close is protected again', async (t) => {
      // Node lets a closed net.Socket connect() again: the listeners put on
      // at the first attempt stay and serve the second.
      const refusing = net.createServer()
      refusing.listen(0, host)
      await once(refusing, 'listening')
      const closedPort = (refusing.address() as net.AddressInfo).port
      await new Promise<void>((resolve) => refusing.close(() => resolve()))
      const socket = net.connect(closedPort, host)
      t.teardown(() => socket.destroy())
      applySocketTimeouts(socket, ASKED)
      const [err] = await once(socket, 'error') as [NodeJS.ErrnoException]
      t.equal(err.code, 'ECONNREFUSED')
      await once(socket, 'close')
      socket.connect(port, host)
      await once(socket, 'connect')
      t.same(readSocketTimeouts(socket), EXPECTED, 'after a refused attempt')
      socket.destroy()
      await once(socket, 'close')
      socket.connect(port, host)
      await once(socket, 'connect')
      t.same(readSocketTimeouts(socket), EXPECTED, 'after a connection that closed')
    })

    t.test('applied after connect', async (t) => {
      const socket = net.connect(port, host)
      t.teardown(() => socket.destroy())
      await once(socket, 'connect')
      applySocketTimeouts(socket, ASKED)
      t.same(readSocketTimeouts(socket), EXPECTED)
    })

    t.test("Node's own keepalive handling cannot undo ours", async (t) => {
      // setKeepAlive before connect is re-applied by Node just before
      // 'connect'; after connect it rewrites TCP_KEEPINTVL=1 and TCP_KEEPCNT=10.
      const socket = net.connect(port, host)
      t.teardown(() => socket.destroy())
      socket.setKeepAlive(true, 60_000)
      applySocketTimeouts(socket, ASKED)
      await once(socket, 'connect')
      t.same(readSocketTimeouts(socket), EXPECTED, 'after Node re-applied keepalive at connect')
      socket.setKeepAlive(true, 30_000)
      t.same(readSocketTimeouts(socket), EXPECTED, 'after a later setKeepAlive(true, 30000)')
      socket.setKeepAlive(false)
      t.equal(readSocketTimeouts(socket).keepAlive, false, 'setKeepAlive(false) is respected')
      socket.setKeepAlive(true)
      t.same(readSocketTimeouts(socket), EXPECTED, 'turned back on with our values')
    })

    t.test('applying again replaces the values; defaults fill missing keys', async (t) => {
      const socket = net.connect(port, host)
      t.teardown(() => socket.destroy())
      applySocketTimeouts(socket, ASKED)
      applySocketTimeouts(socket, { userTimeout: 4000 })
      await once(socket, 'connect')
      t.same(readSocketTimeouts(socket), {
        keepAlive: true, keepAliveIdle: 5000, keepAliveInterval: 1000, keepAliveCount: 5, userTimeout: 4000,
      })
    })

    t.test('the same resolved timeouts again are a no-op; new ones replace', async (t) => {
      const resolved = resolveTcpTimeouts(ASKED)
      const socket = net.connect(port, host)
      t.teardown(() => socket.destroy())
      applyResolvedTimeouts(socket, resolved)
      await once(socket, 'connect')
      // Someone else changes the kernel value behind our back; re-applying the
      // identical object must not touch the socket (no syscalls on that path).
      native.binding!.setTimeouts((socket as unknown as { _handle: { fd: number } })._handle.fd, -1, -1, -1, -1, 9000)
      applyResolvedTimeouts(socket, resolved)
      t.equal(readSocketTimeouts(socket).userTimeout, 9000, 'identical timeouts: left alone')
      applyResolvedTimeouts(socket, resolveTcpTimeouts(ASKED))
      t.same(readSocketTimeouts(socket), EXPECTED, 'a new resolution is written in full')
    })

    t.test('applying new values to a connected socket replaces every one', async (t) => {
      const socket = net.connect(port, host)
      t.teardown(() => socket.destroy())
      applySocketTimeouts(socket, ASKED)
      await once(socket, 'connect')
      applySocketTimeouts(socket, { userTimeout: 7000, keepAliveIdle: 3000, keepAliveInterval: 4000, keepAliveCount: 6 })
      t.same(readSocketTimeouts(socket), {
        keepAlive: true, keepAliveIdle: 3000, keepAliveInterval: 4000, keepAliveCount: 6, userTimeout: 7000,
      })
      socket.setKeepAlive(true, 1000)
      t.equal(readSocketTimeouts(socket).keepAliveInterval, 4000, 'and they survive a later setKeepAlive')
    })

    t.test('0/false leave the system values alone', async (t) => {
      const socket = net.connect(port, host)
      t.teardown(() => socket.destroy())
      await once(socket, 'connect')
      const before = readSocketTimeouts(socket)
      applySocketTimeouts(socket, { userTimeout: 0, keepAliveIdle: false, keepAliveInterval: false, keepAliveCount: false })
      t.same(readSocketTimeouts(socket), before)
      applySocketTimeouts(socket, { userTimeout: 0, keepAliveIdle: false, keepAliveInterval: false, keepAliveCount: 4 })
      t.same(readSocketTimeouts(socket), { ...before, keepAlive: true, keepAliveCount: 4 })
    })
  })

  t.test(`TLS over ${host}`, async (t) => {
    if (host === '::1' && !(await ipv6Loopback())) return t.plan(0, 'no IPv6 loopback on this machine')
    const port = await tlsServer(t, host)

    t.test('applied before connect: in force before the handshake', async (t) => {
      const socket = tls.connect({ port, host, ca: certs.ca, servername: 'localhost' })
      t.teardown(() => socket.destroy())
      applySocketTimeouts(socket, ASKED)
      await once(socket, 'connect')
      t.same(readSocketTimeouts(socket), EXPECTED, "at 'connect', before the TLS handshake")
      await once(socket, 'secureConnect')
      t.same(readSocketTimeouts(socket), EXPECTED, 'after the handshake')
      socket.setKeepAlive(true, 60_000)
      t.same(readSocketTimeouts(socket), EXPECTED, 'after setKeepAlive(true, 60000) on the TLS socket')
      socket.setKeepAlive(true, 1000)
      t.same(readSocketTimeouts(socket), { ...EXPECTED, keepAliveIdle: 1000 }, 'a shorter idle asked for is taken; interval and count stay')
    })

    t.test('applied after the handshake', async (t) => {
      const socket = tls.connect({ port, host, ca: certs.ca, servername: 'localhost' })
      t.teardown(() => socket.destroy())
      await once(socket, 'secureConnect')
      applySocketTimeouts(socket, ASKED)
      t.same(readSocketTimeouts(socket), EXPECTED)
    })
  })
}

// A fresh directory per Unix socket, removed when the test ends (teardowns
// run last-registered first, so after the server and client have closed).
function unixSocketPath (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'stallguard-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'sock')
}

t.test('Unix-domain sockets are skipped, not errors', async (t) => {
  const path = unixSocketPath(t)
  const server = net.createServer().listen(path)
  await once(server, 'listening')
  t.teardown(() => server.close())
  const socket = net.connect(path)
  t.teardown(() => socket.destroy())
  applySocketTimeouts(socket, ASKED)
  await once(socket, 'connect')
  applySocketTimeouts(socket, ASKED)
  t.equal(socket.destroyed, false)
  t.equal(tcpInfo(socket), undefined, 'no TCP_INFO for a Unix socket')
})

t.test('tcpInfo on a live connection', async (t) => {
  const port = await tcpServer(t, '127.0.0.1')
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  t.equal(tcpInfo(socket), undefined, 'undefined before the socket has a descriptor')
  await once(socket, 'connect')
  const info = tcpInfo(socket)!
  t.equal(info.state, 1, 'TCP_ESTABLISHED')
  t.equal(info.unacked, 0)
  t.ok(info.rto > 0, `rto ${info.rto} µs`)
  for (const key of ['retransmits', 'rtt', 'lost', 'totalRetrans', 'lastDataSent', 'lastDataRecv', 'lastAckRecv'] as const) {
    t.type(info[key], 'number', key)
  }
})

t.test('errors: wrong arguments and sockets without a descriptor', async (t) => {
  t.throws(() => applySocketTimeouts({} as net.Socket), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /socket must be a net.Socket/ })
  t.throws(() => readSocketTimeouts(null as unknown as net.Socket), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => tcpInfo('x' as unknown as net.Socket), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => applySocketTimeouts(new net.Socket(), { keepAliveCount: 500 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /tcp\.keepAliveCount/ })
  const unconnected = new net.Socket()
  t.throws(() => readSocketTimeouts(unconnected), { name: 'StallGuardError', code: 'ENOTCONN' })
  t.type(t.throws(() => readSocketTimeouts(unconnected)), StallGuardError)
  // Applying to a socket that never connects is harmless and leaks nothing.
  applySocketTimeouts(unconnected, ASKED)
  unconnected.destroy()
})

t.test('native errors carry code, errno, syscall and the option', async (t) => {
  const binding = native.binding!
  t.throws(() => binding.getTimeouts(2_000_000), { code: 'EBADF', syscall: 'getsockopt', option: 'SO_KEEPALIVE', message: /bad file descriptor/ })
  const file = openSync(__filename, 'r')
  t.teardown(() => closeSync(file))
  t.throws(() => binding.setTimeouts(file, 1, -1, -1, -1, -1), { code: 'ENOTSOCK', syscall: 'setsockopt', option: 'SO_KEEPALIVE' })
  t.throws(() => binding.setTimeouts(file, -1, -1, -1, -1, 1000), { code: 'ENOTSOCK', option: 'TCP_USER_TIMEOUT' })
  t.throws(() => binding.tcpInfo(file), { code: 'ENOTSOCK', syscall: 'getsockopt', option: 'TCP_INFO' })
  t.throws(() => (binding.setTimeouts as (...a: unknown[]) => void)('1'), { name: 'TypeError', message: /fd must be a number/ })

  const path = unixSocketPath(t)
  const server = net.createServer().listen(path)
  await once(server, 'listening')
  t.teardown(() => server.close())
  const unix = net.connect(path)
  t.teardown(() => unix.destroy())
  await once(unix, 'connect')
  t.throws(() => readSocketTimeouts(unix), { code: /^(EOPNOTSUPP|ENOTSUP)$/, option: 'TCP_KEEPIDLE' }, 'a Unix socket has no TCP options')
})
