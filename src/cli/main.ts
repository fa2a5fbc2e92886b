#!/usr/bin/env node
import { Command } from 'commander';
import { checkRseSubcommand } from './check-rse.js';
import { checkRucioSubcommand } from './check-rucio.js';
import { demoCommand } from './demo.js';
import { fileCommand, statusCommand, workerCommand } from './ingest.js';
import { sandboxCommand } from './sandbox.js';

const program = new Command()
  .name('rucio-ingest')
  .description('Durable ingestion of scientific data into a Rucio-managed DataLake, orchestrated by Temporal.')
  .showHelpAfterError();

program.addCommand(fileCommand());
program.addCommand(statusCommand());
program.addCommand(workerCommand());
program.addCommand(sandboxCommand());
program.addCommand(demoCommand());
program.addCommand(
  new Command('check')
    .description('pre-flight checks of the DataLake before a night of ingestion')
    .addCommand(checkRucioSubcommand())
    .addCommand(checkRseSubcommand()),
);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`rucio-ingest: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
