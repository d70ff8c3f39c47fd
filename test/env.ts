// STALLGUARD_* env vars → install() options: every variable, units, 0/off,
// bad values (which must name the variable, the value and the accepted form),
// and precedence under explicit options.
import t from 'tap'
import { ignoredWhenDisabled, optionsFromEnv } from '../lib/global/env'
import { ENV_VARS } from '../lib/global/env-vars'
import { effectiveOptions } from '../lib/global/install'

t.test('nothing set, or set empty, gives no options at all', async (t) => {
  t.same(optionsFromEnv({}), {})
  t.same(optionsFromEnv({ STALLGUARD_TCP_USER_TIMEOUT: '', STALLGUARD_DEADLINE: '  ', UNRELATED: '5' }), {})
})

t.test('durations: a number with a unit', async (t) => {
  const cases: Array<[string, number]> = [
    ['500ms', 500], ['10s', 10_000], ['2m', 120_000], ['1.5s', 1500],
    [' 3 S ', 3000], ['250MS', 250], ['0.5m', 30_000], ['1h', 3_600_000], ['0.25h', 900_000],
  ]
  for (const [value, ms] of cases) {
    t.equal(optionsFromEnv({ STALLGUARD_DEADLINE: value }).deadline, ms, `${JSON.stringify(value)} → ${ms} ms`)
  }
})

t.test('every variable lands on its option', async (t) => {
  t.same(optionsFromEnv({
    STALLGUARD_TCP_USER_TIMEOUT: '3s',
    STALLGUARD_TCP_KEEPALIVE_IDLE: '2s',
    STALLGUARD_TCP_KEEPALIVE_INTERVAL: '1500ms',
    STALLGUARD_TCP_KEEPALIVE_COUNT: '4',
    STALLGUARD_CONNECT_TIMEOUT: '5s',
    STALLGUARD_HEADERS_TIMEOUT: '1m',
    STALLGUARD_BODY_TIMEOUT: '30s',
    STALLGUARD_DEADLINE: '2m',
    STALLGUARD_RETRY: '3',
    STALLGUARD_DISABLE: 'false',
  }), {
    tcp: { userTimeout: 3000, keepAliveIdle: 2000, keepAliveInterval: 1500, keepAliveCount: 4 },
    connectTimeout: 5000,
    headersTimeout: 60_000,
    bodyTimeout: 30_000,
    deadline: 120_000,
    retry: 3,
    disable: false,
  })
})

t.test('0/off: system default for TCP options, "no timer" for the others', async (t) => {
  for (const off of ['0', 'off', 'OFF', 'false', 'no', '0ms', '0s']) {
    t.same(optionsFromEnv({
      STALLGUARD_TCP_USER_TIMEOUT: off,
      STALLGUARD_TCP_KEEPALIVE_IDLE: off,
      STALLGUARD_TCP_KEEPALIVE_INTERVAL: off,
      STALLGUARD_CONNECT_TIMEOUT: off,
      STALLGUARD_HEADERS_TIMEOUT: off,
      STALLGUARD_BODY_TIMEOUT: off,
      STALLGUARD_DEADLINE: off,
    }), {
      tcp: { userTimeout: false, keepAliveIdle: false, keepAliveInterval: false },
      connectTimeout: 0,
      headersTimeout: 0,
      bodyTimeout: 0,
      deadline: 0,
    }, `${off}`)
  }
  t.same(optionsFromEnv({ STALLGUARD_TCP_KEEPALIVE_COUNT: 'off' }), { tcp: { keepAliveCount: false } })
})

t.test('retry and disable', async (t) => {
  const retry = (v: string) => optionsFromEnv({ STALLGUARD_RETRY: v }).retry
  t.equal(retry('on'), true)
  t.equal(retry('true'), true)
  t.equal(retry('1'), 1)
  t.equal(retry('10'), 10)
  t.equal(retry('off'), false)
  t.equal(retry('0'), false)
  t.equal(retry('false'), false)
  for (const v of ['1', 'true', 'yes', 'on', 'TRUE']) t.equal(optionsFromEnv({ STALLGUARD_DISABLE: v }).disable, true, v)
  for (const v of ['0', 'false', 'no', 'off']) t.equal(optionsFromEnv({ STALLGUARD_DISABLE: v }).disable, false, v)
})

