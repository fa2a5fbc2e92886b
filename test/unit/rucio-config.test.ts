import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jwtExpiry, parseValidateAnswer } from '../../src/rucio/client.js';
import {
  describeRucioConfig,
  expandPath,
  findRucioConfigFile,
  loadCa,
  loadRucioConfig,
  parseRucioCfg,
} from '../../src/rucio/config.js';
import { classify } from '../../src/rucio/errors.js';
import { hashLfnPath } from '../../src/rucio/lfn2pfn.js';
import { normalizeAdler32 } from '../../src/rucio/replicas.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(rel: string, text: string): string {
  const f = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
  return f;
}

const basic = `# a comment
[client]
rucio_host = https://rucio.example.org
auth_host = https://rucio-auth.example.org:443
auth_type = userpass
account = alice
username = alice
password = se#cr;et%%1
ca_cert = /etc/grid-security/certificates
request_retries = 3
`;

describe('rucio.cfg parsing (configparser semantics)', () => {
  it('keeps # and ; inside values, unescapes %%, lowercases keys', () => {
    const cfg = parseRucioCfg(basic.replace('account =', 'ACCOUNT ='));
    expect(cfg.client).toMatchObject({ password: 'se#cr;et%1', account: 'alice', request_retries: '3' });
  });

  it('supports ":" separators, continuation lines, [DEFAULT] and %(key)s interpolation', () => {
    const cfg = parseRucioCfg(
      [
        '[DEFAULT]',
        'base = /opt/grid',
        '; comment',
        '[client]',
        'ca_cert: %(base)s/certificates',
        'account=bob',
        'long = first',
        '  second',
        '[other]',
        'x = 1',
      ].join('\n'),
    );
    expect(cfg.client).toEqual({
      base: '/opt/grid',
      ca_cert: '/opt/grid/certificates',
      account: 'bob',
      long: 'first\nsecond',
    });
    expect(cfg.other?.x).toBe('1');
    expect(cfg.DEFAULT).toBeUndefined();
  });

  it('refuses an unknown interpolation', () => {
    expect(() => parseRucioCfg('[client]\na = %(nope)s\n')).toThrow(/unknown option/);
  });
});

describe('finding rucio.cfg like the Python client', () => {
  const home = path.join(tmp, 'home');
  const venv = path.join(tmp, 'venv');
  write('home/etc/rucio.cfg', basic);
  write('venv/etc/rucio.cfg', basic);

  it('RUCIO_CONFIG wins, then $RUCIO_HOME/etc, then $VIRTUAL_ENV/etc', () => {
    expect(findRucioConfigFile({ RUCIO_CONFIG: '/x/y.cfg', RUCIO_HOME: home })).toBe('/x/y.cfg');
    expect(findRucioConfigFile({ RUCIO_HOME: home, VIRTUAL_ENV: venv })).toBe(path.join(home, 'etc', 'rucio.cfg'));
    expect(findRucioConfigFile({ RUCIO_HOME: path.join(tmp, 'nothing'), VIRTUAL_ENV: venv })).toBe(
      path.join(venv, 'etc', 'rucio.cfg'),
    );
  });

  it('reads [client] of the found file', () => {
    const cfg = loadRucioConfig({ RUCIO_HOME: home });
    expect(cfg).toMatchObject({
      rucioHost: 'https://rucio.example.org',
      authHost: 'https://rucio-auth.example.org:443',
      authType: 'userpass',
      account: 'alice',
      username: 'alice',
      password: 'se#cr;et%1',
      caCert: '/etc/grid-security/certificates',
      insecure: false,
      source: path.join(home, 'etc', 'rucio.cfg'),
    });
  });
});

describe('environment overrides', () => {
  const file = write('env/rucio.cfg', basic);

  it('applies RUCIO_* and X509_CERT_DIR over the file', () => {
    const cfg = loadRucioConfig({
      RUCIO_CONFIG: file,
      RUCIO_HOST: 'https://other.example.org',
      RUCIO_ACCOUNT: 'carol',
      RUCIO_VO: 'abc',
      RUCIO_AUTH_TYPE: 'x509',
      RUCIO_CLIENT_CERT: '~/usercert.pem',
      RUCIO_CLIENT_KEY: '$HOME/userkey.pem',
      X509_CERT_DIR: '/cvmfs/grid/etc/grid-security/certificates',
      HOME: '/home/carol',
    });
    expect(cfg).toMatchObject({
      rucioHost: 'https://other.example.org',
      authHost: 'https://rucio-auth.example.org:443',
      account: 'carol',
      vo: 'abc',
      authType: 'x509',
      clientCert: '/home/carol/usercert.pem',
      clientKey: '/home/carol/userkey.pem',
      caCert: '/cvmfs/grid/etc/grid-security/certificates',
    });
  });

  it('auth_host defaults to rucio_host; bearer tokens come from BEARER_TOKEN / BEARER_TOKEN_FILE', () => {
    const f = write('env/min.cfg', '[client]\nrucio_host = http://h:80\naccount = a\nauth_type = oidc\n');
    const cfg = loadRucioConfig({ RUCIO_CONFIG: f, BEARER_TOKEN_FILE: '/run/user/1/bt', BEARER_TOKEN: 'tok' });
    expect(cfg).toMatchObject({ authHost: 'http://h:80', authType: 'oidc', tokenFile: '/run/user/1/bt', token: 'tok' });
  });

  it('TLS verification is on unless explicitly opted out', () => {
    expect(loadRucioConfig({ RUCIO_CONFIG: file }).insecure).toBe(false);
    expect(loadRucioConfig({ RUCIO_CONFIG: file, RUCIO_INGEST_INSECURE_TLS: 'true' }).insecure).toBe(false);
    expect(loadRucioConfig({ RUCIO_CONFIG: file, RUCIO_INGEST_INSECURE_TLS: '1' }).insecure).toBe(true);
  });

  it('says what is wrong and where', () => {
    expect(() => loadRucioConfig({ RUCIO_HOME: path.join(tmp, 'none') }, undefined)).toThrow(
      /no rucio.cfg found .*set RUCIO_CONFIG.*rucio_host/,
    );
    expect(() => loadRucioConfig({ RUCIO_CONFIG: file, RUCIO_AUTH_TYPE: 'gss' })).toThrow(
      /auth_type must be one of userpass, x509, x509_proxy, oidc, token/,
    );
    expect(() => loadRucioConfig({ RUCIO_CONFIG: path.join(tmp, 'missing.cfg') })).toThrow(
      /cannot read Rucio config .*missing.cfg: ENOENT/,
    );
    expect(() => loadRucioConfig({ RUCIO_CONFIG: file, RUCIO_HOST: 'ftp://x' })).toThrow(/rucio_host/);
  });

  it('describes a config without its secrets', () => {
    const cfg = loadRucioConfig({ RUCIO_CONFIG: file });
    const text = JSON.stringify(describeRucioConfig(cfg));
    expect(text).not.toContain('se#cr;et');
    expect(describeRucioConfig(cfg)).toMatchObject({ password: 'set', tlsVerify: true, account: 'alice' });
  });
});

