// What the address book learns from a socket: which address it attempts,
// whether the connect succeeded, how it ended. Listeners on the socket's
// connect-time events and its 'close' — nothing on the request path.
import net from 'node:net'
import { AddressDownError, KernelTimeoutError } from '../errors'
import { STREAK, type AddressBook, type Attempt } from './address-book'

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
class Tracked implements Attempt {
  /** The address attempted last (the one that connects: Node tries one at a time), then the connected one. */
  address: string | undefined = undefined
  connected = false
  /** This socket's failure is already in the book (happy eyeballs reported the attempt). */
  reported = false
  /** Node tries several addresses on this socket: the per-attempt listeners are on. */
  multiple = false
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
  // 'connect' and 'close' come once per connection: `on`, not `once` (no wrapper per socket).
  socket.on('connect', onConnect)
  socket.on('close', onClose)
}

function onAttempt(this: TrackedSocket, ip: string): void {
  const t = this[kTracked]
  // Node reports a failed or timed-out attempt separately only when it
  // tries several addresses (happy eyeballs, which sets this list before
  // its first attempt); a single attempt's failure reaches 'close'. So
  // these two listeners go only on sockets that can use them.
  if (!t.multiple && (this as { autoSelectFamilyAttemptedAddresses?: unknown }).autoSelectFamilyAttemptedAddresses !== undefined) {
    t.multiple = true
    this.on('connectionAttemptTimeout', onAttemptTimeout)
    this.on('connectionAttemptFailed', onAttemptFailed)
  }
  t.address = ip
  t.reported = false
  // A closed socket may connect() again: this attempt starts a new connection.
  t.connected = false
  t.book.attempting(this, t)
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
  t.book.attempting(this, undefined)
  // The attempt Node announced last is the one that connected (happy eyeballs
  // closes an attempt before it starts the next): no getpeername syscall
  // (~2 µs) unless the socket was tracked after its attempt began.
  t.address ??= this.remoteAddress
  if (t.address !== undefined) t.book.connected(t.address, t.port)
}

function onClose(this: TrackedSocket): void {
  const t = this[kTracked]
  // A connected socket left the book's connecting list at 'connect'.
  if (!t.connected) t.book.attempting(this, undefined)
  const err = this.errored
  if (t.address === undefined || t.reported || err instanceof AddressDownError) return
  if (!t.connected) {
    t.book.failed(t.address, t.port, err ?? new Error('closed while connecting'), { connecting: true, kernel: kernelTimeout(err), reason: reasonOf(err, true) })
  } else if (err !== null && kernelTimeout(err)) {
    t.book.failed(t.address, t.port, err, { connecting: false, kernel: true, reason: reasonOf(err, false) })
  }
}
