/** One URL path segment. Rucio names may contain `/`, which Flask routes take encoded. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
