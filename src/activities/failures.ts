import { ApplicationFailure } from '@temporalio/common';
import { RucioError } from '../rucio/errors.js';

interface Classified {
  kind: string;
  code?: string;
  exceptionClass?: string;
  message: string;
}

function classified(err: unknown): Classified | undefined {
  if (err instanceof RucioError) return err;
  // Storage errors carry the same shape (kind + code); checked structurally to keep layers apart.
  const e = err as Partial<Classified> | undefined;
  if (e && typeof e.kind === 'string' && typeof e.message === 'string') return e as Classified;
  return undefined;
}

/**
 * Run an activity body, turning permanent library errors into non-retryable Temporal failures
 * (type = Rucio ExceptionClass or storage code) so the workflow stops with a message that says
 * what to fix; everything else is left to the retry policy.
 */
export async function classify<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const c = classified(err);
    if (c && c.kind === 'permanent') {
      throw ApplicationFailure.create({
        message: c.message,
        type: c.exceptionClass ?? c.code ?? 'Permanent',
        nonRetryable: true,
      });
    }
    throw err;
  }
}

export function permanent(message: string, type: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true });
}
