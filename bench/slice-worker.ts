// One contender in a process of its own, driven slice by slice by
// throughput.ts over IPC. Contenders sharing a process share its JIT feedback
// (undici's code sees every contender's handler shapes) and its heap (one
// contender's garbage is collected in another's slice), so a shared-process
// ratio prices the mix, not the agent; a user's service runs one of them.
import { byName, type Client } from './contenders'
import { drive, type Target } from './load'

export type WorkerRequest =
  | { kind: 'start'; contender: string; concurrency: number; target: Target }
  | { kind: 'slice'; ms: number }
  | { kind: 'stop' }

export interface WorkerSlice {
  requests: number
  errors: number
  seconds: number
  bytes: number
  cpuMicros: number
  latencies: Float64Array
}

let client: Client | undefined
let send: (() => Promise<number>) | undefined
let concurrency = 1

process.on('message', (message: WorkerRequest) => {
  void handle(message).catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
})

async function handle(message: WorkerRequest): Promise<void> {
  switch (message.kind) {
    case 'start':
      client = byName(message.contender).make(message.concurrency)
      // Process-wide state the contender needs (install()'s hooks) stays on: nothing else runs here.
      client.enter?.()
      send = client.send(message.target)
      concurrency = message.concurrency
      process.send!({ kind: 'ready' })
      return
    case 'slice': {
      const slice = await drive(send!, concurrency, message.ms)
      const reply: WorkerSlice = { ...slice, latencies: Float64Array.from(slice.latencies) }
      process.send!({ kind: 'slice', slice: reply })
      return
    }
    case 'stop':
      await client?.leave?.()
      await client?.close()
      process.disconnect()
  }
}
