// The inline `deadline` on http.request / https.request / http.get, written
// the way an application writes it: no cast, no StallGuardRequestOptions
// variable. This file is typechecked by `tsc --noEmit -p tsconfig.json` (CI):
// without stallguard's augmentation of node:http's RequestOptions these
// calls fail with TS2769. At run time each deadline ends a trickling
// response with DeadlineExceededError.
import http from 'node:http'
import https from 'node:https'
import t from 'tap'
import { DeadlineExceededError, StallGuardHttpAgent, StallGuardHttpsAgent } from '../lib/index'
import { startServer } from './fixtures/http'
import { ca } from './fixtures/tls'

/** Headers at once, then a chunk every 100 ms, forever. */
const trickle: http.RequestListener = (_req, res) => {
  res.writeHead(200)
  const timer = setInterval(() => res.write('x'), 100)
  res.on('close', () => clearInterval(timer))
}

/** The request's error, from the request or from the response body. */
function failureOf(req: http.ClientRequest): Promise<unknown> {
  return new Promise((resolve) => {
    req.on('error', resolve)
    req.on('response', (res) => {
      res.on('error', resolve)
      res.resume()
    })
  })
}

t.test('inline deadline on http.request, https.request and http.get', async (t) => {
  const plain = await startServer(t, 'http', trickle)
  const secure = await startServer(t, 'https', trickle)
  const agent = new StallGuardHttpAgent()
  const tlsAgent = new StallGuardHttpsAgent({ ca })
  t.teardown(() => { agent.destroy(); tlsAgent.destroy() })

  const requests: Array<[string, http.ClientRequest]> = [
    ['http.request(url, { agent, deadline })', http.request(`http://127.0.0.1:${plain.port}/`, { agent, deadline: 300 }).end()],
    ['https.request(url, { agent, deadline })', https.request(`https://127.0.0.1:${secure.port}/`, { agent: tlsAgent, deadline: 300 }).end()],
    ['http.get({ host, port, agent, deadline })', http.get({ host: '127.0.0.1', port: plain.port, agent, deadline: 300 })],
    ['https.get(url, { agent, deadline }, callback)', https.get(`https://127.0.0.1:${secure.port}/`, { agent: tlsAgent, deadline: 300 }, (res) => res.resume())],
  ]
  // Listen on all of them before waiting: the four deadlines expire together.
  const failures = requests.map(([call, req]) => [call, failureOf(req)] as const)
  for (const [call, failure] of failures) {
    const err = await failure
    t.type(err, DeadlineExceededError, `${call}: DeadlineExceededError`)
    t.match(err, { code: 'SG_ERR_DEADLINE_EXCEEDED', deadline: 300 }, `${call}: code and budget`)
  }
})

t.test('the option is typed: only a number (or undefined) is accepted', async (t) => {
  const options: http.RequestOptions = { deadline: 250 }
  const secureOptions: https.RequestOptions = { deadline: undefined }
  t.equal(options.deadline, 250)
  t.equal(secureOptions.deadline, undefined)
  // @ts-expect-error a string is not a deadline
  const wrong: http.RequestOptions = { deadline: '250' }
  t.equal(typeof wrong.deadline, 'string')
})
