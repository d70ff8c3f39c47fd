// The AWS SDK v3 retries on new connections: with address health, a GetObject
// to a single-address origin whose path died pays one SYN timeout (the first
// attempt condemns the address), and its other two attempts fail at once —
// ≤ 5 s at a 3 s user timeout, where it took 3 SYN timeouts (9.6 s) before.
import type net from 'node:net'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
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
    // Every attempt on a new connection, as in the measurement.
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
}
