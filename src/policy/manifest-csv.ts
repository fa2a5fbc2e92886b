import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { parseDidReference, typedValue, type MetaValue } from './values.js';
import type { ManifestEntry, ManifestLine } from './manifest-entry.js';

interface RawRecord {
  fields: string[];
  /** Line the record starts on; a quoted field may span several lines. */
  line: number;
}

/** The header row names the columns: `path` is required, `name` and `dataset` are optional, the rest is metadata. */
function headerProblem(columns: string[]): string | undefined {
  if (columns.some((c) => c === '')) return 'the header row has an empty column name: name every column';
  const duplicate = columns.find((c, i) => columns.indexOf(c) !== i);
  if (duplicate !== undefined) return `the header row names column "${duplicate}" twice`;
  if (!columns.includes('path')) {
    return `the header row (${columns.join(',')}) has no "path" column: the first line must name the columns, one of them path`;
  }
  return undefined;
}

function entryOf(columns: string[], fields: string[]): ManifestEntry | string {
  if (fields.length !== columns.length) {
    return `has ${fields.length} fields, the header has ${columns.length}: quote a value that contains a comma`;
  }
  const entry: ManifestEntry = { path: '' };
  const meta: Record<string, MetaValue> = {};
  columns.forEach((column, i) => {
    const value = fields[i]!;
    if (column === 'path') entry.path = value;
    // An empty cell means "not given", so one CSV can mix rows with and without a value.
    else if (value === '') return;
    else if (column === 'name') entry.name = value;
    else if (column === 'dataset') entry.dataset = value;
    else meta[column] = typedValue(value);
  });
  if (entry.path === '') return 'path is empty';
  if (entry.dataset !== undefined) {
    const did = parseDidReference(entry.dataset);
    if (typeof did === 'string') return `dataset: ${did}`;
  }
  if (Object.keys(meta).length > 0) entry.meta = meta;
  return entry;
}

/**
 * Stream a CSV manifest. Records are taken from csv-parse's `on_record` hook as they are parsed, so a
 * file-level error (an unclosed quote) still comes after every record before it, in order.
 */
export async function* readCsv(input: Readable): AsyncGenerator<ManifestLine> {
  const parsed: RawRecord[] = [];
  let nextLine = 1;
  let failure: Error | undefined;
  // With `raw`, csv-parse hands each record over as { record, raw }.
  const parser = parse({
    bom: true,
    raw: true,
    relax_column_count: true, // a short or long row is reported per line instead of ending the file
    relax_quotes: true, // a quote inside an unquoted value is part of the value
    on_record: (({ record, raw }: { record: string[]; raw: string }) => {
      parsed.push({ fields: record, line: nextLine });
      // Counted from the raw text (csv-parse's own count drifts on quoted CRLF line breaks). The raw text
      // ends with the record delimiter, or part of it for CRLF: strip it, count the breaks inside quotes.
      nextLine += 1 + (raw.replace(/\r?\n?$/, '').match(/\r\n|\r|\n/g)?.length ?? 0);
      return null; // taken here: nothing is buffered on the readable side
    }) as (record: unknown) => null,
  });
  parser.on('error', (err: Error) => (failure ??= err));
  parser.resume();

  let columns: string[] | undefined;
  function* take(): Generator<ManifestLine> {
    for (const { fields, line } of parsed.splice(0)) {
      if (fields.length === 1 && fields[0] === '') continue; // a blank line
      if (!columns) {
        columns = fields.map((f) => f.trim());
        const problem = headerProblem(columns);
        if (problem) yield { line, problem, fatal: true };
        continue;
      }
      const entry = entryOf(columns, fields);
      yield typeof entry === 'string' ? { line, problem: entry } : { line, entry };
    }
  }

  for await (const chunk of input) {
    parser.write(chunk);
    for (const item of take()) {
      yield item;
      if ('fatal' in item) return;
    }
    if (failure) break;
  }
  if (!failure) {
    await new Promise<void>((resolve) => {
      parser.once('end', resolve);
      parser.once('error', () => resolve());
      parser.end();
    });
  }
  for (const item of take()) {
    yield item;
    if ('fatal' in item) return;
  }
  if (failure) yield { line: nextLine, problem: `cannot be read as CSV: ${failure.message}`, fatal: true };
}
