// install()/uninstall() without faults, each scenario in its own child
// process (they change process globals): replacing an earlier install (also
// one from another copy of the package), exact restoration, ESM named
// exports, bad options, the kill switch, precedence as the kernel sees it,
// and requests in flight during uninstall. Needs the build (npm test does it).
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { capabilities } from '../lib/index'

function scenario(name: string): Record<string, unknown> {
  const out = execFileSync(process.execPath, [join(__dirname, 'fixtures', 'install-scenarios.js'), name], {
    cwd: join(__dirname, '..'),
    env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1' },
    encoding: 'utf8',
  })
  return JSON.parse(out) as Record<string, unknown>
}

const allTrue = { dispatcher: true, http: true, https: true }

t.test('a second install() replaces the first cleanly', async (t) => {
  t.same(scenario('twice'), {
    afterReplace: { secondIsNew: true, firstDispatcherClosed: true, firstHttpKeepAlive: false },
    staleUninstallChangedNothing: allTrue,
    restoredOriginals: allTrue,
    secondDispatcherClosed: true,
  })
})

t.test('an install() from a second copy of the package replaces the first copy\'s', async (t) => {
  t.same(scenario('second copy'), { differentCopies: true, replaced: true, aClosed: true, restoredOriginals: allTrue })
})

t.test('ESM named imports of globalAgent follow install() and uninstall()', async (t) => {
  t.same(scenario('esm'), { namedExportFollows: true, namedExportRestored: true })
})

t.test('bad options throw before any global changes', async (t) => {
  const result = scenario('bad options') as { errors: Array<{ code: string; message: string } | null> }
  t.match(result, { untouched: allTrue, restoredOriginals: allTrue })
  t.match(result.errors, [
    { code: 'ERR_OUT_OF_RANGE', message: /tcp\.userTimeout must be .*received -1/ },
    { code: 'ERR_INVALID_ARG_TYPE', message: /options\.deadlin must be one of tcp, deadline, .* \(unknown option; did you mean deadline\?\)/ },
    { code: 'ERR_INVALID_ARG_TYPE', message: /options must be an object of install options; received 'fast'/ },
    { code: 'ERR_INVALID_ARG_TYPE', message: /retry must be a boolean or an integer/ },
    { code: 'ERR_INVALID_ARG_TYPE', message: /STALLGUARD_DEADLINE must be a duration.*received 'soon'/ },
  ])
})

t.test('STALLGUARD_DISABLE=1: install() does nothing and undoes an earlier install', async (t) => {
  t.same(scenario('disable'), { restoredOriginals: allTrue })
})

t.test('precedence as the kernel sees it: explicit > env > defaults',
  { skip: capabilities().native ? false : `native layer unavailable: ${capabilities().reason}` }, async (t) => {
    t.same(scenario('precedence'), {
      kernel: {
        keepAlive: true,
        keepAliveIdle: 5000, // default
        keepAliveInterval: 1000, // default
        keepAliveCount: 3, // env
        userTimeout: 2500, // explicit beats env's 9 s
      },
    })
  })

t.test('what the application configured stays: a proxy dispatcher (composed with the deadline), a custom global agent; TLS options carry over', async (t) => {
  t.same(scenario('kept'), {
    withDeadline: {
      composedOverKept: true,
      channel: true,
      httpKept: true,
      https: 'StallGuardHttpsAgent',
      httpsCa: 'the application\'s CA',
    },
    withoutDeadline: { dispatcherIsKept: true, channel: true },
    restored: { ...allTrue, channel: false },
    // The kept http agent is reached by the process-wide hooks: nothing to warn about.
    warnings: [],
  })
})

t.test('uninstall() lets requests in flight finish, then closes their sockets', async (t) => {
  t.same(scenario('in flight'), { body: 'late', socketDestroyed: true, pooled: 0 })
})
