// Every address book in this process, weakly held, so the in-flight dump
// (STALLGUARD_DUMP_SIGNAL) can list the down addresses of every agent
// without keeping a closed agent's book alive.
import { formatEndpoint } from '../diagnostics/endpoint'
import type { AddressBook, DownAddress } from './address-book'

const books = new Set<WeakRef<AddressBook>>()
const cleanup = new FinalizationRegistry<WeakRef<AddressBook>>((ref) => books.delete(ref))

export function registerBook(book: AddressBook): void {
  const ref = new WeakRef(book)
  books.add(ref)
  cleanup.register(book, ref)
}

/** Down addresses of every agent and connector in this process. */
export function downAddresses(): DownAddress[] {
  const list: DownAddress[] = []
  for (const ref of books) list.push(...(ref.deref()?.down() ?? []))
  return list
}

/** Lines for the dump; empty when nothing is down. */
export function formatDownAddresses(list: DownAddress[]): string {
  if (list.length === 0) return ''
  const lines = list.map((d) => `  ${formatEndpoint(d.address, d.port)} ${d.state} since ${new Date(d.since).toISOString()}: ` +
    `${d.reason}${d.state === 'down' ? `; probe in ${d.probeIn} ms` : ''}`)
  return `stallguard: ${list.length} address${list.length === 1 ? '' : 'es'} down\n${lines.join('\n')}\n`
}
