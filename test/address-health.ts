// Address health without the network: the option and env-var rules, and the
// address book's state machine fed the outcomes sockets would report (the
// real-kernel behaviour is in test/integration/address-health.ts).
import diagnostics from 'node:diagnostics_channel'
import t from 'tap'
import { AddressDownError, optionsFromEnv, StallGuardAgent, StallGuardHttpAgent, connector } from '../lib/index'
import { AddressBook, STREAK } from '../lib/health/address-book'
import { resolveAddressHealth } from '../lib/health/options'
import { downAddresses, formatDownAddresses } from '../lib/health/registry'
import { sleep } from './fixtures/timing'

const kernelTimeout = (): Error => Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT', userTimeout: 2000 })
const answers = (...addresses: string[]) => addresses.map((address) => ({ address, family: 4 }))

t.test('option: defaults, tuning, off, and clear errors', async (t) => {
  t.same(resolveAddressHealth(undefined), { coolDownMs: 1000, maxCoolDownMs: 30_000 })
  t.same(resolveAddressHealth({ coolDown: 500, maxCoolDown: 2000 }), { coolDownMs: 500, maxCoolDownMs: 2000 })
  t.same(resolveAddressHealth({ coolDown: 60_000 }), { coolDownMs: 60_000, maxCoolDownMs: 60_000 })
  t.equal(resolveAddressHealth(false), undefined)
  t.throws(() => new StallGuardAgent({ addressHealth: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /addressHealth must be a boolean or an object/ })
  t.throws(() => new StallGuardHttpAgent({ addressHealth: { coolDown: -1 } }), { code: 'ERR_OUT_OF_RANGE', message: /addressHealth\.coolDown/ })
  t.throws(() => connector({ addressHealth: { coolDown: 2000, maxCoolDown: 1000 } }), { code: 'ERR_OUT_OF_RANGE', message: /addressHealth\.maxCoolDown must be an integer from 2000/ })
  t.throws(() => connector({ addressHealth: { cooldown: 5 } as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /addressHealth\.cooldown/ })
})

t.test('env vars', async (t) => {
  t.same(optionsFromEnv({ STALLGUARD_ADDRESS_HEALTH: 'off' }), { addressHealth: false })
  t.same(optionsFromEnv({ STALLGUARD_ADDRESS_HEALTH: 'on' }), { addressHealth: true })
  t.same(optionsFromEnv({ STALLGUARD_ADDRESS_COOL_DOWN: '2s', STALLGUARD_ADDRESS_MAX_COOL_DOWN: '1m' }),
    { addressHealth: { coolDown: 2000, maxCoolDown: 60_000 } })
  t.throws(() => optionsFromEnv({ STALLGUARD_ADDRESS_COOL_DOWN: 'soon' }), { code: 'ERR_INVALID_ARG_TYPE', message: /STALLGUARD_ADDRESS_COOL_DOWN/ })
  t.throws(() => optionsFromEnv({ STALLGUARD_ADDRESS_MAX_COOL_DOWN: '500ms' }), { code: 'ERR_OUT_OF_RANGE', message: /STALLGUARD_ADDRESS_MAX_COOL_DOWN must be at least the cool-down/ })
  t.throws(() => optionsFromEnv({ STALLGUARD_ADDRESS_HEALTH: 'maybe' }), { code: 'ERR_INVALID_ARG_TYPE', message: /STALLGUARD_ADDRESS_HEALTH/ })
})

t.test('a connect timeout condemns at once; refusal names address, since when and why', async (t) => {
  const book = new AddressBook({ coolDownMs: 60_000, maxCoolDownMs: 60_000 })
  const downs: unknown[] = []
  const onDown = (m: unknown): void => { downs.push(m) }
  diagnostics.subscribe('stallguard:address:down', onDown)
  t.teardown(() => diagnostics.unsubscribe('stallguard:address:down', onDown))
  t.equal(book.refusal('10.0.0.1', 443), undefined, 'unknown addresses are healthy')
  const cause = kernelTimeout()
  book.failed('10.0.0.1', 443, cause, { connecting: true, kernel: true, reason: 'the kernel timed out the handshake' })
  const err = book.refusal('10.0.0.1', 443)
  t.type(err, AddressDownError)
  t.equal(err!.code, 'ETIMEDOUT')
  t.equal(err!.cause, cause)
  t.match(err!.message, /^connect ETIMEDOUT: 10\.0\.0\.1:443 is down since \d{4}-.*Z \(0\.0 s ago\): the kernel timed out the handshake; next probe in (30|[3-5]\d|60)\.\d s \(stallguard address health\)$/)
  t.equal(book.refusal('10.0.0.1', 80), undefined, 'another port of the same address is its own entry')
  t.match(downs, [{ address: '10.0.0.1', port: 443, reason: 'the kernel timed out the handshake', coolDown: Number }])
  t.match(book.down(), [{ address: '10.0.0.1', port: 443, state: 'down' }])
})

t.test('established connections: one lost connection changes nothing; a streak condemns; a connect clears it', async (t) => {
  const book = new AddressBook({ coolDownMs: 60_000, maxCoolDownMs: 60_000 })
  const how = { connecting: false, kernel: true, reason: 'streak' }
  for (let i = 1; i < STREAK; i++) book.failed('10.0.0.2', 80, kernelTimeout(), how)
  t.equal(book.refusal('10.0.0.2', 80), undefined, `${STREAK - 1} failures: still up`)
  book.connected('10.0.0.2', 80)
  book.failed('10.0.0.2', 80, kernelTimeout(), how)
  t.equal(book.refusal('10.0.0.2', 80), undefined, 'a successful connect reset the streak')
  for (let i = 1; i < STREAK; i++) book.failed('10.0.0.2', 80, kernelTimeout(), how)
  t.type(book.refusal('10.0.0.2', 80), AddressDownError, `${STREAK} in a row: down`)
  book.failed('10.0.0.3', 80, new Error('ECONNREFUSED'), { connecting: true, kernel: false, reason: 'refused' })
  t.equal(book.refusal('10.0.0.3', 80), undefined, 'a refused connect is not a kernel timeout')
})

t.test('order: down addresses left out, healthy ones rotated, everything down → the error', async (t) => {
  const book = new AddressBook({ coolDownMs: 60_000, maxCoolDownMs: 60_000 })
  book.failed('10.0.0.3', 80, kernelTimeout(), { connecting: true, kernel: true, reason: 'x' })
  const first = book.order(answers('10.0.0.2', '10.0.0.3', '10.0.0.4'), 80, true)
  const second = book.order(answers('10.0.0.2', '10.0.0.3', '10.0.0.4'), 80, true)
  t.same((first as Array<{ address: string }>).map((a) => a.address), ['10.0.0.2', '10.0.0.4'])
  t.same((second as Array<{ address: string }>).map((a) => a.address), ['10.0.0.4', '10.0.0.2'], 'the start rotates')
  t.type(book.order(answers('10.0.0.3'), 80, true), AddressDownError)
  t.same((book.order(answers('10.0.0.9'), 80, true) as Array<{ address: string }>).map((a) => a.address), ['10.0.0.9'],
    'a changed address set is taken as it comes')
})

t.test('recovery: one probe after the cool-down; a failed probe doubles it; a connect brings the address back', async (t) => {
  const book = new AddressBook({ coolDownMs: 40, maxCoolDownMs: 1000 })
  const ups: unknown[] = []
  const onUp = (m: unknown): void => { ups.push(m) }
  diagnostics.subscribe('stallguard:address:up', onUp)
  t.teardown(() => diagnostics.unsubscribe('stallguard:address:up', onUp))
  book.failed('10.0.0.5', 80, kernelTimeout(), { connecting: true, kernel: true, reason: 'x' })
  await sleep(60)
  t.equal(book.refusal('10.0.0.5', 80), undefined, 'cool-down over: this connection is the probe')
  t.type(book.refusal('10.0.0.5', 80), AddressDownError, 'only one probe at a time')
  t.match(book.down(), [{ state: 'probing' }])
  book.failed('10.0.0.5', 80, new Error('attempt timeout'), { connecting: true, kernel: false, reason: 'probe' })
  const [entry] = book.down()
  t.ok(entry!.probeIn >= 40 && entry!.probeIn <= 80, `failed probe: next cool-down ${entry!.probeIn} ms (step 80, jittered to 40–80)`)
  await sleep(90)
  const ordered = book.order(answers('10.0.0.6', '10.0.0.5'), 80, true) as Array<{ address: string }>
  t.equal(ordered[0]!.address, '10.0.0.5', 'with happy eyeballs the probe leads the healthy addresses')
  book.connected('10.0.0.5', 80)
  t.same(book.down(), [])
  t.match(ups, [{ address: '10.0.0.5', port: 80, reason: 'x', downFor: Number }])
})

t.test('the in-flight dump lists down addresses of every agent in the process', async (t) => {
  t.equal(formatDownAddresses([]), '', 'nothing down: no lines')
  const book = new AddressBook({ coolDownMs: 60_000, maxCoolDownMs: 60_000 })
  book.failed('10.0.0.7', 8443, kernelTimeout(), { connecting: true, kernel: true, reason: 'the kernel timed out the handshake' })
  const listed = downAddresses().filter((d) => d.address === '10.0.0.7')
  t.match(listed, [{ port: 8443, state: 'down' }])
  t.match(formatDownAddresses(listed),
    /^stallguard: 1 address down\n  10\.0\.0\.7:8443 down since .*Z: the kernel timed out the handshake; probe in \d+ ms\n$/)
})
