import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile, ProfileError, type ProfileOptions } from '../../src/policy/profile.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'policy-profile-'));
  await mkdir(path.join(dir, 'magic'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function profile(text: string, name = 'profile.yaml'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

function errorOf(file: string): ProfileError {
  try {
    loadProfile(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ProfileError);
    return err as ProfileError;
  }
  throw new Error(`${file} loaded without error`);
}

describe('loadProfile', () => {
  it('reads a profile into camelCase options, resolving meta-schema next to the profile', async () => {
    const file = await profile(
      [
        '# MAGIC raw data',
        'scope: magic',
        'rse: LANDING-1',
        'qos:',
        '  - 2:QOS=SAFE',
        '  - 1:QOS=CHEAP-ANALYSIS,lifetime=86400',
        'mode: rucio',
        'delete-origin: true',
        'name-rule: sanitize',
        'layout: tree',
        'name-prefix: night-42/',
        'path-pattern: RAW_(?<telescope>M[12])/.*',
        'container-template: ["{telescope}"]',
        'meta-from-path: [telescope]',
        'meta:',
        '  telescope: M1',
        '  run: 05039477',
        '  zd: 40.5',
        '  calibrated: false',
        'meta-schema: schemas/magic.json',
        'heartbeat-timeout: 60',
        'rule-deadline: 172800',
        'concurrency: 200',
        'page-size: 500',
        'settle: 0',
        'require-sidecar: true',
      ].join('\n'),
      'magic/profile.yaml',
    );
    const options: ProfileOptions = loadProfile(file);
    expect(options).toEqual({
      scope: 'magic',
      rse: 'LANDING-1',
      qos: ['2:QOS=SAFE', '1:QOS=CHEAP-ANALYSIS,lifetime=86400'],
      mode: 'rucio',
      deleteOrigin: true,
      nameRule: 'sanitize',
      layout: 'tree',
      namePrefix: 'night-42/',
      pathPattern: 'RAW_(?<telescope>M[12])/.*',
      containerTemplate: ['{telescope}'],
      metaFromPath: ['telescope'],
      meta: { telescope: 'M1', run: '05039477', zd: 40.5, calibrated: false },
      metaSchema: path.join(dir, 'magic', 'schemas', 'magic.json'),
      heartbeatTimeout: 60,
      ruleDeadline: 172800,
      concurrency: 200,
      pageSize: 500,
      settle: 0,
      requireSidecar: true,
    });
  });

  it('accepts an empty profile', async () => {
    expect(loadProfile(await profile('# nothing yet\n'))).toEqual({});
  });

  it('names an unknown key and its line', async () => {
    const file = await profile('scope: magic\nrse: LANDING-1\n\nqoss:\n  - 2:QOS=SAFE\n');
    expect(errorOf(file).message).toBe(`${file} line 4: qoss: unknown option: check its spelling against --help`);
  });

  it('names a wrong type and the line of its key', async () => {
    const file = await profile('scope: magic\nrse: LANDING-1\nmode: direct\nqos: 2:QOS=SAFE\n');
    expect(errorOf(file).message).toBe(`${file} line 4: qos: expected a list of COPIES:EXPRESSION strings`);
  });

  it('points at the list item or mapping entry that is wrong', async () => {
    const file = await profile(
      'qos:\n  - 2:QOS=SAFE\n  - SAFE\nmeta:\n  run: 1\n  tags: [a, b]\nheartbeat-timeout: 1\n',
    );
    expect(errorOf(file).message.split('\n')).toEqual([
      `${file} line 3: qos[1]: expected COPIES:EXPRESSION, e.g. 2:QOS=SAFE or 1:QOS=CHEAP-ANALYSIS,lifetime=86400`,
      `${file} line 6: meta.tags: expected a string, number or boolean`,
      `${file} line 7: heartbeat-timeout: expected a whole number from 2 to 3600`,
    ]);
  });

  it('gives the line of a YAML syntax error', async () => {
    const file = await profile('scope: magic\nqos: [2:QOS=SAFE\nrse: LANDING-1\n');
    expect(errorOf(file).message).toMatch(new RegExp(`^${file} line 3: not valid YAML: `));
  });

  it('refuses a profile that is not a mapping and one that cannot be read', async () => {
    expect(errorOf(await profile('- scope\n')).message).toMatch(/expected a mapping of option: value/);
    expect(errorOf(path.join(dir, 'missing.yaml')).message).toMatch(/cannot read profile .*missing\.yaml/);
  });
});
