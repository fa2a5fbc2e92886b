import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { MetaValue } from './values.js';

export type { MetaValue } from './values.js';

/** `InvalidSidecar`: a sidecar file that is not flat JSON metadata; `InvalidMetadata`: a schema problem. */
export class MetadataError extends Error {
  override name = 'MetadataError';
  constructor(
    message: string,
    readonly code: 'InvalidSidecar' | 'InvalidMetadata',
  ) {
    super(message);
  }
}

/** Later layers win, e.g. [batch --meta, manifest meta, sidecar]. */
export function mergeMetadata(layers: Array<Record<string, MetaValue> | undefined>): Record<string, MetaValue> {
  return Object.assign({}, ...layers.filter((l) => l !== undefined)) as Record<string, MetaValue>;
}

/**
 * A sidecar's metadata, or undefined when the file has no sidecar. Rucio's JSON metadata is flat, so
 * nested objects and arrays are refused rather than silently flattened; null means "no value".
 */
export async function readSidecar(file: string): Promise<Record<string, MetaValue> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err; // e.g. EACCES or an unmounted file system: not the sidecar's content, may be retried
  }
  const invalid = (why: string) =>
    new MetadataError(`sidecar ${file} is not a JSON object of string/number/boolean values: ${why}`, 'InvalidSidecar');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`it holds ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}, not an object`);
  }
  const meta: Record<string, MetaValue> = {};
  const refused: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (v === null) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') meta[key] = v;
    else refused.push(`"${key}" is ${Array.isArray(v) ? 'an array' : 'an object'}`);
  }
  if (refused.length > 0) throw invalid(`${refused.join(', ')}; give flat values only`);
  return meta;
}

function describeViolation(e: ErrorObject): string {
  return `${e.instancePath || '(metadata)'} ${e.message ?? e.keyword}`;
}

/**
 * Compile a JSON Schema for file metadata. Draft-07 schemas (and those without `$schema`) use Ajv's
 * default class, 2020-12 schemas Ajv2020. Formats are not checked: no format library is bundled, and an
 * unknown format would otherwise refuse the whole schema. Unknown keywords are refused, so a misspelt
 * `requird` is reported instead of silently checking nothing.
 */
export function compileMetaSchema(
  schemaJson: unknown,
  source: string,
): (meta: Record<string, MetaValue>) => string | undefined {
  if (typeof schemaJson !== 'object' || schemaJson === null || Array.isArray(schemaJson)) {
    throw new MetadataError(`metadata schema ${source} is not a JSON Schema object`, 'InvalidMetadata');
  }
  const declared = (schemaJson as { $schema?: unknown }).$schema;
  // strictTypes off: `properties` without `type: object` is valid JSON Schema, and Ajv would log about it.
  const options = { allErrors: true, validateFormats: false, strictTypes: false };
  const ajv = typeof declared === 'string' && declared.includes('2020-12') ? new Ajv2020(options) : new Ajv(options);
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schemaJson);
  } catch (err) {
    throw new MetadataError(
      `metadata schema ${source} does not compile: ${(err as Error).message}; fix the schema`,
      'InvalidMetadata',
    );
  }
  return (meta) => (validate(meta) ? undefined : (validate.errors ?? []).map(describeViolation).join('; '));
}
