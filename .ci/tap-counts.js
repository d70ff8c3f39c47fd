// Sum tap's closing counts ("# { total: 78, pass: 76, fail: 2, skip: 1 }")
// over several logs into one plain line: "N passed, N failed, N skipped".
// A log without a closing count means that run died: it counts as a failure.
'use strict'
const { readFileSync } = require('node:fs')

const totals = { pass: 0, fail: 0, skip: 0 }
for (const file of process.argv.slice(2)) {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => /^# \{ total: \d+/.test(l))
  const last = lines.at(-1)
  if (last === undefined) {
    console.log(`${file}: no tap summary (the run did not finish)`)
    totals.fail += 1
    continue
  }
  const count = (key) => Number((last.match(new RegExp(`${key}: (\\d+)`)) ?? [])[1] ?? 0)
  console.log(`${file}: ${last.slice(2)}`)
  totals.pass += count('pass')
  totals.fail += count('fail')
  totals.skip += count('skip') + count('todo')
}
console.log(`${totals.pass} passed, ${totals.fail} failed, ${totals.skip} skipped`)
