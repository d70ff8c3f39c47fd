// Throughput and latency, alternating contenders slice by slice (A B C, then
// C B A, …) so that machine drift lands on every contender alike. Each
// contender lives in its own process (slice-worker.ts): see there for why.
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { percentile, type Target } from './load'
import type { Contender } from './contenders'
import type { WorkerRequest, WorkerSlice } from './slice-worker'

export interface Row {
  scenario: string
  contender: string
  baseline: string
  /** median over rounds */
  perSecond: number
  unit: 'req/s' | 'MiB/s'
  /** median over rounds of (this contender / baseline) in the same round: drift cancels out */
  ratio: number
  /** client CPU per request, µs (median over rounds) */
  cpuPerRequest: number
  /** median over rounds of the paired CPU-per-request ratio */
  cpuRatio: number
  p50: number
  p99: number
  errors: number
}

export interface Plan {
  scenario: string
  target: Target
  concurrency: number
  rounds: number
  /**
   * Fresh processes per contender over the rounds (the rounds are split
   * among them). A process keeps the JIT decisions and heap layout it
   * happened to get for its whole life, so one process per contender would
   * carry its luck into every round; several spread it.
   */
  processes: number
  /** Requests sent before each fresh process is measured, ms. */
  warmupMs: number
  sliceMs: number
  unit: 'req/s' | 'MiB/s'
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** A contender's process: ask for a slice, get its counts back. */
class Worker {
  readonly #child: ChildProcess
  readonly #exited: Promise<unknown>

  constructor() {
    this.#child = fork(join(__dirname, 'slice-worker.ts'), [], { execArgv: ['--import', 'tsx'], serialization: 'advanced' })
    this.#exited = once(this.#child, 'exit')
  }

  async #ask(request: WorkerRequest, kind: string): Promise<{ kind: string; slice?: WorkerSlice }> {
    this.#child.send(request)
    const reply = await Promise.race([
      once(this.#child, 'message') as Promise<[{ kind: string; slice?: WorkerSlice }]>,
      this.#exited.then(() => { throw new Error(`bench worker exited while asked for ${request.kind}`) }),
    ])
    if (reply[0].kind !== kind) throw new Error(`bench worker answered ${reply[0].kind} to ${request.kind}`)
    return reply[0]
  }

  start(contender: string, concurrency: number, target: Target): Promise<unknown> {
    return this.#ask({ kind: 'start', contender, concurrency, target }, 'ready')
  }

  async slice(ms: number): Promise<WorkerSlice> {
    return (await this.#ask({ kind: 'slice', ms }, 'slice')).slice!
  }

  async stop(): Promise<void> {
    if (this.#child.connected) this.#child.send({ kind: 'stop' } satisfies WorkerRequest)
    await this.#exited
  }
}

export async function measure(group: Contender[], plan: Plan): Promise<Row[]> {
  const rates: number[][] = group.map(() => [])
  const cpu: number[][] = group.map(() => [])
  const latencies: number[][] = group.map(() => [])
  const errors = group.map(() => 0)
  const processes = Math.min(plan.processes, plan.rounds)
  for (let generation = 0, round = 0; generation < processes; generation++) {
    const workers = group.map(() => new Worker())
    try {
      await Promise.all(workers.map((w, i) => w.start(group[i]!.name, plan.concurrency, plan.target)))
      // Warm-up, one at a time: connections open, JIT settles. A fresh
      // process is still tiering up its hot functions for a second or two,
      // and more code to compile (ours) would show as cost if measured then.
      for (const worker of workers) await worker.slice(plan.warmupMs)
      for (const last = Math.round(((generation + 1) * plan.rounds) / processes); round < last; round++) {
        const order = group.map((_, i) => i)
        if (round % 2 === 1) order.reverse()
        for (const i of order) {
          const slice = await workers[i]!.slice(plan.sliceMs)
          const amount = plan.unit === 'MiB/s' ? slice.bytes / 2 ** 20 : slice.requests
          rates[i]!.push(amount / slice.seconds)
          cpu[i]!.push(slice.cpuMicros / Math.max(1, slice.requests))
          for (const l of slice.latencies) latencies[i]!.push(l)
          errors[i]! += slice.errors
        }
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()))
    }
  }
  // Round r of every contender ran back to back, so their ratio is a paired comparison.
  const paired = (series: number[][], i: number): number =>
    median(series[i]!.map((value, round) => value / series[0]![round]!))
  return group.map((contender, i) => {
    const sorted = latencies[i]!.sort((a, b) => a - b)
    return {
      scenario: plan.scenario,
      contender: contender.name,
      baseline: group[0]!.name,
      perSecond: median(rates[i]!),
      unit: plan.unit,
      ratio: paired(rates, i),
      cpuPerRequest: median(cpu[i]!),
      cpuRatio: paired(cpu, i),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      errors: errors[i]!,
    }
  })
}
