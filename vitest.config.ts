import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal's native core-bridge does not work in worker threads.
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'sandbox',
          include: ['test/sandbox/**/*.test.ts'],
          globalSetup: ['test/setup/sandbox.ts'],
          // Files share one sandbox and one restarts it: run them one at a time.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
