// "Did you mean" for option keys: close to one of ours is a typo; anything
// else is undici's or Node's option and passes (their lists are not ours).
import t from 'tap'
import { StallGuardAgent, StallGuardHttpAgent, StallGuardHttpsAgent } from '../lib/index'
import { HTTP_AGENT_KEYS, INSTALL_KEYS, UNDICI_AGENT_KEYS } from '../lib/options'
import { editDistance, typoOf } from '../lib/suggest'

t.test('edit distance counts a swap of neighbours as one edit', async (t) => {
  t.equal(editDistance('tcp', 'tpc'), 1)
  t.equal(editDistance('tcp', 'tls'), 2)
  t.equal(editDistance('deadlin', 'deadline'), 1)
  t.equal(editDistance('', 'abc'), 3)
})

t.test('typos of ours are caught, the neighbours undici and Node use are not', async (t) => {
  const typos: Array<[string, string]> = [['deadlin', 'deadline'], ['dedline', 'deadline'], ['DEADLINE', 'deadline'],
    ['tpc', 'tcp'], ['retyr', 'retry'], ['minThroughPut', 'minThroughput'], ['minthroughput', 'minThroughput']]
  for (const [key, meant] of typos) t.equal(typoOf(key, UNDICI_AGENT_KEYS), meant, `${key} → ${meant}`)
  for (const key of ['tls', 'connect', 'connections', 'pipelining', 'headersTimeout', 'bodyTimeout', 'keepAliveTimeout',
    'interceptors', 'maxRedirections', 'timeout', 'keepAlive', 'path', 'port', 'proxyEnv', 'defaultPort', 'ca', 'family']) {
    t.equal(typoOf(key, [...UNDICI_AGENT_KEYS, ...HTTP_AGENT_KEYS]), undefined, `${key} is not ours and not a typo of ours`)
  }
  t.equal(typoOf('dumpSignl', INSTALL_KEYS), 'dumpSignal')
})

t.test('agents take undici/Node options untouched and refuse typos of ours', async (t) => {
  const agent = new StallGuardAgent({ connections: 2, pipelining: 1, keepAliveTimeout: 1000, bodyTimeout: 5000 })
  t.teardown(() => agent.close())
  for (const Agent of [StallGuardHttpAgent, StallGuardHttpsAgent]) {
    const node = new Agent({ keepAlive: true, timeout: 1000, maxSockets: 2, scheduling: 'fifo' })
    node.destroy()
    t.throws(() => new Agent({ deadlin: 800 } as never), { name: 'TypeError', code: 'SG_ERR_UNKNOWN_OPTION', message: /did you mean deadline\?.*other names go to Node's http\.Agent unchanged/ })
  }
  t.throws(() => new StallGuardAgent({ retyr: 2 } as never), { name: 'TypeError', code: 'SG_ERR_UNKNOWN_OPTION', message: /options\.retyr is not an option: did you mean retry\?.*other names go to undici's Agent unchanged/ })
})
