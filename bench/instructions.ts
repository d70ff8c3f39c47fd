// `npm run bench:instructions`: client instructions per request, counted by
// valgrind's callgrind. It counts instructions, not time, so a figure repeats
// to within a fraction of a percent whatever else the machine does, where the
// wall-clock tables move by ±15% on a shared VM. Each contender runs in
// processes of its own, N1 and N2 requests after the same warm-up; the
// difference over N2 − N1 is the steady-state cost of one request, with
// startup, warm-up and JIT tiering cancelled out. Now and then a run carries
// a burst of tens of millions of extra instructions (seen here, cause not
// pinned down: GC or JIT work landing in one run and not in the other), so
// every count is the fewest over REPS runs. Kernel work (the setsockopt calls themselves, TCP) is not
// counted: this prices our JavaScript, the wall-clock tables price the rest.
// Written to bench/INSTRUCTIONS.md; needs valgrind (Debian package valgrind).
import { fork, spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { byName, groups } from './contenders'
import { driveCount } from './load'

const WARM = 5_000
const N1 = 2_000
const N2 = 8_000
const REPS = 2

interface Scenario {
  label: string
  path: string
  connections: number
}

const scenarios: Scenario[] = [
  { label: 'small GET, 1 connection', path: '/small', connections: 1 },
  { label: 'small GET, 16 connections', path: '/small', connections: 16 },
]

/** Child mode: one contender, `count` measured requests after `warm` unmeasured ones. */
async function child([name, port, path, connections, warm, count]: string[]): Promise<void> {
  const client = byName(name!).make(Number(connections))
  const send = client.send({ port: Number(port), path: path! })
  await driveCount(send, Number(connections), Number(warm))
  await driveCount(send, Number(connections), Number(count))
  await client.close()
}

/** Instructions callgrind counted for one child run. */
function countInstructions(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const proc = spawn('valgrind', [
      '--tool=callgrind', '--callgrind-out-file=/dev/null',
      process.execPath, '--import', 'tsx', __filename, '--child', ...args,
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    proc.stderr.on('data', (d: Buffer) => { err += d })
    proc.on('exit', (code) => {
      const refs = /I\s+refs:\s+([\d,]+)/.exec(err)
      if (code !== 0 || !refs) return reject(new Error(`callgrind run ${args.join(' ')} failed (exit ${code}):\n${err.slice(-2000)}`))
      resolve(Number(refs[1]!.replaceAll(',', '')))
    })
  })
}

/** Run the jobs with at most `limit` at a time (one per core: callgrind is single-threaded). */
async function pooled<T>(jobs: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await jobs[i]!()
    }
  }
  await Promise.all(Array.from({ length: limit }, worker))
  return results
}

async function main(): Promise<void> {
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.error('bench:instructions needs valgrind (apt-get install -y valgrind)')
    process.exit(1)
  }
  const server = fork(join(__dirname, 'server.ts'), [], { execArgv: ['--import', 'tsx'] })
  const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)))
  const cells = scenarios.flatMap((scenario) =>
    groups.flat().map((contender) => ({ scenario, contender: contender.name })))
  const started = Date.now()
  const runs = cells.flatMap(({ scenario, contender }) =>
    [N1, N2].flatMap((n) => Array.from({ length: REPS }, () => ({ scenario, contender, n }))))
  const counts = await pooled(runs.map(({ scenario, contender, n }) => () => {
    const args = [contender, String(port), scenario.path, String(scenario.connections), String(WARM), String(n)]
    return countInstructions(args).then((total) => {
      console.error(`  ${scenario.label} · ${contender} · ${n} requests: ${total.toLocaleString('en-US')} instructions`)
      return total
    })
  }), Math.max(1, os.cpus().length))
  server.kill()

  const fewest = (scenario: Scenario, contender: string, n: number): number =>
    Math.min(...runs.flatMap((r, i) => (r.scenario === scenario && r.contender === contender && r.n === n ? [counts[i]!] : [])))
  const perRequest = new Map<string, number>()
  for (const { scenario, contender } of cells) {
    perRequest.set(`${scenario.label}|${contender}`,
      (fewest(scenario, contender, N2) - fewest(scenario, contender, N1)) / (N2 - N1))
  }
  const lines = [
    '| scenario | contender | instructions / request | ratio |',
    '|---|---|---:|---:|',
  ]
  for (const { scenario, contender } of cells) {
    const group = groups.find((g) => g.some((c) => c.name === contender))!
    const value = perRequest.get(`${scenario.label}|${contender}`)!
    const base = perRequest.get(`${scenario.label}|${group[0]!.name}`)!
    const isBase = contender === group[0]!.name
    lines.push(`| ${scenario.label} | ${contender} | ${Math.round(value).toLocaleString('en-US')} | ` +
      `${isBase ? '(baseline)' : (value / base).toFixed(3)} |`)
  }
  const report = [
    '# stallguard: client instructions per request',
    '',
    `Generated by \`npm run bench:instructions\` on ${new Date().toISOString().slice(0, 10)}: ` +
      `Node ${process.version}, undici ${require('undici/package.json').version}, ${os.cpus().length} cores, ` +
      `${Math.round((Date.now() - started) / 60_000)} min.`,
    '',
    `Counted by valgrind's callgrind in the client process only (the server runs natively): ` +
      `runs of ${N1.toLocaleString('en-US')} and ${N2.toLocaleString('en-US')} requests after a warm-up of ` +
      `${WARM.toLocaleString('en-US')} (each the fewest of ${REPS} runs), difference divided by ` +
      `${(N2 - N1).toLocaleString('en-US')}. ` +
      'User-space instructions only: kernel work (our setsockopt calls, TCP) is not in these figures. ' +
      'Ratios are against the first contender of each group (undici.Agent, http.Agent). Repeated runs ' +
      'of one contender still differ by a few percent (JIT and GC decisions differ between runs and ' +
      'between code shapes): read differences below ~5 % as noise.',
    '',
    lines.join('\n'),
    '',
  ].join('\n')
  writeFileSync(join(__dirname, 'INSTRUCTIONS.md'), report)
  console.log(report)
}

if (process.argv[2] === '--child') {
  child(process.argv.slice(3)).catch((err) => {
    console.error(err)
    process.exit(1)
  })
} else {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
