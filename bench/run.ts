// `npm run bench`: the price of protection, side by side in one run, written
// to bench/RESULTS.md. `--quick` runs every part briefly (a smoke test, not
// figures to quote).
import { fork, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { h2Group, httpGroup, installGroup, undiciGroup, withControl } from './contenders'
import { measure, type Plan, type Row } from './throughput'
import { netnsUnavailableReason } from '../test/fixtures/netns'

const quick = process.argv.includes('--quick')
/** The value of `--name=value`, or undefined. */
const flag = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
// `--only=<text>`: just the throughput scenarios whose name contains it, and
// `--group=undici|h2|http|install` just one group (no memory or detection parts, and
// the results go to RESULTS.only.md): for checking one change on a shared machine.
const only = flag('only')
const onlyGroup = flag('group')
const partial = only !== undefined || onlyGroup !== undefined
// `--control`: an A/A row per scenario (contenders.ts, withControl).
const control = process.argv.includes('--control')

function numberFlag(name: string): number | undefined {
  const raw = flag(name)
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`)
  return value
}
const MiB = 2 ** 20
const tsx = ['--import', 'tsx']

async function startServer(): Promise<{ port: number; h2Port: number; stop(): void }> {
  const child = fork(join(__dirname, 'server.ts'), [], { execArgv: tsx })
  const ports = await new Promise<{ port: number; h2Port: number }>((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)))
  })
  return { ...ports, stop: () => child.kill() }
}

function runJson(cmd: string, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d })
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))
      resolve(JSON.parse(out.trim().split('\n').at(-1)!))
    })
  })
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–'
const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(3) : '–')

function throughputTable(rows: Row[]): string {
  const lines = [
    '| scenario | contender | throughput | ratio | client CPU µs/req | CPU ratio | p50 ms | p99 ms | p99 ratio | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const row of rows) {
    const base = rows.find((r) => r.scenario === row.scenario && r.contender === row.baseline)!
    const isBase = row === base
    lines.push(`| ${row.scenario} | ${row.contender} | ${fmt(row.perSecond)} ${row.unit} | ` +
      `${isBase ? '(baseline)' : row.ratio.toFixed(3)} | ${fmt(row.cpuPerRequest, 1)} | ` +
      `${isBase ? '' : row.cpuRatio.toFixed(3)} | ${fmt(row.p50, 3)} | ${fmt(row.p99, 3)} | ` +
      `${isBase ? '' : ratio(row.p99, base.p99)} | ${row.errors} |`)
  }
  return lines.join('\n')
}

interface MemoryResult {
  samples: Array<{ requests: number; heapUsed: number; rss: number }>
  perConnection: { heap: number; rss: number }
}

function memoryTable(results: Array<[string, MemoryResult]>): string {
  const kib = (b: number): string => fmt(b / 1024, 1)
  const lines = [
    '| contender | heap after warm-up | heap after 100 000 req | heap growth 25k→100k | RSS after 100 000 req | heap per idle pooled connection | RSS per idle pooled connection |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const [name, r] of results) {
    const first = r.samples[0]!
    const quarter = r.samples[1]!
    const last = r.samples.at(-1)!
    lines.push(`| ${name} | ${kib(first.heapUsed)} KiB | ${kib(last.heapUsed)} KiB | ${kib(last.heapUsed - quarter.heapUsed)} KiB | ` +
      `${fmt(last.rss / MiB, 1)} MiB | ${kib(r.perConnection.heap)} KiB | ${kib(r.perConnection.rss)} KiB |`)
  }
  return lines.join('\n')
}

interface Detection {
  capMs: number
  tcp: { userTimeout: number; keepAliveIdle: number; keepAliveInterval: number; keepAliveCount: number }
  connectTimeout: number
  results: Array<{ scenario: string; contender: string; ms: number | null; outcome: string }>
}

function detectTable(d: Detection): string {
  const contenders = [...new Set(d.results.map((r) => r.contender))]
  const scenarios = [...new Set(d.results.map((r) => r.scenario))]
  const lines = [
    `| scenario | ${contenders.join(' | ')} |`,
    `|---|${contenders.map(() => '---').join('|')}|`,
  ]
  for (const s of scenarios) {
    const cells = contenders.map((c) => {
      const r = d.results.find((x) => x.scenario === s && x.contender === c)!
      return r.ms === null ? `hangs > ${d.capMs / 1000} s` : `${(r.ms / 1000).toFixed(1)} s — ${r.outcome}`
    })
    lines.push(`| ${s} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const started = new Date()
  const server = await startServer()
  // Many short rounds beat few long ones on a noisy machine: every round is a paired comparison.
  // `--rounds=N` / `--slice=ms` tighten the medians when checking one change.
  const rounds = numberFlag('rounds') ?? (quick ? 2 : 9)
  const slice = numberFlag('slice') ?? (quick ? 200 : 600)
  // `--processes=N`: fresh processes per contender over the rounds, each warmed up
  // for `--warmup=ms` before it is measured (bench/throughput.ts).
  const processes = numberFlag('processes') ?? (quick ? 1 : 3)
  const warmupMs = numberFlag('warmup') ?? (quick ? 200 : 2000)
  const rows: Row[] = []
  const plans: Array<[typeof undiciGroup, Plan]> = []
  for (const group of [undiciGroup, h2Group, httpGroup, installGroup]) {
    if (group === h2Group) {
      plans.push([group, { scenario: 'small GET, HTTP/2, 1 conn × 100 streams', target: { port: server.h2Port, scheme: 'https', path: '/small' }, concurrency: 100, rounds, processes, warmupMs, sliceMs: slice, unit: 'req/s' }])
      continue
    }
    for (const concurrency of [1, 16, 64]) {
      plans.push([group, { scenario: `small GET, ${concurrency} conn`, target: { port: server.port, path: '/small' }, concurrency, rounds, processes, warmupMs, sliceMs: slice, unit: 'req/s' }])
    }
    plans.push([group, { scenario: 'new connection per request, 16 conn', target: { port: server.port, path: '/close' }, concurrency: 16, rounds, processes, warmupMs, sliceMs: slice, unit: 'req/s' }])
    plans.push([group, { scenario: '64 MiB download', target: { port: server.port, path: `/bytes?n=${64 * MiB}` }, concurrency: 1, rounds: quick ? 1 : 3, processes, warmupMs, sliceMs: quick ? 300 : 2000, unit: 'MiB/s' }])
    plans.push([group, {
      scenario: '64 MiB upload',
      target: { port: server.port, path: '/upload', method: 'POST', uploadBytes: 64 * MiB },
      concurrency: 1, rounds: quick ? 1 : 3, processes, warmupMs, sliceMs: quick ? 300 : 2000, unit: 'MiB/s',
    }])
  }
  for (const [group, plan] of plans) {
    if (only !== undefined && !plan.scenario.includes(only)) continue
    const chosen = onlyGroup === 'http' ? httpGroup : onlyGroup === 'install' ? installGroup : onlyGroup === 'h2' ? h2Group : undiciGroup
    if (onlyGroup !== undefined && group !== chosen) continue
    const result = await measure(control ? withControl(group) : group, plan)
    rows.push(...result)
    for (const r of result) console.error(`${plan.scenario.padEnd(36)} ${r.contender.padEnd(28)} ${fmt(r.perSecond)} ${r.unit}  p99 ${fmt(r.p99, 3)} ms`)
  }

  const memory: Array<[string, MemoryResult]> = []
  if (!quick && !partial) {
    for (const c of [...undiciGroup, ...httpGroup]) {
      const r = (await runJson(process.execPath, ['--expose-gc', ...tsx, join(__dirname, 'memory.ts'), c.name, String(server.port)])) as MemoryResult
      memory.push([c.name, r])
      console.error(`memory ${c.name}: heap ${fmt(r.samples.at(-1)!.heapUsed / 1024)} KiB`)
    }
  }
  server.stop()

  const reason = netnsUnavailableReason()
  let detection: Detection | undefined
  if (reason === undefined && !partial) {
    detection = (await runJson('unshare', ['-rn', process.execPath, ...tsx, join(__dirname, 'detect.ts')])) as Detection
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const report = [
    '# stallguard benchmark results',
    '',
    `${started.toISOString().slice(0, 10)} · Node ${process.version} · undici ${require('undici/package.json').version} · ` +
      `${os.cpus().length} × ${cpu} · Linux ${os.release()}${quick ? ' · **--quick run: not figures to quote**' : ''}`,
    '',
    'Generated by `npm run bench` (bench/run.ts). Client and server on loopback, server in its own process, each',
    'contender in a process of its own (bench/slice-worker.ts); contenders alternate slice by slice (A B C, C B A, …)',
    'so machine drift lands on all of them. Throughput is',
    'the median over rounds. Ratios are contender / baseline (the first row of each group), taken per round between',
    'adjacent slices and then the median over rounds, so drift between rounds cancels. Client CPU is the client',
    "process's user + system time per request (the server and the other contenders run in their own processes): on a shared VM it is far",
    'steadier than req/s and shows exactly what stallguard adds. Latency percentiles are over every request of every',
    'round. Targets: throughput ratio ≥ 0.98 on keep-alive rows and ≥ 0.95 on the churn row, p99 ratio ≤ 1.05, no',
    'heap growth across 100 000 requests.',
    '',
    '## Throughput and latency',
    '',
    throughputTable(rows),
    '',
    '## Memory',
    '',
    quick || partial ? '(skipped in --quick / --only / --group runs)' : memoryTable(memory),
    '',
    '## Time to detect a dead peer',
    '',
    detection === undefined
      ? `(skipped: ${partial ? '--only / --group run' : reason})`
      : `Measured from the moment the path died (nftables drop in a private network namespace) to the error the caller sees. ` +
        `stallguard configured with TCP_USER_TIMEOUT ${detection.tcp.userTimeout} ms, keepalive ` +
        `${detection.tcp.keepAliveIdle / 1000} s / ${detection.tcp.keepAliveInterval / 1000} s / ${detection.tcp.keepAliveCount}, ` +
        `connectTimeout ${detection.connectTimeout} ms (undici side), retry off; baselines at their defaults. ` +
        `Runs stop waiting at ${detection.capMs / 1000} s.\n\n` + detectTable(detection),
    '',
  ].join('\n')
  const file = join(__dirname, partial ? 'RESULTS.only.md' : quick ? 'RESULTS.quick.md' : 'RESULTS.md')
  writeFileSync(file, report)
  process.stdout.write(report)
  console.error(`\nwritten to ${file}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
