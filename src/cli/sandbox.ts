import { Command } from 'commander';
import { layout } from '../sandbox/layout.js';
import { rucioDaemonsOnce } from '../sandbox/rucio-server.js';
import { down, envExports, status, up } from '../sandbox/sandbox.js';
import { watchXrootd } from '../sandbox/xrootd-watchdog.js';

export function sandboxCommand(): Command {
  const cmd = new Command('sandbox').description(
    'A local DataLake (Temporal dev server + Web UI, Rucio on PostgreSQL, XRootD RSEs) under .sandbox/, loopback only.',
  );
  cmd
    .command('up')
    .description('install what is missing, start every part, health-check it (idempotent)')
    .action(async () => {
      await up();
    });
  cmd
    .command('down')
    .description('stop the processes the sandbox started (data is kept)')
    .action(async () => {
      await down();
    });
  cmd
    .command('status')
    .description('show each part, its pid, health and log')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const parts = await status();
      if (opts.json) {
        console.log(JSON.stringify(parts, null, 2));
      } else {
        for (const p of parts) {
          const state = p.healthy ? 'up' : p.pid ? 'UNHEALTHY' : 'down';
          console.log(
            `${p.name.padEnd(22)} ${state.padEnd(10)} ${p.pid ? `pid ${p.pid}`.padEnd(11) : ''.padEnd(11)} ${p.log}`,
          );
        }
      }
      if (parts.some((p) => !p.healthy)) process.exitCode = 3;
    });
  cmd
    .command('env')
    .description('print shell exports to reach the sandbox: eval "$(rucio-ingest sandbox env)"')
    .action(() => {
      for (const [k, v] of Object.entries(envExports())) {
        if (k === 'PATH') console.log(`export PATH=${shellQuote(v.split(':')[0] ?? '')}:"$PATH"`);
        else console.log(`export ${k}=${shellQuote(v)}`);
      }
    });
  cmd
    .command('daemons')
    .description(
      "run Rucio's rule-lifecycle daemons (judge, conveyor with the mock transfertool, reaper deleting through root://)",
    )
    .requiredOption('--once', 'one pass of each daemon, then exit')
    .action(async () => {
      await rucioDaemonsOnce(layout(), (line) => console.log(line));
    });
  // Run by `sandbox up` as a process of its own (the XRootD watchdog), not by hand.
  cmd
    .command('watch', { hidden: true })
    .description('restart an XRootD of the sandbox that stops answering HTTPS (runs until stopped)')
    .action(async () => {
      await watchXrootd(layout(), (line) => console.log(line));
    });
  return cmd;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
