import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { adler32 } from 'hash-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { whoami } from '../../src/rucio/accounts.js';
import { getMetadata, setMetadata } from '../../src/rucio/dids.js';
import { addReplicas, listReplicas } from '../../src/rucio/replicas.js';
import { listRses } from '../../src/rucio/rses.js';
import { sandboxRucioClient } from '../../src/sandbox/bootstrap.js';

describe('Rucio server of the sandbox', () => {
  const rucio = sandboxRucioClient('ingest');
  afterAll(() => rucio.close());

  it('authenticates the ingest account with userpass', async () => {
    const me = await whoami(rucio);
    expect(me.account).toBe('ingest');
    expect(rucio.tokenExpiresAt).toBeGreaterThan(Date.now());
  });

  it('resolves QOS=SAFE to exactly SAFE-1 and SAFE-2', async () => {
    expect(await listRses(rucio, 'QOS=SAFE')).toEqual(['SAFE-1', 'SAFE-2']);
    expect(await listRses(rucio, 'QOS=CHEAP-ANALYSIS')).toEqual(['CHEAP-1']);
  });

  it('registers a replica whose custom metadata (JSON plugin) reads back', async () => {
    const data = randomBytes(1234);
    const file = {
      scope: 'user.demo',
      name: `basics-${randomUUID()}.dat`,
      bytes: data.length,
      adler32: await adler32(data),
      md5: createHash('md5').update(data).digest('hex'),
    };
    await addReplicas(rucio, 'LANDING-1', [file]);
    await setMetadata(rucio, file, 'telescope', 'LST-1');
    await setMetadata(rucio, file, 'zenith_deg', 23.5);

    const meta = await getMetadata(rucio, file, 'JSON');
    expect(meta).toMatchObject({ telescope: 'LST-1', zenith_deg: 23.5 });

    const replicas = [];
    for await (const r of listReplicas(rucio, [file])) replicas.push(r);
    expect(replicas).toHaveLength(1);
    expect(replicas[0]).toMatchObject({ bytes: 1234, adler32: file.adler32, md5: file.md5 });
    expect(Object.keys(replicas[0]!.rses)).toEqual(['LANDING-1']);
  });
});
