import { Command } from 'commander';
import { whoami } from '../rucio/accounts.js';
import { RucioClient } from '../rucio/client.js';
import { describeRucioConfig, findRucioConfigFile, loadRucioConfig, rucioConfigCandidates } from '../rucio/config.js';
import { RucioAuthError, RucioError } from '../rucio/errors.js';

export type RucioCheckStep = 'config' | 'server' | 'authenticate' | 'account';

/** What `rucio-ingest check rucio` found. Holds no secret: it is printed as is. */
export interface RucioCheckReport {
  ok: boolean;
  configFile?: string;
  config?: Record<string, string | boolean | undefined>;
  server?: string;
  version?: string;
  account?: string;
  accountStatus?: string;
  identity?: string;
  authMethod?: string;
  tokenExpiresAt?: string;
  /** Set when `ok` is false: the step that failed, why, and what to change. */
  failure?: { step: RucioCheckStep; reason: string; fix: string };
}

/** Exit codes: 0 ok, 2 configuration, 3 server unreachable or unhealthy, 4 authentication, 5 account. */
export const checkExitCodes: Record<RucioCheckStep, number> = { config: 2, server: 3, authenticate: 4, account: 5 };

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|DEPTH_ZERO/;

/** Pre-flight check of the Rucio side with the user's normal Rucio configuration. */
export async function checkRucio(env: NodeJS.ProcessEnv = process.env): Promise<RucioCheckReport> {
  const report: RucioCheckReport = { ok: false, configFile: findRucioConfigFile(env) };
  const fail = (step: RucioCheckStep, reason: string, fix: string): RucioCheckReport => {
    report.failure = { step, reason, fix };
    return report;
  };

  let client: RucioClient;
  try {
    const cfg = loadRucioConfig(env);
    report.config = describeRucioConfig(cfg);
    report.server = cfg.rucioHost;
    report.authMethod = cfg.authType;
    client = new RucioClient(cfg, { timeoutMs: 20_000 });
  } catch (err) {
    return fail(
      'config',
      message(err),
      report.configFile
        ? `Fix the [client] section of ${report.configFile} (rucio_host, auth_host, auth_type, account and the credentials of the auth type), or the RUCIO_* variables overriding it.`
        : `Create a rucio.cfg with a [client] section at one of ${rucioConfigCandidates(env).join(', ')}, or point RUCIO_CONFIG to one.`,
    );
  }

  try {
    try {
      report.version = (await client.ping()).version;
    } catch (err) {
      const code = err instanceof RucioError ? err.exceptionClass : '';
      const fix = TLS_CODES.test(code)
        ? 'The server certificate is not trusted: set ca_cert in [client] (or X509_CERT_DIR) to the CA bundle or grid CA directory (/etc/grid-security/certificates) that signed it.'
        : `Check rucio_host (${client.config.rucioHost}) is right and the Rucio server is running and reachable from here.`;
      return fail('server', message(err), fix);
    }

    try {
      const info = await client.tokenInfo();
      report.identity = info.identity;
      report.tokenExpiresAt = info.expiresAt.toISOString();
    } catch (err) {
      return fail('authenticate', message(err), authFix(client, err));
    }

    try {
      const me = await whoami(client);
      report.account = me.account;
      report.accountStatus = me.status;
      if (me.status && me.status !== 'ACTIVE') {
        return fail(
          'account',
          `account ${me.account} is ${me.status}`,
          'Ask a Rucio administrator to reactivate the account.',
        );
      }
    } catch (err) {
      return fail(
        'account',
        message(err),
        `Check that account ${client.config.account} exists and your identity may use it.`,
      );
    }
    report.ok = true;
    return report;
  } finally {
    await client.close();
  }
}

function authFix(client: RucioClient, err: unknown): string {
  const cfg = client.config;
  if (err instanceof RucioError && err.retryable) {
    return `The auth server (${cfg.authHost}) is unwell right now: retry later, or check auth_host.`;
  }
  switch (cfg.authType) {
    case 'userpass':
      return `Check username and password in [client] of ${cfg.source}, and that identity ${cfg.username ?? '(no username)'} is mapped to account ${cfg.account}.`;
    case 'x509':
      return 'Check client_cert/client_key (or RUCIO_CLIENT_CERT/RUCIO_CLIENT_KEY): readable, not expired, key mode 600, and the DN mapped to the account.';
    case 'x509_proxy':
      return 'Renew the proxy (voms-proxy-init) or point client_x509_proxy / X509_USER_PROXY to a valid one; its DN must be mapped to the account.';
    default:
      return err instanceof RucioAuthError && err.exceptionClass === 'MissingClientParameter'
        ? 'Provide a bearer token: BEARER_TOKEN, BEARER_TOKEN_FILE, or auth_token_file_path in [client].'
        : 'Refresh the bearer token (oidc-agent, htgettoken...) and check its issuer/audience are accepted by this Rucio for the account.';
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Human-readable lines of a report. */
export function formatRucioCheck(r: RucioCheckReport): string[] {
  const lines = [
    `config        ${r.configFile ?? '(none: environment only)'}`,
    `server        ${r.server ?? '?'}${r.version ? `  (Rucio ${r.version})` : ''}`,
    `auth method   ${r.authMethod ?? '?'}`,
  ];
  if (r.account) lines.push(`account       ${r.account}${r.accountStatus ? ` (${r.accountStatus})` : ''}`);
  if (r.identity) lines.push(`identity      ${r.identity}`);
  if (r.tokenExpiresAt) lines.push(`token expires ${r.tokenExpiresAt}`);
  if (r.config && r.config.tlsVerify === false) lines.push('TLS           verification OFF (explicit opt-out)');
  if (r.failure) {
    lines.push(`FAILED at ${r.failure.step}: ${r.failure.reason}`, `fix: ${r.failure.fix}`);
  } else {
    lines.push('rucio: OK');
  }
  return lines;
}

/** `rucio` — mount under an existing `check` command. */
export function checkRucioSubcommand(): Command {
  return new Command('rucio')
    .description(
      'pre-flight check of Rucio with your normal Rucio config (rucio.cfg + RUCIO_*): server, version, account, auth method, token expiry',
    )
    .option('--config <file>', 'rucio.cfg to use instead of RUCIO_CONFIG / the default locations')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const env = opts.config ? { ...process.env, RUCIO_CONFIG: opts.config } : process.env;
      const report = await checkRucio(env);
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else for (const line of formatRucioCheck(report)) (report.ok ? console.log : console.error)(line);
      if (report.failure) process.exitCode = checkExitCodes[report.failure.step];
    });
}

/** `check rucio`: add to the program as is (`rucio-ingest check rucio`). */
export function checkRucioCommand(): Command {
  return new Command('check').description('pre-flight checks').addCommand(checkRucioSubcommand());
}
