// Closed-loop load: `concurrency` workers each send one request, wait for the
// whole response, and send the next, until the time slice ends.
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Dispatcher } from 'undici'

export type Send = () => Promise<number>

export interface Slice {
  requests: number
  errors: number
  seconds: number
  /** per-request latency, ms */
  latencies: number[]
  bytes: number
  /** client CPU (user + system) spent in the slice, µs: the server runs in another process */
  cpuMicros: number
}

export async function drive(send: Send, concurrency: number, durationMs: number): Promise<Slice> {
  const latencies: number[] = []
  let requests = 0
  let errors = 0
  let bytes = 0
  const start = performance.now()
  const cpu = process.cpuUsage()
  const end = start + durationMs
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now()
      try {
        bytes += await send()
        latencies.push(performance.now() - t0)
        requests++
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const used = process.cpuUsage(cpu)
  return {
    requests, errors, seconds: (performance.now() - start) / 1000, latencies, bytes,
    cpuMicros: used.user + used.system,
  }
}

/** Send `count` requests with `concurrency` workers (for memory runs). */
export async function driveCount(send: Send, concurrency: number, count: number): Promise<void> {
  let left = count
  const worker = async (): Promise<void> => {
    while (left-- > 0) await send()
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export interface Target {
  port: number
  /** https: HTTP/2 over TLS (the bench server's second port); http when absent */
  scheme?: 'http' | 'https'
  path: string
  method?: 'GET' | 'POST'
  /** bytes one upload sends as its request body, counted instead of the (tiny) response */
  uploadBytes?: number
}

/** An upload's body, made per request (plain data in Target, so a Target can cross to a worker process). */
export function* uploadBody(total: number): Generator<Buffer> {
  const chunk = Buffer.alloc(64 * 1024, 'u')
  for (let sent = 0; sent < total; sent += chunk.length) yield chunk
}

export function undiciSender(dispatcher: Dispatcher, target: Target): Send {
  const origin = `${target.scheme ?? 'http'}://127.0.0.1:${target.port}`
  return async () => {
    const { body } = await dispatcher.request({
      origin,
      path: target.path,
      method: target.method ?? 'GET',
      body: target.uploadBytes === undefined ? undefined : uploadBody(target.uploadBytes) as unknown as Dispatcher.DispatchOptions['body'],
    })
    let n = 0
    for await (const chunk of body) n += (chunk as Buffer).length
    return target.uploadBytes ?? n
  }
}

export function httpSender(agent: http.Agent, target: Target): Send {
  return () =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { agent, host: '127.0.0.1', port: target.port, path: target.path, method: target.method ?? 'GET' },
        (res) => {
          let n = 0
          res.on('data', (chunk: Buffer) => { n += chunk.length })
          res.on('end', () => resolve(target.uploadBytes ?? n))
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      if (target.uploadBytes === undefined) {
        req.end()
        return
      }
      void (async () => {
        for (const chunk of uploadBody(target.uploadBytes!)) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r))
        }
        req.end()
      })().catch(reject)
    })
}
