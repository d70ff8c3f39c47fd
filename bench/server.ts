// The benchmark's peer: a keep-alive HTTP server in its own process, so the
// client being measured has a core to itself on a 2-core machine.
//   GET  /small       64-byte body, keep-alive
//   GET  /close       64-byte body, then the server closes the connection
//   GET  /bytes?n=N   N bytes, streamed in 64 KiB chunks with back-pressure
//   POST /upload      reads and discards the body, answers its length
// and, on a second port, HTTP/2 over TLS (one session, many streams):
//   GET  /small       64-byte body
import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { cert, key } from '../test/fixtures/tls'

const SMALL = Buffer.alloc(64, 'x')
const CHUNK = Buffer.alloc(64 * 1024, 'y')

const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const url = new URL(req.url ?? '/', 'http://bench')
  switch (url.pathname) {
    case '/close':
    case '/small':
      if (url.pathname === '/close') res.setHeader('connection', 'close')
      res.setHeader('content-length', SMALL.length)
      res.end(SMALL)
      return
    case '/bytes': {
      let left = Number(url.searchParams.get('n'))
      res.setHeader('content-length', left)
      const pump = (): void => {
        while (left > 0) {
          const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left)
          left -= chunk.length
          if (!res.write(chunk)) {
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      pump()
      return
    }
    case '/upload': {
      let n = 0
      req.on('data', (chunk: Buffer) => { n += chunk.length })
      req.on('end', () => res.end(String(n)))
      return
    }
    default:
      res.statusCode = 404
      res.end()
  }
})
// The client's agents allow 100 concurrent streams on their one connection.
const h2 = http2.createSecureServer({ key, cert, settings: { maxConcurrentStreams: 1000 } }, (req, res) => {
  if (req.url === '/small') {
    res.setHeader('content-length', SMALL.length)
    res.end(SMALL)
    return
  }
  res.statusCode = 404
  res.end()
})
server.listen(0, '127.0.0.1', () => {
  h2.listen(0, '127.0.0.1', () => {
    process.send!({ port: (server.address() as AddressInfo).port, h2Port: (h2.address() as AddressInfo).port })
  })
})
process.on('disconnect', () => process.exit(0))
