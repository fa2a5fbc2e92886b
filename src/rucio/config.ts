import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defaultProxyFile, wlcgTokenFile } from '../shared/grid-credentials.js';

export const authTypes = ['userpass', 'x509', 'x509_proxy', 'oidc', 'token'] as const;
export type AuthType = (typeof authTypes)[number];

/** The `[client]` settings rucio-ingest understands, as the Python client reads them. */
export const rucioClientConfigSchema = z.object({
  rucioHost: z.url({ protocol: /^https?$/ }),
  authHost: z.url({ protocol: /^https?$/ }),
  authType: z.enum(authTypes),
  account: z.string().min(1),
  vo: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  clientCert: z.string().optional(),
  clientKey: z.string().optional(),
  clientProxy: z.string().optional(),
  /** A CA bundle file or a grid CA directory (/etc/grid-security/certificates). */
  caCert: z.string().optional(),
  /** A bearer token file (WLCG token discovery) for `oidc`/`token`. */
  tokenFile: z.string().optional(),
  /** The token itself, from the environment only. */
  token: z.string().optional(),
  /** Explicit opt-out of TLS verification; never the default. */
  insecure: z.boolean().default(false),
  /** Where the config came from, for messages. */
  source: z.string(),
});
export type RucioClientConfig = z.infer<typeof rucioClientConfigSchema>;

/** Where the Python client looks for rucio.cfg, in its order (rucio.common.config.get_config_dirs). */
export function rucioConfigCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [env.RUCIO_HOME, env.VIRTUAL_ENV, env.CONDA_PREFIX]
    .filter((d): d is string => !!d)
    .map((d) => path.join(d, 'etc'));
  dirs.push('/opt/rucio/etc');
  return dirs.map((d) => path.join(d, 'rucio.cfg'));
}

/** The config file the Python client would read, in its order. */
export function findRucioConfigFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.RUCIO_CONFIG) return env.RUCIO_CONFIG;
  return rucioConfigCandidates(env).find((f) => fs.existsSync(f));
}

/**
 * Parse an INI file the way Python's `configparser.ConfigParser` does with its defaults: `=` or `:`
 * separators, full-line `#`/`;` comments only (a `#` inside a password stays), indented continuation
 * lines, case-insensitive keys, a `[DEFAULT]` section inherited by every section, and `%(key)s` / `%%`
 * interpolation.
 */
export function parseRucioCfg(text: string): Record<string, Record<string, string>> {
  const raw: Record<string, Record<string, string>> = {};
  let section: Record<string, string> | undefined;
  let lastKey: string | undefined;
  for (const line of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    if (/^\s*([#;]|$)/.test(line)) {
      lastKey = undefined;
      continue;
    }
    if (/^\s/.test(line) && section && lastKey !== undefined) {
      section[lastKey] = `${section[lastKey]}\n${line.trim()}`.replace(/^\n/, '');
      continue;
    }
    const head = /^\[([^\]]+)\]\s*$/.exec(line);
    if (head) {
      const name = head[1]!.trim();
      section = raw[name] ??= {};
      lastKey = undefined;
      continue;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line.trim());
    if (!kv || !section) {
      lastKey = undefined;
      continue;
    }
    lastKey = kv[1]!.toLowerCase();
    section[lastKey] = kv[2]!.trim();
  }
  const defaults = raw.DEFAULT ?? {};
  const out: Record<string, Record<string, string>> = {};
  for (const [name, values] of Object.entries(raw)) {
    if (name === 'DEFAULT') continue;
    const merged = { ...defaults, ...values };
    out[name] = Object.fromEntries(Object.keys(merged).map((k) => [k, interpolate(merged, k, 0)]));
  }
  return out;
}

function interpolate(values: Record<string, string>, key: string, depth: number): string {
  const v = values[key] ?? '';
  if (depth > 10) throw new Error(`rucio.cfg: interpolation of "${key}" is too deep (a %(...)s loop?)`);
  return v.replace(/%(%|\(([^)]+)\)s)/g, (_m, what: string, ref: string | undefined) => {
    if (what === '%') return '%';
    const name = ref!.toLowerCase();
    if (!(name in values)) throw new Error(`rucio.cfg: "${key}" refers to unknown option %(${ref})s`);
    return interpolate(values, name, depth + 1);
  });
}

/** `~` and `$VAR` expanded, made absolute, as rucio's `_expand_path` does. */
export function expandPath(p: string, env: NodeJS.ProcessEnv = process.env): string {
  const trimmed = p.trim();
  if (trimmed === '') return '';
  const vars = trimmed.replace(/\$(\w+)|\$\{(\w+)\}/g, (m, a: string | undefined, b: string | undefined) => {
    const v = env[(a ?? b)!];
    return v === undefined ? m : v;
  });
  const home = vars === '~' || vars.startsWith('~/') ? path.join(env.HOME ?? os.homedir(), vars.slice(1)) : vars;
  return path.resolve(home);
}

