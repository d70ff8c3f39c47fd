// When the native binding is missing (no prebuild, no compiler) or Node gives
// no descriptors (Windows), stallguard degrades to Node's own keepalive, warns
// once with the reason, and never takes the application down.
import { once } from 'node:events'
import net from 'node:net'
import t, { type Test } from 'tap'
import type * as SocketTimeouts from '../lib/kernel/socket-timeouts'
import { native as realNative } from '../lib/kernel/native'

const ASKED = { userTimeout: 2500, keepAliveIdle: 1500, keepAliveInterval: 2000, keepAliveCount: 3 }

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

// Warnings are emitted on process.nextTick.
const tick = () => new Promise((resolve) => setImmediate(resolve))

t.test('the loader never throws; it records why the binding did not load', async (t) => {
  const { native } = t.mockRequire('../lib/kernel/native', {
    'node-gyp-build': {
      resolve: () => {
        throw new Error('No native build was found for platform=linux arch=x64 runtime=node abi=115')
      },
    },
  }) as typeof import('../lib/kernel/native')
  t.equal(native.binding, undefined)
  t.match(native.error, { message: /No native build was found/ })

  const broken = t.mockRequire('../lib/kernel/native', {
    'node-gyp-build': { resolve: () => require.resolve('./fixtures/tls') },
  }) as typeof import('../lib/kernel/native')
  t.equal(broken.native.binding, undefined)
  t.match(broken.native.error, { message: /tls\.ts does not export setTimeouts/ })
})

t.test('no binding: keepalive through Node, one warning naming the reason', async (t) => {
  const api = t.mockRequire('../lib/kernel/socket-timeouts', {
    '../lib/kernel/native': { native: { binding: undefined, file: undefined, error: new Error('No native build was found') } },
  }) as typeof SocketTimeouts
  const warnings = collectWarnings(t)

  t.match(api.capabilities(), {
    native: false,
    reason: /native binding failed to load: No native build was found/,
    binding: undefined,
    userTimeout: false,
    keepAliveIdle: true,
    keepAliveInterval: false,
    keepAliveCount: false,
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
  t.match(warnings[0]?.message, /No native build was found.*falling back to Node's setKeepAlive/)

  // The real binding (unmocked) reads what the kernel holds.
  const held = realNative.binding!.getTimeouts((first as unknown as { _handle: { fd: number } })._handle.fd)
  t.equal(held.keepAlive, true, 'keepalive on')
  t.equal(held.keepAliveIdle, 2000, 'idle from Node (1500 ms rounded up to 2 s)')
  t.equal(held.userTimeout, 0, 'no user timeout without the binding')
  // Node >= 24.21 / 26.4 passes interval and count through; older Node keeps libuv's 1 s / 10.
  t.ok([2000, 1000].includes(held.keepAliveInterval), `interval ${held.keepAliveInterval}`)
  t.ok([3, 10].includes(held.keepAliveCount), `count ${held.keepAliveCount}`)

  t.throws(() => api.readSocketTimeouts(first), { code: 'ERR_STALLGUARD_UNSUPPORTED', message: /No native build/ })
  t.equal(api.tcpInfo(first), undefined)
  t.equal(first.destroyed, false, 'the socket keeps working')
})

t.test('no descriptors (Windows): same degradation, reason says so', async (t) => {
  t.intercept(process, 'platform', { value: 'win32' })
  // Keep the real (Linux) binding: on Windows it loads too, but Node hands out no fd.
  const api = t.mockRequire('../lib/kernel/socket-timeouts', {
    '../lib/kernel/native': { native: realNative },
  }) as typeof SocketTimeouts
  const warnings = collectWarnings(t)
  t.match(api.capabilities(), { native: false, reason: /no socket descriptors on win32/, platform: 'win32' })
  const socket = await connectedSocket(t)
  api.applySocketTimeouts(socket, ASKED)
  await once(socket, 'connect')
  await tick()
  t.equal(warnings.length, 1)
  t.match(warnings[0]?.message, /no socket descriptors on win32/)
  t.throws(() => api.readSocketTimeouts(socket), { code: 'ERR_STALLGUARD_UNSUPPORTED' })
})
