// A doubly linked list that hands back the entry it made, so removing is
// O(1) without hashing. Used for the requests in flight and on the clock:
// a Set costs measurably more per request here: it gives every
// short-lived object an identity hash and churns its table.

export interface Entry<T> {
  readonly item: T
  prev: Entry<T> | null
  next: Entry<T> | null
  /** Still in the list (removing twice is harmless). */
  linked: boolean
}

export class List<T> {
  #head: Entry<T> | null = null
  #tail: Entry<T> | null = null
  #size = 0

  get size(): number {
    return this.#size
  }

  /** Append `item` (oldest first) and return its entry, for remove(). */
  add(item: T): Entry<T> {
    const entry: Entry<T> = { item, prev: this.#tail, next: null, linked: true }
    if (this.#tail === null) this.#head = entry
    else this.#tail.next = entry
    this.#tail = entry
    this.#size++
    return entry
  }

  remove(entry: Entry<T>): void {
    if (!entry.linked) return
    entry.linked = false
    if (entry.prev === null) this.#head = entry.next
    else entry.prev.next = entry.next
    if (entry.next === null) this.#tail = entry.prev
    else entry.next.prev = entry.prev
    this.#size--
    // `next` is kept so that an iteration standing on this entry can move on.
    entry.prev = null
  }

  /** Oldest first. Removing the current entry (or any other) while iterating is safe. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let entry = this.#head; entry !== null; entry = nextLinked(entry)) {
      if (entry.linked) yield entry.item
    }
  }
}

/** The entry after `entry`, skipping entries removed since `entry` was reached. */
function nextLinked<T>(entry: Entry<T>): Entry<T> | null {
  let next = entry.next
  while (next !== null && !next.linked) next = next.next
  return next
}
