// Where a kept callgrind run's instructions went, by function, with V8's
// JIT code named: callgrind sees optimized JavaScript only as addresses
// (`???:0x…`), and Node started with `--perf-basic-prof` writes the map from
// those addresses to function names (/tmp/perf-<pid>.map; under valgrind the
// pid is the one in the callgrind file's name). With two files, prints the
// difference per request instead (second minus first). `--rest` leaves out
// what callgrind-split.ts counts as JIT compile and GC.
//
//   NODE_OPTIONS=--perf-basic-prof npm run bench:instructions -- --keep=<dir> …
//   npx tsx bench/callgrind-functions.ts <dir>/callgrind.A.<pid> [<dir>/callgrind.B.<pid>] [--requests=2000] [--top=40] [--rest]
//
// Exclusive counts: a function TurboFan inlined into another is counted
// there. The name's prefix is V8's tier: `*` TurboFan, `+` Maglev, `^`
// Sparkplug, `~` the interpreter.
import { existsSync, readFileSync } from 'node:fs'
import { functionCounts, kindOf } from './callgrind-split'

interface Code {
  start: number
  end: number
  name: string
}

function perfMap(file: string): Code[] {
  const pid = /\.(\d+)$/.exec(file)?.[1]
  const map = pid === undefined ? undefined : `/tmp/perf-${pid}.map`
  if (map === undefined || !existsSync(map)) return []
  const codes: Code[] = []
  for (const line of readFileSync(map, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line)
    if (m) codes.push({ start: parseInt(m[1]!, 16), end: parseInt(m[1]!, 16) + parseInt(m[2]!, 16), name: m[3]! })
  }
  return codes.sort((a, b) => a.start - b.start)
}

/** The code object holding `address` (binary search over the sorted map). */
function codeAt(codes: Code[], address: number): string | undefined {
  let lo = 0
  let hi = codes.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const c = codes[mid]!
    if (address < c.start) hi = mid - 1
    else if (address >= c.end) lo = mid + 1
    else return c.name
  }
  return undefined
}

/** Exclusive instructions by function name, JIT addresses resolved where the map has them. */
export function byFunction(file: string, restOnly = false): Map<string, number> {
  const codes = perfMap(file)
  const counts = new Map<string, number>()
  for (const [fn, count] of functionCounts(file)) {
    if (restOnly && kindOf(fn) !== 'rest') continue
    let name = fn.replace(/\s*\[[^\]]*\]$/, '')
    const jit = /^\?\?\?:0x([0-9a-f]+)/.exec(name)
    if (jit) name = codeAt(codes, parseInt(jit[1]!, 16)) ?? name
    counts.set(name, (counts.get(name) ?? 0) + count)
  }
  return counts
}

if (require.main === module) {
  const files = process.argv.slice(2).filter((a) => !a.startsWith('--'))
  if (files.length < 1 || files.length > 2) {
    console.error('usage: tsx bench/callgrind-functions.ts <callgrind file> [<second file>] [--requests=N] [--top=N] [--rest]')
    process.exit(2)
  }
  const flag = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
  const requests = Number(flag('requests') ?? 2000)
  const top = Number(flag('top') ?? 40)
  const rest = process.argv.includes('--rest')
  const a = byFunction(files[0]!, rest)
  const b = files[1] === undefined ? undefined : byFunction(files[1], rest)
  const rows = [...new Set([...a.keys(), ...(b?.keys() ?? [])])]
    .map((name) => ({ name, value: b === undefined ? a.get(name)! : (b.get(name) ?? 0) - (a.get(name) ?? 0) }))
    .sort((x, y) => Math.abs(y.value) - Math.abs(x.value))
    .slice(0, top)
  for (const { name, value } of rows) {
    const perRequest = (value / requests).toFixed(0)
    console.log(`${(b === undefined ? perRequest : (value > 0 ? '+' : '') + perRequest).padStart(9)}  ${name.slice(0, 150)}`)
  }
}
