// install() / uninstall() in a child process (they change process globals),
// real kernel: after install, Node's built-in fetch, undici.request without
// a dispatcher, http.get and https.get all fail fast on a dead pooled
// connection; after uninstall they behave as before — still waiting well
// past stallguard's window.
import t from 'tap'
import { CLIENTS, runApp, stallguardError } from '../fixtures/global-app'
import { SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns, PacketFilter } from '../fixtures/netns'

if (enterNetns(t, __filename)) {
  const filter = new PacketFilter()
  t.afterEach(() => filter.heal())

  t.test('install() protects the four default clients; uninstall() puts everything back', async (t) => {
    // retry off: with it on, undici would retry on a fresh connection into
    // the still-dead path and report the connect timeout instead.
    const { reports, code, stderr } = await runApp(t, filter, 'install-app.js', {
      env: { STALLGUARD_TEST_INSTALL: JSON.stringify({ tcp: SHORT_TCP, retry: false }) },
    })
    t.equal(code, 0, `the app exited cleanly ${stderr}`)
    const [installed, uninstalled] = reports
    t.same(installed?.installed, {
      dispatcher: 'StallGuardAgent', http: 'StallGuardHttpAgent', https: 'StallGuardHttpsAgent',
    }, 'install() replaced the undici global dispatcher and both global agents')
    for (const client of CLIENTS) {
      const r = installed?.results.find((x) => x.client === client)
      t.equal(r?.outcome, 'error', `${client}: failed after install`)
      t.match(stallguardError(r!), { name: 'KernelTimeoutError', code: 'ETIMEDOUT' }, `${client}: KernelTimeoutError ETIMEDOUT`)
      t.ok(r!.elapsed >= WRITE_WINDOW.min && r!.elapsed <= WRITE_WINDOW.max,
        `${client}: failed after ${r!.elapsed} ms (window ${WRITE_WINDOW.min}–${WRITE_WINDOW.max})`)
    }
    t.same(uninstalled?.restored, { dispatcher: true, http: true, https: true }, 'uninstall() restored the very same objects')
    for (const client of CLIENTS) {
      const r = uninstalled?.results.find((x) => x.client === client)
      t.equal(r?.outcome, 'pending', `${client}: after uninstall, still waiting after ${r?.elapsed} ms, as without stallguard`)
    }
  })
}
