import { Client, Connection } from '@temporalio/client';

export interface TemporalTarget {
  address: string;
  namespace: string;
}

export function temporalTargetFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  return { address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', namespace: env.TEMPORAL_NAMESPACE ?? 'default' };
}

export async function connectClient(t: TemporalTarget): Promise<{ client: Client; close: () => Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: t.address, connectTimeout: 5000 });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${t.address}: ${(err as Error).message}. Set TEMPORAL_ADDRESS, or start the sandbox (rucio-ingest sandbox up; eval "$(rucio-ingest sandbox env)").`,
    );
  }
  return { client: new Client({ connection, namespace: t.namespace }), close: () => connection.close() };
}

/** Run `fn` with a client of the environment's Temporal, closing the connection after it. */
export async function withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient(temporalTargetFromEnv());
  try {
    return await fn(client);
  } finally {
    await close();
  }
}
