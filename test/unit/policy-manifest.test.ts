import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  manifestFormatOf,
  ManifestLineError,
  readManifest,
  validateManifest,
  type ManifestFormat,
} from '../../src/policy/manifest.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'policy-manifest-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function manifest(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

async function entriesOf(file: string, format?: ManifestFormat) {
  const out = [];
  for await (const item of readManifest(file, format)) out.push(item);
  return out;
}

async function lineErrorOf(file: string): Promise<ManifestLineError> {
  const err = await entriesOf(file).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ManifestLineError);
  return err as ManifestLineError;
}

describe('manifest format', () => {
  it('follows the extension', () => {
    expect(manifestFormatOf('a/m.jsonl')).toBe('jsonl');
    expect(manifestFormatOf('m.NDJSON')).toBe('jsonl');
    expect(manifestFormatOf('m.csv')).toBe('csv');
    expect(manifestFormatOf('m.txt')).toBeUndefined();
  });

  it('says how to fix an unknown extension or a missing file', async () => {
    await expect(entriesOf(path.join(dir, 'm.txt'))).rejects.toThrow(/name it \.jsonl, \.ndjson or \.csv/);
    await expect(entriesOf(path.join(dir, 'missing.csv'))).rejects.toThrow(
      /cannot read manifest .*missing\.csv: no such file/,
    );
  });
});

describe('JSON lines manifest', () => {
  it('reads entries with their line numbers, skipping blank lines', async () => {
    const file = await manifest(
      'ok.jsonl',
      '{"path": "a/x.dat"}\n\n  \r\n{"path": "b.dat", "name": "b", "dataset": "magic:n42", "meta": {"run": 7, "ok": true}}\r\n',
    );
    expect(await entriesOf(file)).toEqual([
      { line: 1, entry: { path: 'a/x.dat' } },
      { line: 4, entry: { path: 'b.dat', name: 'b', dataset: 'magic:n42', meta: { run: 7, ok: true } } },
    ]);
  });

  it('reports a bad line with the file and its line number', async () => {
    const file = await manifest('bad.jsonl', '{"path": "a"}\n{"path": "b",}\n');
    const err = await lineErrorOf(file);
    expect(err.line).toBe(2);
    expect(err.file).toBe(file);
    expect(err.message).toMatch(new RegExp(`^${file} line 2: not valid JSON`));
  });

  it('refuses an unknown key, naming it', async () => {
    const err = await lineErrorOf(await manifest('key.jsonl', '{"path": "a", "scope": "x"}\n'));
    expect(err.message).toMatch(/line 1: unknown key "scope" \(allowed: path, name, dataset, meta\)/);
  });

  it('says what is wrong with a field', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"name": "a"}', /path: missing/],
      ['{"path": 3}', /path: expected a string/],
      ['{"path": "a", "dataset": "nocolon"}', /dataset: "nocolon" is not SCOPE:NAME/],
      ['{"path": "a", "meta": {"x": [1]}}', /meta\.x: expected a string, number or boolean/],
      ['["a"]', /expected a JSON object/],
    ];
    for (const [line, message] of cases) {
      expect((await lineErrorOf(await manifest('field.jsonl', `${line}\n`))).message).toMatch(message);
    }
  });

  it('validates the whole file: first errors and the total count', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? '{"path": 1}' : `{"path": "f${i}"}`));
    const file = await manifest('many.jsonl', `${lines.join('\n')}\n`);
    const report = await validateManifest(file, undefined, 5);
    expect(report.lines).toBe(30);
    expect(report.errorCount).toBe(10);
    expect(report.errors.map((e) => e.line)).toEqual([1, 4, 7, 10, 13]);
  });
});

describe('CSV manifest', () => {
  it('reads path, name and dataset columns; other columns become typed metadata', async () => {
    const file = await manifest(
      'ok.csv',
      'path,name,dataset,run,night,good,note\n' +
        'a/x.dat,,,4711,007,true,\n' +
        '"dir,with comma/y.dat",y,magic:n42,1.5,2021_12_06,false,"say ""hi"""\n',
    );
    expect(await entriesOf(file)).toEqual([
      { line: 2, entry: { path: 'a/x.dat', meta: { run: 4711, night: '007', good: true } } },
      {
        line: 3,
        entry: {
          path: 'dir,with comma/y.dat',
          name: 'y',
          dataset: 'magic:n42',
          meta: { run: 1.5, night: '2021_12_06', good: false, note: 'say "hi"' },
        },
      },
    ]);
  });

  it('counts lines across blank lines, CRLF and quoted line breaks', async () => {
    const file = await manifest('lines.csv', '\ufeffpath,note\r\na,1\r\n\r\nb,"two\r\nlines"\r\nc,3\r\nd,4,extra\r\n');
    const report = await validateManifest(file);
    expect(report.errors.map((e) => e.message)).toEqual([
      `${file} line 7: has 3 fields, the header has 2: quote a value that contains a comma`,
    ]);
    const good = [];
    for await (const { line, entry } of readManifest(
      await manifest('lines2.csv', '\ufeffpath,note\r\na,1\r\n\r\nb,"two\r\nlines"\r\nc,3\r\n'),
    )) {
      good.push([line, entry.path]);
    }
    expect(good).toEqual([
      [2, 'a'],
      [4, 'b'],
      [6, 'c'],
    ]);
  });

  it('needs a header with a path column', async () => {
    const err = await lineErrorOf(await manifest('nohead.csv', 'file,run\na,1\n'));
    expect(err.line).toBe(1);
    expect(err.message).toMatch(/has no "path" column/);
  });

  it('reports an unclosed quote at the line where the record starts, after the good lines', async () => {
    const file = await manifest('quote.csv', 'path\na\nb\n"c\nd\n');
    const report = await validateManifest(file);
    expect(report.lines).toBe(3);
    expect(report.errors.map((e) => e.line)).toEqual([4]);
    expect(report.errors[0]!.message).toMatch(/cannot be read as CSV: Quote Not Closed/);
  });

  it('refuses an empty path and a bad dataset', async () => {
    const report = await validateManifest(await manifest('cells.csv', 'path,dataset\n,magic:a\nb,nocolon\n'));
    expect(report.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/line 2: path is empty/),
      expect.stringMatching(/line 3: dataset: "nocolon" is not SCOPE:NAME/),
    ]);
  });

  it('streams a large manifest', async () => {
    const rows = Array.from({ length: 50_000 }, (_, i) => `d/f${i}.dat,${i}`);
    const file = await manifest('big.csv', `path,run\n${rows.join('\n')}\n`);
    const report = await validateManifest(file);
    expect(report).toMatchObject({ lines: 50_000, errorCount: 0 });
  });
});
