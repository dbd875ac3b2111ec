/**
 * "Did you mean" for a mistyped command or option: the known names closest
 * to what was typed, by edit distance (insertions, deletions, substitutions
 * and swaps of two neighbouring characters each cost 1).
 */

/** The optimal-string-alignment distance between `a` and `b` (Damerau-Levenshtein without repeated edits of one substring). */
export function editDistance (a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = new Array<number>(rows * cols).fill(0)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1)
      d[i * cols + j] = v
    }
  }
  return d[rows * cols - 1]!
}

/**
 * The known names nearest to `typed` (all of those at the smallest distance,
 * in the order given), when that distance is small for the word's length:
 * at most 1 for words up to 5 characters, 2 up to 8, 3 beyond. Empty when
 * nothing is close; inputs longer than 64 characters get no suggestion.
 */
export function closest (typed: string, known: readonly string[]): string[] {
  if (typed.length === 0 || typed.length > 64) return []
  const limit = typed.length <= 5 ? 1 : typed.length <= 8 ? 2 : 3
  let best = limit + 1
  let out: string[] = []
  for (const k of new Set(known)) {
    const dist = editDistance(typed, k)
    if (dist < best) { best = dist; out = [k] } else if (dist === best) out.push(k)
  }
  return out
}

/** ` (did you mean X?)`, ` (did you mean X or Y?)`, or '' when nothing is close. */
export function didYouMean (typed: string, known: readonly string[], prefix = ''): string {
  const c = closest(typed, known).map((k) => prefix + k)
  if (c.length === 0) return ''
  return ` (did you mean ${c.length === 1 ? c[0]! : `${c.slice(0, -1).join(', ')} or ${c.at(-1)!}`}?)`
}
