// Where namespaces or nftables are missing, kernel fault tests must show up
// as skipped with the reason — never as passed. Run a fault test file with a
// PATH that has a shell and nothing else and read its TAP output.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

t.test('without unshare/nft the fault tests report a visible skip', async (t) => {
  const bin = mkdtempSync(join(tmpdir(), 'stallguard-path-'))
  t.teardown(() => rmSync(bin, { recursive: true, force: true }))
  symlinkSync('/bin/sh', join(bin, 'sh'))
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin }
  delete env.STALLGUARD_TEST_NETNS
  // Forget tap's own child-process bookkeeping so the file prints plain TAP.
  for (const key of Object.keys(env)) if (key.startsWith('TAP_')) delete env[key]
  const file = join(__dirname, 'integration', 'kernel-effect.ts')
  const r = spawnSync(process.execPath, [...process.execArgv, file], { env, encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /ok 1 - kernel fault tests # SKIP `unshare` is not installed \(Debian package util-linux\)/)
  t.notMatch(r.stdout, /private network namespace/, 'nothing ran')
})
