// What a firing tells the outside world: the `stallguard:deadline` channel
// (APM agents and OpenTelemetry subscribe there) and a NODE_DEBUG=stallguard
// line. Publishing costs nothing when nobody subscribes or debugs.
import { channels, type DeadlineMessage } from '../diagnostics/channels'
import { debug, debugEnabled } from '../diagnostics/debug'
import type { DeadlineExceededError, StalledStreamError } from '../errors'

export function announceDeadline(error: DeadlineExceededError, phase: DeadlineMessage['phase']): void {
  if (channels.deadline.hasSubscribers) channels.deadline.publish({ error, phase } satisfies DeadlineMessage)
  if (debugEnabled()) debug('deadline', error.message)
}

export function announceStall(error: StalledStreamError): void {
  if (debugEnabled()) debug('min-throughput', error.message)
}
