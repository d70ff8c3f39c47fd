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

/** Report this socket's connect and its end to `book`. `port`: the port it connects to. */
export function trackSocket(book: AddressBook, socket: unknown, port: number): void {
  if (!(socket instanceof net.Socket)) return
  let attempt: string | undefined
  let address: string | undefined
  let connected = false
  let reported = false
  socket.on('connectionAttempt', (ip: string) => {
    address = ip
    reported = false
    attempt = book.attempting(socket, attempt, ip, port)
  })
  // Happy eyeballs gave up on one address and tries the next: a probe that
  // did not answer in time has failed; otherwise it counts towards the
  // streak (a successful connect to the address clears it), so an address
  // that goes dark between connects stops costing every new connection an
  // attempt timeout.
  socket.on('connectionAttemptTimeout', (ip: string) => {
    reported = true
    const err = Object.assign(new Error(`connect attempt to ${ip}:${port} unanswered within the attempt timeout`), { code: 'ETIMEDOUT', syscall: 'connect' })
    book.failed(ip, port, err, { connecting: false, kernel: true, reason: `${STREAK} connect attempts unanswered within the happy-eyeballs attempt timeout` })
  })
  socket.on('connectionAttemptFailed', (ip: string, _port: number, _family: number, err: Error) => {
    reported = true
    book.failed(ip, port, err, { connecting: true, kernel: kernelTimeout(err), reason: reasonOf(err, true) })
  })
  socket.once('connect', () => {
    connected = true
    reported = false
    attempt = book.attempting(socket, attempt, undefined, port)
    address = socket.remoteAddress ?? address
    if (address !== undefined) book.connected(address, port)
  })
  socket.once('close', () => {
    attempt = book.attempting(socket, attempt, undefined, port)
    const err = socket.errored
    if (address === undefined || reported || err instanceof AddressDownError) return
    if (!connected) {
      book.failed(address, port, err ?? new Error('closed while connecting'), { connecting: true, kernel: kernelTimeout(err), reason: reasonOf(err, true) })
    } else if (err !== null && kernelTimeout(err)) {
      book.failed(address, port, err, { connecting: false, kernel: true, reason: reasonOf(err, false) })
    }
  })
}
