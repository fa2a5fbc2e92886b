#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { checkRseSubcommand } from './check-rse.js';
import { checkRucioSubcommand } from './check-rucio.js';
import { demoCommand } from './demo.js';
import { fileCommand, statusCommand, workerCommand } from './ingest.js';
import { sandboxCommand } from './sandbox.js';
import { ingestCommand } from './ingest-batch.js';
import { batchCommand } from './batch-commands.js';
import { scheduleCommand } from './schedule-commands.js';
import { RequestError } from '../shared/request-error.js';

const program = new Command()
  .name('rucio-ingest')
  .description('Durable ingestion of scientific data into a Rucio-managed DataLake, orchestrated by Temporal.')
  .showHelpAfterError();

program.addCommand(fileCommand());
program.addCommand(ingestCommand());
program.addCommand(batchCommand());
program.addCommand(scheduleCommand());
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

/** A bad option or argument is a wrong request (exit 2), as is every RequestError; help and version exit 0. */
function exitCodesOf(cmd: Command): void {
  cmd.exitOverride((err) => {
    throw err;
  });
  for (const sub of cmd.commands) exitCodesOf(sub);
}
exitCodesOf(program);

/**
 * @temporalio/client retries some calls on timers; one firing after its connection was closed throws
 * 'Channel has been shut down' outside any promise. The commands await their own calls before closing, and
 * once a command has its result nothing may change the exit code a script sees.
 */
function ignoreLateChannelErrors(): void {
  process.on('uncaughtException', (err) => {
    if (/Channel has been shut down/.test(err.message)) return;
    console.error(err);
    process.exit(1);
  });
}

program
  .parseAsync(process.argv)
  .then(ignoreLateChannelErrors)
  .catch((err: unknown) => {
    ignoreLateChannelErrors();
    if (err instanceof CommanderError) {
      // Commander has printed its message already.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    console.error(`rucio-ingest: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = err instanceof RequestError ? 2 : 1;
  });
