// When the connection that dies is the one to a proxy, the KernelTimeoutError
// names the proxy: a TLS connection to the origin runs through a CONNECT
// tunnel (as undici's ProxyAgent and https-proxy-agent build it: tls.connect
// over the proxy socket), both sockets carry the kernel timeouts, and the
// path to the proxy dies mid-request.
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import t, { type Test } from 'tap'
import { applySocketTimeouts, KernelTimeoutError } from '../../lib/index'
import { assertKernelSaw, SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { now, since } from '../fixtures/timing'
import { ca, cert, key } from '../fixtures/tls'

/** A CONNECT-only forward proxy: enough to build a tunnel. */
async function connectProxy(t: Test): Promise<number> {
  const proxy = http.createServer((_req, res) => res.writeHead(405).end())
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
    const [host, port] = (req.url ?? '').split(':')
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.pipe(client).pipe(upstream)
    })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  t.teardown(() => {
    proxy.closeAllConnections()
    proxy.close()
  })
  return (proxy.address() as net.AddressInfo).port
}

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  t.test('the path to the proxy dies: the error names the proxy', async (t) => {
    const origin = https.createServer({ key, cert }, (req, res) => {
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    origin.listen(0, '127.0.0.1')
    await once(origin, 'listening')
    t.teardown(() => {
      origin.closeAllConnections()
      origin.close()
    })
    const originPort = (origin.address() as net.AddressInfo).port
    const proxyPort = await connectProxy(t)

    const raw = net.connect(proxyPort, '127.0.0.1')
    applySocketTimeouts(raw, SHORT_TCP)
    await once(raw, 'connect')
    raw.write(`CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`)
    const [answer] = (await once(raw, 'data')) as [Buffer]
    t.match(answer.toString(), /^HTTP\/1\.1 200/, 'tunnel open')
    const tunnel = tls.connect({ socket: raw, servername: 'localhost', ca })
    applySocketTimeouts(tunnel, SHORT_TCP)
    await once(tunnel, 'secureConnect')
    t.teardown(() => tunnel.destroy())

    filter.drop(proxyPort, 'to-client')
    const start = now()
    tunnel.write(`GET /object HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`)
    const [err] = (await once(tunnel, 'error').catch((e: unknown) => [e])) as [KernelTimeoutError]
    const elapsed = since(start)
    t.type(err, KernelTimeoutError, 'the TLS socket to the origin fails with KernelTimeoutError')
    t.equal(err.code, 'ETIMEDOUT')
    t.ok(elapsed >= WRITE_WINDOW.min && elapsed <= WRITE_WINDOW.max, `within the user timeout (${elapsed} ms)`)
    t.not(err.port, originPort, 'not the origin: that connection never saw a problem')
    assertKernelSaw(t, err, 'request through the tunnel', 'retransmissions', proxyPort)
  })
}
