import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { findBearerToken, findX509Files } from '../../src/shared/grid-credentials.js';
import { StorageAuth } from '../../src/storage/auth.js';
import { StorageError } from '../../src/storage/errors.js';
import { WebDavAdapter } from '../../src/storage/webdav.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-auth-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
};

describe('grid credential discovery', () => {
  it('finds the X.509 credential as grid tools do: proxy first, then certificate and key', () => {
    expect(findX509Files({ X509_USER_PROXY: '/p', X509_USER_CERT: '/c', X509_USER_KEY: '/k' })).toEqual({
      cert: '/p',
      key: '/p',
    });
    const noDefaultProxy = !fs.existsSync(`/tmp/x509up_u${process.getuid!()}`);
    if (noDefaultProxy) {
      expect(findX509Files({ X509_USER_CERT: '/c', X509_USER_KEY: '/k' })).toEqual({ cert: '/c', key: '/k' });
      expect(findX509Files({})).toBeUndefined();
    }
  });

  it('finds a bearer token in $BEARER_TOKEN before $BEARER_TOKEN_FILE', () => {
    expect(findBearerToken({ BEARER_TOKEN: ' abc \n', BEARER_TOKEN_FILE: '/t' })).toEqual({ token: 'abc' });
    expect(findBearerToken({ BEARER_TOKEN_FILE: '/t' })).toEqual({ file: '/t' });
  });
});

describe('StorageAuth', () => {
  it('sends the token as Authorization, and for a third-party copy also as TransferHeaderAuthorization', () => {
    const auth = StorageAuth.fromEnv({ BEARER_TOKEN: 'tok-123' });
    expect(auth.headers()).toEqual({ Authorization: 'Bearer tok-123' });
    expect(auth.headers(true)).toEqual({
      Authorization: 'Bearer tok-123',
      TransferHeaderAuthorization: 'Bearer tok-123',
    });
    expect(StorageAuth.none().headers(true)).toEqual({});
  });

  it('names where credentials come from, never the secret itself', () => {
    const tokenFile = file('bt', 'secret-token-value\n');
    const auth = new StorageAuth({ cert: '/tmp/x509up_u1', key: '/tmp/x509up_u1' }, { file: tokenFile });
    expect(auth.describe()).toBe(`x509 proxy /tmp/x509up_u1, bearer token ${tokenFile}`);
    expect(JSON.stringify({ auth })).not.toContain('secret-token-value');
    const fromEnv = StorageAuth.fromEnv({ BEARER_TOKEN: 'zzz-secret' });
    expect(fromEnv.describe()).toBe('bearer token ($BEARER_TOKEN)');
    expect(inspect(fromEnv, { depth: 5 })).not.toContain('zzz-secret');
    expect(inspect(new WebDavAdapter({ auth: fromEnv }), { depth: 5 })).not.toContain('zzz-secret');
    expect(StorageAuth.none().describe()).toBe('anonymous');
  });

  it('reads a renewed token file and a renewed proxy again', () => {
    const tokenFile = file('bt2', 'first\n');
    const proxy = file('proxy', 'cert-and-key-1');
    const auth = new StorageAuth({ cert: proxy, key: proxy }, { file: tokenFile }, 0);
    expect(auth.token()).toBe('first');
    const v1 = auth.tlsIdentity()!.version;
    const later = new Date(Date.now() + 60_000);
    fs.writeFileSync(tokenFile, 'second\n');
    fs.utimesSync(tokenFile, later, later);
    fs.writeFileSync(proxy, 'cert-and-key-2');
    fs.utimesSync(proxy, later, later);
    expect(auth.token()).toBe('second');
    expect(auth.tlsIdentity()!.version).not.toBe(v1);
    expect(auth.tlsIdentity()!.cert.toString()).toBe('cert-and-key-2');
  });

  it('a missing credential file is a permanent error saying what to renew', () => {
    const auth = new StorageAuth({ cert: path.join(tmp, 'no-proxy'), key: path.join(tmp, 'no-proxy') });
    let err: unknown;
    try {
      auth.tlsIdentity();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).kind).toBe('permanent');
    expect((err as StorageError).message).toMatch(/ENOENT\. Renew the proxy \(voms-proxy-init\)/);
  });
});
