import { RucioClient } from '../rucio/client.js';
import {
  addAccount,
  addScope,
  addUserpassIdentity,
  addX509Identity,
  setAccountAttribute,
  setLocalAccountLimit,
} from '../rucio/accounts.js';
import { addProtocol, addRse, deleteProtocol, setDistance, setRseAttribute, type RseProtocol } from '../rucio/rses.js';
import { accounts, HOST, rses, scopes, type RseSpec } from './layout.js';
import { rsePrefix } from './xrootd.js';
import { rucioUrl } from './rucio-server.js';
import { ingestDn } from './x509.js';

/** A client for the sandbox's Rucio server as `who`. */
export function sandboxRucioClient(who: keyof typeof accounts = 'ingest'): RucioClient {
  const a = accounts[who];
  return new RucioClient({
    rucioHost: rucioUrl,
    authHost: rucioUrl,
    authType: 'userpass',
    account: a.account,
    username: a.username,
    password: a.password,
    insecure: false,
    source: 'sandbox',
  });
}

/** davs and https on XrdHttp (TLS, with HTTP-TPC), root on the native port. */
export function rseProtocols(rse: RseSpec): RseProtocol[] {
  const web = (scheme: string, prio: number): RseProtocol => ({
    scheme,
    hostname: HOST,
    port: rse.httpsPort,
    prefix: rsePrefix,
    impl: 'rucio.rse.protocols.gfal.Default',
    domains: {
      lan: { read: prio, write: prio, delete: prio },
      wan: { read: prio, write: prio, delete: prio, third_party_copy_read: prio, third_party_copy_write: prio },
    },
  });
  return [
    web('davs', 1),
    web('https', 2),
    {
      scheme: 'root',
      hostname: HOST,
      port: rse.rootPort,
      prefix: rsePrefix,
      impl: 'rucio.rse.protocols.xrootd.Default',
      domains: {
        lan: { read: 3, write: 3, delete: 3 },
        wan: { read: 3, write: 3, delete: 3, third_party_copy_read: 3, third_party_copy_write: 3 },
      },
    },
    // Only for Rucio's own conveyor: the mock transfertool (no FTS in the sandbox) handles `mock` only.
    {
      scheme: 'mock',
      hostname: HOST,
      port: rse.httpsPort,
      prefix: rsePrefix,
      impl: 'rucio.rse.protocols.mock.Default',
      // null, not 0: Rucio ranks 0 first, and list-replicas would then hand out mock:// PFNs.
      domains: {
        lan: { read: null, write: null, delete: null },
        wan: { read: null, write: null, delete: null, third_party_copy_read: 4, third_party_copy_write: 4 },
      },
    },
  ];
}

/**
 * Register the sandbox's RSEs, distances, the ingest account and scopes through the REST API,
 * as an operator would. Every call is idempotent, so this is safe to run on each `up`.
 */
export async function bootstrapRucio(say: (line: string) => void): Promise<void> {
  const root = sandboxRucioClient('root');
  try {
    for (const rse of rses) {
      await addRse(root, rse.name, { deterministic: rse.deterministic });
      for (const [k, v] of Object.entries(rse.attributes)) await setRseAttribute(root, rse.name, k, v);
      // Re-registered on each bootstrap so a changed definition reaches existing sandboxes.
      for (const p of rseProtocols(rse)) {
        await deleteProtocol(root, rse.name, p.scheme);
        await addProtocol(root, rse.name, p);
      }
    }
    for (const src of rses) {
      for (const dst of rses) if (src !== dst) await setDistance(root, src.name, dst.name, 1);
    }
    const ing = accounts.ingest;
    await addAccount(root, ing.account, 'USER', ing.email);
    await addUserpassIdentity(root, ing.account, ing.username, ing.password, ing.email);
    await addX509Identity(root, ing.account, ingestDn, ing.email);
    // Rucio's generic policy lets only root or `admin` accounts register replicas: an ingestion
    // service account needs it (or a policy package granting it).
    await setAccountAttribute(root, ing.account, 'admin', 'True');
    for (const scope of scopes) await addScope(root, ing.account, scope);
    for (const rse of rses) await setLocalAccountLimit(root, ing.account, rse.name, -1);
    say(`rucio: ${rses.length} RSEs, account ${ing.account}, scopes ${scopes.join(' ')}`);
  } finally {
    await root.close();
  }
}
