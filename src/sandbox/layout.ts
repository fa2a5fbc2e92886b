import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the sandbox keeps everything: installs, config, data, logs, pids. Git-ignored. */
export function sandboxRoot(): string {
  if (process.env.RUCIO_INGEST_SANDBOX) return path.resolve(process.env.RUCIO_INGEST_SANDBOX);
  // src/sandbox/layout.ts or dist/sandbox/layout.js -> project root is two levels up.
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', '.sandbox');
}

export interface RseSpec {
  name: string;
  deterministic: boolean;
  attributes: Record<string, string>;
  /** XRootD native protocol port (root://). */
  rootPort: number;
  /** XrdHttp port, TLS (davs:// and https://). */
  httpsPort: number;
}

export const HOST = '127.0.0.1';

/** Base port chosen away from the defaults of Temporal (7233), PostgreSQL (5432) and XRootD (1094). */
const BASE = Number(process.env.RUCIO_INGEST_SANDBOX_PORT_BASE ?? 17000);

export const ports = {
  temporal: BASE + 233,
  temporalUi: BASE + 234,
  temporalMetrics: BASE + 235,
  postgres: BASE + 432,
  /** Rucio's cache. */
  memcached: BASE + 211,
  rucio: BASE + 80,
  /** The TLS front of the same Rucio server, for x509 / proxy logins. */
  rucioTls: BASE + 443,
};

const rseDefs: Array<Omit<RseSpec, 'rootPort' | 'httpsPort'>> = [
  { name: 'ONSITE-BUFFER', deterministic: false, attributes: { ROLE: 'ORIGIN' } },
  { name: 'LANDING-1', deterministic: true, attributes: { ROLE: 'LANDING' } },
  { name: 'SAFE-1', deterministic: true, attributes: { QOS: 'SAFE' } },
  { name: 'SAFE-2', deterministic: true, attributes: { QOS: 'SAFE' } },
  { name: 'CHEAP-1', deterministic: true, attributes: { QOS: 'CHEAP-ANALYSIS' } },
  // Off-site, as PIC is for MAGIC: the target of the magic scenario's replication.
  { name: 'PIC-DISK', deterministic: true, attributes: { SITE: 'PIC', QOS: 'OFFSITE' } },
];

export const rses: RseSpec[] = rseDefs.map((r, i) => ({
  ...r,
  rootPort: BASE + 1094 + i,
  httpsPort: BASE + 1443 + i,
}));

/** An XRootD endpoint of the sandbox: an RSE's storage, or the secure endpoint below. */
export type XrootdEndpoint = Pick<RseSpec, 'name' | 'rootPort' | 'httpsPort'> & {
  /** Only the sandbox's grid user (its certificate or proxy), mapped by DN, may read and write. */
  requireX509?: boolean;
  /** false: no checksums configured, so RFC 3230 digests are not offered (verification reads back). */
  digests?: boolean;
};

/**
 * Storage that, like production grid storage, refuses anonymous clients, and offers no digests: tests the
 * storage layer's credentials (X.509 proxy or certificate) and its read-back verification against a real
 * server. Not registered in Rucio.
 */
export const secureStorage: XrootdEndpoint = {
  name: 'SECURE',
  rootPort: BASE + 1101,
  httpsPort: BASE + 1450,
  requireX509: true,
  digests: false,
};

/** Accounts and credentials of the sandbox. Local, loopback-only, never for real deployments. */
export const accounts = {
  root: { account: 'root', username: 'ddmlab', password: 'secret' },
  ingest: { account: 'ingest', username: 'ingest', password: 'ingest-sandbox-pw', email: 'ingest@localhost' },
};

/** The DN of the sandbox's grid user, mapped to the ingest account; its proxy adds `/CN=<serial>`. */
export const ingestDn = '/O=rucio-ingest sandbox/CN=ingest';
/** A DN that no Rucio account or storage knows. */
export const strangerDn = '/O=rucio-ingest sandbox/CN=stranger';

export const scopes = ['lsst', 'cta', 'magic', 'fair', 'ska', 'virgo', 'user.demo'];

export function layout(root = sandboxRoot()) {
  return {
    root,
    venv: path.join(root, 'venv'),
    bin: (name: string) => path.join(root, 'venv', 'bin', name),
    etc: path.join(root, 'etc'),
    logs: path.join(root, 'logs'),
    run: path.join(root, 'run'),
    data: path.join(root, 'data'),
    temporalDb: path.join(root, 'data', 'temporal.sqlite'),
    pgData: path.join(root, 'data', 'postgres'),
    rseData: (rse: string) => path.join(root, 'data', 'rse', rse),
    ca: path.join(root, 'etc', 'ca'),
    rucioCfg: path.join(root, 'etc', 'rucio.cfg'),
    rucioClientCfg: path.join(root, 'etc', 'rucio-client.cfg'),
    alembicIni: path.join(root, 'etc', 'alembic.ini'),
  };
}
export type Layout = ReturnType<typeof layout>;
