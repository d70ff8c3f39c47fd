// Splits one callgrind run's instructions into what V8's optimizing compiler
// did, what its garbage collector did, and the rest (the work the requests
// themselves did: JavaScript, V8's runtime and builtins, Node's C++).
//
// Why: in a window of a few thousand requests both come in lumps. TurboFan
// still optimizes functions on the connection path after thousands of new
// connections, and under --single-threaded it does so on the main thread,
// where callgrind counts it; a major GC lands in one run and not the next.
// Either can move a row by 10–50 % and says nothing about the request path.
// Classified by function name (callgrind_annotate, exclusive counts), which
// callgrind reads from Node's symbols: TurboFan lives in
// v8::internal::compiler, the collector in the heap/marking/scavenging
// classes matched below.
import { spawnSync } from 'node:child_process'

export interface Split {
  compile: number
  gc: number
  rest: number
}

const GC = new RegExp([
  'Scaveng', 'Marking', 'MarkCompact', 'Sweep', 'Evacuat', 'heap::base', 'IteratePointers', 'BodyDescriptor',
  'Pretenuring', 'Heap::', 'LiveObject', 'RememberedSet', 'ShouldBePromoted', 'SizeFromMap', 'StringTableCleaner',
  'RecordMigrated', 'IterateObjectCache', 'MinorGC', 'ClearNonLive', 'WeakObjects', 'Worklist', 'MemoryChunk',
  'PagedSpace', 'NewSpace', 'SemiSpace', 'GCTracer', 'RelocIterator', 'FlushedBytecode', 'Visitor', 'RecordWrite',
].join('|'))
const COMPILE = /v8::internal::(compiler|maglev)::/

/** Which part of the split a function (callgrind's `file:function` name) belongs to. */
export function kindOf(fn: string): keyof Split {
  if (COMPILE.test(fn)) return 'compile'
  if (GC.test(fn)) return 'gc'
  return 'rest'
}

/**
 * callgrind_annotate's exclusive count per function of one run, as
 * `[file:function name, instructions]` (the name as callgrind printed it).
 */
export function functionCounts(file: string): Array<[string, number]> {
  const r = spawnSync('callgrind_annotate', ['--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 })
  if (r.status !== 0) throw new Error(`callgrind_annotate ${file} failed: ${r.stderr}`)
  const counts: Array<[string, number]> = []
  for (const line of r.stdout.split('\n')) {
    // "  1,234,567 ( 1.23%)  file:function [object]"
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$/.exec(line)
    if (m && !line.includes('PROGRAM TOTALS')) counts.push([m[2]!, Number(m[1]!.replaceAll(',', ''))])
  }
  return counts
}

export function splitCallgrind(file: string): Split {
  const split: Split = { compile: 0, gc: 0, rest: 0 }
  for (const [fn, count] of functionCounts(file)) split[kindOf(fn)] += count
  return split
}
