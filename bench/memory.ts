// Memory of one contender, in a process of its own (started with --expose-gc
// by run.ts): heap and RSS across 100 000 requests, and the cost of one idle
// pooled connection.
import { byName } from './contenders'
import { driveCount } from './load'

const [name, portArg] = process.argv.slice(2)
const port = Number(portArg)
const contender = byName(name!)

const gc = globalThis.gc
if (gc === undefined) throw new Error('run with --expose-gc')

const settle = async (): Promise<NodeJS.MemoryUsage> => {
  // Two passes plus a turn of the event loop so closed handles are collected.
  await new Promise((r) => setImmediate(r))
  gc()
  gc()
  return process.memoryUsage()
}

async function main(): Promise<void> {
  const client = contender.make(16)
  const send = client.send({ port, path: '/small' })
  await driveCount(send, 16, 5_000)
  const samples: Array<{ requests: number; heapUsed: number; rss: number }> = []
  let done = 0
  let m = await settle()
  samples.push({ requests: done, heapUsed: m.heapUsed, rss: m.rss })
  for (let i = 0; i < 4; i++) {
    await driveCount(send, 16, 25_000)
    done += 25_000
    m = await settle()
    samples.push({ requests: done, heapUsed: m.heapUsed, rss: m.rss })
  }
  await client.close()

  const idle = 400
  const before = await settle()
  const pool = contender.make(idle)
  await driveCount(pool.send({ port, path: '/small' }), idle, idle)
  const after = await settle()
  const perConnection = {
    heap: (after.heapUsed - before.heapUsed) / idle,
    rss: (after.rss - before.rss) / idle,
  }
  await pool.close()
  process.stdout.write(JSON.stringify({ samples, perConnection }) + '\n')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
