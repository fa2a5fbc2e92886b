/**
 * Servers compute a digest by reading the whole object before they answer (XRootD caches it afterwards):
 * give big files time. 10 minutes covers ~100 GB at disk speed.
 */
export const digestLookupTimeoutMs = 10 * 60_000;

/**
 * How long to wait for a digest of an object of `bytes` (unknown: the 10-minute ceiling): `baseMs` (a minute
 * by default), plus time to read it at 20 MB/s. A digest request lost in a busy server's checksum queue is
 * then retried in a minute or two, not after ten. The WebDAV adapter waits a first time with a 5 s base
 * and resends once with the default: XRootD 5.5.3 here sometimes takes a request in and never serves it
 * (once a minute lost, then the activity's retry; with a 20 s first wait, one file of 500 lost 40 s and set
 * the batch's end), while it answers a 1 MiB digest in milliseconds, and a server that queues digests
 * ("Bridge delaying request 30 sec") still answers the resent one within its longer wait.
 */
export function digestTimeoutFor(bytes?: number, baseMs = 60_000): number {
  if (bytes === undefined) return digestLookupTimeoutMs;
  return Math.min(digestLookupTimeoutMs, baseMs + Math.ceil(bytes / 20_000));
}
