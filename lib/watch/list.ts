// A doubly linked list that hands back the entry it made, so removing is
// O(1) without hashing. Used for the requests in flight and on the clock:
// a Set costs measurably more per request here: it gives every
// short-lived object an identity hash and churns its table.
//
// A removed entry keeps no pointer into the list. A young entry that an
// old (promoted) dead entry still pointed to would survive every scavenge
// — V8 treats old-to-young pointers as roots until the next full GC — and
// keep its request (handler, tracker, undici's Request) alive with it, and
// its own `next` the one after: a chain of finished requests promoted
// scavenge after scavenge. Measured on Node 24 + undici 8 with 16 keep-alive
// connections: half of new space survived each scavenge and requests cost
// ~50 % more CPU, until removal unlinked both ways (docs/benchmarks.md).

export interface Entry<T> {
  readonly item: T
  prev: Entry<T> | null
  next: Entry<T> | null
  /** Still in the list (removing twice is harmless). */
  linked: boolean
}

export class List<T> {
  private head: Entry<T> | null = null
  private tail: Entry<T> | null = null
  private count = 0

  get size(): number {
    return this.count
  }

  /** Append `item` (oldest first) and return its entry, for remove(). */
  add(item: T): Entry<T> {
    const entry: Entry<T> = { item, prev: this.tail, next: null, linked: true }
    if (this.tail === null) this.head = entry
    else this.tail.next = entry
    this.tail = entry
    this.count++
    return entry
  }

  remove(entry: Entry<T>): void {
    if (!entry.linked) return
    entry.linked = false
    if (entry.prev === null) this.head = entry.next
    else entry.prev.next = entry.next
    if (entry.next === null) this.tail = entry.prev
    else entry.next.prev = entry.prev
    this.count--
    entry.prev = null
    entry.next = null
  }

  /**
   * Oldest first, the items in the list when iteration starts. Removing any
   * entry while iterating is safe (a removed one is skipped if not reached
   * yet); items added meanwhile are not visited. The walk copies the entries
   * first, so removal can unlink them at once (see above): iteration is
   * rare (a clock tick, an in-flight dump), add/remove run per request.
   */
  *[Symbol.iterator](): IterableIterator<T> {
    const entries: Array<Entry<T>> = []
    for (let entry = this.head; entry !== null; entry = entry.next) entries.push(entry)
    for (const entry of entries) {
      if (entry.linked) yield entry.item
    }
  }
}
