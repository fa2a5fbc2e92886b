/**
 * Servers compute a digest by reading the whole object before they answer (XRootD caches it afterwards):
 * give big files time. 10 minutes covers ~100 GB at disk speed.
 */
export const digestLookupTimeoutMs = 10 * 60_000;

/**
 * How long to wait for a digest of an object of `bytes` (unknown: the 10-minute ceiling): a minute, plus time
 * to read it at 20 MB/s. A digest request lost in a busy server's checksum queue is then retried in a minute
 * or two, not after ten.
 */
export function digestTimeoutFor(bytes?: number): number {
  if (bytes === undefined) return digestLookupTimeoutMs;
  return Math.min(digestLookupTimeoutMs, 60_000 + Math.ceil(bytes / 20_000));
}

/**
 * The first wait for a digest of `bytes`: 20 s plus time to read it at 20 MB/s. A request unanswered by
 * then is sent once more with `digestTimeoutFor`: XRootD 5.5.3 here sometimes took a request in and never
 * served it (a minute lost, then the activity's retry), while a server that queues digests
 * ("Bridge delaying request 30 sec") still answers the resent one within its longer wait.
 */
export function digestFirstTimeoutFor(bytes?: number): number {
  if (bytes === undefined) return digestLookupTimeoutMs;
  return Math.min(digestLookupTimeoutMs, 20_000 + Math.ceil(bytes / 20_000));
}
