// The package as users load it: by name, through package.json "exports",
// from CommonJS and from ES modules, with the compiled output in dist/.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const root = join(__dirname, '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('every export target exists after the build', async (t) => {
  for (const [subpath, target] of Object.entries(pkg.exports as Record<string, string | Record<string, string>>)) {
    const files = typeof target === 'string' ? [target] : Object.values(target)
    for (const file of files) t.ok(existsSync(join(root, file)), `${subpath} -> ${file}`)
  }
})

t.test('require("stallguard") from CommonJS', async (t) => {
  const r = run(['-e', `
    const sg = require('stallguard')
    console.log(JSON.stringify({ caps: sg.capabilities().native, fns: typeof sg.applySocketTimeouts, d: sg.DEFAULT_TCP_TIMEOUTS }))
  `])
  t.equal(r.status, 0, r.stderr)
  t.same(JSON.parse(r.stdout), { caps: true, fns: 'function', d: { userTimeout: 10000, keepAliveIdle: 5000, keepAliveInterval: 1000, keepAliveCount: 5 } })
})

t.test('import { … } from "stallguard" in an ES module gets named exports', async (t) => {
  const r = run(['--input-type=module', '-e', `
    import { applySocketTimeouts, capabilities, DeadlineExceededError, KernelTimeoutError } from 'stallguard'
    import * as ns from 'stallguard'
    console.log(JSON.stringify({
      fns: [typeof applySocketTimeouts, typeof capabilities, typeof DeadlineExceededError, typeof KernelTimeoutError],
      same: ns.default.capabilities === capabilities,
    }))
  `])
  t.equal(r.status, 0, r.stderr)
  t.same(JSON.parse(r.stdout), { fns: ['function', 'function', 'function', 'function'], same: true })
})

t.test('the published file list carries what install needs', async (t) => {
  // What npm really packs is checked by test/packaging.ts; this is the declaration.
  for (const entry of ['dist/', 'binding/', 'binding.gyp', 'prebuilds/', 'scripts/install.js']) {
    t.ok(pkg.files.includes(entry), entry)
  }
  t.equal(pkg.scripts.install, 'node scripts/install.js', 'an install hook that never fails the install')
  t.match(pkg.scripts.prepare, /npm run build/, 'git installs build dist/')
  t.equal(pkg.gypfile, true)
  t.notOk(pkg.scripts.prebuild, 'no "prebuild" script: npm would run it before "build"')
  t.ok(pkg.dependencies['node-addon-api'] && pkg.dependencies['node-gyp-build'])
})
