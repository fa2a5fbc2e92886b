import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { checkRucio, checkRucioCommand, formatRucioCheck } from '../../src/cli/check-rucio.js';
import { layout } from '../../src/sandbox/layout.js';
import { rucioUrl } from '../../src/sandbox/rucio-server.js';
import { rucioTlsUrl } from '../../src/sandbox/x509.js';

const cfg = path.resolve('.sandbox/etc/rucio-client.cfg');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-check-'));
const badCfg = path.join(tmp, 'rucio.cfg');
fs.writeFileSync(badCfg, fs.readFileSync(cfg, 'utf8').replace(/^password = .*$/m, 'password = Wrong#Pass%%word'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function runCli(args: string[]): Promise<{ out: string; exitCode: number | string | undefined }> {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  await checkRucioCommand().parseAsync(['node', 'rucio-ingest', 'rucio', ...args]);
  const exitCode = process.exitCode;
  process.exitCode = undefined;
  return { out: lines.join('\n'), exitCode };
}

describe('rucio-ingest check rucio', () => {
  it('reports server, version, account, auth method and token expiry', async () => {
    const r = await checkRucio({ RUCIO_CONFIG: cfg });
    expect(r).toMatchObject({
      ok: true,
      configFile: cfg,
      server: rucioUrl,
      version: '41.5.1',
      account: 'ingest',
      accountStatus: 'ACTIVE',
      authMethod: 'userpass',
    });
    expect(Date.parse(r.tokenExpiresAt!)).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect(formatRucioCheck(r).at(-1)).toBe('rucio: OK');

    const { out, exitCode } = await runCli(['--config', cfg]);
    expect(exitCode).toBeUndefined();
    expect(out).toMatch(/Rucio 41\.5\.1/);
    expect(out).toMatch(/token expires \d{4}-/);
    expect(out).not.toContain('ingest-sandbox-pw');
  });

  it('reports an x509 proxy login (the TLS front of the sandbox)', async () => {
    const x509cfg = path.join(layout().etc, 'rucio-client-x509.cfg');
    const r = await checkRucio({ RUCIO_CONFIG: x509cfg });
    expect(r).toMatchObject({ ok: true, server: rucioTlsUrl, account: 'ingest', authMethod: 'x509_proxy' });
    const { out, exitCode } = await runCli(['--config', x509cfg]);
    expect(exitCode).toBeUndefined();
    expect(out).toMatch(/x509_proxy/);
  });

  it('a wrong password: non-zero exit, the reason and what to fix, no secret', async () => {
    const r = await checkRucio({ RUCIO_CONFIG: badCfg });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ step: 'authenticate' });
    expect(r.failure!.reason).toMatch(/CannotAuthenticate/);
    expect(r.failure!.fix).toMatch(/username and password/);

    for (const args of [
      ['--config', badCfg],
      ['--config', badCfg, '--json'],
    ]) {
      const { out, exitCode } = await runCli(args);
      expect(exitCode).toBe(4);
      expect(out).toMatch(/CannotAuthenticate/);
      expect(out).not.toContain('Wrong#Pass');
      expect(out).not.toContain('ingest-sandbox-pw');
    }
  });

  it('an unreachable server and a missing config say so', async () => {
    const down = await checkRucio({ RUCIO_CONFIG: cfg, RUCIO_HOST: 'http://127.0.0.1:1' });
    expect(down.failure).toMatchObject({ step: 'server' });
    expect(down.failure!.reason).toMatch(/ECONNREFUSED/);
    expect(down.failure!.fix).toMatch(/rucio_host/);

    const none = await checkRucio({ RUCIO_HOME: path.join(tmp, 'nowhere') });
    expect(none.failure).toMatchObject({ step: 'config' });
    expect(none.failure!.fix).toMatch(/RUCIO_CONFIG/);
  });
});
