// Pre-bundles the workflow code for production workers (no webpack at worker start).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const { code } = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('../src/workflows/index.ts', import.meta.url)),
});
const out = fileURLToPath(new URL('../dist/workflow-bundle.js', import.meta.url));
fs.mkdirSync(fileURLToPath(new URL('../dist', import.meta.url)), { recursive: true });
fs.writeFileSync(out, code);
console.error(`workflow bundle: ${out} (${(code.length / 1024).toFixed(0)} KiB)`);
