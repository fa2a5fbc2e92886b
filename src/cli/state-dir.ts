import os from 'node:os';
import path from 'node:path';

/**
 * Where the CLI keeps batch manifests and the logs of workers it runs. Workers read a batch's manifest
 * from here, so with workers on several hosts it must be a shared file system (as the data is).
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RUCIO_INGEST_STATE_DIR) return path.resolve(env.RUCIO_INGEST_STATE_DIR);
  const base = env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'rucio-ingest');
}
