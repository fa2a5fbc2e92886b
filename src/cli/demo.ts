import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Argument, Command } from 'commander';
import { scenarioNames, type ScenarioName } from '../demo/scenarios.js';
import { runScenario } from './demo-scenario.js';
import { envExports, up } from '../sandbox/sandbox.js';
import { temporalUiUrl } from '../sandbox/temporal.js';
import { createIngestWorker, workerConfigFromEnv } from '../workers/worker.js';
import { buildInput, startIngest } from './ingest.js';
import { embeddedLogger } from './cli-worker.js';
import { connectClient } from './temporal-client.js';
import type { IngestResult } from '../workflows/ingest-file.js';

/**
 * The demo: bring the sandbox up, generate a few files, and ingest each through the whole lifecycle
 * (landing on LANDING-1, 2 copies on QOS=SAFE + 1 on QOS=CHEAP-ANALYSIS, verify, delete the local
 * origin), with a worker embedded in this process.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('bring the sandbox up and ingest generated files through the whole lifecycle; or run a seed scenario')
    .addArgument(
      new Argument('[scenario]', `a seed scenario: data shaped as the experiment's, ingested its way`).choices(
        scenarioNames,
      ),
    )
    .option('--files <n>', 'quick start: how many files to generate', '5')
    .option('--size-mb <n>', 'quick start: size of each file in MiB', '4')
    .option('--scale <f>', "scenario: 1 is the seed's own size (a night), the default a couple of minutes")
    .option('--json', 'scenario: print the outcome as JSON')
    .action(
      async (
        scenario: ScenarioName | undefined,
        o: { files: string; sizeMb: string; scale?: string; json?: boolean },
      ) => {
        if (scenario) {
          process.exitCode = await runScenario(scenario, o.scale, !!o.json);
          return;
        }
        await up();
        const env = envExports();
        // As after `eval "$(rucio-ingest sandbox env)"`: Rucio config, the sandbox CA, Temporal address.
        for (const [k, v] of Object.entries(env)) process.env[k] = v;
        const target = { address: env.TEMPORAL_ADDRESS!, namespace: env.TEMPORAL_NAMESPACE! };
        const taskQueue = 'rucio-ingest-demo';
        const run = `demo-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rucio-ingest-demo-'));
        // Results on the terminal, the worker's log lines in a file (or on stderr with LOG_LEVEL).
        const log = embeddedLogger('rucio-ingest-demo');
        const w = await createIngestWorker(
          {
            ...workerConfigFromEnv(),
            temporalAddress: target.address,
            namespace: target.namespace,
            taskQueue,
          },
          { logger: log.logger },
        );
        if (log.file) console.error(`worker log: ${log.file}`);
        const running = w.worker.run();
        const { client, close } = await connectClient(target);
        try {
          const handles = [];
          for (let i = 0; i < Number(o.files); i++) {
            const file = path.join(dir, `${run}-${String(i).padStart(3, '0')}.fits`);
            fs.writeFileSync(file, randomBytes(Number(o.sizeMb) * 1024 * 1024));
            const input = buildInput(file, {
              scope: 'user.demo',
              dataset: `user.demo:${run}`,
              container: [],
              rse: 'LANDING-1',
              qos: ['2:QOS=SAFE', '1:QOS=CHEAP-ANALYSIS'],
              meta: [`run=${run}`, `index=${i}`],
              mode: 'direct',
              deleteOrigin: true,
              md5: true,
              ruleDeadline: '3600',
              taskQueue,
            });
            handles.push((await startIngest(client, input, taskQueue)).handle);
          }
          console.log(`ingesting ${handles.length} files of ${o.sizeMb} MiB into user.demo:${run} ...`);
          for (const h of handles) {
            const r = (await h.result()) as IngestResult;
            console.log(
              `  ${r.did}: ${r.step}, adler32 ${r.checksums?.adler32}, replicas ${r.verified?.map((v) => v.rse).join(' ')}`,
            );
          }
          console.log(
            `\nWeb UI: ${temporalUiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`RucioDataset="user.demo:${run}"`)}`,
          );
          console.log(`Rucio:  eval "$(npx rucio-ingest sandbox env)"; rucio list-file-replicas user.demo:${run}`);
        } finally {
          w.worker.shutdown();
          await running;
          await w.close();
          await close();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    );
}
