// The stall matrix through Node's built-in fetch: StallGuardAgent installed
// with undici's setGlobalDispatcher, in a child process (it changes globals)
// that shares this test's private namespace. On Node 20 the built-in fetch
// is undici 6 and dispatches with the legacy handler API.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import t from 'tap'
import { IDLE_WINDOW, type KernelEvidence, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns } from '../fixtures/netns'
import { assertFailed, assertSucceeded, type Outcome } from '../fixtures/outcome'
import { SLOW, ZERO_WINDOW } from '../fixtures/stall-scenarios'

type Results = Record<'dead' | 'silence' | 'midBody' | 'midUpload' | 'zeroWindow' | 'syn' | 'retried' | 'slow', Outcome[]>

const kernel = (window: { min: number; max: number }, shows: KernelEvidence) =>
  ({ name: 'KernelTimeoutError', code: 'ETIMEDOUT', window, shows })

if (enterNetns(t, __filename)) {
  t.test(`Node ${process.version} fetch (bundled undici ${process.versions.undici}) via setGlobalDispatcher`, async (t) => {
    const child = spawn(process.execPath, [...process.execArgv, join(__dirname, '../fixtures/global-fetch-child.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    const [code] = await once(child, 'close') // 'close': stdout is read to the end
    t.equal(code, 0, 'the child ran every scenario')
    if (code !== 0) return
    const r = JSON.parse(out) as Results

    for (const o of r.dead) assertFailed(t, o, kernel(WRITE_WINDOW, 'retransmissions'))
    for (const o of r.silence) assertFailed(t, o, kernel(IDLE_WINDOW, 'probes'))
    for (const o of r.midBody) assertFailed(t, o, kernel(IDLE_WINDOW, 'probes'))
    for (const o of r.midUpload) assertFailed(t, o, kernel(WRITE_WINDOW, 'retransmissions'))
    for (const o of r.zeroWindow) assertFailed(t, o, kernel(ZERO_WINDOW, 'zero-window'))
    for (const o of r.syn) assertFailed(t, o, kernel(WRITE_WINDOW, 'retransmissions'))
    for (const o of r.retried) {
      assertSucceeded(t, o)
      t.equal((o as Outcome & { connections: number }).connections, 2, `${o.label}: retried on a fresh connection`)
    }
    for (const o of r.slow) assertSucceeded(t, o, SLOW.chunks * SLOW.chunkBytes)
  })
}
