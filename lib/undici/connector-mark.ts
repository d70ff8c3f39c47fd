// Which connect functions are stallguard's own. Apart from connector.ts so
// that the process-wide hooks can ask without loading undici (a peer
// dependency the node:http side does without).
const ours = new WeakSet<object>()

/** Remember a connect function stallguard built: its sockets are protected already. */
export function markStallGuardConnector(fn: object): void {
  ours.add(fn)
}

/** Whether `fn` is a connector stallguard built (its sockets are protected already). */
export function isStallGuardConnector(fn: unknown): boolean {
  return typeof fn === 'function' && ours.has(fn)
}
