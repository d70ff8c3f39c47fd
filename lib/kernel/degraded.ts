// What still protects a socket when the native layer is off, and the one
// line that tells the user so.
import net from 'node:net'

/**
 * Whether Node's own `socket.setKeepAlive(true, idle, interval, count)` hands
 * interval and count to the kernel (Node >= 24.21 / 26.4; older versions take
 * two parameters and leave libuv's fixed 1 s / 10 in place). The declared
 * parameter count is the probe: the JS signature grew in the same change that
 * passed the values to libuv, and reading it needs no socket and no syscall.
 * A wrapper installed over the prototype hides the parameters and makes this
 * report less than Node does, never more.
 */
export const nodeSetsKeepAliveIntervalAndCount: boolean = net.Socket.prototype.setKeepAlive.length >= 4

/** Why no binding is attempted at all on this platform, or undefined. */
export function nativeSkipReason(platform: NodeJS.Platform): string | undefined {
  // A binding works on descriptors, and Node hands out none on Windows.
  return platform === 'win32' ? 'Node exposes no socket descriptors on win32' : undefined
}

/** Prebuilt binaries ship for these; see docs/platforms.md. */
export const PREBUILT_PLATFORMS = 'linux-x64 or linux-arm64 with glibc'

/**
 * One line: what is missing, what Node still sets on this version, what
 * nothing sets, and how to get the kernel layer back. `bindingLoaded`: the
 * binding is fine and only this socket has no descriptor, so no toolchain
 * would help.
 */
export function degradedWarning(reason: string, platform: NodeJS.Platform, bindingLoaded = false): string {
  const keepalive = nodeSetsKeepAliveIntervalAndCount
    ? "Node's setKeepAlive still sets keepalive idle, interval and count"
    : "Node's setKeepAlive sets keepalive idle only (interval and count stay 1 s / 10; Node >= 24.21 or 26.4 sets them too)"
  const remedy = bindingLoaded
    ? 'set per-request deadlines'
    : platform === 'win32'
    ? 'set per-request deadlines; the kernel layer needs Linux, macOS or FreeBSD'
    : 'install a C++ toolchain (python3, make, g++) and run `npm rebuild stallguard`, ' +
      `or run on a platform with a prebuild (${PREBUILT_PLATFORMS})`
  return `stallguard: kernel timeouts off (${oneLine(reason)}); ${keepalive}; ` +
    'no TCP_USER_TIMEOUT, so data sent into a dead path waits for the kernel to give up (about 15 min) ' +
    `unless a deadline ends it. Fix: ${remedy}.`
}

/** Loader errors span lines (node-gyp-build adds "loaded from: …"); a warning is one. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}
