/**
 * The request itself is wrong (a bad option, a name clash, a manifest line that does not parse) and nothing
 * started: exit code 2, so a script tells it from files that failed (1).
 */
export class RequestError extends Error {
  override name = 'RequestError';
}

/** A whole number from `min` to `max` given as option `what` (`dflt` when absent), else a RequestError. */
export function wholeNumberIn(
  v: string | number | undefined,
  what: string,
  min: number,
  max: number,
  dflt: number,
): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new RequestError(`${what} ${v}: expected a whole number from ${min} to ${max}`);
  return n;
}

/** `what`: the first `max` problems and how many there are in all. */
export function listProblems(what: string, problems: string[], count: number, max = 20): string {
  const more = count > problems.length ? `\n  ... and ${count - problems.length} more` : '';
  return `${count} ${what}:\n${problems
    .slice(0, max)
    .map((p) => `  ${p}`)
    .join('\n')}${more}`;
}
