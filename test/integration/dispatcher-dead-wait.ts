// Stall matrix, scenarios 2 and 3: the client is only waiting (nothing of
// its own unacknowledged) when the path dies, before the response or in the
// middle of its body. Keepalive probes find the dead peer; TCP_USER_TIMEOUT
// ends the connection on the first probe tick past it.
import t from 'tap'
import { KernelTimeoutError } from '../../lib/index'
import { IDLE_WINDOW } from '../fixtures/kernel-window'
import { matrix, runAll } from '../fixtures/matrix'
import { enterNetns, PacketFilter } from '../fixtures/netns'
import { assertFailed } from '../fixtures/outcome'
import { deathMidBody, silenceAfterRequest } from '../fixtures/stall-scenarios'

const KERNEL = { name: 'KernelTimeoutError', code: 'ETIMEDOUT', type: KernelTimeoutError, window: IDLE_WINDOW, shows: 'probes' } as const

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  t.test('request sent and acknowledged, then silence: keepalive ends it', async (t) => {
    for (const o of await runAll(matrix(t, filter), silenceAfterRequest)) assertFailed(t, o, KERNEL)
  })

  t.test('headers and part of the body received, then silence: keepalive ends it', async (t) => {
    for (const o of await runAll(matrix(t, filter), deathMidBody)) assertFailed(t, o, KERNEL)
  })
}
