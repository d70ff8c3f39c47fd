// `npm run bench:instructions`: client instructions per request, counted by
// valgrind's callgrind in the client process only (the server runs natively
// in its own process). Instruction counts move far less with machine load
// than wall-clock and CPU time do, though not zero: a busier machine hands
// the event loop more responses per wake-up (compare within one run, on an
// otherwise idle machine: docs/benchmarks.md). Each contender runs in
// fresh processes of N1 and N2 requests after the same warm-up; the
// difference divided by N2 − N1 is the steady-state cost of one request, with
// startup, warm-up and JIT tiering cancelled out. A run now and then carries
// a burst of extra instructions (GC or JIT work landing in one run and not
// the other), so each count is the fewest over REPS runs. Kernel work (TCP,
// setsockopt) is not counted: this prices the JavaScript on the request path.
// With --keep the table also splits each count into JIT compile, GC and the
// rest (see callgrind-split.ts for why the rest is the number to compare).
//
//   npm run bench:instructions [-- --reps=3 --only=<text>[,<text>] --path=/close --connections=1 --keep=<dir>]
//   node --import tsx bench/instructions.ts     (any Node: the one running it)
//
// Prints a table and writes bench/INSTRUCTIONS.<node major>-undici<major>.md.
// Needs valgrind (Debian package valgrind).
import { fork, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { splitCallgrind, type Split } from './callgrind-split'
import { byName, groups } from './contenders'
import { driveCount } from './load'

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const WARM = Number(arg('warm') ?? 3_000)
// Counting is switched on only around the measured requests, so one run size
// (N1 = 0) suffices; a second size cancels whatever constant remains.
const N1 = Number(arg('n1') ?? 0)
const N2 = Number(arg('n2') ?? 3_000)
const REPS = Number(arg('reps') ?? 1)
// `--connections=1`: one request at a time, so every run sees the same event
// order (no batching of responses per wake-up that moves with machine load):
// the steadiest count for comparing two builds, though not the 16-connection row.
const CONNECTIONS = Number(arg('connections') ?? 16)
const only = arg('only')
// `--path=/close`: the churn row (the server closes every connection after one response).
const PATH = arg('path') ?? '/small'
// V8 flags for the counted child, comma-separated. By default
// --single-threaded: JIT compiles and GC run on the main thread, in the same
// order every run, which took the spread between identical runs from ±25 % to
// about ±1 % (min of 3: within 0.5 %). `--v8=` runs without.
const V8 = (arg('v8') ?? '--single-threaded').split(',').filter(Boolean)
// `--keep=<dir>`: keep each run's callgrind file there (callgrind.<contender>.<pid>,
// for callgrind_annotate) and add columns that set apart what V8's optimizing
// compiler and garbage collector did inside the window (callgrind-split.ts):
// "the rest" is the steadier price of the request path.
const KEEP = arg('keep')

/** Child mode: warm up, then wait for the parent to switch counting on, run `count` requests, report, exit when told. */
async function child([name, port, warm, count, path, connections]: string[]): Promise<void> {
  const concurrency = Number(connections)
  const client = byName(name!).make(concurrency)
  // Process-wide state the contender needs (install()'s hooks) is on for the whole child.
  client.enter?.()
  const send = client.send({ port: Number(port), path: path! })
  const lines = process.stdin.setEncoding('utf8')
  const nextLine = (): Promise<unknown> => new Promise((r) => lines.once('data', r))
  await driveCount(send, concurrency, Number(warm))
  process.stdout.write('warm\n')
  await nextLine()
  await driveCount(send, concurrency, Number(count))
  process.stdout.write('done\n')
  await nextLine()
  await client.leave?.()
  await client.close()
  process.exit(0)
}

/** `callgrind_control --instr=on|off` for one process (valgrind's vgdb reaches it). */
function instrument(pid: number, on: boolean): void {
  const r = spawnSync('callgrind_control', [`--instr=${on ? 'on' : 'off'}`, String(pid)], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`callgrind_control failed: ${r.stderr}`)
}

/**
 * Instructions callgrind counted in one child run while `count` requests ran:
 * counting is off through startup and warm-up (--instr-atstart=no, which also
 * makes those run several times faster) and switched on and off around the
 * measured requests.
 */
interface Counted {
  total: number
  /** The callgrind file, with --keep. */
  file: string | undefined
}

function countInstructions(args: string[]): Promise<Counted> {
  const stem = KEEP === undefined ? undefined : join(KEEP, `callgrind.${args[0]!.replace(/[^\w.+-]+/g, '_')}`)
  const out = stem === undefined ? '/dev/null' : `${stem}.%p`
  return new Promise((resolve, reject) => {
    const proc = spawn('valgrind', [
      '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`,
      process.execPath, ...V8, '--import', 'tsx', __filename, '--child', ...args,
    ], { stdio: ['pipe', 'pipe', 'pipe'] })
    let err = ''
    proc.stderr.on('data', (d: Buffer) => { err += d })
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      try {
        if (d.includes('warm')) instrument(proc.pid!, true)
        if (d.includes('done')) instrument(proc.pid!, false)
        proc.stdin.write('go\n')
      } catch (e) {
        proc.kill()
        reject(e)
      }
    })
    proc.on('exit', (code) => {
      const refs = /Collected\s*:\s*(\d+)/.exec(err) ?? /I\s+refs:\s+([\d,]+)/.exec(err)
      if (code !== 0 || !refs) return reject(new Error(`callgrind run ${args.join(' ')} failed (exit ${code}):\n${err.slice(-2000)}`))
      resolve({ total: Number(refs[1]!.replaceAll(',', '')), file: stem === undefined ? undefined : `${stem}.${proc.pid}` })
    })
  })
}

