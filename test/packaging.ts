// The tarball is the product: pack it, install it into fresh projects the way
// users do (npm from the registry for its dependencies), with the compiler
// hidden, and check what loads. Where this platform has a prebuild in
// prebuilds/, the install must use it without compiling, with and without
// install scripts; where none matches, the install must still succeed and the
// package load degraded with one warning that names the remedy.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

const root = join(__dirname, '..')
const tuple = `${process.platform}-${process.arch}`
const prebuildDir = join(root, 'prebuilds', tuple)
const prebuilds = existsSync(prebuildDir) ? readdirSync(prebuildDir).filter((f) => f.endsWith('.node')) : []
/** Tools a slim image has; no cc, c++, g++, make or python. */
const BASIC_TOOLS = ['sh', 'env', 'ls', 'cat', 'mkdir', 'rm', 'cp', 'mv', 'tar', 'gzip', 'uname', 'dirname', 'basename']
const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'make', 'python3', 'python']
// Installs take seconds with a warm npm cache (npm ci fills it with these
// dependencies). Four of them must fit in tap's 120 s for the whole file
// (the runner's limit: t.setTimeout cannot extend it), so each is cut off
// well before and then fails with its own message.
const INSTALL_TIMEOUT_MS = 25_000

if (process.platform === 'win32') {
  t.plan(0, 'packs and installs through sh; the Windows install path is a no-op (see scripts/install.js)')
  process.exit(0)
}

const work = mkdtempSync(join(tmpdir(), 'stallguard-packaging-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { ...opts, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS })
  if (r.error) r.stderr = `${r.stderr ?? ''}\n${cmd} ${args.join(' ')}: ${r.error.message}`
  return r
}

/** Where npm's CLI really is: `npm test` names it; otherwise the npm on PATH. */
function npmCli(): string {
  if (process.env.npm_execpath) return process.env.npm_execpath
  const found = run('sh', ['-c', 'command -v npm'], { cwd: root }).stdout.trim()
  if (!found) throw new Error('npm is not on PATH')
  return realpathSync(found)
}

/**
 * A PATH with node, npm and basic tools but no compiler, and an environment
 * without the npm_config_* the outer `npm test` exports (they would leak its
 * settings into the inner installs). Proxy and registry settings pass through.
 */
function noCompilerEnv(): NodeJS.ProcessEnv {
  const bin = join(work, 'bin')
  mkdirSync(bin)
  symlinkSync(process.execPath, join(bin, 'node'))
  writeFileSync(join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli()}" "$@"\n`, { mode: 0o755 })
  for (const tool of BASIC_TOOLS) {
    const found = run('sh', ['-c', `command -v ${tool}`], { cwd: root }).stdout.trim()
    if (found) symlinkSync(realpathSync(found), join(bin, tool))
  }
  const env: NodeJS.ProcessEnv = {
    PATH: bin,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    CC: '/nonexistent/cc',
    CXX: '/nonexistent/c++',
    npm_config_update_notifier: 'false',
  }
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'npm_config_registry', 'npm_config_cache']) {
    if (process.env[name] !== undefined) env[name] = process.env[name]
  }
  return env
}

interface Probe {
  capabilities: { native: boolean; binding: string | undefined; reason: string | undefined; userTimeout: boolean }
  warnings: { code: string; message: string }[]
}

/** A fresh project that installs `tarball`; returns the install's result and the installed package dir. */
function installInto(name: string, tarball: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  const app = join(work, name)
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', ...extra, tarball], { cwd: app, env })
  copyFileSync(join(__dirname, 'fixtures', 'packed-probe.js'), join(app, 'probe.js'))
  const probe = (): Probe => {
    const r = run('node', ['probe.js'], { cwd: app, env })
    if (r.status !== 0) throw new Error(`probe failed (${r.status}): ${r.stderr}`)
    return JSON.parse(r.stdout) as Probe
  }
  return { install, pkgDir: join(app, 'node_modules', 'stallguard'), probe }
}

const builtFiles = (pkgDir: string): string[] =>
  existsSync(join(pkgDir, 'build', 'Release')) ? readdirSync(join(pkgDir, 'build', 'Release')).filter((f) => f.endsWith('.node')) : []

