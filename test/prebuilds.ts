// The binaries that ship in prebuilds/, checked as far as this machine can
// without loading them: the right ELF machine for the folder they sit in, the
// N-API entry point exported, every N-API function left for the host Node to
// supply, and nothing needed beyond glibc's own libraries at versions old
// distributions still have. The arm64 one is loaded and run under qemu in CI.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const root = join(__dirname, '..')
const prebuildsDir = join(root, 'prebuilds')

// What `npm run prebuilds` produces on its x64 Linux build host.
const EXPECTED = ['linux-x64', 'linux-arm64']
const ELF_MACHINE: Record<string, string> = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' }
// The shared libraries a glibc build may need: the C library and the GCC runtime.
const GLIBC_LIBS = new Set(['libc.so.6', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'libpthread.so.0', 'libdl.so.2'])
// The oldest runtime the prebuilds promise to load on: glibc 2.28 with GCC 8's
// libstdc++ (RHEL 8, Debian 10, Ubuntu 20.04, Amazon Linux 2023).
const MAX_VERSION: Record<string, string> = { GLIBC: '2.28', GLIBCXX: '3.4.25', CXXABI: '1.3.11' }

function readelf(args: string[], file: string): string {
  const r = spawnSync('readelf', ['-W', ...args, file], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`readelf ${args.join(' ')} ${file} failed: ${r.stderr || r.error?.message}`)
  return r.stdout
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** Highest version asked for per symbol-version family (GLIBC, GLIBCXX, CXXABI). */
function requiredVersions(dynsyms: string): Map<string, string> {
  const highest = new Map<string, string>()
  for (const [, family, version] of dynsyms.matchAll(/@(GLIBC|GLIBCXX|CXXABI)_([\d.]+)/g)) {
    const seen = highest.get(family!)
    if (seen === undefined || compareVersions(version!, seen) > 0) highest.set(family!, version!)
  }
  return highest
}

const built = existsSync(prebuildsDir)
  ? readdirSync(prebuildsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)
  : []
const noReadelf = spawnSync('readelf', ['--version'], { stdio: 'ignore' }).status !== 0

if (built.length === 0) {
  t.test('prebuilt binaries', { skip: 'none built here (run `npm run prebuilds`)' }, () => {})
} else if (noReadelf) {
  t.test('prebuilt binaries', { skip: '`readelf` is not installed (Debian package binutils)' }, () => {})
} else {
  t.test('every platform npm run prebuilds makes is there', async (t) => {
    for (const dir of EXPECTED) t.ok(built.includes(dir), `prebuilds/${dir}/`)
  })

  for (const dir of built) {
    const [platform, arch] = dir.split('-') as [string, string]
    const files = readdirSync(join(prebuildsDir, dir)).filter((f) => f.endsWith('.node'))

    t.test(`prebuilds/${dir}`, async (t) => {
      t.equal(platform, 'linux', 'only Linux binaries are built here')
      t.ok(ELF_MACHINE[arch], `a known architecture (${arch})`)
      t.equal(files.length, 1, `one binary: ${files.join(', ')}`)

      for (const name of files) {
        const file = join(prebuildsDir, dir, name)
        t.test(name, async (t) => {
          // prebuildify --napi --tag-libc: <package>.<libc>.node, no ABI tag (one binary for every Node).
          t.match(name, /^stallguard\.glibc\.node$/, 'named for N-API and tagged glibc')

          const header = readelf(['-h'], file)
          t.match(header, /Class:\s+ELF64/, 'ELF64')
          t.match(header, /Type:\s+DYN /, 'a shared object')
          t.match(header, new RegExp(`Machine:\\s+${ELF_MACHINE[arch]}\\n`), `ELF machine ${ELF_MACHINE[arch]}`)

          const needed = [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!)
          t.ok(needed.includes('libc.so.6'), `links glibc (needs ${needed.join(', ')})`)
          t.same(needed.filter((lib) => !GLIBC_LIBS.has(lib)), [], 'needs nothing beyond glibc and the GCC runtime')

          const dynsyms = readelf(['--dyn-syms'], file)
          const symbols = dynsyms.split('\n').map((line) => line.trim().split(/\s+/)).filter((f) => f.length >= 8)
          const napi = symbols.filter((f) => /^(napi|node_api)_/.test(f[7]!))
          const defined = napi.filter((f) => f[6] !== 'UND').map((f) => f[7])
          const undefinedNapi = napi.filter((f) => f[6] === 'UND').map((f) => f[7])
          t.ok(defined.includes('napi_register_module_v1'), 'exports the N-API entry point napi_register_module_v1')
          t.same(defined.filter((s) => s !== 'napi_register_module_v1' && s !== 'node_api_module_get_api_version_v1'), [],
            'defines no other N-API symbol')
          t.ok(undefinedNapi.length > 0 && undefinedNapi.includes('napi_create_function'),
            `leaves the N-API functions (${undefinedNapi.length}) for the host Node to supply`)

          for (const [family, version] of requiredVersions(dynsyms)) {
            const max = MAX_VERSION[family]!
            t.ok(compareVersions(version, max) <= 0, `needs ${family}_${version} (at most ${family}_${max})`)
          }
        })
      }
    })
  }
}