/** Read `[client]` of rucio.cfg and apply the `RUCIO_*`/`X509_*`/`BEARER_TOKEN*` environment overrides. */
export function loadRucioConfig(
  env: NodeJS.ProcessEnv = process.env,
  file = findRucioConfigFile(env),
): RucioClientConfig {
  let client: Record<string, string> = {};
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(
        `cannot read Rucio config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. ` +
          'Set RUCIO_CONFIG to a readable rucio.cfg.',
      );
    }
    client = parseRucioCfg(text).client ?? {};
  }
  const str = (v: string | undefined) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
  const p = (v: string | undefined) => (str(v) === undefined ? undefined : expandPath(v!, env));
  const authType = str(env.RUCIO_AUTH_TYPE) ?? str(client.auth_type) ?? 'userpass';
  const rucioHost = str(env.RUCIO_HOST) ?? str(client.rucio_host);
  const account = str(env.RUCIO_ACCOUNT) ?? str(client.account);
  const raw = {
    rucioHost,
    authHost: str(env.RUCIO_AUTH_HOST) ?? str(client.auth_host) ?? rucioHost,
    authType,
    account,
    vo: str(env.RUCIO_VO) ?? str(client.vo),
    username: str(client.username),
    password: str(client.password),
    clientCert: p(env.RUCIO_CLIENT_CERT) ?? p(client.client_cert),
    clientKey: p(env.RUCIO_CLIENT_KEY) ?? p(client.client_key),
    clientProxy:
      p(env.RUCIO_CLIENT_PROXY) ??
      p(client.client_x509_proxy) ??
      p(env.X509_USER_PROXY) ??
      (authType === 'x509_proxy' ? defaultProxyFile() : undefined),
    // As the Python client: $X509_CERT_DIR first, then ca_cert of [client]; neither = Node's Mozilla bundle.
    caCert: p(env.X509_CERT_DIR) ?? p(client.ca_cert),
    tokenFile:
      p(env.BEARER_TOKEN_FILE) ??
      p(client.auth_token_file) ??
      p(client.auth_token_file_path) ??
      wlcgTokenFile(env) ??
      (authType === 'oidc' && account ? pythonClientTokenFile(account, env) : undefined),
    token: str(env.BEARER_TOKEN),
    insecure: env.RUCIO_INGEST_INSECURE_TLS === '1',
    source: file ?? 'environment',
  };
  const parsed = rucioClientConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const where = file
      ? `in ${file} (section [client]) or the environment`
      : `no rucio.cfg found (looked at ${rucioConfigCandidates(env).join(', ')}); set RUCIO_CONFIG`;
    const problems = parsed.error.issues
      .map((i) => {
        const key = i.path.join('.');
        const cfgKey = cfgKeyOf[key] ?? key;
        if (key === 'authType') return `auth_type must be one of ${authTypes.join(', ')}`;
        return `${cfgKey}: ${i.message}`;
      })
      .join('; ');
    throw new Error(`invalid Rucio client configuration ${where}: ${problems}`);
  }
  return parsed.data;
}

const cfgKeyOf: Record<string, string> = {
  rucioHost: 'rucio_host (or RUCIO_HOST)',
  authHost: 'auth_host (or RUCIO_AUTH_HOST)',
  account: 'account (or RUCIO_ACCOUNT)',
};

/** Where `rucio` (Python) keeps the token of an OIDC login: /tmp/<user>/.rucio_<user>/auth_token_for_account_<acc>. */
function pythonClientTokenFile(account: string, env: NodeJS.ProcessEnv): string | undefined {
  const user = env.USER ?? env.LOGNAME ?? safeUsername();
  if (!user) return undefined;
  const f = `/tmp/${user}/.rucio_${user}/auth_token_for_account_${account}`;
  return fs.existsSync(f) ? f : undefined;
}

function safeUsername(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}

/** A summary of the configuration that is safe to print: never a password or token. */
export function describeRucioConfig(cfg: RucioClientConfig): Record<string, string | boolean | undefined> {
  return {
    source: cfg.source,
    rucioHost: cfg.rucioHost,
    authHost: cfg.authHost,
    authType: cfg.authType,
    account: cfg.account,
    vo: cfg.vo,
    username: cfg.authType === 'userpass' ? cfg.username : undefined,
    password: cfg.authType === 'userpass' ? (cfg.password ? 'set' : 'missing') : undefined,
    clientCert: cfg.authType === 'x509' ? cfg.clientCert : undefined,
    clientKey: cfg.authType === 'x509' ? cfg.clientKey : undefined,
    clientProxy: cfg.authType === 'x509_proxy' ? cfg.clientProxy : undefined,
    tokenSource:
      cfg.authType === 'oidc' || cfg.authType === 'token'
        ? cfg.token
          ? 'BEARER_TOKEN'
          : (cfg.tokenFile ?? 'missing')
        : undefined,
    caCert: cfg.caCert ?? (cfg.insecure ? undefined : 'system default (Mozilla bundle)'),
    tlsVerify: !cfg.insecure,
  };
}

/**
 * CA certificates for TLS: a bundle file, or every certificate in a grid CA directory
 * (`*.pem`, `*.crt` and the `<hash>.0` links, deduplicated; CRLs, signing policies and namespaces ignored).
 */
export function loadCa(caCert: string | undefined): string[] | undefined {
  if (!caCert) return undefined;
  let st: fs.Stats;
  try {
    st = fs.statSync(caCert);
  } catch (err) {
    throw new Error(
      `CA certificates ${caCert} (ca_cert in [client] or X509_CERT_DIR): ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}. ` +
        'Point it to a CA bundle file or a grid CA directory such as /etc/grid-security/certificates.',
    );
  }
  if (!st.isDirectory()) {
    const pem = fs.readFileSync(caCert, 'utf8');
    if (!pem.includes('BEGIN CERTIFICATE')) throw new Error(`CA bundle ${caCert} holds no PEM certificate`);
    return [pem];
  }
  const pems = new Set(
    fs
      .readdirSync(caCert)
      .filter((f) => /\.(pem|\d+|crt)$/.test(f) && !/\.r\d+$/.test(f))
      .map((f) => {
        try {
          return fs.readFileSync(path.join(caCert, f), 'utf8');
        } catch {
          return '';
        }
      })
      .filter((pem) => pem.includes('BEGIN CERTIFICATE')),
  );
  if (pems.size === 0) throw new Error(`CA directory ${caCert} holds no PEM certificate`);
  return [...pems];
}