// dist/ is built by `npm test`'s pretest; packing with scripts off does not rebuild it under tests running in parallel.
t.ok(existsSync(join(root, 'dist', 'index.js')), 'dist/ is built (npm run build)')
const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root })
t.equal(packed.status, 0, 'npm pack', { stderr: packed.stderr })
const tarball = join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename)
const env = noCompilerEnv()

t.test('the tarball ships dist/, the binding sources, the install hook and prebuilds/, and nothing that points outside it', async (t) => {
  const files = run('tar', ['-tzf', tarball], { cwd: work }).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''))
  for (const file of ['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/global/register.js', 'binding.gyp',
    'binding/stallguard.cc', 'binding/sockopt_posix.cc', 'binding/sockopt.h', 'scripts/install.js']) {
    t.ok(files.includes(file), file)
  }
  for (const file of prebuilds) t.ok(files.includes(`prebuilds/${tuple}/${file}`), `prebuilds/${tuple}/${file}`)
  t.same(files.filter((f) => f.endsWith('.map')), [], 'no source maps (they would point at lib/, which is not shipped)')
  t.same(files.filter((f) => /^(lib|test|bench|build)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts')), [],
    'no sources, tests or local build output')
  const grep = run('sh', ['-c', `tar -xzOf "${tarball}" --wildcards 'package/dist/*' | grep -c sourceMappingURL`], { cwd: work })
  t.equal(grep.stdout.trim(), '0', 'no sourceMappingURL comment in dist/')
})

t.test('shipped docs point only at shipped files', async (t) => {
  const listing = run('tar', ['-tzf', tarball], { cwd: work }).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''))
  const docs = listing.filter((f) => f.endsWith('.md'))
  t.ok(docs.includes('docs/global.md') && docs.includes('README.md') && docs.includes('CHANGELOG.md'), 'user docs shipped')
  t.notOk(docs.includes('docs/development.md') || docs.includes('docs/ci.md'), 'contributor notes stay in the repository')
  for (const doc of docs) {
    const text = run('tar', ['-xzOf', tarball, `package/${doc}`], { cwd: work }).stdout
    // A path into a folder the package does not have (sources, tests, CI scripts).
    const paths = text.match(/`?\b(?:lib|test|\.ci)\/[\w./*-]+`?/g) ?? []
    t.same(paths, [], `${doc}: no path into lib/, test/ or .ci/`)
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue
      const resolved = join(doc.includes('/') ? doc.slice(0, doc.lastIndexOf('/')) : '', target!).replace(/\/$/, '')
      t.ok(listing.some((f) => f === resolved || f.startsWith(`${resolved}/`)), `${doc}: link ${target} is in the package`)
    }
  }
})

t.test('the compiler really is hidden', async (t) => {
  const found = run('sh', ['-c', `for c in ${COMPILERS.join(' ')}; do command -v $c; done; true`], { cwd: work, env })
  t.equal(found.stdout.trim(), '', 'none of cc, c++, g++, make, python3 on PATH')
})

const noPrebuild = prebuilds.length === 0 && `no prebuilds/${tuple}/*.node to pack: run npm run prebuilds first`
t.test(`a platform with a prebuild (${tuple}) installs it without compiling`, { skip: noPrebuild }, async (t) => {
  for (const [name, extra] of [['with-scripts', []], ['ignore-scripts', ['--ignore-scripts']]] as const) {
    t.test(name, async (t) => {
      const { install, pkgDir, probe } = installInto(`prebuilt-${name}`, tarball, env, [...extra])
      t.equal(install.status, 0, 'npm install succeeds', { stderr: install.stderr })
      const ran = /> node scripts\/install\.js/.test(install.stdout)
      t.equal(ran, extra.length === 0, ran ? 'the install hook ran' : 'no install script ran')
      t.same(builtFiles(pkgDir), [], 'nothing compiled')
      const { capabilities, warnings } = probe()
      t.equal(capabilities.native, true, capabilities.reason ?? 'native layer on')
      t.equal(capabilities.binding, join(realpathSync(pkgDir), 'prebuilds', tuple, prebuilds[0]!), 'the shipped prebuild was loaded')
      t.equal(capabilities.userTimeout, process.platform === 'linux', 'TCP_USER_TIMEOUT available (Linux)')
      t.same(warnings, [], 'no warning')
    })
  }
})

