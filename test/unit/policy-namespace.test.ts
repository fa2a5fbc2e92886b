import { describe, expect, it } from 'vitest';
import {
  compileNamespace,
  NamespaceError,
  validateNamespaceOptions,
  type NamespaceOptions,
} from '../../src/policy/namespace.js';

const magicPath = 'RAW_M1/UrsaMinor/2021_12_06/05039477/20211215_M1_05010894.015_D_1ES2344+514-W0.40=270.raw.gz';
const magicFile = '20211215_M1_05010894.015_D_1ES2344_514-W0.40_270.raw.gz';
const tree: NamespaceOptions = { scope: 'magic', layout: 'tree', nameRule: 'sanitize' };

describe('flat layout', () => {
  const flat: NamespaceOptions = {
    scope: 'magic',
    layout: 'flat',
    nameRule: 'keep',
    dataset: 'magic:night-42',
    containers: ['magic:all', 'magic:2021'],
  };

  it('names a file by its base name in the given dataset and containers', () => {
    expect(compileNamespace(flat)('a/b/run_0001.fits')).toEqual({
      did: { scope: 'magic', name: 'run_0001.fits' },
      dataset: { scope: 'magic', name: 'night-42' },
      containers: [
        { scope: 'magic', name: 'all' },
        { scope: 'magic', name: '2021' },
      ],
      metadata: {},
    });
  });

  it('sanitizes the base name and keeps the original file name', () => {
    const map = compileNamespace({ ...flat, nameRule: 'sanitize' });
    expect(map('x/a+b.dat')).toMatchObject({ did: { name: 'a_b.dat' }, metadata: { original_name: 'a+b.dat' } });
    expect(map('x/plain.dat').metadata).toEqual({});
  });

  it('refuses a name Rucio would refuse under keep, saying to sanitize', () => {
    expect(() => compileNamespace(flat)('x/a b.dat')).toThrow(NamespaceError);
    expect(() => compileNamespace(flat)('x/a b.dat')).toThrow(/x\/a b\.dat.*--name-rule sanitize/);
  });

  it('needs a dataset', () => {
    expect(validateNamespaceOptions({ ...flat, dataset: undefined })).toEqual([
      expect.stringMatching(/pass --dataset SCOPE:NAME/),
    ]);
  });
});

describe('tree layout', () => {
  it('mirrors the MAGIC tree: path as name, directory as dataset, directories above as containers', () => {
    expect(compileNamespace(tree)(magicPath)).toEqual({
      did: { scope: 'magic', name: `RAW_M1/UrsaMinor/2021_12_06/05039477/${magicFile}` },
      dataset: { scope: 'magic', name: 'RAW_M1/UrsaMinor/2021_12_06/05039477' },
      containers: [
        { scope: 'magic', name: 'RAW_M1' },
        { scope: 'magic', name: 'RAW_M1/UrsaMinor' },
        { scope: 'magic', name: 'RAW_M1/UrsaMinor/2021_12_06' },
      ],
      metadata: { original_name: magicPath },
    });
  });

  it('puts the name prefix before every name without adding a container', () => {
    const mapped = compileNamespace({ ...tree, namePrefix: 'night-42/' })(magicPath);
    expect(mapped.did.name).toBe(`night-42/RAW_M1/UrsaMinor/2021_12_06/05039477/${magicFile}`);
    expect(mapped.dataset.name).toBe('night-42/RAW_M1/UrsaMinor/2021_12_06/05039477');
    expect(mapped.containers.map((c) => c.name)).toEqual([
      'night-42/RAW_M1',
      'night-42/RAW_M1/UrsaMinor',
      'night-42/RAW_M1/UrsaMinor/2021_12_06',
    ]);
    // The prefix alone does not make the name differ from the file's: no original_name.
    expect(compileNamespace({ ...tree, namePrefix: 'n/' })('a/b.dat').metadata).toEqual({});
  });

  it('sanitizes directory names too', () => {
    const mapped = compileNamespace(tree)('run 1/.hidden/f.dat');
    expect(mapped.dataset.name).toBe('run_1/f.hidden');
    expect(mapped.containers).toEqual([{ scope: 'magic', name: 'run_1' }]);
  });

  it('puts top-level files into --dataset, or says to pass it', () => {
    expect(compileNamespace({ ...tree, dataset: 'magic:top' })('f.dat')).toMatchObject({
      did: { name: 'f.dat' },
      dataset: { scope: 'magic', name: 'top' },
      containers: [],
    });
    expect(() => compileNamespace(tree)('f.dat')).toThrow(/f\.dat is at the top of the tree.*pass --dataset/);
  });

  it('refuses a directory name Rucio would refuse under keep', () => {
    expect(() => compileNamespace({ ...tree, nameRule: 'keep' })('a=b/f.dat')).toThrow(/--name-rule sanitize/);
  });

  it('refuses relative paths that could leave the tree', () => {
    expect(() => compileNamespace(tree)('a/../f.dat')).toThrow(NamespaceError);
    expect(() => compileNamespace(tree)('/a/f.dat')).toThrow(NamespaceError);
  });

  it('refuses names longer than Rucio allows', () => {
    expect(() => compileNamespace(tree)(`${'d'.repeat(200)}/${'f'.repeat(60)}`)).toThrow(/Rucio allows 250/);
  });
});

