/**
 * Command lines the CLI prints as hints ("sign with: dagtuf sign --dir D
 * --draft ID --key KEYFILE"): every word the user's shell would split or
 * expand is single-quoted, so a hint runs as printed (issue 14). Words in
 * capitals such as KEYFILE are placeholders the user replaces.
 */

/** A word safe to print bare in a POSIX shell: nothing the shell splits, expands or quotes. */
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/

/** `word` as one POSIX shell word: bare when safe, else single-quoted. */
export function shellQuote (word: string): string {
  if (BARE.test(word)) return word
  return `'${word.replaceAll("'", "'\\''")}'`
}

/** `dagtuf` followed by the given words, each quoted for the shell. */
export function dagtufCommand (...words: readonly string[]): string {
  return ['dagtuf', ...words.map(shellQuote)].join(' ')
}
