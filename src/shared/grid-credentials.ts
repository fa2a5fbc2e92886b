import fs from 'node:fs';
import path from 'node:path';

/** Where grid tools look for credentials, shared by the Rucio client and the storage adapters. */

function uid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/** voms-proxy-init's default: /tmp/x509up_u<uid>, when it exists. */
export function defaultProxyFile(): string | undefined {
  const id = uid();
  const f = id === undefined ? undefined : `/tmp/x509up_u${id}`;
  return f && fs.existsSync(f) ? f : undefined;
}

/** WLCG bearer token discovery (files): $XDG_RUNTIME_DIR/bt_u<uid>, then /tmp/bt_u<uid>. */
export function wlcgTokenFile(env: NodeJS.ProcessEnv): string | undefined {
  const id = uid();
  if (id === undefined) return undefined;
  const candidates = [env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, `bt_u${id}`) : undefined, `/tmp/bt_u${id}`];
  return candidates.find((f): f is string => !!f && fs.existsSync(f));
}

/** The X.509 credential a grid client presents: a proxy file (certificate chain and key), or a cert and key. */
export interface X509Files {
  cert: string;
  key: string;
}

/** X509_USER_PROXY, else /tmp/x509up_u<uid>, else X509_USER_CERT + X509_USER_KEY, as grid tools look. */
export function findX509Files(env: NodeJS.ProcessEnv = process.env): X509Files | undefined {
  const proxy = env.X509_USER_PROXY || defaultProxyFile();
  if (proxy) return { cert: proxy, key: proxy };
  if (env.X509_USER_CERT && env.X509_USER_KEY) return { cert: env.X509_USER_CERT, key: env.X509_USER_KEY };
  return undefined;
}

/** WLCG bearer token discovery: $BEARER_TOKEN, then the file $BEARER_TOKEN_FILE, then the default files. */
export function findBearerToken(env: NodeJS.ProcessEnv = process.env): { token?: string; file?: string } {
  if (env.BEARER_TOKEN?.trim()) return { token: env.BEARER_TOKEN.trim() };
  const file = env.BEARER_TOKEN_FILE || wlcgTokenFile(env);
  return file ? { file } : {};
}
