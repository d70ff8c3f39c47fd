// The resolver a guarded socket connects through: the caller's own `lookup`
// (or dns.lookup), asked every time as Node would — TTLs and changed address
// sets are the resolver's to honour, nothing is pinned here — then its
// answer reordered by the address book: healthy addresses first and spread,
// down ones left out. When every address is down it answers with the
// condemning error, and the socket fails at once instead of sending a SYN.
import dns, { type LookupAddress } from 'node:dns'
import type net from 'node:net'
import type { AddressBook } from './address-book'

type Lookup = NonNullable<net.TcpNetConnectOpts['lookup']>
type LookupOptions = dns.LookupOptions
type Callback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** A `lookup` for sockets to `port` that consults `book`. */
export function healthLookup(book: AddressBook, port: number, lookup: Lookup | undefined): Lookup {
  const resolve = (lookup ?? dns.lookup) as unknown as (host: string, options: LookupOptions, cb: Callback) => void
  return function stallguardLookup(hostname: string, options: LookupOptions, callback: Callback): void {
    // With `all` Node runs happy eyeballs over the list: one probe of a
    // cooled-down address may lead, Node moves on from it after its attempt
    // timeout. Without, only the first address is used: no probe while a
    // healthy one exists.
    const all = options.all === true
    resolve(hostname, { ...options, all: true }, (err, answer, family) => {
      if (err) {
        callback(err, all ? [] : '')
        return
      }
      // A custom lookup may ignore `all` and answer with one address.
      const list: LookupAddress[] = Array.isArray(answer) ? answer : [{ address: answer, family: family ?? 4 }]
      const ordered = book.order(list, port, all && list.length > 1)
      if (ordered instanceof Error) {
        callback(ordered as NodeJS.ErrnoException, all ? [] : '')
        return
      }
      if (all) callback(null, ordered)
      else callback(null, ordered[0]!.address, ordered[0]!.family)
    })
  } as unknown as Lookup
}
