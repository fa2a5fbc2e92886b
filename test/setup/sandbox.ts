import { up } from '../../src/sandbox/sandbox.js';

/** Bring the real sandbox up once per `npm test` (seconds when it is already up). */
export default async function setup(): Promise<void> {
  await up((line) => console.error(`[sandbox] ${line}`));
}
