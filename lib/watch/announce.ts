// What a firing tells the outside world: the `stallguard:deadline` channel
// (APM agents and OpenTelemetry subscribe there) and a NODE_DEBUG=stallguard
// line. Publishing costs nothing when nobody subscribes.
//
// Seam: the one-line NODE_DEBUG format belongs to lib/diagnostics (the
// "diag" work); until it lands, the line is written here with util.debuglog.
import { debuglog } from 'node:util'
import { channels, type DeadlineMessage } from '../diagnostics/channels'
import type { DeadlineExceededError, StalledStreamError } from '../errors'

const debug = debuglog('stallguard')

export function announceDeadline(error: DeadlineExceededError, phase: DeadlineMessage['phase']): void {
  if (channels.deadline.hasSubscribers) channels.deadline.publish({ error, phase } satisfies DeadlineMessage)
  debug('deadline fired: %s', error.message)
}

export function announceStall(error: StalledStreamError): void {
  debug('minThroughput fired: %s', error.message)
}
