// install() with STALLGUARD_MIN_THROUGHPUT / _GRACE (child processes: it
// changes globals): Node's global fetch and the global node:http agent fail
// a 10 B/s trickle within grace + 1 s; without the variables the floor is
// off and an SSE-style silence is untouched.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { startTrickleServer } from './fixtures/trickle'

/** Run a child (async: the servers live in this process) and collect its exit status and output. */
function run(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env }, timeout: 15_000 })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

async function runChild(url: string, env: Record<string, string>): Promise<{ fetch: string[]; http: string[]; elapsed: number; quiet: string | string[] }> {
  const child = await run([join(__dirname, 'fixtures', 'min-throughput-child.ts'), url], env)
  if (child.status !== 0) throw new Error(`child failed (${child.status}): ${child.stderr}`)
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!)
}

t.test('STALLGUARD_MIN_THROUGHPUT=100 with a 1 s grace: global fetch and http.get fail the trickle', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const seen = await runChild(server.url, { STALLGUARD_MIN_THROUGHPUT: '100B/s', STALLGUARD_MIN_THROUGHPUT_GRACE: '1s' })
  t.ok(seen.fetch.includes('StalledStreamError(SG_ERR_STALLED_STREAM)'), `fetch: ${seen.fetch.join(' ← ')}`)
  t.equal(seen.http[0], 'StalledStreamError(SG_ERR_STALLED_STREAM)', `http.get: ${seen.http.join(' ← ')}`)
  t.ok(seen.elapsed <= 2000, `both within grace + 1 s (${seen.elapsed} ms)`)
  t.ok(Array.isArray(seen.quiet), 'with the floor on, a 1.5 s silence fails too')
})

t.test('without the variables the floor is off: an SSE-style silence is untouched', async (t) => {
  const server = await startTrickleServer(t, 'http')
  const child = await run(['-e', `
    const { install } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'index'))})
    install()
    fetch(${JSON.stringify(`${server.url}/quiet?ms=2500`)}).then((r) => r.text()).then((t) => { console.log(JSON.stringify(t)); process.exit(0) }, (e) => { console.log('failed', e.cause?.name); process.exit(1) })
  `])
  t.equal(child.status, 0, child.stderr)
  t.equal(JSON.parse(child.stdout.trim()), 'data: first\n\ndata: second\n\n', '2.5 s of silence with the defaults, then a normal end')
})