t.test('bad values fail naming the variable, the value and the accepted form', async (t) => {
  const duration = /must be a duration with a unit ms, s, m or h \(e\.g\. 500ms, 10s, 2m, 1h\)/
  const cases: Array<[string, string, RegExp, string]> = [
    ['STALLGUARD_TCP_USER_TIMEOUT', 'ten', duration, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_TCP_USER_TIMEOUT', '10d', duration, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_TCP_USER_TIMEOUT', '1.0005s', /from 1000 ms to 2147483647 ms in whole milliseconds, or 0\/off for the system default/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_TCP_USER_TIMEOUT', '10ms', /from 1000 ms to 2147483647 ms/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_TCP_USER_TIMEOUT', '40000m', /to 2147483647 ms/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_TCP_KEEPALIVE_IDLE', '10 minutes', duration, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_TCP_KEEPALIVE_IDLE', '500ms', /from 1000 ms to 32767000 ms/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_TCP_KEEPALIVE_INTERVAL', '9999999s', /from 1000 ms to 32767000 ms/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_TCP_KEEPALIVE_COUNT', '128', /must be an integer from 1 to 127, or 0\/off for the system default/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_TCP_KEEPALIVE_COUNT', '2.5', /must be an integer from 1 to 127/, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_TCP_KEEPALIVE_COUNT', '3s', /must be an integer from 1 to 127/, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_CONNECT_TIMEOUT', 'soon', /or 0\/off for no timeout/, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_HEADERS_TIMEOUT', '1.0001s', /in whole milliseconds/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_BODY_TIMEOUT', '5 s 3', duration, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_DEADLINE', '1e3', duration, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_DEADLINE', '99999999999ms', /or 0\/off for no deadline/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_RETRY', 'always', /must be an integer from 1 to 10, or 0\/off for no retries \(also off\/false; on\/true retries once\)/, 'ERR_INVALID_ARG_TYPE'],
    ['STALLGUARD_RETRY', '11', /from 1 to 10/, 'ERR_OUT_OF_RANGE'],
    ['STALLGUARD_DISABLE', 'maybe', /must be 1\/true\/yes\/on or 0\/false\/no\/off/, 'ERR_INVALID_ARG_TYPE'],
  ]
  for (const [name, value, form, code] of cases) {
    const shown = new RegExp(`^stallguard: ${name} must be .*; received '${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'$`)
    t.throws(() => optionsFromEnv({ [name]: value }), { code, message: form }, `${name}=${value}: accepted form`)
    t.throws(() => optionsFromEnv({ [name]: value }), { message: shown }, `${name}=${value}: variable and value`)
    t.throws(() => optionsFromEnv({ [name]: value }), { name: /Error/, variable: name, value }, `${name}=${value}: fields for the preload`)
  }
})

t.test('a bare number is refused with the unit it probably lacked; a negative duration is out of range', async (t) => {
  for (const [name, value] of [['STALLGUARD_TCP_USER_TIMEOUT', '10'], ['STALLGUARD_DEADLINE', '1500'], ['STALLGUARD_HEADERS_TIMEOUT', '1.5']]) {
    t.throws(() => optionsFromEnv({ [name!]: value }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      variable: name,
      hint: `a number needs a unit: did you mean ${value}s? (${value}ms for milliseconds)`,
      message: new RegExp(`^stallguard: ${name} must be a duration with a unit .*; received '${value!.replace('.', '\\.')}'; a number needs a unit: did you mean ${value!.replace('.', '\\.')}s\\?`),
    }, `${name}=${value}`)
  }
  t.throws(() => optionsFromEnv({ STALLGUARD_TCP_USER_TIMEOUT: '-5s' }), {
    name: 'RangeError', code: 'ERR_OUT_OF_RANGE', hint: 'a duration cannot be negative',
    message: /STALLGUARD_TCP_USER_TIMEOUT must be a duration .*; received '-5s'; a duration cannot be negative$/,
  })
  t.equal(optionsFromEnv({ STALLGUARD_DEADLINE: '0' }).deadline, 0, 'a bare 0 needs no unit: it means off')
})

