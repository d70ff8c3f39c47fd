import t from 'tap'
import { DEFAULT_TCP_TIMEOUTS } from '../lib/index'
import { describeTcpTimeouts, resolveTcpTimeouts } from '../lib/kernel/tcp-options'

t.test('defaults resolve to kernel units', async (t) => {
  t.same(resolveTcpTimeouts(undefined), {
    keepAlive: true,
    keepAliveIdleSeconds: 5,
    keepAliveIntervalSeconds: 1,
    keepAliveCount: 5,
    userTimeoutMs: 10_000,
  })
  t.same(DEFAULT_TCP_TIMEOUTS, { userTimeout: 10_000, keepAliveIdle: 5_000, keepAliveInterval: 1_000, keepAliveCount: 5 })
  t.ok(Object.isFrozen(DEFAULT_TCP_TIMEOUTS))
})

t.test('keepalive milliseconds round up to whole seconds', async (t) => {
  const r = resolveTcpTimeouts({ keepAliveIdle: 500, keepAliveInterval: 1001.5, userTimeout: 1500, allowShortTimeouts: true })
  t.equal(r.keepAliveIdleSeconds, 1)
  t.equal(r.keepAliveIntervalSeconds, 2)
  t.equal(r.userTimeoutMs, 1500)
})

t.test('0 and false mean "leave the system default"', async (t) => {
  const r = resolveTcpTimeouts({ userTimeout: 0, keepAliveIdle: false, keepAliveInterval: 0, keepAliveCount: false })
  t.same(r, { keepAlive: false, keepAliveIdleSeconds: 0, keepAliveIntervalSeconds: 0, keepAliveCount: 0, userTimeoutMs: 0 })
  t.equal(describeTcpTimeouts(r), 'system defaults')
  t.equal(resolveTcpTimeouts({ keepAliveIdle: false }).keepAlive, true, 'keepalive stays on while any keepalive option is set')
})

t.test('bad input names the option, the value and the accepted range', async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp, string]> = [
    [{ userTimeout: '10s' }, 'TypeError', /tcp\.userTimeout must be an integer from 1 to 2147483647 ms .*received '10s'/, 'ERR_INVALID_ARG_TYPE'],
    [{ userTimeout: -1 }, 'RangeError', /tcp\.userTimeout .*received -1/, 'ERR_OUT_OF_RANGE'],
    [{ userTimeout: 1.5 }, 'RangeError', /tcp\.userTimeout must be an integer.*received 1\.5/, 'ERR_OUT_OF_RANGE'],
    [{ userTimeout: 2 ** 31 }, 'RangeError', /tcp\.userTimeout.*received 2147483648/, 'ERR_OUT_OF_RANGE'],
    [{ userTimeout: NaN }, 'RangeError', /tcp\.userTimeout.*received NaN/, 'ERR_OUT_OF_RANGE'],
    [{ userTimeout: true }, 'TypeError', /tcp\.userTimeout.*received true/, 'ERR_INVALID_ARG_TYPE'],
    [{ keepAliveIdle: -5 }, 'RangeError', /tcp\.keepAliveIdle must be a number from 1 to 32767000 ms/, 'ERR_OUT_OF_RANGE'],
    [{ keepAliveIdle: 32_767_001 }, 'RangeError', /tcp\.keepAliveIdle.*received 32767001/, 'ERR_OUT_OF_RANGE'],
    [{ keepAliveIdle: Infinity }, 'RangeError', /tcp\.keepAliveIdle.*received Infinity/, 'ERR_OUT_OF_RANGE'],
    [{ keepAliveInterval: null }, 'TypeError', /tcp\.keepAliveInterval.*received null/, 'ERR_INVALID_ARG_TYPE'],
    [{ keepAliveInterval: 40_000_000 }, 'RangeError', /tcp\.keepAliveInterval/, 'ERR_OUT_OF_RANGE'],
    [{ keepAliveCount: 128 }, 'RangeError', /tcp\.keepAliveCount must be an integer from 1 to 127 \(or 0\/false/, 'ERR_OUT_OF_RANGE'],
    [{ keepAliveCount: 2.5 }, 'RangeError', /tcp\.keepAliveCount.*received 2\.5/, 'ERR_OUT_OF_RANGE'],
    [{ keepAliveCount: '3' }, 'TypeError', /tcp\.keepAliveCount.*received '3'/, 'ERR_INVALID_ARG_TYPE'],
    [{ keepaliveIdle: 1000 }, 'TypeError', /tcp\.keepaliveIdle must be one of userTimeout, keepAliveIdle, keepAliveInterval, keepAliveCount/, 'ERR_INVALID_ARG_TYPE'],
  ]
  for (const [input, name, message, code] of cases) {
    t.throws(() => resolveTcpTimeouts(input), { name, message, code }, JSON.stringify(input) ?? String(input))
  }
  t.throws(() => resolveTcpTimeouts({ allowShortTimeouts: 1 } as never), { code: 'ERR_INVALID_ARG_TYPE', message: /tcp\.allowShortTimeouts must be a boolean; received 1/ })
  t.throws(() => resolveTcpTimeouts(42 as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /tcp must be an object/ })
  t.throws(() => resolveTcpTimeouts({ userTimeout: -1 }, 'options.tcp'), { message: /options\.tcp\.userTimeout/ })
})

t.test('a user timeout or keepalive time under 1 s is refused unless allowShortTimeouts says so', async (t) => {
  t.throws(() => resolveTcpTimeouts({ userTimeout: 10 }), {
    name: 'RangeError', code: 'ERR_OUT_OF_RANGE',
    message: /^stallguard: tcp\.userTimeout must be at least 1000 ms, or 0\/false for the system default \(a shorter user timeout aborts healthy connections .*\); values are in milliseconds: did you mean 10000 \(10 s\)\? To use 10 ms anyway, set tcp\.allowShortTimeouts: true; received 10$/,
  }, 'userTimeout: 10 (seconds written as ms) names what was meant and the way out')
  t.throws(() => resolveTcpTimeouts({ userTimeout: 999 }), { code: 'ERR_OUT_OF_RANGE', message: /values are in milliseconds: To use 999 ms anyway/ },
    'no guess past two minutes written as seconds')
  t.throws(() => resolveTcpTimeouts({ keepAliveIdle: 5 }), { code: 'ERR_OUT_OF_RANGE', message: /tcp\.keepAliveIdle must be at least 1000 ms.*keepalive runs in whole seconds.*did you mean 5000 \(5 s\)\?/ })
  t.throws(() => resolveTcpTimeouts({ keepAliveInterval: 500 }, 'options.tcp'), { code: 'ERR_OUT_OF_RANGE', message: /options\.tcp\.keepAliveInterval must be at least 1000 ms.*set options\.tcp\.allowShortTimeouts: true/ })
  t.equal(resolveTcpTimeouts({ userTimeout: 1000, keepAliveIdle: 1000, keepAliveInterval: 1000 }).userTimeoutMs, 1000, '1 s is accepted')
  t.equal(resolveTcpTimeouts({ userTimeout: 300, allowShortTimeouts: true }).userTimeoutMs, 300, 'allowed explicitly')
  t.equal(resolveTcpTimeouts({ userTimeout: 0 }).userTimeoutMs, 0, '0 (system default) is not a short timeout')
})
