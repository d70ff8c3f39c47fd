// Throughput and latency, alternating contenders slice by slice (A B C, then
// C B A, …) so that machine drift lands on every contender alike.
import { drive, percentile, type Target } from './load'
import type { Contender } from './contenders'

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
  sliceMs: number
  unit: 'req/s' | 'MiB/s'
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

export async function measure(group: Contender[], plan: Plan): Promise<Row[]> {
  const clients = group.map((c) => c.make(plan.concurrency))
  const senders = clients.map((c) => c.send(plan.target))
  const rates: number[][] = group.map(() => [])
  const cpu: number[][] = group.map(() => [])
  const latencies: number[][] = group.map(() => [])
  const errors = group.map(() => 0)
  try {
    // Warm-up: connections open, JIT settles.
    for (const [i, send] of senders.entries()) {
      clients[i]!.enter?.()
      await drive(send, plan.concurrency, Math.min(500, plan.sliceMs))
      await clients[i]!.leave?.()
    }
    for (let round = 0; round < plan.rounds; round++) {
      const order = group.map((_, i) => i)
      if (round % 2 === 1) order.reverse()
      for (const i of order) {
        clients[i]!.enter?.()
        const slice = await drive(senders[i]!, plan.concurrency, plan.sliceMs)
        await clients[i]!.leave?.()
        const amount = plan.unit === 'MiB/s' ? slice.bytes / 2 ** 20 : slice.requests
        rates[i]!.push(amount / slice.seconds)
        cpu[i]!.push(slice.cpuMicros / Math.max(1, slice.requests))
        for (const l of slice.latencies) latencies[i]!.push(l)
        errors[i]! += slice.errors
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()))
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
