// The AWS SDK v3 default S3Client (no requestHandler: the SDK builds its own
// keep-alive http.Agent) against a real S3 server (s3rver), real kernel, in
// an app started as `node --import stallguard/register app.js` with
// STALLGUARD_* env vars only (test/fixtures/s3-app.js). Each GetObject
// attempt on a dead path fails in the user timeout + 1.5 s, a body whose
// path dies in the keepalive bound + 1.5 s; the same app without the preload
// is still waiting well past both.
import t, { type Test } from 'tap'
import { BOUND, kernelErrorIn, runClientApp, SHORT_ENV } from '../fixtures/clients-run'
import { IDLE_WINDOW, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns } from '../fixtures/netns'
import { startS3 } from '../fixtures/s3'

/** The SDK renames every ETIMEDOUT error 'TimeoutError' (the object is still ours: code, layer, message). */
const SDK_NAME = 'TimeoutError'
/** How far past the bound the app without the preload must still be waiting. */
const HANGS_PAST = 5000
/** The SDK's standard retry backs off 100 ms, then 200 ms at most (jittered), between its 3 attempts. */
const BACKOFF_MS = 1000

async function runS3App(t: Test, scenario: 'pooled' | 'midBody', preload: boolean, limit: number) {
  const server = await startS3(t, 'http')
  const { result, code, stderr } = await runClientApp(t, 's3-app.js', { scenario, endpoint: server.endpoint, limit },
    { preload, env: SHORT_ENV })
  t.equal(code, 0, `the app exited cleanly ${stderr}`)
  t.equal(result?.handlerAgent, 'Agent', 'the SDK built its own http.Agent')
  return result ?? {}
}

if (enterNetns(t, __filename)) {
  t.jobs = 4

  t.test('GetObject on a dead pooled connection: every attempt fails in the user timeout + 1.5 s', async (t) => {
    const r = await runS3App(t, 'pooled', true, 3 * (BOUND.write + 5000))
    t.equal(r.outcome, 'error', `GetObject failed (${JSON.stringify({ outcome: r.outcome, elapsed: r.elapsed, error: r.error })})`)
    const attempts = r.attempts as Array<{ elapsed: number; error: Parameters<typeof kernelErrorIn>[0] }>
    t.equal(attempts.length, 3, 'the SDK made its 3 attempts (the first on the pooled connection, then new ones)')
    for (const [i, a] of attempts.entries()) {
      t.ok(kernelErrorIn(a.error, SDK_NAME), `attempt ${i + 1}: stallguard's KernelTimeoutError (renamed TimeoutError by the SDK), ETIMEDOUT (${JSON.stringify(a.error)?.slice(0, 300)})`)
      t.ok(a.elapsed >= WRITE_WINDOW.min && a.elapsed <= BOUND.write,
        `attempt ${i + 1} failed after ${a.elapsed} ms (window ${WRITE_WINDOW.min}–${BOUND.write})`)
    }
    t.ok(kernelErrorIn(r.error, SDK_NAME), 'the call rejects with the last attempt\'s KernelTimeoutError')
    const max = attempts.length * BOUND.write + BACKOFF_MS
    t.ok(r.elapsed <= max, `the whole call took ${r.elapsed} ms (≤ ${attempts.length} attempts × ${BOUND.write} + ${BACKOFF_MS} ms backoff)`)
  })

  t.test('a GetObject body whose path dies after 1 MiB fails in the keepalive bound + 1.5 s', async (t) => {
    const r = await runS3App(t, 'midBody', true, BOUND.idle + 5000)
    t.equal(r.outcome, 'error', `the body failed (${JSON.stringify(r.error)})`)
    t.ok(kernelErrorIn(r.error, SDK_NAME), `stallguard's KernelTimeoutError (renamed TimeoutError by the SDK), ETIMEDOUT (${JSON.stringify(r.error)?.slice(0, 300)})`)
    t.ok(r.received >= 1 << 20 && r.received < 24 << 20, `the body stopped after ${(r.received / (1 << 20)).toFixed(1)} MiB`)
    t.ok(r.sinceLastData >= IDLE_WINDOW.min && r.elapsed <= BOUND.idle,
      `failed ${r.elapsed} ms after the cut (≤ ${BOUND.idle}), ${r.sinceLastData} ms after the last byte (≥ ${IDLE_WINDOW.min})`)
  })

  for (const [scenario, what, bound] of [
    ['pooled', 'GetObject on a dead pooled connection', BOUND.write],
    ['midBody', 'a GetObject body whose path dies', BOUND.idle],
  ] as const) {
    t.test(`without the preload, ${what} is still waiting ${HANGS_PAST} ms past the bound`, async (t) => {
      const r = await runS3App(t, scenario, false, bound + HANGS_PAST)
      t.equal(r.outcome, 'pending', `still pending after ${r.elapsed} ms (${JSON.stringify(r.error)})`)
    })
  }
}