t.test('a platform with no prebuild and no compiler still installs, and runs degraded with one warning', async (t) => {
  // The same tarball as it looks for a platform we do not ship: no prebuilds/.
  const repack = join(work, 'repack')
  mkdirSync(repack)
  t.equal(run('tar', ['-xzf', tarball, '-C', repack], { cwd: work }).status, 0, 'unpacked')
  rmSync(join(repack, 'package', 'prebuilds'), { recursive: true, force: true })
  const bare = join(work, 'stallguard-no-prebuild.tgz')
  t.equal(run('tar', ['-czf', bare, '-C', repack, 'package'], { cwd: work }).status, 0, 'repacked without prebuilds/')

  const { install, pkgDir, probe } = installInto('no-prebuild', bare, env)
  t.equal(install.status, 0, 'npm install succeeds', { stderr: install.stderr })
  t.match(install.stdout + install.stderr, /stallguard: no prebuild for this platform and the addon could not be compiled/,
    'the install hook tried to compile and said why it gave up')
  t.same(builtFiles(pkgDir), [], 'nothing compiled')
  const { capabilities, warnings } = probe()
  t.match(capabilities, { native: false, binding: undefined, userTimeout: false, reason: /^binding not loaded: No native build was found/ })
  t.equal(warnings.length, 1, 'exactly one warning')
  t.equal(warnings[0]?.code, 'SG_WARN_DEGRADED')
  t.notMatch(warnings[0]?.message, /\n/, 'one line')
  t.match(warnings[0]?.message, /install a C\+\+ toolchain \(python3, make, g\+\+\) and run `npm rebuild stallguard`, or run on a platform with a prebuild \(linux-x64 or linux-arm64 with glibc\)/)
})

t.test('without undici (a peer dependency, optional): the node:http agents, install() and doctor work', async (t) => {
  const { install, pkgDir } = installInto('no-undici', tarball, env, ['--ignore-scripts'])
  t.equal(install.status, 0, 'npm install succeeds', { stderr: install.stderr })
  t.notOk(existsSync(join(pkgDir, '..', 'undici')), 'npm did not install undici')
  const app = join(pkgDir, '..', '..')
  copyFileSync(join(__dirname, 'fixtures', 'no-undici-probe.js'), join(app, 'no-undici-probe.js'))
  const r = run('node', ['no-undici-probe.js'], { cwd: app, env })
  t.equal(r.status, 0, 'the probe ran', { stderr: r.stderr })
  const seen = JSON.parse(r.stdout) as { undiciResolvable: boolean; body: string; agentError: { code: string; message: string }; globalAgent: string; warnings: { code: string; message: string }[] }
  t.equal(seen.undiciResolvable, false, 'undici really is absent')
  t.equal(seen.body, 'ok', 'StallGuardHttpAgent carried a request')
  t.match(seen.agentError, { code: 'SG_ERR_UNDICI_MISSING', message: /StallGuardAgent needs undici, a peer dependency that is not installed here: npm install undici/ })
  t.equal(seen.globalAgent, 'StallGuardHttpAgent', 'install() replaced http.globalAgent')
  // Without a prebuild for this machine the install runs degraded too (its own warning, tested above).
  const undiciWarnings = seen.warnings.filter((w) => w.code !== 'SG_WARN_DEGRADED')
  t.same(undiciWarnings.map((w) => w.code), ['SG_WARN_NO_UNDICI'], 'one warning says what is not covered')
  t.match(undiciWarnings[0]?.message, /undici is not installed, so install\(\) protects node:http\(s\) clients fully.*built-in fetch/)

  const esm = run('node', ['--input-type=module', '-e',
    "import { StallGuardHttpAgent, StallGuardAgent } from 'stallguard'; console.log(typeof StallGuardHttpAgent, typeof StallGuardAgent)"], { cwd: app, env })
  t.equal(esm.stdout.trim(), 'function undefined', 'ESM: the named imports load; the undici one is undefined', { stderr: esm.stderr })

  const doctor = run('node', [join(pkgDir, 'dist', 'bin.js'), 'doctor'], { cwd: app, env })
  t.equal(doctor.status, prebuilds.length > 0 ? 0 : 1, 'stallguard doctor runs (exit 1: no native layer without a prebuild)', { stderr: doctor.stderr })
  t.match(doctor.stdout, /undici is not installed/, 'doctor says what is not covered')
  t.notMatch(doctor.stderr, /Cannot find module/)
})
