import type { RucioClient } from './client.js';
import { attach, type Did } from './dids.js';
import { ensureDataset } from './ensure.js';
import { RucioError } from './errors.js';
import type { RucioBulk } from './bulk.js';
import type { NewReplica } from './replicas.js';

/**
 * Datasets (with their container chains) this process ensured recently: thousands of files of one night
 * share a dataset, and re-ensuring it for each costs two REST calls a file. Concurrent first uses share one
 * ensure. If a dataset vanishes while cached, the attach that finds it gone ensures it again, once.
 */
export class DatasetCache {
  readonly #until = new Map<string, number>();
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly rucio: RucioClient,
    private readonly ttlMs = 5 * 60_000,
    /** One file's attachment joins those of the other files in flight (one call per dataset). */
    private readonly bulk?: RucioBulk,
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

  /** Attach files to an ensured dataset (idempotent, as `attach`). */
  async attachFiles(dataset: Did, containers: Did[], files: Did[]): Promise<void> {
    await this.#inEnsured(dataset, containers, () =>
      this.bulk && files.length === 1
        ? this.bulk.attach(dataset, files[0]!)
        : attach(this.rucio, [{ to: dataset, dids: files }]),
    );
  }

  /** Register a file on deterministic `rse` and attach it to its ensured dataset, in one call (`RucioBulk.register`). */
  async registerFile(rse: string, dataset: Did, containers: Did[], file: NewReplica): Promise<void> {
    if (!this.bulk) throw new Error('DatasetCache.registerFile needs a RucioBulk');
    const bulk = this.bulk;
    await this.#inEnsured(dataset, containers, () => bulk.register(rse, dataset, file));
  }

  /** `send` once the dataset is ensured; if the dataset vanished while cached, ensure it again and resend once. */
  async #inEnsured(dataset: Did, containers: Did[], send: () => Promise<void>): Promise<void> {
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
