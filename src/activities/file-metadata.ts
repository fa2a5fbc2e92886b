import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { compileMetaSchema, mergeMetadata, MetadataError, readSidecar, type MetaValue } from '../policy/metadata.js';
import { permanent } from './failures.js';

export interface MetaInputs {
  metadata?: Record<string, MetaValue>;
  metaSidecarSuffix?: string;
  metaSchema?: { path: string; sha256: string };
}

type Validator = (meta: Record<string, MetaValue>) => string | undefined;

/** Compiled schemas by content digest: a batch's files share one, compiled once per worker. */
const validators = new Map<string, Validator>();

async function validatorFor(schema: { path: string; sha256: string }): Promise<Validator> {
  const known = validators.get(schema.sha256);
  if (known) return known;
  const text = await fs.readFile(schema.path).catch((err: NodeJS.ErrnoException): never => {
    // Retried: a shared file system not mounted yet on this host is fixed without failing the file.
    throw new Error(`metadata schema ${schema.path} cannot be read on this worker (${err.code ?? err.message})`);
  });
  const digest = createHash('sha256').update(text).digest('hex');
  if (digest !== schema.sha256)
    throw permanent(
      `metadata schema ${schema.path} changed since the batch was planned: plan it again with the new schema`,
      'InvalidMetadata',
    );
  const validate = compileMetaSchema(JSON.parse(text.toString('utf8')) as unknown, schema.path);
  validators.set(schema.sha256, validate);
  return validate;
}

/**
 * The file's final metadata — the request's, merged with its sidecar's — checked against the schema.
 * Undefined when there is neither sidecar nor schema: the request's metadata stands as it was.
 */
export async function fileMetadata(
  input: MetaInputs,
  sourcePath: string,
): Promise<Record<string, MetaValue> | undefined> {
  if (!input.metaSidecarSuffix && !input.metaSchema) return undefined;
  try {
    const sidecar = input.metaSidecarSuffix ? await readSidecar(`${sourcePath}${input.metaSidecarSuffix}`) : undefined;
    const merged = mergeMetadata([input.metadata, sidecar]);
    if (input.metaSchema) {
      const problem = (await validatorFor(input.metaSchema))(merged);
      if (problem) throw new MetadataError(`metadata of ${sourcePath} fails the schema: ${problem}`, 'InvalidMetadata');
    }
    return merged;
  } catch (err) {
    if (err instanceof MetadataError)
      throw permanent(`${err.message}; fix it, then rucio-ingest batch retry`, err.code);
    throw err;
  }
}