/** Run the jobs with at most `limit` at a time (callgrind is single-threaded). */
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
  if (KEEP !== undefined) mkdirSync(KEEP, { recursive: true })
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.error('bench:instructions needs valgrind (apt-get install -y valgrind)')
    process.exit(1)
  }
  const server = fork(join(__dirname, 'server.ts'), [], { execArgv: ['--import', 'tsx'] })
  const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)))
  const contenders = groups.flat().map((c) => c.name)
    .filter((name) => only === undefined || only.split(',').some((o) => name.includes(o)) || groups.some((g) => g[0]!.name === name))
  const runs = contenders.flatMap((contender) =>
    [N1, N2].flatMap((n) => Array.from({ length: REPS }, () => ({ contender, n }))))
  const counted = await pooled(runs.map(({ contender, n }) => () => n === 0 ? Promise.resolve({ total: 0, file: undefined }) :
    countInstructions([contender, String(port), String(WARM), String(n), PATH, String(CONNECTIONS)]).then((c) => {
      console.error(`  ${contender} · ${n} requests: ${c.total.toLocaleString('en-US')} instructions`)
      return c
    })), Number(arg('jobs') ?? Math.max(1, os.cpus().length)))
  server.kill()
  const zero: Split = { compile: 0, gc: 0, rest: 0 }
  const splits = counted.map((c) => (c.file === undefined ? zero : splitCallgrind(c.file)))

  const fewest = (contender: string, n: number, of: (i: number) => number): number =>
    Math.min(...runs.flatMap((r, i) => (r.contender === contender && r.n === n ? [of(i)] : [])))
  const per = (contender: string, of: (i: number) => number): number =>
    (fewest(contender, N2, of) - fewest(contender, N1, of)) / (N2 - N1)
  const perRequest = new Map(contenders.map((c) => [c, per(c, (i) => counted[i]!.total)]))
  // Each part is the fewest over the runs on its own: a lump of compile or GC in one run does not pick the run.
  const parts = new Map(contenders.map((c) => [c, {
    compile: per(c, (i) => splits[i]!.compile), gc: per(c, (i) => splits[i]!.gc), rest: per(c, (i) => splits[i]!.rest),
  }]))
  const undici = require('undici/package.json').version as string
  const k = (value: number): string => Math.round(value).toLocaleString('en-US')
  const lines = KEEP === undefined
    ? ['| contender | instructions / request | ratio |', '|---|---:|---:|']
    : ['| contender | instructions / request | ratio | JIT compile | GC | the rest | ratio of the rest |', '|---|---:|---:|---:|---:|---:|---:|']
  for (const contender of contenders) {
    const base = groups.find((g) => g.some((c) => c.name === contender))![0]!.name
    const value = perRequest.get(contender)!
    const ratio = (a: number, b: number): string => (contender === base ? '(baseline)' : (a / b).toFixed(3))
    let line = `| ${contender} | ${k(value)} | ${ratio(value, perRequest.get(base)!)} |`
    if (KEEP !== undefined) {
      const p = parts.get(contender)!
      line += ` ${k(p.compile)} | ${k(p.gc)} | ${k(p.rest)} | ${ratio(p.rest, parts.get(base)!.rest)} |`
    }
    lines.push(line)
  }
  const report = [
    `Node ${process.version}, undici ${undici}, ` +
      (PATH === '/close' ? `a new connection per request (${CONNECTIONS} at a time), ` : `GET ${PATH} over ${CONNECTIONS} keep-alive connections, `) +
      `V8 flags ${V8.join(' ') || 'none'}, ` +
      `${new Date().toISOString().slice(0, 10)}: runs of ${N1} and ${N2} requests after ${WARM} warm-up ` +
      `(fewest of ${REPS}), difference / ${N2 - N1}.` +
      (KEEP === undefined ? '' : ' JIT compile, GC and the rest: callgrind\'s counts by function (bench/callgrind-split.ts), each the fewest over the runs.'),
    '',
    lines.join('\n'),
    '',
  ].join('\n')
  if (only === undefined) {
    const churn = PATH === '/close' ? '-churn' : ''
    writeFileSync(join(__dirname, `INSTRUCTIONS.node${process.versions.node.split('.')[0]}-undici${undici.split('.')[0]}${churn}.md`), report)
  }
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