describe('paths and CA certificates', () => {
  it('expands ~ and $VAR', () => {
    expect(expandPath('~/a', { HOME: '/h' })).toBe('/h/a');
    expect(expandPath('${X}/b/$Y', { X: '/x', Y: 'y' })).toBe('/x/b/y');
  });

  it('loads a bundle file or a grid CA directory (deduplicated, CRLs and policies ignored)', () => {
    const pem = (n: number) => `-----BEGIN CERTIFICATE-----\nMII${n}\n-----END CERTIFICATE-----\n`;
    const bundle = write('ca/bundle.pem', pem(1) + pem(2));
    expect(loadCa(bundle)).toEqual([pem(1) + pem(2)]);
    write('grid/CERN-Root.pem', pem(1));
    write('grid/abcd1234.0', pem(1));
    write('grid/other.pem', pem(3));
    write('grid/abcd1234.r0', '-----BEGIN X509 CRL-----\n');
    write('grid/abcd1234.signing_policy', 'access_id_CA');
    expect(loadCa(path.join(tmp, 'grid'))?.sort()).toEqual([pem(1), pem(3)]);
    expect(loadCa(undefined)).toBeUndefined();
    expect(() => loadCa(path.join(tmp, 'no-such-dir'))).toThrow(/ENOENT.*grid CA directory/);
  });
});

describe('token helpers', () => {
  it('reads the exp of a JWT, nothing of an opaque token', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'x', exp: 2_000_000_000 })).toString('base64url');
    expect(jwtExpiry(`e30.${payload}.sig`)).toBe(2_000_000_000_000);
    expect(jwtExpiry('ingest-ingest-unknown-e48a0f76')).toBeUndefined();
  });

  it('parses the Python-repr answer of /auth/validate', () => {
    const text =
      "{'account': 'ingest', 'identity': 'ingest', 'lifetime': datetime.datetime(2026, 11, 22, 14, 17, 41, 119793), 'audience': None, 'authz_scope': None, 'vo': 'def'}";
    expect(parseValidateAnswer(text)).toEqual({
      account: 'ingest',
      identity: 'ingest',
      expiresAt: Date.UTC(2026, 10, 22, 14, 17, 41, 119),
    });
  });
});

describe('checksums, lfn2pfn, classification', () => {
  it('adler32 is always 8 lowercase hex digits', () => {
    expect(normalizeAdler32('ABCD')).toBe('0000abcd');
    expect(normalizeAdler32(0x1a2b)).toBe('00001a2b');
    expect(normalizeAdler32('ffffffff')).toBe('ffffffff');
    expect(() => normalizeAdler32('12zz')).toThrow(/not an adler32/);
    expect(() => normalizeAdler32('123456789')).toThrow(/not an adler32/);
  });

  it('hash lfn2pfn: scopes starting with user/group get their dots as directories', () => {
    expect(hashLfnPath('user.jdoe', 'file.root')).toBe('user/jdoe/59/52/file.root');
    expect(hashLfnPath('cta', 'a.b')).toMatch(/^cta\/[0-9a-f]{2}\/[0-9a-f]{2}\/a\.b$/);
  });

  it('classifies the exception classes met on the sandbox', () => {
    expect(classify(404, 'ReplicaNotFound')).toBe('permanent');
    expect(classify(500, 'ReplicaNotFound')).toBe('permanent');
    expect(classify(409, 'InvalidRSEExpression')).toBe('permanent');
    expect(classify(404, 'ScopeNotFound')).toBe('permanent');
    expect(classify(503, 'ResourceTemporaryUnavailable')).toBe('retryable');
    expect(classify(406, 'UnsupportedRequestedContentType')).toBe('permanent');
  });
});
