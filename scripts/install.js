#!/usr/bin/env node
// npm "install" hook. Installing stallguard never fails: a prebuild that
// loads is used as is; otherwise the addon is compiled with node-gyp; where
// that is impossible (no toolchain, no headers) the package runs without its
// native layer and says so, with the remedy, once at runtime.
'use strict'
const { spawnSync } = require('node:child_process')
const { existsSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')

// Node hands out no socket descriptors on Windows: a binding could reach no socket.
if (process.platform === 'win32') process.exit(0)

// TypeScript sources are not published, so their presence means a source
// checkout (a clone, or npm preparing a git dependency): build/ is compiled
// from the binding sources there even when a prebuild exists, so tests run
// what the sources say.
const checkout = existsSync(join(root, 'lib', 'index.ts'))
const fromSource = checkout || process.env.npm_config_build_from_source === 'true'

if (!fromSource && bindingLoads()) process.exit(0)

const gyp = nodeGyp()
const built = spawnSync(gyp.command, [...gyp.args, 'rebuild'], { cwd: root, stdio: 'inherit' })
if (built.status !== 0) {
  // npm shows a script's output only when it fails; this line is for --foreground-scripts and logs.
  console.error('stallguard: no prebuild for this platform and the addon could not be compiled ' +
    `(${built.error ? built.error.message : `node-gyp exited with ${built.status ?? built.signal}`}); ` +
    'installed without kernel timeouts, see the warning at runtime')
}
process.exit(0)

/** A prebuild (or an earlier build/) for this platform that really loads: a glibc binary on musl does not. */
function bindingLoads() {
  try {
    const binding = require(require('node-gyp-build').resolve(root))
    return typeof binding.setTimeouts === 'function'
  } catch {
    return false
  }
}

/** The project's node-gyp, else the one npm bundles (it names it in the environment), else PATH's. */
function nodeGyp() {
  try {
    return { command: process.execPath, args: [require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })] }
  } catch {}
  const bundled = process.env.npm_config_node_gyp
  if (bundled && existsSync(bundled)) return { command: process.execPath, args: [bundled] }
  return { command: 'node-gyp', args: [] }
}
