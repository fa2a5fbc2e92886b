import { RucioError } from './errors.js';

/** Run a create call; true when it created, false when Rucio says it already exists. */
export async function ignoreAlreadyDone(call: Promise<unknown>): Promise<boolean> {
  try {
    await call;
    return true;
  } catch (err) {
    if (err instanceof RucioError && err.alreadyDone) return false;
    throw err;
  }
}
