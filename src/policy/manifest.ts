import { open } from 'node:fs/promises';
import path from 'node:path';
import { readCsv } from './manifest-csv.js';
import { readJsonLines } from './manifest-jsonl.js';
import type { ManifestEntry, ManifestLine } from './manifest-entry.js';

export type { ManifestEntry } from './manifest-entry.js';
export type ManifestFormat = 'jsonl' | 'csv';

/** A manifest line that cannot be read; the message is `<file> line <n>: <what is wrong>`. */
export class ManifestLineError extends Error {
  override name = 'ManifestLineError';
  constructor(
    readonly file: string,
    readonly line: number,
    problem: string,
  ) {
    super(`${file} line ${line}: ${problem}`);
  }
}

const formatByExtension: Record<string, ManifestFormat> = { '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv' };

export function manifestFormatOf(file: string): ManifestFormat | undefined {
  return formatByExtension[path.extname(file).toLowerCase()];
}

/** Every line of the manifest, good or bad, streamed; the file is closed however the caller stops. */
async function* manifestLines(file: string, format?: ManifestFormat): AsyncGenerator<ManifestLine> {
  const chosen = format ?? manifestFormatOf(file);
  if (!chosen) {
    throw new Error(`cannot tell the format of manifest ${file}: name it .jsonl, .ndjson or .csv, or give the format`);
  }
  // Opened first so a missing file is reported as such, not as a stream error mid-iteration.
  const handle = await open(file).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read manifest ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  const input = handle.createReadStream();
  try {
    yield* chosen === 'csv' ? readCsv(input) : readJsonLines(input);
  } finally {
    input.destroy();
  }
}

/** The manifest's entries in file order; throws ManifestLineError at the first line that cannot be read. */
export async function* readManifest(
  file: string,
  format?: ManifestFormat,
): AsyncGenerator<{ line: number; entry: ManifestEntry }> {
  for await (const item of manifestLines(file, format)) {
    if ('problem' in item) throw new ManifestLineError(file, item.line, item.problem);
    yield item;
  }
}

/** Read the whole manifest: how many lines hold an entry or a problem, the first `max` problems and their total. */
export async function validateManifest(
  file: string,
  format?: ManifestFormat,
  max = 20,
): Promise<{ lines: number; errors: ManifestLineError[]; errorCount: number }> {
  let lines = 0;
  let errorCount = 0;
  const errors: ManifestLineError[] = [];
  for await (const item of manifestLines(file, format)) {
    lines++;
    if (!('problem' in item)) continue;
    errorCount++;
    if (errors.length < max) errors.push(new ManifestLineError(file, item.line, item.problem));
  }
  return { lines, errors, errorCount };
}
