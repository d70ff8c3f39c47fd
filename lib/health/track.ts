// What the address book learns from a socket: which address it attempts,
// whether the connect succeeded, how it ended. Listeners on the socket's
// connect-time events and its 'close' — nothing on the request path.
import net from 'node:net'
import { AddressDownError, KernelTimeoutError } from '../errors'
import { STREAK, type AddressBook } from './address-book'

/** ETIMEDOUT from the kernel (ours named, or the system's own SYN/retransmission limit), not a refusal of ours. */
function kernelTimeout(err: unknown): boolean {
  return err instanceof KernelTimeoutError ||
    ((err as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' && !(err instanceof AddressDownError) &&
      !(err instanceof Error && err.name === 'AggregateError'))
}

function reasonOf(err: Error | null | undefined, connecting: boolean): string {
  if (err === null || err === undefined) return connecting ? 'connection closed before it was established' : 'connection closed'
  if (err instanceof KernelTimeoutError || (err as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    return connecting
      ? 'the kernel timed out the handshake (connect ETIMEDOUT)'
      : `kernel timeouts (ETIMEDOUT) on ${STREAK} established connections with no successful connect between them`
  }
  const code = (err as NodeJS.ErrnoException).code
  return `${connecting ? 'connect' : 'connection'} failed: ${code ?? err.name}`
}

/** What one socket has told the book so far. */
class Tracked {
  /** The address book's key for the address this socket is attempting now. */
  attempt: string | undefined = undefined
  address: string | undefined = undefined
  connected = false
  /** This socket's failure is already in the book (happy eyeballs reported the attempt). */
  reported = false
  constructor(readonly book: AddressBook, readonly port: number) {}
}

const kTracked = Symbol('stallguard.tracked')
type TrackedSocket = net.Socket & { [kTracked]: Tracked }

/**
 * Report this socket's connect and its end to `book`. `port`: the port it
 * connects to. The listeners are shared module functions that find their
 * state on the socket: a new connection allocates one object here, not a
 * closure per event (this runs for every connection an agent opens).
 */
export function trackSocket(book: AddressBook, socket: unknown, port: number): void {
  if (!(socket instanceof net.Socket) || (socket as Partial<TrackedSocket>)[kTracked] !== undefined) return
  ;(socket as TrackedSocket)[kTracked] = new Tracked(book, port)
  socket.on('connectionAttempt', onAttempt)
  socket.on('connectionAttemptTimeout', onAttemptTimeout)
  socket.on('connectionAttemptFailed', onAttemptFailed)
  // 'connect' and 'close' come once per connection: `on`, not `once` (no wrapper per socket).
  socket.on('connect', onConnect)
  socket.on('close', onClose)
}

function onAttempt(this: TrackedSocket, ip: string): void {
  const t = this[kTracked]
  t.address = ip
  t.reported = false
  t.attempt = t.book.attempting(this, t.attempt, ip, t.port)
}

// Happy eyeballs gave up on one address and tries the next: a probe that
// did not answer in time has failed; otherwise it counts towards the
// streak (a successful connect to the address clears it), so an address
// that goes dark between connects stops costing every new connection an
// attempt timeout.
function onAttemptTimeout(this: TrackedSocket, ip: string): void {
  const t = this[kTracked]
  t.reported = true
  const err = Object.assign(new Error(`connect attempt to ${ip}:${t.port} unanswered within the attempt timeout`), { code: 'ETIMEDOUT', syscall: 'connect' })
  t.book.failed(ip, t.port, err, { connecting: false, kernel: true, reason: `${STREAK} connect attempts unanswered within the happy-eyeballs attempt timeout` })
}

function onAttemptFailed(this: TrackedSocket, ip: string, _port: number, _family: number, err: Error): void {
  const t = this[kTracked]
  t.reported = true
  t.book.failed(ip, t.port, err, { connecting: true, kernel: kernelTimeout(err), reason: reasonOf(err, true) })
}

function onConnect(this: TrackedSocket): void {
  const t = this[kTracked]
  t.connected = true
  t.reported = false
  t.attempt = t.book.attempting(this, t.attempt, undefined, t.port)
  t.address = this.remoteAddress ?? t.address
  if (t.address !== undefined) t.book.connected(t.address, t.port)
}

function onClose(this: TrackedSocket): void {
  const t = this[kTracked]
  t.attempt = t.book.attempting(this, t.attempt, undefined, t.port)
  const err = this.errored
  if (t.address === undefined || t.reported || err instanceof AddressDownError) return
  if (!t.connected) {
    t.book.failed(t.address, t.port, err ?? new Error('closed while connecting'), { connecting: true, kernel: kernelTimeout(err), reason: reasonOf(err, true) })
  } else if (err !== null && kernelTimeout(err)) {
    t.book.failed(t.address, t.port, err, { connecting: false, kernel: true, reason: reasonOf(err, false) })
  }
}
