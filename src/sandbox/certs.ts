import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A new key and a certificate for `subject` signed by `issuer` (a CA, or a user certificate for a proxy),
 * with the given X.509v3 extension lines; the key is written 0600.
 */
export async function issueCert(opts: {
  subject: string;
  out: { cert: string; key: string };
  issuer: { cert: string; key: string };
  extensions: string[];
  serial?: string;
}): Promise<void> {
  const { out, issuer } = opts;
  const csr = `${out.cert}.csr`;
  const ext = `${out.cert}.ext`;
  await run(
    'openssl',
    ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', out.key, '-out', csr].concat([
      '-subj',
      opts.subject,
    ]),
  );
  fs.chmodSync(out.key, 0o600);
  fs.writeFileSync(ext, [...opts.extensions, ''].join('\n'));
  const serial = opts.serial ? ['-set_serial', opts.serial] : ['-CAcreateserial'];
  await run(
    'openssl',
    ['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, ...serial].concat([
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      ext,
      '-out',
      out.cert,
    ]),
  );
  fs.rmSync(csr);
  fs.rmSync(ext);
}
