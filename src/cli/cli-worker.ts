import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { Client } from '@temporalio/client';
import { rucioLogRedactPaths } from '../rucio/client.js';
import { createLogger } from '../shared/logger.js';
import { createIngestWorker, workerConfigFromEnv } from '../workers/worker.js';
import { stateDir } from './state-dir.js';
import type { TemporalTarget } from './temporal-client.js';

/**
 * Temporal remembers pollers for minutes after they are gone, so only recent polls count: a live worker
 * renews its long poll at least every minute.
 */
const livePollerWindowMs = 70_000;

export async function hasLivePoller(client: Client, namespace: string, taskQueue: string): Promise<boolean> {
  // With a deadline: a call still retrying when the command ends would fire on a closed connection.
  const res = await client.withDeadline(Date.now() + 10_000, () =>
    client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType: 1 }),
  );
  const recent = Date.now() - livePollerWindowMs;
  return (res.pollers ?? []).some((p) => {
    const t = p.lastAccessTime;
    return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) > recent : false;
  });
}

/**
 * The terminal is for people: a worker inside the CLI logs to a file (its path is printed), or to stderr
 * when LOG_LEVEL asks for it.
 */
export function embeddedLogger(name: string): { logger: pino.Logger; file?: string } {
  if (process.env.LOG_LEVEL) return { logger: createLogger(name, process.env.LOG_LEVEL) };
  const dir = path.join(stateDir(), 'logs');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
  const logger = pino(
    { name, level: 'info', redact: { paths: rucioLogRedactPaths, censor: '[redacted]' } },
    pino.destination({ dest: file, sync: true }),
  );
  return { logger, file };
}

/**
 * `--wait` needs a worker: use the one polling the task queue, or run one in this process — now, or later if
 * the one seen stops while we wait. `stop()` ends everything it started and waits for its own calls, so no
 * retried call fires on a closed connection after the command has its result (that once turned a success
 * into exit code 1).
 */
export class CliWorker {
  private embedding?: Promise<{ shutdown: () => Promise<void> }>;
  private recheck?: NodeJS.Timeout;
  private checking?: Promise<unknown>;
  private stopped = false;
  logFile?: string;

  constructor(
    private readonly client: Client,
    private readonly target: TemporalTarget,
    private readonly taskQueue: string,
    private readonly say: (line: string) => void,
    private readonly name = 'rucio-ingest-cli',
    /** What is followed, for messages: the file, the batch. */
    private readonly what = 'the file',
  ) {}

  async ensure(): Promise<void> {
    if (!(await hasLivePoller(this.client, this.target.namespace, this.taskQueue))) await this.embed();
    else this.say(`a worker polls task queue ${this.taskQueue}: following ${this.what}`);
    this.recheck = setInterval(() => {
      if (this.embedding || this.checking || this.stopped) return;
      this.checking = hasLivePoller(this.client, this.target.namespace, this.taskQueue)
        .then((live) => (live || this.stopped ? undefined : this.embed()))
        .catch(() => undefined)
        .finally(() => {
          this.checking = undefined;
        });
    }, 5_000);
  }

  private embed() {
    return (this.embedding ??= (async () => {
      const { logger, file } = embeddedLogger(this.name);
      this.logFile = file;
      this.say(
        `no worker polls task queue ${this.taskQueue}: running one in this process${file ? ` (log: ${file})` : ''}`,
      );
      const w = await createIngestWorker(
        {
          ...workerConfigFromEnv(),
          temporalAddress: this.target.address,
          namespace: this.target.namespace,
          taskQueue: this.taskQueue,
        },
        { logger },
      );
      const running = w.worker.run();
      return {
        shutdown: async () => {
          w.worker.shutdown();
          await running;
          await w.close();
          logger.flush();
        },
      };
    })());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.recheck);
    await this.checking;
    const e = await this.embedding?.catch(() => undefined);
    await e?.shutdown();
  }
}
