// "Did you mean …?" for names: env vars, option keys, CLI commands. One
// distance, one rule per caller for how close is close.

/** Edit distance with adjacent transpositions counted as one edit (`tpc` → `tcp`). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i])
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = best
    }
  }
  return rows[a.length]![b.length]!
}

/**
 * The candidate closest to `name` within `limit(candidate)` edits, compared
 * case-insensitively; undefined when none is that close.
 */
export function closest<T extends string>(name: string, candidates: readonly T[], limit: (candidate: T) => number): T | undefined {
  let best: T | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance && distance <= limit(candidate)) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/**
 * How many edits away from one of our names a key may be to count as a typo
 * of it: 1 for the short names (`tcp` must not catch undici's `tls`), a
 * third of the length for the long ones (`deadlin`, `minThroughPut`). Any
 * name further away is undici's or Node's business: their option lists are
 * theirs, and they change.
 */
const typoLimit = (name: string): number => Math.max(1, Math.floor(name.length / 3))

/** The option of ours `key` is probably a typo of, or undefined. */
export function typoOf(key: string, ours: readonly string[]): string | undefined {
  if (ours.includes(key)) return undefined
  return closest(key, ours, typoLimit)
}

/** "…; did you mean x?" for an unknown key of an object whose every key is ours. */
export function unknownKeyHint(key: string, ours: readonly string[]): string {
  const meant = typoOf(key, ours)
  return meant === undefined ? '' : `; did you mean ${meant}?`
}
