import pino, { type Logger } from 'pino';
import { rucioLogRedactPaths } from '../rucio/client.js';

/** JSON logs on stderr; the Rucio client's secret paths blanked wherever they appear. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: rucioLogRedactPaths, censor: '[redacted]' } }, pino.destination(2));
}
