// The stallguard/register preload, real kernel, in child processes: an
// application that never imports stallguard is protected by
// `--import stallguard/register` or `NODE_OPTIONS=--require=stallguard/register`
// plus STALLGUARD_* env vars; STALLGUARD_DISABLE=1 makes it a no-op; a bad
// value stops start-up (exit 78) with a paragraph naming the variable.
import t, { type Test } from 'tap'
import { CLIENTS, runApp, stallguardError, type PhaseReport } from '../fixtures/global-app'
import { WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'

const ENV = {
  STALLGUARD_TCP_USER_TIMEOUT: '2s',
  STALLGUARD_TCP_KEEPALIVE_IDLE: '1s',
  STALLGUARD_TCP_KEEPALIVE_INTERVAL: '1000ms',
  STALLGUARD_TCP_KEEPALIVE_COUNT: '1',
  // With retry on, undici would retry into the still-dead path (see install.ts).
  STALLGUARD_RETRY: 'off',
}

function assertProtected(t: Test, report: PhaseReport | undefined): void {
  t.same(report?.globals, { dispatcher: 'StallGuardAgent', http: 'StallGuardHttpAgent', https: 'StallGuardHttpsAgent' },
    'the preload installed the global override')
  for (const client of CLIENTS) {
    const r = report?.results.find((x) => x.client === client)
    t.match(stallguardError(r!), { name: 'KernelTimeoutError', code: 'ETIMEDOUT' }, `${client}: KernelTimeoutError ETIMEDOUT`)
    t.ok(r!.elapsed >= WRITE_WINDOW.min && r!.elapsed <= WRITE_WINDOW.max,
      `${client}: failed after ${r!.elapsed} ms (window ${WRITE_WINDOW.min}–${WRITE_WINDOW.max})`)
  }
}

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  t.test('node --import stallguard/register', async (t) => {
    const { reports, code, stderr } = await runApp(t, filter, 'plain-app.js', {
      execArgv: ['--import', 'stallguard/register'],
      env: ENV,
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    assertProtected(t, reports[0])
  })

  t.test('NODE_OPTIONS=--require=stallguard/register', async (t) => {
    const { reports, code, stderr } = await runApp(t, filter, 'plain-app.js', {
      env: { ...ENV, NODE_OPTIONS: '--require=stallguard/register' },
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    assertProtected(t, reports[0])
  })

  t.test('STALLGUARD_DISABLE=1 makes the preload a no-op', async (t) => {
    const { reports, code } = await runApp(t, filter, 'plain-app.js', {
      execArgv: ['--import', 'stallguard/register'],
      env: { ...ENV, STALLGUARD_DISABLE: '1' },
    })
    t.equal(code, 0)
    t.same(reports[0]?.globals, { dispatcher: 'Agent', http: 'Agent', https: 'Agent' }, 'nothing was replaced')
    for (const client of CLIENTS) {
      const r = reports[0]?.results.find((x) => x.client === client)
      t.equal(r?.outcome, 'pending', `${client}: unprotected, still waiting after ${r?.elapsed} ms`)
    }
  })

  const launches: Array<[string, { execArgv?: string[]; env?: Record<string, string> }]> = [
    ['--import', { execArgv: ['--import', 'stallguard/register'] }],
    ['--require', { env: { NODE_OPTIONS: '--require=stallguard/register' } }],
  ]
  for (const [form, launch] of launches) {
    t.test(`a bad env value stops start-up (${form})`, async (t) => {
      const { reports, code, stderr } = await runApp(t, filter, 'plain-app.js', {
        ...launch,
        env: { ...ENV, ...launch.env, STALLGUARD_TCP_KEEPALIVE_IDLE: '5 minutes' },
      })
      t.equal(code, 78, 'the process failed with EX_CONFIG')
      t.same(reports, [], 'the application never ran')
      t.match(stderr, /STALLGUARD_TCP_KEEPALIVE_IDLE="5 minutes" is not valid\.\n {2}accepted: a duration with a unit /,
        'stderr names the variable, the value and the accepted form')
    })
  }
}