t.test('STALLGUARD_DISABLE wins over every other variable, bad and unknown ones included', async (t) => {
  const env = { STALLGUARD_DISABLE: '1', STALLGUARD_TCP_USER_TIMOUT: '5s', STALLGUARD_DEADLINE: '10', STALLGUARD_TEST_X: '1' }
  t.same(optionsFromEnv(env), { disable: true }, 'nothing else is read')
  t.same(effectiveOptions({ env }), { disable: true })
  t.same(ignoredWhenDisabled(env), ['STALLGUARD_TCP_USER_TIMOUT', 'STALLGUARD_DEADLINE'], 'what it ignored (not the test harness)')
  t.throws(() => effectiveOptions({ env, disable: false }), { code: 'SG_ERR_UNKNOWN_ENV' },
    'code that overrules the kill switch reads (and checks) every variable again')
  t.throws(() => optionsFromEnv({ ...env, STALLGUARD_DISABLE: 'maybe' }), { code: 'SG_ERR_UNKNOWN_ENV' },
    'a DISABLE value that is not a true value switches nothing off')
  t.throws(() => optionsFromEnv({ STALLGUARD_DISABLE: 'maybe' }), { code: 'ERR_INVALID_ARG_TYPE', variable: 'STALLGUARD_DISABLE' })
})

t.test('precedence: defaults < env < explicit options, key by key', async (t) => {
  const env = {
    STALLGUARD_TCP_USER_TIMEOUT: '3s',
    STALLGUARD_TCP_KEEPALIVE_COUNT: '2',
    STALLGUARD_DEADLINE: '20s',
    STALLGUARD_RETRY: 'off',
  }
  t.same(effectiveOptions({ env }), {
    tcp: { userTimeout: 3000, keepAliveCount: 2 }, deadline: 20_000, retry: false,
  }, 'env alone (anything unset keeps its default)')
  t.same(effectiveOptions({ env, tcp: { userTimeout: 5000, keepAliveIdle: 2000 }, deadline: 0 }), {
    tcp: { userTimeout: 5000, keepAliveCount: 2, keepAliveIdle: 2000 }, deadline: 0, retry: false,
  }, 'explicit keys win, env fills the rest of tcp')
  t.same(effectiveOptions({ env, tcp: false }), { tcp: false, deadline: 20_000, retry: false },
    'tcp: false in code turns the kernel layer off whatever env says')
  t.same(effectiveOptions({ env, tcp: { userTimeout: undefined } }).tcp, { userTimeout: 3000, keepAliveCount: 2 },
    'an explicit undefined does not erase env')
  t.same(effectiveOptions({ env: false, deadline: 1000 }), { deadline: 1000 }, 'env: false ignores the environment')
  t.same(effectiveOptions({ env: { STALLGUARD_DISABLE: '1' }, disable: false }).disable, false, 'code can overrule the kill switch')
  t.throws(() => effectiveOptions({ env: { STALLGUARD_DEADLINE: 'x' }, deadline: 5 }), { message: /STALLGUARD_DEADLINE/ },
    'a bad env value fails even when code sets the same option')
})

