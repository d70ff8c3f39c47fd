// The AWS SDK v3 retries on new connections: with address health, a GetObject
// to a single-address origin whose path died pays one SYN timeout (the first
// attempt condemns the address), and its other two attempts fail at once —
// ≤ 5 s at a 3 s user timeout, where it took 3 SYN timeouts (9.6 s) before.
// On a two-address origin with one address dark, the SDK's retry of a
// GetObject that died on a pooled connection to it lands on the other one.
import type { LookupAddress } from 'node:dns'
import type net from 'node:net'
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import t from 'tap'
import { AddressDownError, StallGuardHttpAgent } from '../../lib/index'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { BUCKET, s3Client, startS3 } from '../fixtures/s3'
import { now, since } from '../fixtures/timing'

const TCP = { userTimeout: 3000, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 1 }

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  t.test('GetObject, 3 attempts, single-address origin whose path died: fails within 5 s', async (t) => {
    const server = await startS3(t, 'http')
    const agent = new StallGuardHttpAgent({ tcp: TCP })
    t.teardown(() => agent.destroy())
    const s3 = await s3Client(t, server, agent)
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'object', Body: 'hello' }))
    // Every attempt on a new connection, as in the issue's measurement.
    for (const socket of Object.values(agent.freeSockets).flat()) (socket as net.Socket).destroy()
    filter.drop(server.port)
    const start = now()
    const err = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'object' })).then(() => undefined, (e: unknown) => e)
    const elapsed = since(start)
    t.ok(err, 'the call failed')
    t.equal((err as { code?: string }).code, 'ETIMEDOUT')
    t.type(err, AddressDownError, 'the last attempt was refused by address health')
    t.equal((err as { $metadata?: { attempts?: number } }).$metadata?.attempts, 3, 'the SDK made its 3 attempts')
    t.ok(elapsed <= 5000, `the whole call failed after ${elapsed} ms (bound 5000 ms; one SYN timeout of 3000 ms)`)
    t.match(agent.downAddresses(), [{ address: '127.0.0.1', port: server.port }])
  })

  t.test('GetObject, two-address origin, one address dark: the retry of a request that died there succeeds on the other', async (t) => {
    // s3rver on every loopback address of the private namespace; `s3.test` resolves to two of them.
    const server = await startS3(t, 'http', '0.0.0.0')
    const [dark, healthy] = ['127.0.0.2', '127.0.0.3']
    const lookup = (_host: string, _options: unknown, cb: (err: null, answer: LookupAddress[]) => void): void => {
      setImmediate(() => cb(null, [{ address: dark!, family: 4 }, { address: healthy!, family: 4 }]))
    }
    const agent = new StallGuardHttpAgent({ tcp: TCP, lookup } as ConstructorParameters<typeof StallGuardHttpAgent>[0])
    t.teardown(() => agent.destroy())
    const s3 = await s3Client(t, { port: server.port, endpoint: `http://s3.test:${server.port}` }, agent)
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'object', Body: 'hello' }))
    const getAll = (client: S3Client, n: number) => Promise.all(Array.from({ length: n }, async () => {
      const start = now()
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'object' }))
        return { body: await out.Body!.transformToString(), attempts: out.$metadata.attempts ?? 0, elapsed: since(start) }
      } catch (err) {
        return { error: err as Error, attempts: 0, elapsed: since(start) }
      }
    }))
    // Warm the pool: healthy addresses rotate, so the connections spread over both.
    await getAll(s3, 4)
    const pooled = Object.values(agent.freeSockets).flat().map((s) => (s as net.Socket).remoteAddress)
    t.ok(pooled.includes(dark) && pooled.includes(healthy), `pooled connections to both addresses (${pooled.join(', ')})`)
    filter.drop(server.port, 'both', dark)
    const results = await getAll(s3, pooled.length)
    for (const r of results) {
      t.equal(r.body, 'hello', `GetObject succeeded (${r.attempts} attempt(s), ${r.elapsed} ms${r.error ? `: ${r.error.name} ${r.error.message}` : ''})`)
      t.ok(r.elapsed <= 5000, `within 5 s: ${r.elapsed} ms (one user timeout of 3000 ms, then the retry)`)
    }
    t.ok(results.some((r) => r.attempts >= 2), 'a request on a dead pooled connection was retried by the SDK')
    const after = Object.values(agent.freeSockets).flat().map((s) => (s as net.Socket).remoteAddress)
    t.notOk(after.includes(dark), `no pooled connection to the dark address is left (${after.join(', ')})`)
  })
}
