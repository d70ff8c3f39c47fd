// When the native binding is missing (no prebuild, no compiler) or Node gives
// no descriptors (Windows), stallguard degrades to Node's own keepalive, warns
// once in one line (what is missing, what still protects, the remedy), and
// never takes the application down. What capabilities() claims for the
// fallback is checked against what the kernel really holds, on the Node this
// runs on (CI runs this file on Node 20, 22, 24 and 26).
import { once } from 'node:events'
import net from 'node:net'
import t, { type Test } from 'tap'
import type * as SocketTimeouts from '../lib/kernel/socket-timeouts'
import type * as Native from '../lib/kernel/native'
import { native as realNative } from '../lib/kernel/native'
import { degradedWarning } from '../lib/kernel/degraded'

const ASKED = { userTimeout: 2500, keepAliveIdle: 1500, keepAliveInterval: 2000, keepAliveCount: 3 }
/** What libuv writes when Node passes only the idle time. */
const LIBUV_INTERVAL_MS = 1000
const LIBUV_COUNT = 10
const intervalAndCountByNode = net.Socket.prototype.setKeepAlive.length >= 4

async function connectedSocket(t: Test): Promise<net.Socket> {
  const server = net.createServer((s) => s.on('error', () => {}))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  t.teardown(() => {
    socket.destroy()
    server.close()
  })
  return socket
}

function collectWarnings(t: Test): Error[] {
  const warnings: Error[] = []
  const onWarning = (w: Error) => {
    if ((w as NodeJS.ErrnoException).code === 'STALLGUARD_DEGRADED') warnings.push(w)
  }
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  return warnings
}

/** The kernel's view, through the real binding loaded apart from the module under test. */
function held(socket: net.Socket) {
  return realNative.binding!.getTimeouts((socket as unknown as { _handle: { fd: number } })._handle.fd)
}

/** A node-gyp-build that records whether anyone asked it for a binding. */
function watchedLoader(): { calls: number; module: { resolve(): string } } {
  const watched = { calls: 0, module: { resolve: () => { watched.calls++; throw new Error('no binding here') } } }
  return watched
}

// Warnings are emitted on process.nextTick.
const tick = () => new Promise((resolve) => setImmediate(resolve))

t.before(() => {
  if (realNative.binding === undefined) throw new Error(`the tests read the kernel through the binding: ${realNative.error?.message}`)
})

t.test('the loader never throws; it records why the binding did not load', async (t) => {
  const { native } = t.mockRequire('../lib/kernel/native', {
    'node-gyp-build': {
      resolve: () => {
        throw new Error('No native build was found for platform=linux arch=x64 runtime=node abi=115')
      },
    },
  }) as typeof Native
  t.equal(native.binding, undefined)
  t.match(native.error, { message: /No native build was found/ })

  const broken = t.mockRequire('../lib/kernel/native', {
    'node-gyp-build': { resolve: () => require.resolve('./fixtures/tls') },
  }) as typeof Native
  t.equal(broken.native.binding, undefined)
  t.match(broken.native.error, { message: /tls\.ts does not export setTimeouts/ })
})

