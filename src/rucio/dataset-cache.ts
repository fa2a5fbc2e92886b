import type { RucioClient } from './client.js';
import type { Did } from './dids.js';
import { ensureDataset } from './ensure.js';
import { RucioError } from './errors.js';
import type { RucioBulk } from './bulk.js';
import type { NewReplica } from './replicas.js';

/**
 * Datasets (with their container chains) this process ensured recently: thousands of files of one night
 * share a dataset, and re-ensuring it for each costs two REST calls a file. Concurrent first uses share one
 * ensure. If a dataset vanishes while cached, the registration that finds it gone ensures it again, once.
 */
export class DatasetCache {
  readonly #until = new Map<string, number>();
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly rucio: RucioClient,
    /** One file's registration joins those of the other files in flight (one call per RSE). */
    private readonly bulk: RucioBulk,
    private readonly ttlMs = 5 * 60_000,
  ) {}

  async ensure(dataset: Did, containers: Did[] = []): Promise<void> {
    const key = chainKey(dataset, containers);
    if ((this.#until.get(key) ?? 0) > Date.now()) return;
    let p = this.#inflight.get(key);
    if (!p) {
      p = ensureDataset(this.rucio, dataset, containers)
        .then(() => void this.#until.set(key, Date.now() + this.ttlMs))
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    await p;
  }

  /** Register a file on deterministic `rse` and attach it to its ensured dataset, in one call (`RucioBulk.register`). */
  async registerFile(rse: string, dataset: Did, containers: Did[], file: NewReplica): Promise<void> {
    const send = () => this.bulk.register(rse, dataset, file);
    await this.ensure(dataset, containers);
    try {
      await send();
    } catch (err) {
      if (!(err instanceof RucioError && err.exceptionClass === 'DataIdentifierNotFound')) throw err;
      this.#until.delete(chainKey(dataset, containers));
      await this.ensure(dataset, containers);
      await send();
    }
  }
}

function chainKey(dataset: Did, containers: Did[]): string {
  return [...containers, dataset].map((d) => `${d.scope}:${d.name}`).join('/');
}
