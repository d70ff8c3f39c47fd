// Every code block in README.md and docs/*.md runs as written.
//
// Blocks are copied out verbatim and run in a private network namespace with
// its own /etc/hosts, where every `example.com` host named in the docs
// resolves to loopback and real servers answer on ports 80 (HTTP/1.1) and 443
// (TLS, HTTP/1.1 and HTTP/2, a certificate for *.example.com trusted through
// NODE_EXTRA_CA_CERTS). So `fetch('https://api.example.com/')` in a README
// example is a real request to a real server, and nothing leaves the machine.
//
// What the servers answer, for docs authors:
//   any path       200, body `ok METHOD PATH` (the request body is read first)
//   /trickle…      200, then one byte every 200 ms until the client goes away
// and a real forward proxy (CONNECT and absolute-form) listens on
// proxy.example.com:3128 for the proxy examples.
//
// ```js blocks run as CommonJS, ```mjs as ES modules, ```ts are typechecked
// with the project's tsconfig and then run. A block must exit by itself
// (close its agents) with status 0 within 20 s. Shell, YAML and text blocks
// are not run here; they are listed in a comment so the count is visible. A
// block that cannot run in the sandbox says why in a
// `<!-- docs-test: skip REASON -->` comment right above it, and shows up here
// as a skipped test with that reason.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import { join } from 'node:path'
import t from 'tap'
import { docFiles, exampleHosts, extractBlocks, type DocBlock } from './fixtures/doc-blocks'
import { startForwardProxy } from './fixtures/forward-proxy'
import { netnsUnavailableReason } from './fixtures/netns'

const root = join(__dirname, '..')
const MARKER = 'STALLGUARD_TEST_DOCS_SANDBOX'
const certFile = join(__dirname, 'fixtures', 'example-com-cert.pem')
const keyFile = join(__dirname, 'fixtures', 'example-com-key.pem')
const runDir = join(root, '.docs-run')

const blocks: DocBlock[] = docFiles(root).flatMap((file) => extractBlocks(root, file))
const runnable = blocks.filter((b) => b.kind !== 'other')
const fileName = (b: DocBlock, i: number): string =>
  `block-${i}-${b.where.replace(/[^a-z0-9]+/gi, '_')}.${b.kind === 'cjs' ? 'cjs' : b.kind === 'esm' ? 'mjs' : 'ts'}`

function writeBlocks(): string[] {
  rmSync(runDir, { recursive: true, force: true })
  mkdirSync(runDir, { recursive: true })
  // Blocks live inside the package, so `require('stallguard')` resolves to
  // this package (dist/) exactly as it does for a user who installed it.
  writeFileSync(join(runDir, 'tsconfig.json'), JSON.stringify({
    extends: '../tsconfig.json',
    compilerOptions: { noEmit: true, noUnusedLocals: false },
    include: ['*.ts'],
  }))
  return runnable.map((b, i) => {
    const file = join(runDir, fileName(b, i))
    writeFileSync(file, b.code)
    return file
  })
}

function startServers(): Promise<() => void> {
  // One handler for both servers; http2's compatibility API has the same shape.
  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.resume()
    req.on('end', () => {
      if ((req.url ?? '').startsWith('/trickle')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        const timer = setInterval(() => res.write('.'), 200)
        res.on('close', () => clearInterval(timer))
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`ok ${req.method} ${req.url}\n`)
    })
  }
  const plain = http.createServer(answer)
  const secure = http2.createSecureServer({ key: readFileSync(keyFile), cert: readFileSync(certFile), allowHTTP1: true },
    answer as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
  const listen = (server: http.Server | http2.Http2SecureServer, port: number, host: string): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
  return Promise.all([
    listen(plain, 80, '127.0.0.1'),
    listen(secure, 443, '127.0.0.1'),
  ]).then(() => () => {
    plain.closeAllConnections()
    plain.close()
    secure.close()
  })
}

function runBlock(file: string, block: DocBlock): Promise<{ status: number | null; out: string }> {
  // As a user runs it: plain node, TypeScript through tsx; none of tap's loaders or env.
  const args = block.kind === 'ts' ? ['--import', 'tsx', file] : [file]
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: certFile }
  for (const key of Object.keys(env)) if (key.startsWith('TAP') || key === 'NODE_OPTIONS' || key === MARKER) delete env[key]
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: runDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d })
    child.stderr.on('data', (d: Buffer) => { out += d })
    const timer = setTimeout(() => {
      out += '\n[docs test] still running after 20 s: killed (a block must close what it opens)'
      child.kill('SIGKILL')
    }, 20_000)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, out })
    })
  })
}

if (process.env[MARKER] === '1') {
  // Inside the sandbox: lo up, the docs' hosts on loopback, servers, blocks.
  execFileSync('ip', ['link', 'set', 'lo', 'up'])
  const hostsFile = join(runDir, 'hosts')
  writeFileSync(hostsFile, `127.0.0.1 localhost\n::1 localhost\n127.0.0.1 ${exampleHosts(blocks).join(' ')}\n`)
  execFileSync('mount', ['--bind', hostsFile, '/etc/hosts'])
  t.test('code blocks run as written', async (t) => {
    const stop = await startServers()
    t.teardown(stop)
    await startForwardProxy(t, { port: 3128 })
    const files = runnable.map((b, i) => join(runDir, fileName(b, i)))
    for (const [i, block] of runnable.entries()) {
      if (block.skip !== undefined) {
        t.test(`${block.where} (${block.lang})`, { skip: block.skip }, async () => {})
        continue
      }
      await t.test(`${block.where} (${block.lang})`, async (t) => {
        const { status, out } = await runBlock(files[i]!, block)
        t.equal(status, 0, `exits 0\n${out}`)
      })
    }
  })
} else {
  const others = blocks.filter((b) => b.kind === 'other')
  t.comment(`${blocks.length} blocks in ${docFiles(root).join(', ')}: ${runnable.length} JavaScript/TypeScript, ` +
    `${others.length} not run here (${others.map((b) => `${b.where} ${b.lang}`).join(', ')})`)
  t.ok(runnable.length > 0, 'the docs have code to run')
  const files = writeBlocks()

  t.test('TypeScript blocks typecheck', async (t) => {
    const ts = runnable.filter((b) => b.kind === 'ts')
    if (ts.length === 0) return t.pass('no TypeScript blocks')
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(runDir, 'tsconfig.json')], {
      encoding: 'utf8',
    })
    t.equal(tsc.status, 0, `tsc -p .docs-run\n${tsc.stdout}${tsc.stderr}`)
  })

  const reason = netnsUnavailableReason()
  if (reason !== undefined) {
    t.test('code blocks run as written', { skip: reason }, async () => {})
  } else {
    t.ok(files.length === runnable.length, 'every block written out')
    t.spawn('unshare', ['-rnm', process.execPath, ...process.execArgv, __filename], {
      env: { ...process.env, [MARKER]: '1' },
    }, 'in a private network namespace with the docs\' hosts on loopback')
  }
}
