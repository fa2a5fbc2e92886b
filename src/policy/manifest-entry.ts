import type { MetaValue } from './values.js';

/** One file named by a manifest: its path, and optionally its DID name, dataset and metadata. */
export interface ManifestEntry {
  path: string;
  name?: string;
  /** `SCOPE:NAME`. */
  dataset?: string;
  meta?: Record<string, MetaValue>;
}

/** What a format reader yields per manifest line: an entry, or what is wrong with the line. */
export type ManifestLine =
  | { line: number; entry: ManifestEntry }
  /** `fatal`: the rest of the file cannot be read (e.g. a CSV header without a path column). */
  | { line: number; problem: string; fatal?: boolean };
