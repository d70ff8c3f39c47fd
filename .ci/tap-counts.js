// Sum tap's closing counts ("# { total: 78, pass: 76, fail: 2, skip: 1 }")
// over the CI legs' logs into one plain line: "N passed, N failed, N skipped",
// after one line per leg saying what it ran, how long it took and its counts.
// A log without a closing count means that leg died or never started: it
// counts as a failure, with the log's last line as the reason.
'use strict'
const { readFileSync } = require('node:fs')
const { basename } = require('node:path')

const totals = { pass: 0, fail: 0, skip: 0 }
for (const file of process.argv.slice(2)) {
  const lines = readFileSync(file, 'utf8').split('\n')
  // .ci/run names logs "NN-<leg>.log" (run order) and writes "# leg: …" first, "# leg seconds: N" last.
  const name = basename(file, '.log').replace(/^\d+-/, '')
  const ran = lines.find((l) => l.startsWith('# leg: '))?.slice('# leg: '.length)
  const seconds = lines.find((l) => l.startsWith('# leg seconds: '))?.slice('# leg seconds: '.length)
  const head = `${name}${seconds === undefined ? '' : ` (${seconds} s)`}`
  if (ran !== undefined) console.log(`${head}: ${ran}`)
  const last = lines.filter((l) => /^# \{ total: \d+/.test(l)).at(-1)
  if (last === undefined) {
    const reason = lines.filter((l) => l.trim() !== '' && !l.startsWith('# leg')).at(-1) ?? 'empty log'
    console.log(`  ${name}: no tap summary, counted as 1 failure (the run did not finish: ${reason.trim()})`)
    totals.fail += 1
    continue
  }
  const count = (key) => Number((last.match(new RegExp(`${key}: (\\d+)`)) ?? [])[1] ?? 0)
  console.log(`  ${name}: ${last.slice(2)}`)
  totals.pass += count('pass')
  totals.fail += count('fail')
  totals.skip += count('skip') + count('todo')
}
console.log(`${totals.pass} passed, ${totals.fail} failed, ${totals.skip} skipped`)
