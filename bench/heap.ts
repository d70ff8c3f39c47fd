// `npx tsx bench/heap.ts`: heap across 100 000 keep-alive requests with the
// deadline and the throughput floor on, for StallGuardAgent and
// StallGuardHttpAgent (bench/memory.ts in a process of its own, after a
// forced GC at each sample). Prints heapUsed at 0, 25k, 50k, 75k and 100k
// requests after the warm-up, and the growth from the first sample to the
// last: a per-request leak of even a few bytes shows as hundreds of KiB here.
// A check to run, not a timed test.
import { execFileSync, fork } from 'node:child_process'
import { join } from 'node:path'

const contenders = ['StallGuardAgent + deadline + minThroughput', 'StallGuardHttpAgent + deadline + minThroughput']

const server = fork(join(__dirname, 'server.ts'), [], { execArgv: ['--import', 'tsx'] })
server.once('message', ({ port }: { port: number }) => {
  try {
    for (const name of contenders) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(__dirname, 'memory.ts'), name, String(port)],
        { encoding: 'utf8' })
      const { samples } = JSON.parse(out.trim().split('\n').at(-1)!) as { samples: Array<{ requests: number; heapUsed: number }> }
      const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`
      console.log(`${name}: heapUsed ${samples.map((s) => `${s.requests}: ${kib(s.heapUsed)}`).join(', ')}; ` +
        `growth over ${samples.at(-1)!.requests} requests: ${kib(samples.at(-1)!.heapUsed - samples[0]!.heapUsed)}`)
    }
  } finally {
    server.kill()
  }
})
