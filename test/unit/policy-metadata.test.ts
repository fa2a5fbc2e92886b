import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileMetaSchema, mergeMetadata, MetadataError, readSidecar } from '../../src/policy/metadata.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'policy-metadata-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sidecar(text: string): Promise<string> {
  const file = path.join(dir, 'f.dat.meta');
  await writeFile(file, text);
  return file;
}

async function sidecarError(text: string): Promise<MetadataError> {
  const err = await readSidecar(await sidecar(text)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MetadataError);
  expect((err as MetadataError).code).toBe('InvalidSidecar');
  return err as MetadataError;
}

describe('mergeMetadata', () => {
  it('lets later layers win and skips missing ones', () => {
    expect(mergeMetadata([{ a: 1, b: 'x' }, undefined, { b: 'y', c: true }])).toEqual({ a: 1, b: 'y', c: true });
    expect(mergeMetadata([])).toEqual({});
  });
});

describe('readSidecar', () => {
  it('reads flat values and drops nulls', async () => {
    expect(await readSidecar(await sidecar('{"run": 4711, "source": "Crab", "ok": true, "gone": null}'))).toEqual({
      run: 4711,
      source: 'Crab',
      ok: true,
    });
  });

  it('is undefined when the file has no sidecar', async () => {
    expect(await readSidecar(path.join(dir, 'missing.meta'))).toBeUndefined();
  });

  it('refuses what is not a JSON object, naming the file', async () => {
    const file = path.join(dir, 'f.dat.meta');
    expect((await sidecarError('{"run": ')).message).toMatch(
      new RegExp(`^sidecar ${file} is not a JSON object of string/number/boolean values: not valid JSON`),
    );
    expect((await sidecarError('[1, 2]')).message).toMatch(/holds an array, not an object/);
  });

  it('refuses nested objects and arrays, naming their keys', async () => {
    expect((await sidecarError('{"a": {"b": 1}, "c": [1], "d": 2}')).message).toMatch(
      /"a" is an object, "c" is an array; give flat values only/,
    );
  });
});

describe('compileMetaSchema', () => {
  const schema = {
    type: 'object',
    required: ['run', 'telescope'],
    properties: { run: { type: 'integer', minimum: 1 }, telescope: { enum: ['M1', 'M2'] } },
  };

  it('accepts valid metadata and lists every violation on one line', () => {
    const validate = compileMetaSchema(schema, 'magic.json');
    expect(validate({ run: 4711, telescope: 'M1' })).toBeUndefined();
    expect(validate({ run: 0, telescope: 'M3' })).toBe(
      '/run must be >= 1; /telescope must be equal to one of the allowed values',
    );
    expect(validate({})).toMatch(
      /\(metadata\) must have required property 'run'; \(metadata\) must have required property 'telescope'/,
    );
  });

  it('understands draft 2020-12 schemas', () => {
    const validate = compileMetaSchema(
      { $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema },
      'magic-2020.json',
    );
    expect(validate({ run: 'x', telescope: 'M2' })).toBe('/run must be integer');
  });

  it('accepts formats without checking them (no format library is bundled)', () => {
    const validate = compileMetaSchema({ properties: { taken: { type: 'string', format: 'date-time' } } }, 'f.json');
    expect(validate({ taken: 'yesterday' })).toBeUndefined();
  });

  it('throws for a schema that does not compile, naming its source', () => {
    const bad = () =>
      compileMetaSchema({ type: 'object', properties: { run: { type: 'integr' } } }, 'schemas/magic.json');
    expect(bad).toThrow(MetadataError);
    expect(bad).toThrow(/metadata schema schemas\/magic\.json does not compile: .*fix the schema/);
    expect(() => compileMetaSchema({ requird: ['run'] }, 'typo.json')).toThrow(/unknown keyword: "requird"/);
    expect(() => compileMetaSchema([], 'list.json')).toThrow(/list\.json is not a JSON Schema object/);
  });
});
