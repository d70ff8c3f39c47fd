// The shared clock and the throughput window on their own: one timer for
// any number of requests, re-armed only for an earlier need, stopped once
// idle; deadlines fire on time; a removal during a wake is safe; the window
// counts only time the caller did not hold the body.
import t from 'tap'
import { SharedClock, type Watched } from '../lib/watch/clock'
import { List } from '../lib/watch/list'
import { ThroughputWindow } from '../lib/watch/throughput'
import { now, sleep } from './fixtures/timing'

function item(expiresIn: number, onExpire: () => void, sampleEvery = 0, onSample: (at: number) => void = () => {}): Watched {
  return { expiresAt: expiresIn === Infinity ? Infinity : now() + expiresIn, sampleEvery, expire: onExpire, sample: onSample }
}

t.test('deadlines fire on time on one timer; the clock stops when nothing is left', async (t) => {
  const clock = new SharedClock()
  const fired: Array<[string, number]> = []
  const start = now()
  const entries = new Map<string, ReturnType<SharedClock['watch']>>()
  for (const [name, ms] of [['late', 300], ['early', 100], ['never', 200]] as const) {
    entries.set(name, clock.watch(item(ms, () => { clock.unwatch(entries.get(name)!); fired.push([name, Math.round(now() - start)]) })))
  }
  clock.unwatch(entries.get('never')!)
  t.equal(clock.running, true)
  await sleep(400)
  t.same(fired.map(([n]) => n), ['early', 'late'], 'in order; the removed one never fired')
  for (const [name, at] of fired) {
    const due = name === 'early' ? 100 : 300
    t.ok(at >= due - 5 && at <= due + 60, `${name} at ${at} ms (due ${due})`)
  }
  t.equal(clock.running, false, 'stopped once idle')
  t.equal(clock.size, 0)
})

t.test('samples every sampleEvery while a floor is watched', async (t) => {
  const clock = new SharedClock()
  const samples: number[] = []
  const entry = clock.watch(item(Infinity, () => {}, 50, (at) => samples.push(at)))
  await sleep(280)
  clock.unwatch(entry)
  t.ok(samples.length >= 4 && samples.length <= 6, `${samples.length} samples in 280 ms at 50 ms`)
  await sleep(80)
  t.equal(clock.running, false)
})

t.test('list: O(1) removal, safe while iterating', async (t) => {
  const list = new List<number>()
  const entries = [1, 2, 3, 4].map((n) => list.add(n))
  const seen: number[] = []
  for (const n of list) {
    seen.push(n)
    if (n === 2) { list.remove(entries[1]!); list.remove(entries[2]!) }
  }
  t.same(seen, [1, 2, 4])
  t.equal(list.size, 2)
  list.remove(entries[1]!)
  t.equal(list.size, 2, 'removing twice is harmless')
  t.same([...list], [1, 4])
  const added: number[] = []
  for (const n of list) {
    added.push(n)
    if (n === 1) list.add(5)
  }
  t.same(added, [1, 4], 'an item added while iterating waits for the next walk')
  t.same([...list], [1, 4, 5])
})

t.test('list: a removed entry points nowhere (a dead entry must not keep live requests reachable)', async (t) => {
  const list = new List<string>()
  const [a, b, c] = ['a', 'b', 'c'].map((s) => list.add(s))
  list.remove(b!)
  t.same({ prev: b!.prev, next: b!.next }, { prev: null, next: null }, 'removed from the middle')
  list.remove(a!)
  t.same({ prev: a!.prev, next: a!.next }, { prev: null, next: null }, 'removed from the head')
  t.equal(c!.prev, null, 'the survivor is the head')
  t.same([...list], ['c'])
  list.remove(c!)
  t.equal(list.size, 0)
  t.same([...list], [])
})

t.test('throughput window: below the floor over a full grace; held time does not count', async (t) => {
  const floor = { bytesPerSecond: 100, grace: 1000 }
  const slow = new ThroughputWindow(floor, 0, 0)
  t.equal(slow.sample(250, 10, false), -1)
  t.equal(slow.sample(500, 20, false), -1)
  t.equal(slow.sample(750, 30, false), -1, 'not a full grace yet')
  t.equal(slow.sample(1000, 40, false), 40, 'a full second at 40 B/s')

  const paused = new ThroughputWindow(floor, 0, 0)
  for (let at = 250; at <= 5000; at += 250) t.equal(paused.sample(at, 0, true), -1)
  t.equal(paused.measuredMs, 0, 'a consumer holding the body for 5 s counted nothing')

  const fast = new ThroughputWindow(floor, 0, 0)
  let bytes = 0
  for (let at = 250; at <= 3000; at += 250) t.equal(fast.sample(at, bytes += 1000, false), -1)
})