t.test('typos fail loudly: an unknown STALLGUARD_* name is refused with the closest known one', async (t) => {
  const cases: Array<[string, string]> = [
    ['STALLGUARD_USER_TIMEOUT', 'STALLGUARD_TCP_USER_TIMEOUT'],
    ['STALLGUARD_DEADLIEN', 'STALLGUARD_DEADLINE'],
    ['STALLGUARD_TCP_KEEPALIVE_INTERVALL', 'STALLGUARD_TCP_KEEPALIVE_INTERVAL'],
    ['STALLGUARD_KEEPALIVE_COUNT', 'STALLGUARD_TCP_KEEPALIVE_COUNT'],
    ['stallguard_deadline', 'STALLGUARD_DEADLINE'],
    ['STALLGUARD_RETRIES', 'STALLGUARD_RETRY'],
  ]
  for (const [typo, meant] of cases) {
    t.throws(() => optionsFromEnv({ [typo]: '3s' }), {
      name: 'TypeError',
      code: 'SG_ERR_UNKNOWN_ENV',
      names: [typo],
      message: new RegExp(`^stallguard: unknown environment variable ${typo} \\(did you mean ${meant}\\?\\); stallguard reads STALLGUARD_TCP_USER_TIMEOUT, `),
    }, `${typo} → did you mean ${meant}?`)
  }
  t.throws(() => optionsFromEnv({ STALLGUARD_COLOUR: 'blue' }), {
    code: 'SG_ERR_UNKNOWN_ENV', message: /unknown environment variable STALLGUARD_COLOUR; stallguard reads /,
  }, 'nothing close: no suggestion, the known names are listed')
  t.throws(() => optionsFromEnv({ STALLGUARD_USER_TIMEOUT: '3s', STALLGUARD_DEADLIEN: '1s', STALLGUARD_DEADLINE: '2s' }), {
    names: ['STALLGUARD_USER_TIMEOUT', 'STALLGUARD_DEADLIEN'],
    message: /variables STALLGUARD_USER_TIMEOUT \(did you mean STALLGUARD_TCP_USER_TIMEOUT\?\), STALLGUARD_DEADLIEN \(did you mean STALLGUARD_DEADLINE\?\)/,
  }, 'every unknown name is reported at once')
  t.throws(() => effectiveOptions({ env: { STALLGUARD_USER_TIMEOUT: '3s' }, tcp: { userTimeout: 1000 } }),
    { code: 'SG_ERR_UNKNOWN_ENV' }, 'install() refuses it too, even when code sets the option')
  t.same(optionsFromEnv({ STALLGUARD_TEST_NETNS: '1', STALLGUARD_MIN_THROUGHPUT: '', STALLGUARD_DUMP_SIGNAL: '' }), {},
    "the test harness's own STALLGUARD_TEST_* names and every known name pass")
  t.same(effectiveOptions({ env: false }), {}, 'env: false reads (and checks) nothing')
})

t.test('the preload, run as a user would (`node --import stallguard/register app.js`)', async (t) => {
  const { spawnSync } = await import('node:child_process')
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'stallguard-preload-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const app = join(dir, 'app.js')
  writeFileSync(app, 'console.log("app ran")\n')
  // The shipped preload (dist/, built by `npm run build`), resolved by name from the package.
  const register = require.resolve('stallguard/register')
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toUpperCase().startsWith('STALLGUARD_')))
  const start = (flag: string, env: Record<string, string>) =>
    // --warnings: tap's process tracking puts --no-warnings into every child's NODE_OPTIONS on Node 26;
    // a user's process shows warnings, and the kill switch's warning is what this test reads.
    spawnSync(process.execPath, ['--warnings', flag, register, app], { env: { ...clean, ...env }, encoding: 'utf8', cwd: dir })

  for (const flag of ['--import', '--require']) {
    const typo = start(flag, { STALLGUARD_USER_TIMEOUT: '3s' })
    t.equal(typo.status, 78, `${flag}: a misspelt variable exits 78 (EX_CONFIG)`)
    t.notMatch(typo.stdout, /app ran/, 'the application never started')
    t.match(typo.stderr, /Unknown variable:\n {2}STALLGUARD_USER_TIMEOUT: did you mean STALLGUARD_TCP_USER_TIMEOUT\?\n {2}fix: /)
    t.notMatch(typo.stderr, /\n\s+at /, 'no stack trace')

    const bare = start(flag, { STALLGUARD_TCP_USER_TIMEOUT: '10' })
    t.equal(bare.status, 78, `${flag}: a bare number exits 78`)
    t.notMatch(bare.stdout, /app ran/)
    t.match(bare.stderr, /STALLGUARD_TCP_USER_TIMEOUT="10" is not valid\.\n {2}accepted: a duration with a unit .*\n {2}hint: a number needs a unit: did you mean 10s\?.*\n {2}fix: correct or unset STALLGUARD_TCP_USER_TIMEOUT, or set STALLGUARD_DISABLE=1/)
    t.notMatch(bare.stderr, /\n\s+at /, 'no stack trace')

    const off = start(flag, { STALLGUARD_DISABLE: '1', STALLGUARD_TCP_USER_TIMOUT: '5s', STALLGUARD_DEADLINE: '10' })
    t.equal(off.status, 0, `${flag}: STALLGUARD_DISABLE=1 starts the app whatever else is set`)
    t.match(off.stdout, /app ran/)
    const warnings = off.stderr.match(/SG_WARN_DISABLED/g) ?? []
    t.equal(warnings.length, 1, 'one warning')
    t.match(off.stderr, /stallguard is off \(STALLGUARD_DISABLE=1\).*Ignored: STALLGUARD_TCP_USER_TIMOUT, STALLGUARD_DEADLINE\./)
  }
  const hour = start('--import', { STALLGUARD_DEADLINE: '1h' })
  t.equal(hour.status, 0, `1h is a duration ${hour.stderr}`)
  t.match(hour.stdout, /app ran/)
})

