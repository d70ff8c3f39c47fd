// One request interface over undici dispatchers and node:http agents, for
// the stall scenarios: start a request, get the status, then the body's end.
import http from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'

export interface Exchange {
  status: number
  /** resolves when the whole body has arrived */
  done: Promise<void>
}

export interface StallClient {
  request(port: number, opts: { method?: string; path: string; body?: Readable }): Promise<Exchange>
  close(): void
}

export function fromDispatcher(dispatcher: Dispatcher): StallClient {
  return {
    async request(port, opts) {
      const res = await dispatcher.request({
        origin: `http://127.0.0.1:${port}`,
        path: opts.path,
        method: (opts.method ?? 'GET') as Dispatcher.HttpMethod,
        body: opts.body,
      })
      // Read to the end (body.dump() would stop at its 128 KiB default limit).
      const done = (async () => {
        for await (const _ of res.body) void _
      })()
      done.catch(() => {})
      return { status: res.statusCode, done }
    },
    close: () => void dispatcher.destroy().catch(() => {}),
  }
}

export function fromAgent(agent: http.Agent): StallClient {
  return {
    request(port, opts) {
      return new Promise((resolve, reject) => {
        const req = http.request({ agent, host: '127.0.0.1', port, path: opts.path, method: opts.method ?? 'GET' })
        req.on('error', reject)
        req.on('response', (res) => {
          const done = new Promise<void>((ok, fail) => {
            res.on('end', ok)
            res.on('error', fail)
            req.on('error', fail)
            res.resume()
          })
          done.catch(() => {})
          resolve({ status: res.statusCode ?? 0, done })
        })
        if (opts.body) opts.body.pipe(req)
        else req.end()
      })
    },
    close: () => agent.destroy(),
  }
}
