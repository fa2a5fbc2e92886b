import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { whoami } from '../../src/rucio/accounts.js';
import { RucioClient, rucioLogRedactPaths, type RucioRequestInfo } from '../../src/rucio/client.js';
import { loadRucioConfig, type RucioClientConfig } from '../../src/rucio/config.js';
import { RucioAuthError, RucioError } from '../../src/rucio/errors.js';
import { listRses } from '../../src/rucio/rses.js';
import { accounts, layout, rses } from '../../src/sandbox/layout.js';
import { psql } from '../../src/sandbox/postgres.js';
import { ingestDn, rucioTlsUrl, x509Files } from '../../src/sandbox/x509.js';
import { rucioUrl } from '../../src/sandbox/rucio-server.js';

const PASSWORD = accounts.ingest.password;
const base: RucioClientConfig = {
  rucioHost: rucioUrl,
  authHost: rucioUrl,
  authType: 'userpass',
  account: 'ingest',
  username: 'ingest',
  password: PASSWORD,
  insecure: false,
  source: 'test',
};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-client-'));
const clients: RucioClient[] = [];
function client(cfg: Partial<RucioClientConfig> = {}, opts: ConstructorParameters<typeof RucioClient>[1] = {}) {
  const c = new RucioClient({ ...base, ...cfg }, opts);
  clients.push(c);
  return c;
}
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<RucioError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RucioError);
    return err as RucioError;
  }
  throw new Error('expected a rejection');
}