t.test('STALLGUARD_MIN_THROUGHPUT and _GRACE: rates with units, on/off, clear errors', async (t) => {
  const rate = (value: string, grace?: string) =>
    optionsFromEnv({ STALLGUARD_MIN_THROUGHPUT: value, ...(grace === undefined ? {} : { STALLGUARD_MIN_THROUGHPUT_GRACE: grace }) }).minThroughput
  t.same(rate('1'), { bytesPerSecond: 1, grace: 20_000 }, '1 → 1 byte/s over the default 20 s')
  t.same(rate('64KiB/s'), { bytesPerSecond: 65_536, grace: 20_000 })
  t.same(rate('512 B/s', '5s'), { bytesPerSecond: 512, grace: 5000 })
  t.same(rate('1.5MB'), { bytesPerSecond: 1_500_000, grace: 20_000 })
  t.same(rate('on'), { bytesPerSecond: 1, grace: 20_000 }, "on → AWS's values")
  t.equal(rate('0'), false)
  t.equal(rate('off'), false)
  t.throws(() => rate('fast'), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /STALLGUARD_MIN_THROUGHPUT must be a rate in bytes per second, with an optional unit .*; received 'fast'/,
  })
  t.throws(() => rate('1', '50ms'), { code: 'ERR_OUT_OF_RANGE', message: /STALLGUARD_MIN_THROUGHPUT_GRACE must be at least 100 ms; received '50ms'/ })
  t.throws(() => rate('1', 'soon'), { code: 'ERR_INVALID_ARG_TYPE', message: /STALLGUARD_MIN_THROUGHPUT_GRACE must be a duration/ })
  t.throws(() => optionsFromEnv({ STALLGUARD_MIN_THROUGHPUT_GRACE: '5s' }), {
    code: 'ERR_INVALID_ARG_TYPE', message: /STALLGUARD_MIN_THROUGHPUT_GRACE must be set together with STALLGUARD_MIN_THROUGHPUT/,
  })
  t.same(effectiveOptions({ env: { STALLGUARD_MIN_THROUGHPUT: '1' }, minThroughput: false }).minThroughput, false, 'explicit option beats env')
})

t.test('STALLGUARD_DUMP_SIGNAL: a catchable signal name, never SIGUSR1', async (t) => {
  t.equal(optionsFromEnv({ STALLGUARD_DUMP_SIGNAL: 'SIGUSR2' }).dumpSignal, 'SIGUSR2')
  t.equal(optionsFromEnv({ STALLGUARD_DUMP_SIGNAL: 'usr2' }).dumpSignal, 'SIGUSR2')
  t.equal(optionsFromEnv({ STALLGUARD_DUMP_SIGNAL: 'off' }).dumpSignal, undefined)
  for (const bad of ['SIGUSR1', 'SIGKILL', 'SIGNOPE']) {
    t.throws(() => optionsFromEnv({ STALLGUARD_DUMP_SIGNAL: bad }), { code: 'ERR_INVALID_ARG_TYPE', message: /STALLGUARD_DUMP_SIGNAL must be a signal name/ }, bad)
  }
})

t.test('docs/global.md documents every variable stallguard reads, in its table', async (t) => {
  const { readFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const doc = readFileSync(join(__dirname, '..', 'docs', 'global.md'), 'utf8')
  const rows = new Set([...doc.matchAll(/^\| `(STALLGUARD_[A-Z_]+)` \|/gm)].map((m) => m[1]))
  for (const name of Object.keys(ENV_VARS)) t.ok(rows.has(name), `${name} has a row`)
  for (const name of rows) t.ok(name! in ENV_VARS, `${name} in the table is a variable stallguard reads`)
})
