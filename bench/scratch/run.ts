import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
const address = '127.0.0.1:17233';
let client: Client;
let eagerClient: Client;
const pending = new Map<string, number>();
let timer: NodeJS.Timeout | undefined;
export const acts = {
  async noop(): Promise<void> {},
  async report(parent: string): Promise<void> {
    pending.set(parent, (pending.get(parent) ?? 0) + 1);
    timer ??= setTimeout(() => { timer = undefined; const m = [...pending]; pending.clear(); for (const [p, k] of m) void client.workflow.getHandle(p).signal('done', k); }, 25);
  },
  async startFiles(a: { parent: string; first: number; count: number; eager?: boolean; type?: string }): Promise<void> {
    const r = await Promise.all(Array.from({ length: a.count }, (_, j) => (a.eager ? eagerClient : client).workflow.start(a.type ?? 'file', { taskQueue: tq, workflowId: `${a.parent}-${a.first + j}`, args: [a.parent], requestEagerStart: a.eager })));
    if (a.eager) eagerCount += r.filter((h) => h.eagerlyStarted).length;
  },
};
const tq = 'scratch-' + Date.now().toString(36);
function tempCpu(): number { const pid = Number(fs.readFileSync('/work/main/.sandbox/run/temporal.pid', 'utf8')); const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); const s = f.slice(f.lastIndexOf(')') + 2).split(' '); return (Number(s[11]) + Number(s[12])) / 100; }
function selfCpu(): number { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }
const conn = await Connection.connect({ address });
client = new Client({ connection: conn });
const nc = await NativeConnection.connect({ address });
let eagerCount = 0;
eagerClient = new Client({ connection: nc });
const worker = await Worker.create({ connection: nc, taskQueue: tq, workflowsPath: fileURLToPath(new URL('./wf.ts', import.meta.url)), activities: acts, maxConcurrentActivityTaskExecutions: 32 });
const run = worker.run();
const n = Number(process.argv[3] ?? 1000);
for (const variant of process.argv[2]!.split(',')) {
  const t0 = Date.now(), c0 = tempCpu(), s0 = selfCpu();
  eagerCount = 0;
  await client.workflow.execute(variant.replace('Eager', '').split(':')[0]!, { taskQueue: tq, workflowId: `${tq}-${variant}`, args: [n, 64, variant.includes('Eager'), variant.split(':')[1] ?? 'file'] });
  const wall = (Date.now() - t0) / 1000;
  console.log(JSON.stringify({ variant, n, wall, perSec: +(n / wall).toFixed(1), temporalCpuMsPerWf: +((tempCpu() - c0) * 1000 / n).toFixed(1), workerCpuMsPerWf: +((selfCpu() - s0) * 1000 / n).toFixed(1), eagerCount }));
}
worker.shutdown(); await run; await nc.close(); await conn.close();
