import pino, { type Logger } from 'pino';

/** Paths pino blanks out wherever they appear, so a secret never reaches a log line. */
export const redact = [
  'password',
  'token',
  '*.password',
  '*.token',
  '*.authToken',
  'headers["x-rucio-password"]',
  'headers["x-rucio-auth-token"]',
  'headers.authorization',
  'config.password',
  'config.token',
];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: redact, censor: '[redacted]' } }, pino.destination(2));
}