t.test('no binding: Node keepalive, capabilities as the kernel sees them, one one-line warning', async (t) => {
  const api = t.mockRequire('../lib/kernel/socket-timeouts', {
    '../lib/kernel/native': {
      native: {
        binding: undefined,
        file: undefined,
        error: new Error('No native build was found for platform=linux arch=s390x\n    loaded from: /app\n'),
      },
    },
  }) as typeof SocketTimeouts
  const warnings = collectWarnings(t)

  const caps = api.capabilities()
  t.match(caps, {
    native: false,
    reason: /^binding not loaded: No native build was found/,
    binding: undefined,
    userTimeout: false,
    keepAliveIdle: true,
    keepAliveInterval: intervalAndCountByNode,
    keepAliveCount: intervalAndCountByNode,
    tcpInfo: false,
    userTimeoutOption: undefined,
  })

  const first = await connectedSocket(t)
  const second = await connectedSocket(t)
  api.applySocketTimeouts(first, ASKED)
  api.applySocketTimeouts(second, ASKED)
  await Promise.all([once(first, 'connect'), once(second, 'connect')])
  await tick()
  t.equal(warnings.length, 1, 'exactly one warning for the whole process')
  const message = warnings[0]?.message ?? ''
  t.equal(warnings[0]?.name, 'StallGuardWarning')
  t.notMatch(message, /\n/, 'one line')
  t.match(message, /kernel timeouts off \(binding not loaded: No native build was found for platform=linux arch=s390x loaded from: \/app\)/)
  t.match(message, intervalAndCountByNode
    ? /Node's setKeepAlive still sets keepalive idle, interval and count/
    : /Node's setKeepAlive sets keepalive idle only/)
  t.match(message, /no TCP_USER_TIMEOUT/)
  t.match(message, /Fix: install a C\+\+ toolchain \(python3, make, g\+\+\) and run `npm rebuild stallguard`, or run on a platform with a prebuild \(linux-x64 or linux-arm64 with glibc\)\.$/)

  // What the kernel holds, read through the real binding.
  const kernel = held(first)
  t.comment(`Node ${process.version}: interval ${kernel.keepAliveInterval} ms, count ${kernel.keepAliveCount}`)
  t.equal(kernel.keepAlive, true, 'keepalive on')
  t.equal(kernel.keepAliveIdle, 2000, 'idle from Node (1500 ms rounded up to 2 s)')
  t.equal(kernel.userTimeout, 0, 'no user timeout without the binding')
  if (intervalAndCountByNode) {
    t.equal(kernel.keepAliveInterval, ASKED.keepAliveInterval, 'this Node passed the interval through')
    t.equal(kernel.keepAliveCount, ASKED.keepAliveCount, 'this Node passed the count through')
  } else {
    t.equal(kernel.keepAliveInterval, LIBUV_INTERVAL_MS, "this Node leaves libuv's interval")
    t.equal(kernel.keepAliveCount, LIBUV_COUNT, "this Node leaves libuv's count")
  }
  // The claim and the kernel agree whichever branch ran.
  t.equal(caps.keepAliveInterval, kernel.keepAliveInterval === ASKED.keepAliveInterval)
  t.equal(caps.keepAliveCount, kernel.keepAliveCount === ASKED.keepAliveCount)

  // node:http's pool calls setKeepAlive(true, keepAliveMsecs) whenever a socket
  // comes back; on Node >= 24.21 that alone would put libuv's 1 s / 10 back.
  first.setKeepAlive(true, 5000)
  t.same(held(first), kernel, 'a later setKeepAlive(true, ms) leaves our values in force')
  first.setKeepAlive(false)
  t.equal(held(first).keepAlive, false, 'setKeepAlive(false) is respected')
  first.setKeepAlive(true, 5000)
  t.same(held(first), kernel, 'turned back on: our values again, not the caller-supplied idle alone')

  t.throws(() => api.readSocketTimeouts(first), { code: 'ERR_STALLGUARD_UNSUPPORTED', message: /No native build/ })
  t.equal(api.tcpInfo(first), undefined)
  t.equal(first.destroyed, false, 'the socket keeps working')
})

t.test('Windows: no binding is even looked for; the warning names the reason and a remedy that exists there', async (t) => {
  t.intercept(process, 'platform', { value: 'win32' })
  const loader = watchedLoader()
  // Fresh copies of the whole kernel layer, loaded as on Windows.
  const native = t.mockRequire('../lib/kernel/native', { 'node-gyp-build': loader.module }) as typeof Native
  const api = t.mockRequire('../lib/kernel/socket-timeouts', { '../lib/kernel/native': native }) as typeof SocketTimeouts
  t.equal(loader.calls, 0, 'node-gyp-build was not asked for a binding')
  t.equal(native.native.binding, undefined)
  const warnings = collectWarnings(t)
  t.match(api.capabilities(), {
    native: false,
    reason: 'Node exposes no socket descriptors on win32',
    binding: undefined,
    platform: 'win32',
    userTimeout: false,
    keepAliveIdle: true,
    keepAliveInterval: intervalAndCountByNode,
    keepAliveCount: intervalAndCountByNode,
    tcpInfo: false,
  })
  const socket = await connectedSocket(t)
  api.applySocketTimeouts(socket, ASKED)
  await once(socket, 'connect')
  await tick()
  t.equal(warnings.length, 1)
  const message = warnings[0]?.message ?? ''
  t.notMatch(message, /\n/, 'one line')
  t.match(message, /kernel timeouts off \(Node exposes no socket descriptors on win32\)/)
  t.match(message, /Fix: set per-request deadlines; the kernel layer needs Linux, macOS or FreeBSD\.$/)
  t.notMatch(message, /npm rebuild/, 'no compiler remedy where a compiled binding could do nothing')
  t.throws(() => api.readSocketTimeouts(socket), { code: 'ERR_STALLGUARD_UNSUPPORTED', message: /win32/ })
  // Node's setKeepAlive really ran (here on Linux, the same call Windows gets).
  t.equal(held(socket).keepAliveIdle, 2000)
})

t.test('the remedy fits the cause', async (t) => {
  t.match(degradedWarning('binding not loaded: x', 'linux'), /Fix: install a C\+\+ toolchain .* `npm rebuild stallguard`/)
  t.match(degradedWarning('binding not loaded: x', 'darwin'), /Fix: install a C\+\+ toolchain/)
  t.match(degradedWarning('Node exposes no socket descriptors on win32', 'win32'), /Fix: set per-request deadlines; the kernel layer needs Linux, macOS or FreeBSD\.$/)
  // The binding works; one socket just has no descriptor: a toolchain would not help.
  t.match(degradedWarning('a socket has no file descriptor', 'linux', true), /\(a socket has no file descriptor\).*Fix: set per-request deadlines\.$/)
})