describe('ping, whoami and the config file of the sandbox', () => {
  it('reads the normal rucio.cfg format and talks to the server', async () => {
    const c = new RucioClient(loadRucioConfig({ RUCIO_CONFIG: '.sandbox/etc/rucio-client.cfg' }));
    clients.push(c);
    expect(await c.ping()).toEqual({ version: '41.5.1' });
    expect((await whoami(c)).account).toBe('ingest');
    const info = await c.tokenInfo();
    expect(info).toMatchObject({ account: 'ingest', identity: 'ingest', authType: 'userpass' });
    // The server's idea of the expiry matches the header's (within a second).
    expect(Math.abs(info.expiresAt.getTime() - c.tokenExpiresAt!)).toBeLessThan(1000);
    expect(info.expiresAt.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
  });
});

describe('x509 and grid proxy logins (the TLS front of the sandbox Rucio)', () => {
  const l = layout();
  const f = x509Files(l);
  const tls = { rucioHost: rucioTlsUrl, authHost: rucioTlsUrl, caCert: path.join(l.ca, 'ca.pem') };

  it('logs in with a certificate and key: the DN maps to the account', async () => {
    const c = client({ ...tls, authType: 'x509', clientCert: f.userCert, clientKey: f.userKey, password: undefined });
    expect((await whoami(c)).account).toBe('ingest');
    expect(await c.tokenInfo()).toMatchObject({ account: 'ingest', identity: ingestDn, authType: 'x509' });
    expect(c.stats.authentications).toBe(1);
  });

  it('logs in with an RFC 3820 proxy file from the normal rucio.cfg, as the Python CLI does', async () => {
    const cfg = loadRucioConfig({ RUCIO_CONFIG: path.join(l.etc, 'rucio-client-x509.cfg') });
    expect(cfg).toMatchObject({ authType: 'x509_proxy', clientProxy: f.proxy });
    const c = client(cfg);
    expect((await whoami(c)).account).toBe('ingest');
    // Rucio strips the proxy's extra CN: the identity is the user's DN.
    expect(await c.tokenInfo()).toMatchObject({ identity: ingestDn, authType: 'x509_proxy' });
    // X509_USER_PROXY wins over the file's setting, as in the Python client.
    const fromEnv = loadRucioConfig({
      RUCIO_CONFIG: path.join(l.etc, 'rucio-client-x509.cfg'),
      X509_USER_PROXY: f.proxy,
    });
    expect((await whoami(client(fromEnv))).account).toBe('ingest');
  });

  it('a certificate whose DN no account knows is a permanent RucioAuthError with what to check', async () => {
    const c = client({
      ...tls,
      authType: 'x509',
      clientCert: f.strangerCert,
      clientKey: f.strangerKey,
      password: undefined,
    });
    const err = await rejection(whoami(c));
    expect(err).toBeInstanceOf(RucioAuthError);
    expect(err).toMatchObject({ kind: 'permanent', exceptionClass: 'CannotAuthenticate', status: 401 });
    expect(err.message).toMatch(/DN is an identity of account ingest/);
  });

  it('refuses a private key readable by others, and a missing proxy, before any request', async () => {
    const loose = path.join(tmp, 'loose-key.pem');
    fs.copyFileSync(f.userKey, loose);
    fs.chmodSync(loose, 0o644);
    expect(
      () => new RucioClient({ ...base, ...tls, authType: 'x509', clientCert: f.userCert, clientKey: loose }),
    ).toThrow(/readable by group or others: chmod 600/);
    expect(
      () => new RucioClient({ ...base, ...tls, authType: 'x509_proxy', clientProxy: path.join(tmp, 'no-proxy') }),
    ).toThrow(/cannot read the X.509 certificate .*no-proxy: ENOENT/);
  });
});

describe('authentication', () => {
  it('a wrong password is a permanent RucioAuthError that does not echo it', async () => {
    const c = client({ password: 'definitely-wrong-pw' });
    const err = await rejection(whoami(c));
    expect(err).toBeInstanceOf(RucioAuthError);
    expect(err.kind).toBe('permanent');
    expect(err.exceptionClass).toBe('CannotAuthenticate');
    expect(err.status).toBe(401);
    expect(err.message).toMatch(/Check username and password/);
    expect(err.message).not.toContain('definitely-wrong-pw');
  });

  it('an unknown account is refused the same way', async () => {
    const err = await rejection(whoami(client({ account: 'nobody-here' })));
    expect(err).toBeInstanceOf(RucioAuthError);
  });

  it('caches the token: several calls, one authentication', async () => {
    const c = client();
    await whoami(c);
    await listRses(c, 'QOS=SAFE');
    await whoami(c);
    expect(c.stats).toMatchObject({ authentications: 1, reauthentications: 0, apiCalls: 3 });
  });

  it('a corrupted (revoked/expired server-side) token is re-authenticated exactly once, and the call succeeds', async () => {
    const seen: RucioRequestInfo[] = [];
    const c = client({}, { onRequest: (i) => seen.push(i) });
    await whoami(c);
    c.setToken('ingest-ingest-unknown-00000000000000000000000000000000');
    seen.length = 0;
    c.resetStats();
    expect((await whoami(c)).account).toBe('ingest');
    expect(c.stats).toEqual({ requests: 3, apiCalls: 2, authentications: 1, reauthentications: 1 });
    expect(seen.map((i) => `${i.kind} ${i.status} ${i.retried}`)).toEqual([
      'api 401 false',
      'auth 200 false',
      'api 200 true',
    ]);
  });

  it('a token the server has expired is re-authenticated exactly once, and the call succeeds', async () => {
    const seen: RucioRequestInfo[] = [];
    const c = client({}, { onRequest: (i) => seen.push(i) });
    // A fresh token the server has not validated yet (so not in its 15-minute validation cache), expired in
    // Rucio's own table: the server refuses it exactly as it refuses a token past its lifetime.
    const token = await c.authToken();
    expect(token).toMatch(/^[A-Za-z0-9._:-]+$/);
    const expired = await psql(
      'rucio',
      `UPDATE tokens SET expired_at = now() at time zone 'utc' - interval '1 minute' WHERE token = '${token}' RETURNING 'expired'`,
    );
    expect(expired).toBe('expired');
    expect(c.tokenExpiresAt!).toBeGreaterThan(Date.now() + 30 * 60_000); // the client still believes it valid
    seen.length = 0;
    c.resetStats();
    expect((await whoami(c)).account).toBe('ingest');
    expect(seen.map((i) => `${i.kind} ${i.status} ${i.retried}`)).toEqual([
      'api 401 false',
      'auth 200 false',
      'api 200 true',
    ]);
    expect(c.stats).toMatchObject({ authentications: 1, reauthentications: 1 });
    expect(await c.authToken()).not.toBe(token);
  });

  it('concurrent calls refused with the same token share one re-authentication', async () => {
    const c = client();
    await whoami(c);
    c.setToken('garbage-token');
    c.resetStats();
    const all = await Promise.all(Array.from({ length: 8 }, () => whoami(c)));
    expect(all.every((a) => a.account === 'ingest')).toBe(true);
    expect(c.stats.authentications).toBe(1);
    expect(c.stats.reauthentications).toBe(1);
  });

  it('renews a token that is about to expire before using it (no 401 needed)', async () => {
    const seen: RucioRequestInfo[] = [];
    const c = client({}, { onRequest: (i) => seen.push(i) });
    await whoami(c);
    const valid = await c.authToken();
    c.setToken(valid, Date.now() + 1000); // valid server-side, but inside the renewal margin
    seen.length = 0;
    await whoami(c);
    expect(seen.map((i) => `${i.kind} ${i.status}`)).toEqual(['auth 200', 'api 200']);
    expect(c.tokenExpiresAt!).toBeGreaterThan(Date.now() + 30 * 60_000);
  });

  it('bearer token from a file (re-read on 401) and from BEARER_TOKEN', async () => {
    const issuer = client();
    const token = await issuer.authToken();
    const file = path.join(tmp, 'bt');
    fs.writeFileSync(file, `${token}\n`);
    const fromFile = client({ authType: 'token', tokenFile: file, password: undefined, username: undefined });
    expect((await whoami(fromFile)).account).toBe('ingest');
    expect((await fromFile.tokenInfo()).account).toBe('ingest');

    // The agent refreshed the file; the cached token is stale: one 401, one re-read, success.
    fromFile.setToken('stale-token');
    fromFile.resetStats();
    expect((await whoami(fromFile)).account).toBe('ingest');
    expect(fromFile.stats).toMatchObject({ authentications: 1, reauthentications: 1 });

    const fromEnv = client({ authType: 'oidc', token, password: undefined, username: undefined });
    expect((await whoami(fromEnv)).account).toBe('ingest');
    expect(JSON.stringify(fromEnv.config)).not.toContain(token);
  });

  it('a bearer token refused after the re-read is a RucioAuthError (one retry, not a loop)', async () => {
    const c = client({ authType: 'token', token: 'not-a-valid-token', password: undefined });
    const err = await rejection(whoami(c));
    expect(err).toBeInstanceOf(RucioAuthError);
    expect(err.message).toMatch(/freshly obtained token \(auth_type token\) was refused too/);
    expect(err.message).not.toContain('not-a-valid-token');
    expect(c.stats).toMatchObject({ apiCalls: 2, authentications: 2, reauthentications: 1 });
  });

  it('an expired JWT is refused before any request, with what to do', async () => {
    const jwt = `e30.${Buffer.from(JSON.stringify({ exp: 1_000_000_000 })).toString('base64url')}.sig`;
    const file = path.join(tmp, 'expired-jwt');
    fs.writeFileSync(file, jwt);
    const c = client({ authType: 'oidc', tokenFile: file, password: undefined });
    const err = await rejection(whoami(c));
    expect(err).toBeInstanceOf(RucioAuthError);
    expect(err.exceptionClass).toBe('TokenExpired');
    expect(err.message).toMatch(/expired at 2001-09-09.*refresh it/);
    expect(c.stats.requests).toBe(0);
  });

  it('a missing credential is a clear permanent error', async () => {
    const err = await rejection(whoami(client({ password: undefined })));
    expect(err).toMatchObject({ kind: 'permanent', exceptionClass: 'MissingClientParameter' });
    const err2 = await rejection(whoami(client({ authType: 'token', tokenFile: path.join(tmp, 'none') })));
    expect(err2.message).toMatch(/cannot read the bearer token file .*ENOENT/);
  });
});

describe('TLS', () => {
  // XRootD's HTTPS port of LANDING-1 serves a certificate of the sandbox's own CA.
  const https = `https://127.0.0.1:${rses.find((r) => r.name === 'LANDING-1')!.httpsPort}`;
  const caDir = path.resolve('.sandbox/etc/ca');

  it('verifies certificates by default: an unknown CA is a permanent error', async () => {
    const err = await rejection(client({ rucioHost: https, authHost: https }).ping());
    expect(err.kind).toBe('permanent');
    expect(err.exceptionClass).toMatch(/CERT|SIGN|VERIFY/);
  });

  it('trusts a configured CA bundle or grid-style CA directory', async () => {
    for (const caCert of [path.join(caDir, 'ca.pem'), caDir]) {
      const err = await rejection(client({ rucioHost: https, authHost: https, caCert }).ping());
      // The TLS handshake succeeded: what fails now is HTTP (XRootD is not Rucio).
      expect(err.status).toBeGreaterThanOrEqual(400);
      expect(err.exceptionClass).not.toMatch(/CERT|SIGN|VERIFY/);
    }
  });

  it('skips verification only on explicit opt-out', async () => {
    const err = await rejection(client({ rucioHost: https, authHost: https, insecure: true }).ping());
    expect(err.status).toBeGreaterThanOrEqual(400);
  });
});

describe('secrets never leave the client', () => {
  it('not in debug logs, config, inspect, JSON or error messages', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    // The client's logger has no redaction of its own: whatever the client logs must be clean by itself.
    const logger = pino({ level: 'trace' }, sink);
    // A caller that logs client objects or headers needs the exported paths.
    const callerLogger = pino({ level: 'trace', redact: { paths: rucioLogRedactPaths } }, sink);
    const c = client({}, { logger });
    await whoami(c);
    await listRses(c, 'QOS=SAFE');
    c.setToken('garbage-token-value'); // force a 401 + re-authentication path
    await whoami(c);
    await rejection(listRses(c, 'NO-SUCH-RSE'));
    const token = await c.authToken();
    const wrong = client({ password: 'wrong-pw-in-logs' }, { logger });
    const err = await rejection(whoami(wrong));
    // Logging a client or its config by mistake must not leak either.
    callerLogger.info({ client: c, config: c.config }, 'oops');
    callerLogger.debug(
      { headers: { 'x-rucio-auth-token': token }, password: PASSWORD },
      'caller log with redaction paths',
    );

    const log = lines.join('');
    expect(log).toContain('rucio call');
    expect(log).toContain('rucio authenticated');
    expect(log).toContain('re-authenticating');
    for (const secret of [PASSWORD, token, 'wrong-pw-in-logs']) {
      expect(log).not.toContain(secret);
      expect(err.message).not.toContain(secret);
      expect(JSON.stringify(c)).not.toContain(secret);
      expect(inspect(c, { depth: 5 })).not.toContain(secret);
      expect(JSON.stringify(c.config)).not.toContain(secret);
    }
    expect(c.config.password).toBe('[redacted]');
  });
});
