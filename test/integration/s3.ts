// The AWS SDK v3 against a real S3-compatible server (s3rver) on loopback,
// through StallGuardHttpAgent / StallGuardHttpsAgent in NodeHttpHandler,
// real kernel: a 24 MiB round trip; a GetObject on a pooled connection whose
// path died fails in seconds and the SDK's own retry succeeds on a fresh
// connection; a path that dies mid-body errors the body stream in seconds.
import type net from 'node:net'
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import t, { type Test } from 'tap'
import { StallGuardHttpAgent, StallGuardHttpsAgent } from '../../lib/http/agents'
import { PROTOCOLS, type Protocol } from '../fixtures/http'
import { assertKernelTimeout, IDLE_WINDOW, SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { BUCKET, digest, MiB, OBJECT, s3Client, startS3 } from '../fixtures/s3'
import { now, since, sleep } from '../fixtures/timing'
import { ca } from '../fixtures/tls'

async function setUp(t: Test, protocol: Protocol) {
  const server = await startS3(t, protocol)
  const agent = protocol === 'https'
    ? new StallGuardHttpsAgent({ tcp: SHORT_TCP, ca })
    : new StallGuardHttpAgent({ tcp: SHORT_TCP })
  t.teardown(() => agent.destroy())
  const s3 = await s3Client(t, server, agent)
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'object', Body: OBJECT }))
  return { server, agent, s3 }
}

const get = (s3: S3Client) => s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'object' }))

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  for (const protocol of PROTOCOLS) {
    t.test(`${protocol}: PutObject + GetObject of 24 MiB round trip`, async (t) => {
      const { s3 } = await setUp(t, protocol)
      const res = await get(s3)
      const body = Buffer.from(await res.Body!.transformToByteArray())
      t.equal(body.length, OBJECT.length)
      t.equal(digest(body), digest(OBJECT), 'the same bytes came back')
    })

    t.test(`${protocol}: GetObject on a dead pooled connection fails in seconds; the SDK retry succeeds`, async (t) => {
      const { server, agent, s3 } = await setUp(t, protocol)
      await sleep(20)
      const pooled = Object.values(agent.freeSockets).flat() as net.Socket[]
      t.equal(pooled.length, 1, 'one pooled connection')
      const start = now()
      const firstAttempt = new Promise<{ err: unknown; elapsed: number }>((resolve) => {
        pooled[0]!.once('error', (err) => resolve({ err, elapsed: since(start) }))
        // The path comes back as soon as the dead connection is gone: the retry gets a live one.
        pooled[0]!.once('close', () => filter.heal())
      })
      filter.drop(server.port, 'to-client')
      const res = await get(s3)
      const total = since(start)
      const { err, elapsed } = await firstAttempt
      assertKernelTimeout(t, err, elapsed, WRITE_WINDOW, 'first attempt on the pooled connection',
        'retransmissions', server.port)
      t.equal(res.$metadata.attempts, 2, 'the SDK retried once')
      const body = Buffer.from(await res.Body!.transformToByteArray())
      t.equal(digest(body), digest(OBJECT), `the retry delivered the object (${total} ms in all)`)
      t.ok(total <= WRITE_WINDOW.max + 2000, `GetObject resolved ${total} ms after the fault`)
    })

    t.test(`${protocol}: the path dies in the middle of a GetObject body → the body stream errors in seconds`, async (t) => {
      const { server, s3 } = await setUp(t, protocol)
      const res = await get(s3)
      const body = res.Body as NodeJS.ReadableStream & AsyncIterable<Buffer>
      let received = 0
      let start = 0
      const err = await (async () => {
        for await (const chunk of body) {
          received += chunk.length
          if (start === 0 && received >= MiB) {
            filter.drop(server.port)
            start = now()
          }
        }
      })().then(() => undefined, (e: unknown) => e)
      const elapsed = since(start)
      // The server's side of the connection is still retransmitting into the
      // void: let it learn the connection is gone, or closing s3rver waits ~15 min.
      filter.heal()
      t.ok(received >= MiB && received < OBJECT.length, `the body stopped after ${(received / MiB).toFixed(1)} MiB`)
      assertKernelTimeout(t, err, elapsed, IDLE_WINDOW, 'GetObject body stream', 'probes', server.port)
    })
  }
}
