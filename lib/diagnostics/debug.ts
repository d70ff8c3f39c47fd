// NODE_DEBUG=stallguard: one line per protected socket, per kernel timeout,
// per deadline that fires, per retry. Every layer writes through here so the
// lines look alike. Callers check debugEnabled() before building a line, so
// a process without NODE_DEBUG pays one property read.
//
// Lines name peers (address:port) and requests only through redact.ts:
// never a query string, never URL userinfo.
import { debuglog } from 'node:util'

// `enabled` is a getter: NODE_DEBUG is read on first use, not at import.
const log = debuglog('stallguard')

/** Whether NODE_DEBUG names stallguard. */
export function debugEnabled(): boolean {
  return log.enabled
}

/**
 * One debug line, e.g. `debug('deadline', 'GET https://host:443/key?… exceeded …')`.
 * `event` is a short fixed word (protected, kernel-timeout, deadline, retry).
 */
export function debug(event: string, line: string): void {
  if (log.enabled) log('%s %s', event, line)
}
