// Stall matrix, scenarios 4 and 5: a large streamed upload (32 MiB). The
// path dies mid-upload (data unacknowledged: TCP_USER_TIMEOUT), or the
// server stops reading (zero window: TCP_USER_TIMEOUT too, since Linux 5.11).
import t from 'tap'
import { KernelTimeoutError } from '../../lib/index'
import { type KernelEvidence, WRITE_WINDOW } from '../fixtures/kernel-window'
import { matrix, runAll } from '../fixtures/matrix'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { assertFailed } from '../fixtures/outcome'
import { deathMidUpload, serverStopsReading, ZERO_WINDOW } from '../fixtures/stall-scenarios'

const kernel = (window: { min: number; max: number }, shows: KernelEvidence) =>
  ({ name: 'KernelTimeoutError', code: 'ETIMEDOUT', type: KernelTimeoutError, window, shows })

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  t.test('path dies in the middle of a 32 MiB upload', async (t) => {
    for (const o of await runAll(matrix(t, filter), deathMidUpload)) {
      assertFailed(t, o, kernel(WRITE_WINDOW, 'retransmissions'))
      t.ok(o.bodyDestroyed, `${o.label}: the request body stream was destroyed`)
    }
  })

  t.test('server stops reading the upload (zero window)', async (t) => {
    for (const o of await runAll(matrix(t, filter), serverStopsReading)) assertFailed(t, o, kernel(ZERO_WINDOW, 'zero-window'))
  })
}
