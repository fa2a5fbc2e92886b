import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { parseDidReference } from './values.js';
import type { ManifestEntry, ManifestLine } from './manifest-entry.js';

const datasetReference = z.string({ error: 'expected a string SCOPE:NAME' }).superRefine((text, ctx) => {
  const did = parseDidReference(text);
  if (typeof did === 'string') ctx.addIssue({ code: 'custom', message: did });
});

const entrySchema = z.strictObject({
  path: z
    .string({ error: (issue) => (issue.input === undefined ? 'missing: every line needs one' : 'expected a string') })
    .min(1, 'is empty'),
  name: z.string({ error: 'expected a string' }).min(1, 'is empty').optional(),
  dataset: datasetReference.optional(),
  meta: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]), {
      error: 'expected an object of string, number or boolean values',
    })
    .optional(),
});
const allowedKeys = Object.keys(entrySchema.shape).join(', ');

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (allowed: ${allowedKeys})`;
      }
      if (issue.code === 'invalid_union') return `${issue.path.join('.')}: expected a string, number or boolean`;
      return `${issue.path.join('.')}: ${issue.message}`;
    })
    .join('; ');
}

export function parseJsonLine(text: string): ManifestEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not valid JSON (${(err as Error).message})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'expected a JSON object such as {"path": "dir/file.dat"}';
  }
  const r = entrySchema.safeParse(value);
  return r.success ? r.data : describeIssues(r.error);
}

/** One line at a time: readline holds only the current line, whatever the size of the file. */
export async function* readJsonLines(input: Readable): AsyncGenerator<ManifestLine> {
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    const entry = parseJsonLine(text);
    yield typeof entry === 'string' ? { line, problem: entry } : { line, entry };
  }
}
