import { z } from 'zod';
import type { RucioClient } from './client.js';
import { seg } from './path.js';
import { ignoreAlreadyDone } from './idempotent.js';

export const accountSchema = z.looseObject({
  account: z.string(),
  account_type: z.string().optional(),
  status: z.string().optional(),
  email: z.string().nullable().optional(),
});
export type Account = z.infer<typeof accountSchema>;

export function whoami(c: RucioClient): Promise<Account> {
  return c.json('GET', '/accounts/whoami', accountSchema);
}

/** Create an account; an existing one is accepted (returns false). */
export function addAccount(
  c: RucioClient,
  account: string,
  type: 'USER' | 'GROUP' | 'SERVICE',
  email: string,
): Promise<boolean> {
  return ignoreAlreadyDone(c.send('POST', `/accounts/${seg(account)}`, { body: { type, email } }));
}

/** Attach a userpass identity to an account; an existing one is accepted. */
export function addUserpassIdentity(
  c: RucioClient,
  account: string,
  username: string,
  password: string,
  email: string,
): Promise<boolean> {
  return ignoreAlreadyDone(
    c.send('POST', `/accounts/${seg(account)}/identities`, {
      body: { identity: username, authtype: 'USERPASS', email, password, default: true },
    }),
  );
}

/** Map a certificate DN (mod_ssl legacy format, `/O=.../CN=...`) to an account; an existing one is accepted. */
export function addX509Identity(c: RucioClient, account: string, dn: string, email: string): Promise<boolean> {
  return ignoreAlreadyDone(
    c.send('POST', `/accounts/${seg(account)}/identities`, {
      body: { identity: dn, authtype: 'X509', email, default: false },
    }),
  );
}

/** Add a scope owned by `account`; an existing one is accepted. */
export function addScope(c: RucioClient, account: string, scope: string): Promise<boolean> {
  return ignoreAlreadyDone(c.send('POST', `/accounts/${seg(account)}/scopes/${seg(scope)}`));
}

/** Set the local quota of `account` on `rse`; -1 means unlimited. */
export async function setLocalAccountLimit(c: RucioClient, account: string, rse: string, bytes: number): Promise<void> {
  await c.send('POST', `/accounts/${seg(account)}/limits/local/${seg(rse)}`, { body: { bytes } });
}

export async function listScopes(c: RucioClient, account: string): Promise<string[]> {
  return c.json('GET', `/accounts/${seg(account)}/scopes/`, z.array(z.string()));
}

/** Set an account attribute (e.g. `admin`, which the generic policy requires to register replicas). */
export async function setAccountAttribute(c: RucioClient, account: string, key: string, value: string): Promise<void> {
  await ignoreAlreadyDone(c.send('POST', `/accounts/${seg(account)}/attr/${seg(key)}`, { body: { key, value } }));
}
