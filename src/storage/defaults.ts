/**
 * Servers compute a digest by reading the whole object before they answer (XRootD caches it afterwards):
 * give big files time. 10 minutes covers ~100 GB at disk speed.
 */
export const digestLookupTimeoutMs = 10 * 60_000;