describe('path pattern and templates', () => {
  const patterned: NamespaceOptions = {
    ...tree,
    pathPattern: 'RAW_(?<telescope>M[12])/(?<source>[^/]+)/(?<night>[^/]+)/(?<run>\\d+)/[^/]+',
    nameTemplate: '{telescope}/{run}/{file}',
    datasetTemplate: '{telescope}/{night}',
    containerTemplates: ['{telescope}', '{telescope}/{source}'],
    metaFromPath: ['telescope', 'run', 'night'],
  };

  it('names with templates and types path metadata, keeping leading zeros', () => {
    expect(compileNamespace(patterned)(magicPath)).toEqual({
      did: { scope: 'magic', name: `M1/05039477/${magicFile}` },
      dataset: { scope: 'magic', name: 'M1/2021_12_06' },
      containers: [
        { scope: 'magic', name: 'M1' },
        { scope: 'magic', name: 'M1/UrsaMinor' },
      ],
      metadata: { telescope: 'M1', run: '05039477', night: '2021_12_06', original_name: magicPath },
    });
  });

  it('makes canonical numbers numbers', () => {
    const map = compileNamespace({ ...tree, pathPattern: '(?<run>\\d+)/.*', metaFromPath: ['run'] });
    expect(map('4711/f.dat').metadata).toEqual({ run: 4711 });
    expect(map('007/f.dat').metadata).toEqual({ run: '007' });
  });

  it('refuses a path the pattern does not match', () => {
    expect(() => compileNamespace(patterned)('other/f.dat')).toThrow(/other\/f\.dat does not match --path-pattern/);
  });

  it('lists problems with the options themselves', () => {
    expect(validateNamespaceOptions(patterned)).toEqual([]);
    const problems = validateNamespaceOptions({
      scope: 'bad scope',
      layout: 'flat',
      nameRule: 'keep',
      pathPattern: '(?<a>x',
      nameTemplate: '{nope}/{file',
      metaFromPath: ['b'],
    });
    expect(problems).toEqual([
      expect.stringMatching(/--scope "bad scope"/),
      expect.stringMatching(/pass --dataset/),
      expect.stringMatching(/--path-pattern .* not a valid regular expression/),
      expect.stringMatching(/uses \{nope\}/),
      expect.stringMatching(/\{ or \}/),
      expect.stringMatching(/--meta-from-path b/),
    ]);
    expect(validateNamespaceOptions({ ...tree, pathPattern: '(?<file>.*)' })).toEqual([
      expect.stringMatching(/hides the builtin \{file\}/),
    ]);
    expect(validateNamespaceOptions({ ...tree, containers: ['magic:c'] })).toEqual([
      expect.stringMatching(/--container applies to the flat layout/),
    ]);
    expect(validateNamespaceOptions({ ...tree, containers: ['magic:c'], containerTemplates: ['{dir}'] })).toEqual([
      expect.stringMatching(/pass only one of them/),
    ]);
    expect(validateNamespaceOptions({ ...tree, dataset: 'nocolon' })).toEqual([expect.stringMatching(/SCOPE:NAME/)]);
    expect(() => compileNamespace({ ...tree, scope: '' })).toThrow(/invalid naming options: --scope/);
  });

  it('says which optional group matched nothing', () => {
    const map = compileNamespace({ ...tree, pathPattern: '(?<a>x/)?f.dat', nameTemplate: '{a}{file}' });
    expect(map('x/f.dat').did.name).toBe('x/f.dat');
    expect(() => map('f.dat')).toThrow(/needs \{a\}/);
  });
});
