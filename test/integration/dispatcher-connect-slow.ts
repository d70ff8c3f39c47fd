// Stall matrix, scenarios 6 and 7: a SYN that is never answered fails
// within connectTimeout, or the user timeout when that is shorter (Linux
// >= 5.4 bounds SYN retries by it); a server that is slow but alive (10 s think time,
// then a trickled body) is left alone by the short kernel settings.
import t from 'tap'
import { errors } from 'undici'
import { KernelTimeoutError } from '../../lib/index'
import { WRITE_WINDOW } from '../fixtures/kernel-window'
import { matrix, runAll } from '../fixtures/matrix'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { assertFailed, assertSucceeded } from '../fixtures/outcome'
import { CONNECT_TIMEOUT, CONNECT_WINDOW, SLOW, slowButAlive, synUnanswered } from '../fixtures/stall-scenarios'

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()

  // The slow scenario takes ~15 s: it starts now, runs while the SYN tests
  // do (each test cuts only its own port), and is checked last.
  const slowRuns = runAll(matrix(t, filter), slowButAlive)

  t.test('SYN never answered: connect fails within connectTimeout', async (t) => {
    const outcomes = await runAll(matrix(t, filter, { connectTimeout: CONNECT_TIMEOUT }), synUnanswered)
    for (const o of outcomes) {
      assertFailed(t, o, {
        name: 'ConnectTimeoutError', code: 'UND_ERR_CONNECT_TIMEOUT', type: errors.ConnectTimeoutError, window: CONNECT_WINDOW,
      })
    }
  })

  t.test('SYN never answered, default connectTimeout (10 s): TCP_USER_TIMEOUT bounds the SYN retries', async (t) => {
    for (const o of await runAll(matrix(t, filter), synUnanswered)) {
      assertFailed(t, o, {
        name: 'KernelTimeoutError', code: 'ETIMEDOUT', type: KernelTimeoutError, window: WRITE_WINDOW, shows: 'retransmissions',
      })
      t.match(o.chain.find((l) => l.name === 'KernelTimeoutError')?.message ?? '', /connect ETIMEDOUT.*never answered the handshake/,
        `${o.label}: the message says the handshake went unanswered`)
    }
  })

  t.test('slow but alive: 10 s think time, then a trickled body, succeeds', async (t) => {
    for (const o of await slowRuns) assertSucceeded(t, o, SLOW.chunks * SLOW.chunkBytes)
  })
}
