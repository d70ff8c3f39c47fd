// Scope 'tcp' through a real non-HTTP client: ioredis against a real
// redis-server started here, real kernel, in an app started as
// `node --import stallguard/register app.js` with STALLGUARD_* env vars only
// (test/fixtures/redis-app.js). With STALLGUARD_SCOPE=tcp a command on a dead
// pooled connection fails in about the user timeout and an idle healthy
// connection survives 3x the keepalive window; with the default scope (http)
// the Redis socket keeps the system defaults.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import t, { type Test } from 'tap'
import { BOUND, kernelErrorIn, runClientApp, SHORT_ENV } from '../fixtures/clients-run'
import { SHORT_TCP, WRITE_WINDOW } from '../fixtures/kernel-window'
import { enterNetns } from '../fixtures/netns'

const OURS = { keepAlive: true, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 1, userTimeout: 2000 }
const QUIET_MS = 3 * Math.max(SHORT_TCP.keepAliveIdle + SHORT_TCP.keepAliveInterval * SHORT_TCP.keepAliveCount, SHORT_TCP.userTimeout)

const freePort = async (): Promise<number> => {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  return port
}

/** A redis-server of its own on loopback, no persistence; stopped in teardown. */
async function startRedis(t: Test): Promise<number> {
  const port = await freePort()
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { server.kill() })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('Ready to accept connections')) resolve()
    })
    server.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)))
  })
  return port
}

const runRedisApp = async (t: Test, scenario: 'pooled' | 'idle', scope: 'http' | 'tcp') => {
  const port = await startRedis(t)
  const { result, code, stderr } = await runClientApp(t, 'redis-app.js', { scenario, port, limit: BOUND.write + 5000, quietMs: QUIET_MS },
    { preload: true, env: { ...SHORT_ENV, ...(scope === 'tcp' ? { STALLGUARD_SCOPE: 'tcp' } : {}) } })
  t.equal(code, 0, `the app exited cleanly ${stderr}`)
  return result ?? {}
}

if (enterNetns(t, __filename)) {
  if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0) {
    t.test('ioredis against redis-server', { skip: '`redis-server` is not installed (Debian package redis-server)' }, () => {})
  } else {
    t.jobs = 3

    t.test('STALLGUARD_SCOPE=tcp: a command on a dead pooled connection fails in about the user timeout', async (t) => {
      const r = await runRedisApp(t, 'pooled', 'tcp')
      t.same(r.held, OURS, 'the Redis socket carries the configured values')
      t.ok(r.protectedEvents?.length >= 1, 'stallguard:socket:protected reported the Redis socket')
      t.match(r.result, { outcome: 'error', error: { name: 'MaxRetriesPerRequestError' } },
        `the command failed as ioredis reports a lost connection (${JSON.stringify(r.result?.error)})`)
      t.ok(r.result?.elapsed >= WRITE_WINDOW.min && r.result?.elapsed <= BOUND.write,
        `the command failed after ${r.result?.elapsed} ms (window ${WRITE_WINDOW.min}–${BOUND.write})`)
      t.ok(kernelErrorIn(r.socketError), `the connection's error event: KernelTimeoutError ETIMEDOUT (${JSON.stringify(r.socketError)})`)
    })

    for (const scope of ['tcp', 'http'] as const) {
      t.test(`scope ${scope}: an idle healthy connection survives ${QUIET_MS} ms (3x the keepalive window)`, async (t) => {
        const r = await runRedisApp(t, 'idle', scope)
        t.match(r.result, { outcome: 'ok', value: 'value' }, `the command after the quiet spell succeeded (${JSON.stringify(r.result)})`)
        t.same(r.errors, [], 'no connection error')
        if (scope === 'tcp') {
          t.same(r.held, OURS, 'scope tcp: the Redis socket carries the configured values')
        } else {
          t.match(r.held, { userTimeout: 0 }, `scope http (the default): the Redis socket keeps the system defaults (${JSON.stringify(r.held)})`)
          t.same(r.protectedEvents, [], 'scope http: stallguard:socket:protected never named the Redis socket')
        }
      })
    }
  }
}
