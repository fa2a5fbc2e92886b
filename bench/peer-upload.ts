/**
 * The tool rucio-ingest replaces, as the seeds ran it: the official `rucio upload` of the sandbox venv, as
 * several parallel processes each uploading its share of the files (davs through gfal2, rule on the RSE).
 */
import { spawn } from 'node:child_process';

export interface PeerResult {
  processes: number;
  files: number;
  uploaded: number;
  wallSeconds: number;
  filesPerSecond: number;
  /** User + system CPU of the rucio processes (bash `times`), summed. */
  clientCpuSeconds: number;
  exitCodes: number[];
}

function runShare(rucio: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  // `times` prints the children's CPU after the upload: the client's own cost, which /proc loses on exit.
  const script = '"$@"; rc=$?; times; exit $rc';
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script, 'bash', rucio, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

/** Seconds of the children line of bash `times` ("0m12.340s 0m1.020s"). */
function childCpu(out: string): number {
  const lines = out.trim().split('\n');
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines[lines.length - 1] ?? '');
  return m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : 0;
}

export async function rucioUploadPeer(opts: {
  rucio: string;
  files: string[];
  processes: number;
  rse: string;
  scope: string;
  env: NodeJS.ProcessEnv;
}): Promise<PeerResult> {
  const shares = Array.from({ length: opts.processes }, (_, p) =>
    opts.files.filter((_, i) => i % opts.processes === p),
  );
  const t0 = performance.now();
  const results = await Promise.all(
    shares
      .filter((s) => s.length > 0)
      .map((share) =>
        runShare(
          opts.rucio,
          ['upload', '--rse', opts.rse, '--scope', opts.scope, '--protocol', 'davs', ...share],
          opts.env,
        ),
      ),
  );
  const wallSeconds = (performance.now() - t0) / 1000;
  const uploaded = results.reduce((n, r) => n + (r.out.match(/Successfully uploaded file /g)?.length ?? 0), 0);
  return {
    processes: opts.processes,
    files: opts.files.length,
    uploaded,
    wallSeconds: Math.round(wallSeconds * 10) / 10,
    filesPerSecond: Math.round((uploaded / wallSeconds) * 100) / 100,
    clientCpuSeconds: Math.round(results.reduce((s, r) => s + childCpu(r.out), 0) * 10) / 10,
    exitCodes: results.map((r) => r.code),
  };
}
